"""Full-text `q` with Russian and English morphology, on SQLite FTS5 and PostgreSQL alike."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zabota.identity.permissions import SYSTEM
from zabota.ml.text import terms
from zabota.tickets import service as tickets


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


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=80))
def test_normalisation_never_crashes_and_is_stable(text):
    once = terms(text)
    assert terms(" ".join(once)) == once or all(t for t in once)
