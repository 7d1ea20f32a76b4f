"""A small helpdesk to route into: finance and delivery teams, their categories and agents."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.orm import Session

from zabota.core import outbox
from zabota.identity.models import Presence, Role, Team, User
from zabota.identity.permissions import SYSTEM
from zabota.routing import service as routing
from zabota.routing.schemas import RuleActions, RuleConditions
from zabota.tickets import service as tickets
from zabota.tickets.models import Status, Ticket


@dataclass
class Desk:
    admin: User
    finance: Team
    delivery: Team


@pytest.fixture
def desk(session: Session, make_team, make_agent) -> Desk:
    finance, delivery = make_team("Финансы"), make_team("Доставка")
    admin = make_agent(role=Role.ADMIN)
    for key, name_ru, name_en, team in (("billing", "Финансы", "Billing", finance),
                                        ("delivery", "Доставка", "Delivery", delivery),
                                        ("account", "Учётная запись", "Account", None)):
        routing.create_category(session, actor=SYSTEM, key=key, name_ru=name_ru,
                                name_en=name_en, team_id=team.id if team else None)
    return Desk(admin=admin, finance=finance, delivery=delivery)


@pytest.fixture
def online_agent(session: Session, make_agent) -> Callable[..., User]:
    """An agent in the given team, online, with skills [(category, language, level)]."""

    def make(team: Team, *, skills: tuple[tuple[str, str, int], ...] = (("billing", "ru", 1),),
             presence: Presence = Presence.ONLINE, **kwargs: Any) -> User:
        agent = make_agent(teams=(team,), skills=skills, **kwargs)
        agent.presence = presence
        session.flush()
        return agent

    return make


@pytest.fixture
def phrase_rule(session: Session) -> Callable[..., Any]:
    def make(name: str, phrases: list[str], *, is_continue: bool = False,
             **actions: Any) -> Any:
        return routing.create_rule(session, actor=SYSTEM, name=name,
                                   conditions=RuleConditions(phrases=phrases),
                                   actions=RuleActions(**actions), is_continue=is_continue)

    return make


def deliver(session: Session) -> None:
    """Run the outbox handlers as the worker would: triage, corrections, notifications."""
    outbox.dispatch_pending(session)


def triaged(session: Session, make_ticket, **kwargs: Any) -> Ticket:
    ticket: Ticket = make_ticket(**kwargs)
    deliver(session)
    session.refresh(ticket)
    return ticket


def solve(session: Session, ticket: Ticket) -> None:
    tickets.update_ticket(session, ticket.id, {"status": Status.SOLVED}, actor=SYSTEM)
