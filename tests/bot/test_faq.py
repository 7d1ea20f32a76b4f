"""FAQ pairs: an admin's question and answer wins over an article when it matches well, in
any word form; the turn is logged with the pair; "yes" closes the loop, "no" hands off."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from zabota.bot import faq
from zabota.bot import service as bot
from zabota.bot.answer import decide
from zabota.bot.models import Decision
from zabota.bot.schemas import FaqIn
from zabota.channels.chat import service as chat
from zabota.core.errors import Forbidden, InvalidInput
from zabota.identity import service as identity
from zabota.identity.models import Role
from zabota.identity.permissions import SYSTEM
from zabota.kb.models import Deflection
from zabota.tickets.models import AuthorKind, Message, Status, Ticket, TicketEvent


def _says(session, settings, team, text, *, n, language="ru"):
    return chat.store_visitor_message(session, chat.IncomingMessage(
        visitor_id="visitor-faq", client_id=f"q{n}", text=text, language=language,
        widget=chat.Widget(str(team.id), team.id)), settings=settings)


@pytest.fixture
def weekend(session):
    return bot.save_faq(session, FaqIn(
        language="ru", question="Можно ли вернуть товар в выходные?",
        alternatives=["Принимаете ли возврат в субботу"],
        answer="Да, пункты выдачи принимают возвраты и в выходные."), actor=SYSTEM)


def test_a_matching_faq_pair_wins_over_the_article(session, settings, make_team, help_centre,
                                                   weekend, chat_bot):
    team = make_team("Чат")

    asked = _says(session, settings, team, "можно вернуть товары в выходные?", n=1)

    assert asked.answered
    reply = session.scalars(sa.select(Message.body_text).where(
        Message.ticket_id == asked.ticket_id, Message.author_kind == AuthorKind.BOT)).one()
    assert reply.startswith("Да, пункты выдачи принимают возвраты и в выходные.")
    turn = bot.turns(session, asked.ticket_id)[0]
    assert (turn.decision, turn.faq_id, turn.article_id) == (Decision.ANSWERED, weekend.id, None)
    assert turn.confidence >= faq.FAQ_THRESHOLD
    assert turn.data["faq"]["question"] == weekend.question
    assert turn.data["faq_candidates"][0]["faq_id"] == weekend.id


def test_yes_after_a_faq_answer_solves_the_chat(session, settings, make_team, help_centre,
                                                weekend, chat_bot):
    team = make_team("Чат")

    asked = _says(session, settings, team, "Принимаете возврат в субботу?", n=1)
    thanked = _says(session, settings, team, "да, спасибо", n=2)

    assert asked.answered and thanked.answered
    assert [(t.decision, t.faq_id) for t in bot.turns(session, asked.ticket_id)] == [
        (Decision.ANSWERED, weekend.id), (Decision.RESOLVED, weekend.id)]
    assert session.get(Ticket, asked.ticket_id).status == Status.SOLVED
    assert session.scalar(sa.select(Deflection.source)) == "bot"


def test_no_after_a_faq_answer_hands_off_and_names_the_pair(
        session, settings, make_team, make_agent, help_centre, weekend, chat_bot):
    team = make_team("Чат")
    agent = identity.actor_for_user(make_agent(teams=(team,)))

    asked = _says(session, settings, team, "можно вернуть товар в выходные", n=1)
    refused = _says(session, settings, team, "нет", n=2)

    assert asked.answered and not refused.answered
    assert [w.ticket_id for w in chat.waiting_chats(session, actor=agent)] == [asked.ticket_id]
    event = session.scalar(sa.select(TicketEvent).where(
        TicketEvent.ticket_id == asked.ticket_id, TicketEvent.kind == "bot_handoff"))
    assert event.data["reason"] == "not_helped" and event.data["faqs_tried"] == [weekend.id]


def test_a_pair_linked_to_an_article_links_it_and_a_weak_match_leaves_it_to_articles(
        session, help_centre, weekend):
    linked = bot.save_faq(session, FaqIn(
        language="ru", question="Где посмотреть трек-номер посылки?",
        answer="Трек-номер есть в личном кабинете, в разделе «Заказы».",
        article_slug=help_centre.tracking.slug), actor=SYSTEM)

    strong = decide(session, "где посмотреть трек номер посылки", language="ru",
                    sentiment=None)
    weak = decide(session, "как вернуть товар", language="ru", sentiment=None)
    other_language = decide(session, "можно вернуть товар в выходные", language="en",
                            sentiment=None)

    assert (strong.faq_id, strong.article_id) == (linked.id, help_centre.tracking.id)
    assert weak.faq_id is None and weak.article_id == help_centre.returns.id
    assert other_language.faq_id is None


def test_the_bot_links_the_article_of_a_pair(session, settings, make_team, help_centre,
                                              chat_bot):
    bot.save_faq(session, FaqIn(
        language="ru", question="Где посмотреть трек-номер посылки?",
        answer="В личном кабинете.", article_slug=help_centre.tracking.slug), actor=SYSTEM)
    team = make_team("Чат")

    asked = _says(session, settings, team, "где посмотреть трек-номер посылки?", n=1)

    reply = session.scalars(sa.select(Message.body_text).where(
        Message.ticket_id == asked.ticket_id, Message.author_kind == AuthorKind.BOT)).one()
    assert "В личном кабинете." in reply and "http://127.0.0.1:8000/help/ru/" in reply


def test_faq_pairs_are_checked_and_only_for_those_allowed(session, make_agent, help_centre):
    agent = identity.actor_for_user(make_agent(role=Role.AGENT))
    good = FaqIn(language="ru", question="Вы работаете в выходные?", answer="Да")

    with pytest.raises(Forbidden):
        bot.save_faq(session, good, actor=agent)
    with pytest.raises(InvalidInput) as unknown:
        bot.save_faq(session, good.model_copy(update={"article_slug": "no-such"}),
                     actor=SYSTEM)
    with pytest.raises(InvalidInput):  # an internal article is not for customers
        bot.save_faq(session, good.model_copy(update={"article_slug": help_centre.internal.slug}),
                     actor=SYSTEM)
    assert unknown.value.data["errors"][0]["field"] == "article_slug"


def test_scores_need_both_sides_to_match():
    question = faq.phrase_terms("Доставка в Казахстан")
    assert faq.score(faq.phrase_terms("у вас есть доставка в Казахстан?"), question) > 0.8
    assert faq.score(faq.phrase_terms("доставка"), question) < faq.FAQ_THRESHOLD
    assert faq.score(faq.phrase_terms("доставка в казахтан"), question) > 0.8  # a typo
