"""Full-text `q` with Russian and English morphology, on SQLite FTS5 and PostgreSQL alike."""

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import actor_of
from zabota.core.db import is_sqlite
from zabota.identity.permissions import SYSTEM
from zabota.ml.text import terms
from zabota.tickets import search as search_backends
from zabota.tickets import service as tickets
from zabota.tickets.models import Ticket


def search(session, q, actor=SYSTEM):
    found, _cursor = tickets.list_tickets(session, tickets.TicketFilter(q=q), actor=actor,
                                          limit=100)
    return {t.id for t in found}


@pytest.fixture
def corpus(session, make_ticket):
    return {
        "delivery": make_ticket(subject="Вопрос о доставке", text="Где мой заказ?"),
        "delivery2": make_ticket(subject="Жалоба", text="Недоволен доставкой, курьер опоздал"),
        "payment": make_ticket(subject="Сбоем транзакций", text="Платёж не прошёл"),
        "english": make_ticket(subject="Refund request", text="My orders were delivered late"),
    }


def test_russian_word_forms_find_each_other(session, corpus):
    assert search(session, "доставка") == {corpus["delivery"].id, corpus["delivery2"].id}
    assert search(session, "доставки") == {corpus["delivery"].id, corpus["delivery2"].id}
    assert search(session, "сбой транзакции") == {corpus["payment"].id}
    assert search(session, "платеж") == {corpus["payment"].id}  # ё and е are one letter


def test_english_stems_and_all_terms_must_match(session, corpus):
    assert search(session, "ordering delivered") == {corpus["english"].id}
    assert search(session, "refunds") == {corpus["english"].id}
    assert search(session, "доставка курьер") == {corpus["delivery2"].id}
    assert search(session, "доставка refund") == set()


def test_queries_with_no_terms_or_odd_syntax_are_safe(session, corpus):
    assert search(session, "!!! ???") == set()
    for odd in ('"доставка', "доставка OR 1=1", "NEAR(доставка)", "{public}: x", "a* -b",
                "доставка'); DROP TABLE tickets; --"):
        search(session, odd)  # no syntax error reaches the user
    assert search(session, "доставка") != set()


def test_new_messages_are_searchable(session, corpus):
    ticket = corpus["english"]
    tickets.add_message(session, ticket.id, tickets.NewMessage(text="Возврат средств оформлен"),
                        actor=SYSTEM)
    assert search(session, "возврата средств") == {ticket.id}


@pytest.fixture
def desks(session, make_team, make_agent, make_ticket):
    """An agent of the delivery team, and printer tickets in and out of their sight."""
    delivery, hardware = make_team("Доставка"), make_team("Оборудование")
    agent = make_agent(teams=(delivery,))
    other = make_agent(teams=(hardware,))
    ours = make_ticket(subject="Принтер курьера", text="Не печатает накладные", team_id=delivery.id)
    mine = make_ticket(subject="Принтер в офисе", text="Замялась бумага", team_id=hardware.id,
                       assignee_id=agent.id)
    theirs = [make_ticket(subject=f"Принтер {n}", text="Не печатает", team_id=hardware.id,
                          assignee_id=other.id) for n in range(4)]
    unrouted = make_ticket(subject="Принтер без команды", text="Не печатает")
    return {"delivery": delivery, "hardware": hardware, "agent": agent, "ours": ours,
            "mine": mine, "theirs": theirs, "unrouted": unrouted}


@pytest.mark.parametrize("few_matches", [1000, 1], ids=["listed", "walked"])
def test_an_agent_finds_only_what_they_may_see(session, desks, monkeypatch, few_matches):
    # Few matches are listed by id, many make the list walk: both give the same tickets.
    backend = search_backends.backend_for(session)
    monkeypatch.setattr(backend, "few_matches", few_matches)
    actor = actor_of(desks["agent"])
    assert search(session, "принтер", actor) == {desks["ours"].id, desks["mine"].id}
    assert search(session, "принтер бумага", actor) == {desks["mine"].id}
    assert search(session, "принтер", SYSTEM) == {
        desks["ours"].id, desks["mine"].id, desks["unrouted"].id,
        *(t.id for t in desks["theirs"])}
    flt = tickets.TicketFilter(q="не печатает", team_id=desks["delivery"].id)
    found, _cursor = tickets.list_tickets(session, flt, actor=actor)
    assert [t.id for t in found] == [desks["ours"].id]


@pytest.mark.parametrize("walk_window", [0, 3])
def test_pages_of_matches_are_the_same_however_they_are_found(session, desks, monkeypatch,
                                                               walk_window):
    # A small window finds the first page among the newest tickets and falls back to the
    # index for later pages: paging one ticket at a time must give every match once, in order.
    backend = search_backends.backend_for(session)
    monkeypatch.setattr(backend, "walk_window", walk_window)
    expected = [t.id for t in sorted([desks["ours"], desks["mine"], desks["unrouted"],
                                      *desks["theirs"]],
                                     key=lambda t: (t.updated_at, t.id), reverse=True)]
    seen, cursor = [], None
    while True:
        page, cursor = tickets.list_tickets(session, tickets.TicketFilter(q="принтер"),
                                            actor=SYSTEM, limit=2, cursor=cursor)
        seen += [t.id for t in page]
        if cursor is None:
            break
    assert seen == expected


def test_a_transfer_moves_the_ticket_in_and_out_of_an_agents_search(session, desks):
    actor = actor_of(desks["agent"])
    moved = desks["theirs"][0]
    tickets.transfer_ticket(session, moved.id, team_id=desks["delivery"].id, actor=SYSTEM,
                            reason="Курьерский принтер")
    assert moved.id in search(session, "принтер", actor)
    tickets.update_ticket(session, desks["mine"].id, {"assignee_id": None}, actor=SYSTEM)
    assert desks["mine"].id not in search(session, "принтер", actor)
    tickets.update_ticket(session, desks["unrouted"].id, {"team_id": desks["delivery"].id},
                          actor=SYSTEM)
    assert desks["unrouted"].id in search(session, "принтер", actor)
    if not is_sqlite(session):  # the index row holds the owners the ticket holds
        rows = session.execute(sa.select(Ticket.id, Ticket.team_id, Ticket.assignee_id)).all()
        indexed = session.execute(sa.text(
            "SELECT ticket_id, team_id, assignee_id FROM ticket_search")).all()
        assert sorted(map(tuple, indexed)) == sorted(map(tuple, rows))


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=80))
def test_normalisation_never_crashes_and_is_stable(text):
    once = terms(text)
    assert terms(" ".join(once)) == once or all(t for t in once)
