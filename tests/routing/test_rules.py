"""Routing rules: phrases matched through Russian morphology, order, "continue", conditions."""

from __future__ import annotations

import pytest

from tests.routing.conftest import triaged
from zabota.identity.permissions import SYSTEM
from zabota.ml.text import model_terms
from zabota.routing import service as routing
from zabota.routing.rules import find_phrase, phrase_terms
from zabota.routing.schemas import RuleActions, RuleConditions
from zabota.tickets.models import Channel, Priority


@pytest.mark.parametrize(("text", "found"), [
    ("Опять сбоем транзакций списали деньги", True),
    ("СБОЙ ТРАНЗАКЦИИ!!!", True),
    ("после сбоев транзакции карта не работает", True),
    ("транзакция прошла без сбоя", False),
    ("сбой приложения, транзакции не видны", False),
])
def test_a_phrase_matches_its_other_word_forms_in_order(text, found):
    assert find_phrase(model_terms(text), phrase_terms("сбой транзакции")) is found


def test_english_phrases_match_by_stem():
    assert find_phrase(model_terms("Both payments failing since Monday"),
                       phrase_terms("payment failed"))


def test_a_phrase_rule_routes_a_russian_ticket_to_its_team(session, desk, make_ticket,
                                                           phrase_rule):
    phrase_rule("Сбой транзакции", ["транзакция не прошла", "сбой транзакции"],
                category="billing")

    ticket = triaged(session, make_ticket, subject="Деньги",
                     text="Из-за сбоев транзакций деньги списаны, а заказа нет")

    assert (ticket.category, ticket.team_id) == ("billing", desk.finance.id)
    decision = routing.get_triage(session, ticket.id)
    assert decision is not None and decision.category_source == "rule"
    category = decision.explanation["category"]
    assert (category["rule"], category["phrase"]) == ("Сбой транзакции", "сбой транзакции")
    assert decision.explanation["team"] == {"id": desk.finance.id, "source": "category"}
    assert decision.explanation["summary"]["ru"].startswith("Финансы: правило «Сбой транзакции»")
    assert decision.explanation["summary"]["en"].startswith("Billing: rule “Сбой транзакции”")


def test_the_first_matching_rule_wins_unless_it_continues(session, desk, make_ticket,
                                                          phrase_rule):
    phrase_rule("Отметить возврат", ["вернуть деньги"], is_continue=True, tags=["refund"],
                priority=Priority.HIGH)
    phrase_rule("Деньги — в финансы", ["деньги"], category="billing")
    phrase_rule("Заказ — в доставку", ["заказ"], category="delivery", tags=["order"])

    ticket = triaged(session, make_ticket, subject="Возврат",
                     text="Верните деньги за заказ, пожалуйста")

    assert ticket.category == "billing"  # the second rule stopped the list
    assert ticket.tags == ["refund"]
    assert ticket.priority == Priority.HIGH
    fired = routing.get_triage(session, ticket.id).explanation["rules"]
    assert [f["rule"] for f in fired] == ["Отметить возврат", "Деньги — в финансы"]
    assert routing.get_triage(session, ticket.id).explanation["priority"]["rule"] == (
        "Отметить возврат")


def test_conditions_and_order_changes_are_respected(session, desk, make_ticket, phrase_rule):
    phone_only = routing.create_rule(
        session, actor=SYSTEM, name="Звонки о заказах",
        conditions=RuleConditions(channels=[Channel.PHONE], phrases=["заказ"]),
        actions=RuleActions(category="delivery"))
    catch_all = phrase_rule("Всё про заказы — в финансы", ["заказ"], category="billing")
    routing.update_rule(session, catch_all.id, actor=SYSTEM, is_enabled=False)

    ticket = triaged(session, make_ticket, text="Где мой заказ?")

    assert ticket.category is None  # the phone rule does not see an API ticket
    assert routing.get_triage(session, ticket.id).rule_ids == []
    routing.move_rule(session, catch_all.id, actor=SYSTEM, up=True)
    assert [r.id for r in routing.list_rules(session)] == [catch_all.id, phone_only.id]


def test_a_rule_may_skip_the_model_and_refuses_unknown_targets(session, desk):
    with pytest.raises(Exception) as refused:
        routing.create_rule(session, actor=SYSTEM, name="x",
                            conditions=RuleConditions(phrases=["ошибка оплаты"]),
                            actions=RuleActions(category="nope"))
    assert refused.value.data["errors"][0]["field"] == "actions.category"
