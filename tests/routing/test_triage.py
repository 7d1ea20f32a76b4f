"""Triage of a new ticket: language, sentiment, category (rules, model, threshold), priority
signals, and the explanation in the history."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from tests.routing.conftest import deliver, solve, triaged
from zabota.channels import service as channels
from zabota.channels.inbound import Inbound, receive
from zabota.identity import service as identity
from zabota.identity.models import IdentityKind
from zabota.identity.permissions import SYSTEM
from zabota.routing import service as routing
from zabota.tickets import service as tickets
from zabota.tickets.models import Channel, Priority, Ticket, TicketEvent

BILLING = ["Списали деньги дважды за заказ", "Верните оплату, платёж не прошёл",
           "Ошибка оплаты картой", "Двойное списание с карты", "Не проходит платёж",
           "Счёт выставлен неверно"]
DELIVERY = ["Курьер не привёз заказ", "Где моя посылка, доставка задерживается",
            "Заказ не доставлен вовремя", "Посылка потерялась при доставке",
            "Курьер опоздал на три часа", "Трек-номер не обновляется"]
ACCOUNT = ["Не могу войти в личный кабинет", "Забыл пароль от аккаунта",
           "Как сменить почту в профиле", "Аккаунт заблокирован",
           "Не приходит код для входа", "Удалите мою учётную запись"]


def solved_history(session, make_ticket) -> None:
    for category, texts in (("billing", BILLING), ("delivery", DELIVERY),
                            ("account", ACCOUNT)):
        for text in texts:
            solve(session, make_ticket(subject="Вопрос", text=text, category=category))


def small_installation(session, *, threshold: float) -> None:
    routing.update_routing_settings(session, actor=SYSTEM, confidence_threshold=threshold,
                                    repeat_days=7, min_training_rows=12, min_per_category=3)


def triaged_events(session, ticket_id):
    return session.scalars(sa.select(TicketEvent).where(
        TicketEvent.ticket_id == ticket_id, TicketEvent.kind == "triaged")).all()


def test_cold_start_routes_by_rules_only_and_says_so(session, desk, make_ticket):
    ticket = triaged(session, make_ticket, subject="Вопрос", text="Как сменить тариф?")

    decision = routing.get_triage(session, ticket.id)
    assert decision.category_source == "none" and ticket.category is None
    assert decision.explanation["category"]["cold_start"] is True
    assert "обученной модели пока нет" in decision.explanation["summary"]["ru"]
    assert (ticket.language, decision.language) == ("ru", "ru")


def test_confident_model_routes_and_unsure_model_leaves_top_three(session, desk, make_ticket,
                                                                 tmp_path):
    small_installation(session, threshold=0.9)
    solved_history(session, make_ticket)
    model = routing.train_category_model(session, actor=SYSTEM, directory=tmp_path)
    assert model.is_active and model.rows + model.metrics["held_out_rows"] == 18

    sure = triaged(session, make_ticket, subject="Оплата",
                   text="Деньги списали два раза, верните оплату")
    unsure = triaged(session, make_ticket, subject="Добрый день", text="Добрый день")

    assert (sure.category, sure.team_id) == ("billing", desk.finance.id)
    explained = routing.get_triage(session, sure.id).explanation["category"]
    assert explained["source"] == "model" and explained["model"] == model.version
    assert explained["confidence"] >= 0.9
    assert any("спис" in name or "деньг" in name or "оплат" in name
               for name, _weight in explained["features"])
    waiting = routing.get_triage(session, unsure.id)
    assert waiting.needs_review and unsure.category is None and unsure.team_id is None
    assert len(waiting.suggestions) == 3
    assert waiting.suggestions[0][1] < 0.9
    assert "модель не уверена" in waiting.explanation["summary"]["ru"]


def test_priority_rises_on_signals_and_lists_them(session, desk, make_ticket, make_customer):
    org = identity.create_organization(session, name="ООО Ромашка", is_vip=True,
                                       sla_tier="premium", actor=SYSTEM)
    customer = make_customer(organization_id=org.id)
    make_ticket(customer=customer, subject="Ранее", text="Вопрос про заказ")

    ticket = triaged(session, make_ticket, customer=customer, subject="Срочно!",
                     text="Срочно нужна помощь, заказ не пришёл", channel=Channel.PHONE)

    assert ticket.priority == Priority.URGENT
    signals = routing.get_triage(session, ticket.id).explanation["priority"]["signals"]
    assert {s["code"] for s in signals} >= {"urgent_words", "vip", "sla_tier",
                                            "repeat_contact", "channel"}
    summary = routing.get_triage(session, ticket.id).explanation["summary"]["ru"]
    assert "приоритет срочный" in summary and "VIP" in summary


def test_a_calm_question_stays_normal(session, desk, make_ticket):
    ticket = triaged(session, make_ticket, subject="Вопрос", text="Подскажите часы работы")
    assert ticket.priority == Priority.NORMAL
    assert "приоритет обычный" in routing.get_triage(session, ticket.id).explanation[
        "summary"]["ru"]


def test_triage_runs_once_and_keeps_what_the_ticket_was_given(session, desk, make_ticket,
                                                              phrase_rule):
    phrase_rule("Заказы", ["заказ"], category="delivery")
    ticket = make_ticket(text="Заказ не пришёл", category="account", team_id=desk.finance.id,
                         priority=Priority.HIGH)
    deliver(session)
    routing.triage_ticket(session, ticket.id)  # a redelivered event

    assert len(triaged_events(session, ticket.id)) == 1
    assert (ticket.category, ticket.team_id, ticket.priority) == (
        "account", desk.finance.id, Priority.HIGH)


def test_recent_contact_counts_only_within_the_window(session, desk, make_ticket,
                                                      make_customer, frozen_clock):
    customer = make_customer()
    make_ticket(customer=customer, text="Давний вопрос", clock=frozen_clock)
    frozen_clock.advance(timedelta(days=30))
    ticket = make_ticket(customer=customer, text="Новый вопрос", clock=frozen_clock)

    routing.triage_ticket(session, ticket.id, clock=frozen_clock)

    codes = [s["code"] for s in routing.get_triage(session, ticket.id)
             .explanation["priority"]["signals"]]
    assert "repeat_contact" not in codes


def test_the_history_holds_the_explanation(session, desk, make_ticket, phrase_rule):
    phrase_rule("Сбой транзакции", ["сбой транзакции"], category="billing")
    ticket = triaged(session, make_ticket, text="Сбой транзакции при оплате")

    events = tickets.list_events(session, ticket.id, actor=SYSTEM)
    kinds = [(e.kind, e.field) for e in events]
    assert ("field_changed", "category") in kinds and ("team_changed", "team_id") in kinds
    triage = [e for e in events if e.kind == "triaged"]
    assert len(triage) == 1 and triage[0].actor_kind == "system"
    assert triage[0].data["category"]["rule"] == "Сбой транзакции"
    assert triage[0].data["sentiment"]["model"].startswith("sentiment-")
    assert triage[0].reason == triage[0].data["summary"]["ru"]


def test_a_channels_team_is_a_default_that_routing_improves_on(session, desk, phrase_rule):
    bot = channels.create_account(session, actor=SYSTEM, kind=Channel.TELEGRAM, name="Бот",
                                  team_id=desk.delivery.id, config={})
    phrase_rule("Сбой транзакции", ["сбой транзакции"], category="billing")

    def write(text: str, n: int) -> Ticket:
        got = receive(session, Inbound(channel=Channel.TELEGRAM, external_id=f"1:{n}:{n}",
                                       identities=[(IdentityKind.TELEGRAM, str(n))],
                                       text=text, account_id=bot.id))
        deliver(session)
        return session.get(Ticket, got.ticket_id)

    routed = write("Сбой транзакции при оплате", 1)
    unrouted = write("Здравствуйте, вопрос", 2)

    assert (routed.category, routed.team_id) == ("billing", desk.finance.id)
    assert (unrouted.category, unrouted.team_id) == (None, desk.delivery.id)
    # Routing a new request is not a transfer: the history agrees with the counter.
    assert routed.transfers == 0
    moved = session.scalars(sa.select(TicketEvent).where(
        TicketEvent.ticket_id == routed.id, TicketEvent.kind == "team_changed")).one()
    assert moved.data["transfer"] is False


def test_triage_reads_the_set_up_once_per_change(session, desk, make_ticket, phrase_rule):
    """Rules, categories and the model are read again only after an admin changed one."""
    rules_read = []

    @sa.event.listens_for(session.get_bind(), "before_cursor_execute")
    def count(_conn, _cursor, statement, *_args) -> None:
        if statement.startswith("SELECT routing_rules.id"):  # the list triage reads
            rules_read.append(statement)

    try:
        triaged(session, make_ticket, subject="Вопрос", text="Подскажите, пожалуйста")
        triaged(session, make_ticket, subject="Ещё вопрос", text="Подскажите ещё раз")
        assert len(rules_read) == 1  # the second ticket used the first one's copy

        phrase_rule("Сбой оплаты", ["сбой транзакции"], team_id=desk.finance.id)
        ticket = triaged(session, make_ticket, subject="Проблема",
                         text="У меня сбоем транзакций списались деньги")
    finally:
        sa.event.remove(session.get_bind(), "before_cursor_execute", count)

    assert len(rules_read) == 2  # the new rule gave the set-up a new generation
    assert ticket.team_id == desk.finance.id
