"""Assignment inside the team: presence, skill for category and language, capacity, load,
idle time, "negative → most experienced", nobody → queue, and the team's mode."""

from __future__ import annotations

from tests.routing.conftest import solve, triaged
from zabota.identity.models import Presence
from zabota.identity.permissions import SYSTEM
from zabota.routing import service as routing
from zabota.routing.models import AssignmentMode

ANGRY = "Это ужасно, отвратительный сервис, я в ярости! Сбой транзакции, деньги украли"
CALM = "Здравствуйте, при оплате был сбой транзакции, проверьте, пожалуйста"


def billing_rule(phrase_rule):
    return phrase_rule("Сбой транзакции", ["сбой транзакции"], category="billing")


def test_the_least_loaded_online_agent_with_the_skill_and_language(
        session, desk, make_ticket, online_agent, phrase_rule):
    billing_rule(phrase_rule)
    online_agent(desk.finance, skills=(("billing", "en", 3),))           # wrong language
    online_agent(desk.finance, skills=(("delivery", "ru", 3),))          # wrong skill
    online_agent(desk.finance, presence=Presence.AWAY)                   # not online
    busy = online_agent(desk.finance, capacity=1)                        # at capacity
    make_ticket(assignee_id=busy.id)
    loaded, free = online_agent(desk.finance), online_agent(desk.finance)
    make_ticket(assignee_id=loaded.id)

    ticket = triaged(session, make_ticket, text=CALM)

    assert ticket.assignee_id == free.id
    chosen = routing.get_triage(session, ticket.id).explanation["assignment"]
    assert chosen["agent"]["id"] == free.id and chosen["assigned"]
    assert chosen["excluded"] == {"offline": 1, "no_skill": 2, "at_capacity": 1}


def test_ties_go_to_the_longest_idle(session, desk, make_ticket, online_agent, phrase_rule):
    billing_rule(phrase_rule)
    first, second = online_agent(desk.finance), online_agent(desk.finance)

    one = triaged(session, make_ticket, text=CALM)
    solve(session, one)  # both hold nothing again; the first was busy more recently
    two = triaged(session, make_ticket, text=CALM)

    assert (one.assignee_id, two.assignee_id) == (first.id, second.id)


def test_a_negative_ticket_goes_to_the_most_experienced(session, desk, make_ticket,
                                                         online_agent, phrase_rule):
    billing_rule(phrase_rule)
    junior = online_agent(desk.finance, skills=(("billing", "ru", 1),))
    senior = online_agent(desk.finance, skills=(("billing", "ru", 5),))
    make_ticket(assignee_id=senior.id)  # more loaded than the junior

    angry = triaged(session, make_ticket, text=ANGRY)
    calm = triaged(session, make_ticket, text=CALM)

    decision = routing.get_triage(session, angry.id)
    assert decision.sentiment == "negative"
    assert angry.assignee_id == senior.id
    assert decision.explanation["assignment"]["senior_only"] is True
    assert "самый опытный" in decision.explanation["summary"]["ru"]
    assert calm.assignee_id == junior.id


def test_nobody_eligible_leaves_the_ticket_in_the_team_queue(session, desk, make_ticket,
                                                            online_agent, phrase_rule):
    billing_rule(phrase_rule)
    online_agent(desk.finance, presence=Presence.OFFLINE)

    ticket = triaged(session, make_ticket, text=CALM)

    assert (ticket.team_id, ticket.assignee_id) == (desk.finance.id, None)
    summary = routing.get_triage(session, ticket.id).explanation["summary"]
    assert "очередь команды Финансы" in summary["ru"] and "1 не в сети" in summary["ru"]
    assert "queue of Финансы" in summary["en"]


def test_round_robin_takes_turns_and_manual_only_suggests(session, desk, make_ticket,
                                                          online_agent, phrase_rule):
    billing_rule(phrase_rule)
    first, second = online_agent(desk.finance), online_agent(desk.finance)
    routing.set_team_mode(session, desk.finance.id, AssignmentMode.ROUND_ROBIN, actor=SYSTEM)

    turns = [triaged(session, make_ticket, text=CALM).assignee_id for _ in range(3)]
    assert turns == [first.id, second.id, first.id]

    routing.set_team_mode(session, desk.finance.id, AssignmentMode.MANUAL, actor=SYSTEM)
    ticket = triaged(session, make_ticket, text=CALM)
    assert ticket.assignee_id is None
    chosen = routing.get_triage(session, ticket.id).explanation["assignment"]
    assert chosen["assigned"] is False and chosen["agent"]["id"] in (first.id, second.id)
    assert "предлагаемый" in routing.get_triage(session, ticket.id).explanation["summary"]["ru"]


def test_a_rule_may_name_the_agent(session, desk, make_ticket, online_agent, phrase_rule):
    expert = online_agent(desk.finance, presence=Presence.OFFLINE)
    phrase_rule("Эксперт по сбоям", ["сбой транзакции"], category="billing",
                assignee_id=expert.id)

    ticket = triaged(session, make_ticket, text=CALM)

    assert ticket.assignee_id == expert.id
    assert routing.get_triage(session, ticket.id).explanation["assignment"]["rule"] == (
        "Эксперт по сбоям")
