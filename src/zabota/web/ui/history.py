"""A ticket's history as sentences an agent reads: who did what, with names instead of ids
and the statuses and priorities in the page's language. The API keeps the raw events."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from zabota.core.i18n import _
from zabota.identity.models import Customer, Team, User
from zabota.tickets.models import Channel, Priority, Status, TicketEvent
from zabota.tickets.service import channel_label, priority_label, status_label


@dataclass(frozen=True)
class Line:
    at: datetime
    actor: str
    text: str
    reason: str | None


def history(session: Session, events: Sequence[TicketEvent]) -> list[Line]:
    names = _Names(session, events)
    return [Line(e.at, names.actor(e), _text(e, names), e.reason) for e in events]


class _Names:
    """Every person and team the events mention, read with one query per table."""

    def __init__(self, session: Session, events: Sequence[TicketEvent]) -> None:
        users: set[int] = set()
        customers: set[int] = set()
        teams: set[int] = set()
        for e in events:
            if e.actor_id is not None:
                (users if e.actor_kind == "user" else customers).add(e.actor_id)
            ids = {n for n in (_number(e.from_value), _number(e.to_value)) if n is not None}
            if e.field == "assignee_id":
                users |= ids
            elif e.field == "team_id":
                teams |= ids
        self.users = _by_id(session, User, users)
        self.customers = _by_id(session, Customer, customers)
        self.teams = _by_id(session, Team, teams)

    def actor(self, e: TicketEvent) -> str:
        if e.actor_kind == "user" and e.actor_id in self.users:
            return self.users[e.actor_id]
        if e.actor_kind == "customer":
            return self.customers.get(e.actor_id or 0) or _("Customer")
        return _("Zabota") if e.actor_kind == "system" else _("Someone")

    def user(self, value: str | None) -> str:
        number = _number(value)
        return self.users.get(number, f"#{value}") if number is not None else "—"

    def team(self, value: str | None) -> str:
        number = _number(value)
        return self.teams.get(number, f"#{value}") if number is not None else "—"


def _by_id(session: Session, model: type[User | Customer | Team],
           ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {row.id: row.name for row in session.execute(
        sa.select(model.id, model.name).where(model.id.in_(ids)))}


def _number(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def _status(value: str | None) -> str:
    return status_label(Status(value)) if value in set(Status) else value or "—"


def _priority(value: str | None) -> str:
    return priority_label(Priority(value)) if value in set(Priority) else value or "—"


def _text(e: TicketEvent, names: _Names) -> str:
    old, new = e.from_value, e.to_value
    if e.kind == "created":
        try:
            channel = channel_label(Channel(str(e.data.get("channel"))))
        except ValueError:
            return _("Created the ticket")
        return _("Created the ticket ({channel})").format(channel=channel)
    if e.kind == "status_changed":
        return _("Status: {old} → {new}").format(old=_status(old), new=_status(new))
    if e.kind == "message_added":
        if e.data.get("is_internal"):
            return _("Added an internal note")
        return _("Wrote a message") if e.data.get("author_kind") == "customer" else _("Replied")
    if e.kind == "assigned":
        if new is None:
            return _("Unassigned {old}").format(old=names.user(old))
        if old is None:
            return _("Assigned to {new}").format(new=names.user(new))
        return _("Reassigned from {old} to {new}").format(old=names.user(old),
                                                          new=names.user(new))
    if e.kind == "team_changed":
        return _("Team: {old} → {new}").format(old=names.team(old), new=names.team(new))
    if e.kind == "tags_changed":
        return _("Tags: {old} → {new}").format(old=old or "—", new=new or "—")
    if e.kind == "escalated":
        return _("Escalated to line {level}").format(level=new)
    if e.kind == "field_changed":
        return _field_text(e.field or "", old, new)
    if e.kind == "merged":
        if e.field == "merged_into":
            return _("Merged into ticket #{number}").format(number=new)
        return _("Ticket #{number} was merged into this one").format(number=new)
    if e.kind == "follow_up":
        if e.field == "follows":
            return _("Follows up closed ticket #{number}").format(number=new)
        return _("Followed up by ticket #{number}").format(number=new)
    texts = {"triaged": _("Triaged: category, priority and routing decided"),
             "bot_handoff": _("The bot handed the conversation to a person"),
             "chat_accepted": _("Accepted the chat")}
    return texts.get(e.kind, e.kind.replace("_", " "))


def _field_text(field: str, old: str | None, new: str | None) -> str:
    if field == "priority":
        return _("Priority: {old} → {new}").format(old=_priority(old), new=_priority(new))
    if field == "subject":
        return _("Subject: «{new}»").format(new=new)
    if field.startswith("custom_fields."):
        return _("Field {name}: {old} → {new}").format(
            name=field.removeprefix("custom_fields."), old=old or "—", new=new or "—")
    fields = {"category": _("Category"), "language": _("Language")}
    return _("{field}: {old} → {new}").format(field=fields.get(field, field), old=old or "—",
                                             new=new or "—")
