"""The bot's decision for one message: an article above the threshold, a person otherwise."""

from __future__ import annotations

import pytest

from zabota.bot.answer import Conversation, decide
from zabota.bot.models import Decision


def test_answers_with_the_public_article_above_the_threshold(session, help_centre):
    decision = decide(session, "где мой заказ 12345?", language="ru")

    assert decision.decision == Decision.ANSWERED, decision
    assert decision.article_id == help_centre.tracking.id
    assert decision.confidence >= 0.6
    assert decision.url.startswith("/help/ru/") and decision.snippet
    assert decision.tried_article_ids == (help_centre.tracking.id,)


def test_answers_in_the_customers_language(session, help_centre):
    decision = decide(session, "where is my order??", language="en")

    assert (decision.decision, decision.article_id) == (
        Decision.ANSWERED, help_centre.tracking_en.id)


def test_hands_off_below_the_threshold(session, help_centre):
    decision = decide(session, "хочу оптом купить сто телевизоров для офиса", language="ru")

    assert decision.decision == Decision.HANDED_OFF
    assert decision.reason == "low_confidence"
    assert decision.article_id is None


def test_the_same_question_above_an_impossible_threshold_is_handed_off(session, help_centre):
    decision = decide(session, "где мой заказ 12345?", language="ru", threshold=1.01)

    assert (decision.decision, decision.reason) == (Decision.HANDED_OFF, "low_confidence")
    assert decision.candidates[0].article_id == help_centre.tracking.id


def test_internal_articles_are_never_used(session, help_centre):
    decision = decide(session, "компенсация за задержку доставки регламент", language="ru",
                      threshold=0.0)

    assert help_centre.internal.id not in [c.article_id for c in decision.candidates]
    assert decision.article_id != help_centre.internal.id


@pytest.mark.parametrize("text", ["позовите оператора", "Позовите человека!",
                                  "соедините с оператором пожалуйста", "I want a human",
                                  "can I talk to an agent"])
def test_hands_off_when_asked_for_a_person(session, help_centre, text):
    decision = decide(session, text, language="ru")

    assert (decision.decision, decision.reason) == (Decision.HANDED_OFF, "asked_for_human")


def test_hands_off_on_negative_sentiment(session, help_centre):
    decision = decide(session, "Это ужасно, вы худший магазин, я в бешенстве, где мой заказ!",
                      language="ru")

    assert (decision.decision, decision.reason) == (Decision.HANDED_OFF, "negative_sentiment")
    assert decision.sentiment is not None and decision.sentiment[0] == "negative"


@pytest.mark.parametrize(("text", "expected", "reason"), [
    ("да, спасибо", Decision.RESOLVED, None),
    ("нет", Decision.HANDED_OFF, "not_helped"),
    ("нет, не помогло", Decision.HANDED_OFF, "not_helped"),
    ("no", Decision.HANDED_OFF, "not_helped"),
])
def test_feedback_after_an_answer(session, help_centre, text, expected, reason):
    shown = Conversation(awaiting_feedback=help_centre.tracking.id,
                         tried_article_ids=(help_centre.tracking.id,))

    decision = decide(session, text, language="ru", conversation=shown)

    assert (decision.decision, decision.reason) == (expected, reason)
    assert decision.article_id == help_centre.tracking.id


def test_a_greeting_is_answered_with_an_invitation(session, help_centre):
    assert decide(session, "Здравствуйте!", language="ru").decision == Decision.GREETED
