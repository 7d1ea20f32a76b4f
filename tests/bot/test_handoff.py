"""A flow's hand-off step: a return request collects the order number and the reason, then
the chat goes to the Returns team with what was collected in an internal note."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from zabota.bot import demo
from zabota.bot import service as bot
from zabota.bot.models import BotFlow, Decision
from zabota.channels.chat import service as chat
from zabota.identity import service as identity
from zabota.identity.permissions import SYSTEM
from zabota.tickets.models import AuthorKind, Message, Ticket, TicketEvent

RETURNS = {
    "name": "return_request",
    "triggers": {"ru": ["хочу вернуть товар"], "en": ["i want to return"]},
    "steps": [
        {"kind": "ask", "slot": "order", "pattern": r"\b(\d{4,10})\b",
         "prompt": {"ru": "Номер заказа?", "en": "Order number?"}},
        {"kind": "ask", "slot": "reason", "pattern": r"(?s)(\S.{2,})",
         "prompt": {"ru": "Причина?", "en": "Reason?"}},
        {"kind": "handoff", "team": "Возвраты", "category": "returns"},
    ],
}


def _says(session, settings, team, text, *, n):
    return chat.store_visitor_message(session, chat.IncomingMessage(
        visitor_id="visitor-returns", client_id=f"r{n}", text=text, language="ru",
        widget=chat.Widget(str(team.id), team.id)), settings=settings)


def test_a_return_request_goes_to_the_returns_team_with_the_slots(
        session, settings, make_team, make_agent, chat_bot):
    front, returns = make_team("Чат"), make_team("Возвраты")
    returns_agent = identity.actor_for_user(make_agent(teams=(returns,)))
    bot.save_flow(session, RETURNS)

    asked = _says(session, settings, front, "Хочу вернуть товар из заказа 123456", n=1)
    told = _says(session, settings, front, "пришёл не того размера", n=2)

    assert asked.answered and not told.answered  # the second message waits for a person
    ticket = session.get(Ticket, asked.ticket_id)
    assert (ticket.team_id, ticket.category) == (returns.id, "returns")
    assert ticket.transfers == 0  # the bot routed a new request: nobody had to transfer it
    assert [w.ticket_id for w in chat.waiting_chats(session, actor=returns_agent)] == [ticket.id]
    note = session.scalars(sa.select(Message).where(Message.ticket_id == ticket.id,
                                                    Message.is_internal.is_(True))).one()
    assert note.author_kind == AuthorKind.BOT
    assert "order: 123456" in note.body_text and "reason: пришёл не того размера" in note.body_text
    turns = bot.turns(session, ticket.id)
    assert [(t.decision, t.reason) for t in turns] == [
        (Decision.FLOW_STEP, None), (Decision.HANDED_OFF, "flow_handoff")]
    event = session.scalar(sa.select(TicketEvent).where(
        TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "bot_handoff"))
    assert event.data["team_id"] == returns.id
    assert event.data["values"] == {"order": "123456", "reason": "пришёл не того размера"}
    assert not _says(session, settings, front, "хочу вернуть товар 555555", n=3).answered


def test_a_handoff_with_text_tells_the_customer(session, settings, make_team, make_agent,
                                               chat_bot):
    front, returns = make_team("Чат"), make_team("Возвраты")
    flow = {**RETURNS, "steps": [*RETURNS["steps"][:2], {
        **RETURNS["steps"][2], "text": {"ru": "Передали заявку по заказу {order}."}}]}
    bot.save_flow(session, flow)

    _says(session, settings, front, "хочу вернуть товар, заказ 7777", n=1)
    told = _says(session, settings, front, "брак", n=2)

    assert session.get(Ticket, told.ticket_id).team_id == returns.id
    texts = list(session.scalars(sa.select(Message.body_text).where(
        Message.ticket_id == told.ticket_id, Message.author_kind == AuthorKind.BOT,
        Message.is_internal.is_(False)).order_by(Message.id)))
    assert texts == ["Причина?", "Передали заявку по заказу 7777."]
    # The bot's last word promises a person: the chat still waits among the live chats.
    assert Decision.HANDED_OFF.value == chat.BOT_HANDED_OFF  # how the chat tells that word
    returns_agent = identity.actor_for_user(make_agent(teams=(returns,)))
    waiting = chat.waiting_chats(session, actor=returns_agent)
    assert [(w.ticket_id, w.preview) for w in waiting] == [(told.ticket_id, "брак")]


def test_a_handoff_to_a_team_that_does_not_exist_is_refused(session):
    with pytest.raises(ValidationError) as refused:
        bot.save_flow(session, RETURNS)
    error = refused.value.errors()[0]
    assert (error["type"], error["loc"]) == ("team_unknown", ("steps", 2, "team"))


def test_the_demo_seeds_the_return_flow_where_its_team_exists(session, make_team):
    make_team("Возвраты")
    demo.seed_flows(session)

    names = set(session.scalars(sa.select(BotFlow.name).where(BotFlow.is_active)))
    assert names == {"order_status", "return_request"}
    assert len(bot.list_faqs(session, actor=SYSTEM)) == 2
