"""Status machine, counters and timestamps; every one of them derivable from ticket_events."""

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import actor_of
from tests.tickets.history import metrics_from_columns, metrics_from_events
from zabota.core.errors import ZabotaError
from zabota.tickets import errors
from zabota.tickets import service as tickets
from zabota.tickets.models import Status
from zabota.tickets.service import TRANSITIONS, NewMessage


@pytest.fixture
def cast(session, make_team, make_agent, make_customer):
    first, second = make_team("1st line"), make_team("2nd line")
    first.escalation_team_id = second.id
    a1, a2 = make_agent(teams=(first,)), make_agent(teams=(first, second))
    customer = make_customer()
    return {"teams": (first, second), "agents": (a1, a2), "customer": customer}


def test_first_response_resolution_and_reopen(session, cast, make_ticket, frozen_clock):
    agent = actor_of(cast["agents"][0])
    customer = actor_of(cast["customer"])
    start = frozen_clock.now()
    ticket = make_ticket(customer=cast["customer"], team_id=cast["teams"][0].id,
                         clock=frozen_clock)
    frozen_clock.advance(timedelta(minutes=5))
    tickets.add_message(session, ticket.id, NewMessage(text="Заметка", is_internal=True),
                        actor=agent, clock=frozen_clock)
    assert ticket.first_response_at is None  # an internal note is no response
    frozen_clock.advance(timedelta(minutes=10))
    tickets.add_message(session, ticket.id, NewMessage(text="Здравствуйте!"), actor=agent,
                        clock=frozen_clock)
    assert ticket.first_response_at - start == timedelta(minutes=15)
    assert ticket.status == Status.OPEN
    frozen_clock.advance(timedelta(hours=2))
    tickets.update_ticket(session, ticket.id, {"status": Status.SOLVED}, actor=agent,
                          clock=frozen_clock)
    assert ticket.solved_at - start == timedelta(hours=2, minutes=15)
    tickets.add_message(session, ticket.id, NewMessage(text="Не помогло"), actor=customer,
                        clock=frozen_clock)
    assert (ticket.status, ticket.reopens, ticket.solved_at) == (Status.OPEN, 1, None)
    tickets.update_ticket(session, ticket.id, {"status": Status.SOLVED}, actor=agent,
                          clock=frozen_clock)
    tickets.update_ticket(session, ticket.id, {"status": Status.CLOSED}, actor=agent,
                          clock=frozen_clock)
    with pytest.raises(errors.TicketClosed):
        tickets.add_message(session, ticket.id, NewMessage(text="Ещё"), actor=customer)
    assert metrics_from_events(session, ticket.id) == metrics_from_columns(ticket)


@pytest.mark.parametrize(("old", "new"), [
    (old, new) for old in Status for new in Status
    if new != old and new not in TRANSITIONS[old]])
def test_invalid_transitions_are_rejected(session, cast, make_ticket, old, new):
    agent = actor_of(cast["agents"][0])
    ticket = make_ticket(team_id=cast["teams"][0].id)
    path = {Status.NEW: [], Status.OPEN: [Status.OPEN], Status.PENDING: [Status.PENDING],
            Status.ON_HOLD: [Status.ON_HOLD], Status.SOLVED: [Status.SOLVED],
            Status.CLOSED: [Status.SOLVED, Status.CLOSED]}[old]
    for step in path:
        tickets.update_ticket(session, ticket.id, {"status": step}, actor=agent)
    with pytest.raises(errors.InvalidTransition):
        tickets.update_ticket(session, ticket.id, {"status": new}, actor=agent)
    assert ticket.status == old


def test_transfer_counts_once_per_action_and_escalation_moves_up(session, cast, make_ticket):
    (first, second), (a1, a2) = cast["teams"], cast["agents"]
    lead = actor_of(a2)
    ticket = make_ticket(team_id=first.id, assignee_id=a1.id)
    tickets.transfer_ticket(session, ticket.id, team_id=second.id, agent_id=a2.id,
                            reason="нужен эксперт", actor=lead)
    assert ticket.transfers == 1
    tickets.assign_ticket(session, ticket.id, a2.id, actor=lead)  # same agent: no-op
    assert ticket.transfers == 1
    tickets.transfer_ticket(session, ticket.id, team_id=first.id, reason="обратно", actor=lead)
    assert (ticket.team_id, ticket.assignee_id, ticket.transfers) == (first.id, a2.id, 2)
    tickets.escalate_ticket(session, ticket.id, reason="сложный случай", actor=lead)
    assert (ticket.team_id, ticket.escalation_level, ticket.assignee_id) == (second.id, 1, None)
    with pytest.raises(errors.NothingToEscalate):
        tickets.escalate_ticket(session, ticket.id, reason="ещё", actor=lead)
    history = tickets.list_events(session, ticket.id, actor=lead)
    escalated = [e for e in history if e.kind == "escalated"]
    assert [(e.from_value, e.to_value, e.reason) for e in escalated] == [
        ("0", "1", "сложный случай")]
    assert metrics_from_events(session, ticket.id) == metrics_from_columns(ticket)


def test_merge_moves_the_conversation_and_closes_the_source(session, cast, make_ticket):
    lead = actor_of(cast["agents"][1])
    team = cast["teams"][0].id
    target = make_ticket(team_id=team, text="Первое письмо", tags=["vip"])
    source = make_ticket(team_id=team, text="Дубль про заказ", tags=["дубль"])
    tickets.merge_tickets(session, source.id, target.id, actor=lead, reason="дубль")
    texts = [m.body_text for m in tickets.list_messages(session, target.id, actor=lead)]
    assert texts == ["Первое письмо", "Дубль про заказ"]
    assert (source.status, source.merged_into_id) == (Status.CLOSED, target.id)
    assert target.tags == ["vip", "дубль"]
    flt = tickets.TicketFilter(q="дубль заказ")
    found, _cursor = tickets.list_tickets(session, flt, actor=lead)
    assert target.id in {t.id for t in found}
    with pytest.raises(errors.CannotMergeTicket):
        tickets.merge_tickets(session, target.id, target.id, actor=lead)


def test_bulk_update_applies_what_is_valid(session, cast, make_ticket):
    lead = actor_of(cast["agents"][1])
    team = cast["teams"][0].id
    a, b = make_ticket(team_id=team), make_ticket(team_id=team)
    tickets.update_ticket(session, b.id, {"status": Status.SOLVED}, actor=lead)
    tickets.update_ticket(session, b.id, {"status": Status.CLOSED}, actor=lead)
    results = tickets.bulk_update(session, [a.id, b.id, 999_999],
                                  {"status": Status.PENDING, "add_tags": ["массово"]}, actor=lead)
    assert [(r.ticket_id, r.ok) for r in results] == [(a.id, True), (b.id, False),
                                                     (999_999, False)]
    assert (a.status, a.tags) == (Status.PENDING, ["массово"])
    assert b.status == Status.CLOSED and b.tags == []


def test_custom_fields_are_typed(session, cast, make_ticket):
    from zabota.identity.permissions import SYSTEM
    from zabota.tickets.models import FieldType

    tickets.create_field_def(session, actor=SYSTEM, key="order", label="Заказ",
                             type=FieldType.NUMBER)
    tickets.create_field_def(session, actor=SYSTEM, key="device", label="Устройство",
                             type=FieldType.SELECT, options=["ноутбук", "телефон"])
    agent = actor_of(cast["agents"][0])
    ticket = make_ticket(team_id=cast["teams"][0].id, custom_fields={"order": 5521})
    tickets.update_ticket(session, ticket.id, {"custom_fields": {"device": "телефон"}},
                          actor=agent)
    assert ticket.custom_fields == {"order": 5521, "device": "телефон"}
    for bad in ({"order": "много"}, {"device": "планшет"}, {"nope": 1}):
        with pytest.raises(ZabotaError) as caught:
            tickets.update_ticket(session, ticket.id, {"custom_fields": bad}, actor=agent)
        assert caught.value.data["errors"][0]["field"] == f"custom_fields.{next(iter(bad))}"
    assert ticket.custom_fields == {"order": 5521, "device": "телефон"}


ACTIONS = st.lists(st.sampled_from([
    "customer_msg", "agent_reply", "note", "assign_a1", "assign_a2", "team_1", "team_2",
    "pending", "on_hold", "solved", "open", "closed", "escalate"]), max_size=14)


@settings(max_examples=15, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=ACTIONS)
def test_columns_always_match_the_event_log(session, cast, make_ticket, frozen_clock, actions):
    (first, second), (a1, a2) = cast["teams"], cast["agents"]
    lead, customer = actor_of(a2), actor_of(cast["customer"])
    ticket = make_ticket(customer=cast["customer"], team_id=first.id, clock=frozen_clock)
    for action in actions:
        frozen_clock.advance(timedelta(minutes=7))
        kwargs = {"actor": lead, "clock": frozen_clock}
        try:
            if action == "customer_msg":
                tickets.add_message(session, ticket.id, NewMessage(text="клиент"),
                                    actor=customer, clock=frozen_clock)
            elif action in ("agent_reply", "note"):
                tickets.add_message(session, ticket.id,
                                    NewMessage(text="агент", is_internal=action == "note"),
                                    **kwargs)
            elif action.startswith("assign"):
                tickets.assign_ticket(session, ticket.id, (a1 if action[-1] == "1" else a2).id,
                                      **kwargs)
            elif action.startswith("team"):
                tickets.transfer_ticket(session, ticket.id, reason="r",
                                        team_id=(first if action[-1] == "1" else second).id,
                                        **kwargs)
            elif action == "escalate":
                tickets.escalate_ticket(session, ticket.id, reason="r", **kwargs)
            else:
                tickets.update_ticket(session, ticket.id, {"status": Status(action)}, **kwargs)
        except ZabotaError:
            pass  # refused actions must leave no trace, which the comparison below checks
    assert metrics_from_events(session, ticket.id) == metrics_from_columns(ticket)
