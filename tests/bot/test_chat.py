"""The bot in the web chat, through the real chat service: it answers first, closes the loop
on "yes", and hands the chat to the agents with its transcript on "no" or "operator"."""

from __future__ import annotations

import sqlalchemy as sa

from tests.conftest import actor_of
from zabota.bot import service as bot
from zabota.bot.models import Decision
from zabota.channels import hooks, outbound
from zabota.channels import service as channels
from zabota.channels.chat import service as chat
from zabota.channels.inbound import Inbound
from zabota.identity import service as identity
from zabota.identity.models import IdentityKind, Role
from zabota.identity.permissions import SYSTEM
from zabota.kb.models import Deflection
from zabota.tickets import service as tickets
from zabota.tickets.models import AuthorKind, Channel, Message, Status, Ticket, TicketEvent


def _says(session, settings, team, text, *, n, visitor="visitor-bot-1"):
    return chat.store_visitor_message(session, chat.IncomingMessage(
        visitor_id=visitor, client_id=f"c{n}", text=text, language="ru",
        widget=chat.Widget(str(team.id), team.id)), settings=settings)


def _transcript(session, ticket_id):
    return session.execute(sa.select(Message.author_kind, Message.body_text)
                           .where(Message.ticket_id == ticket_id).order_by(Message.id)).all()


def test_the_bot_answers_and_yes_closes_the_loop(session, settings, make_team, help_centre,
                                                chat_bot):
    team = make_team("Чат")

    asked = _says(session, settings, team, "где мой заказ 12345?", n=1)
    thanked = _says(session, settings, team, "да, спасибо", n=2)

    assert asked.answered and thanked.answered
    transcript = _transcript(session, asked.ticket_id)
    assert [kind for kind, _text in transcript] == [AuthorKind.CUSTOMER, AuthorKind.BOT,
                                                   AuthorKind.CUSTOMER, AuthorKind.BOT]
    assert help_centre.tracking.title in transcript[1][1]
    assert "http://127.0.0.1:8000/help/ru/" in transcript[1][1]  # a link that opens anywhere
    turns = bot.turns(session, asked.ticket_id)
    assert [(t.decision, t.article_id) for t in turns] == [
        (Decision.ANSWERED, help_centre.tracking.id), (Decision.RESOLVED, help_centre.tracking.id)]
    assert turns[0].confidence >= 0.6 and turns[0].data["candidates"]
    assert session.get(Ticket, asked.ticket_id).status == Status.SOLVED
    deflection = session.scalar(sa.select(Deflection))
    assert (deflection.source, deflection.article_id) == ("bot", help_centre.tracking.id)


def test_no_hands_the_chat_to_agents_with_the_bot_transcript(
        session, settings, make_team, make_agent, help_centre, chat_bot):
    team = make_team("Чат")
    agent = identity.actor_for_user(make_agent(teams=(team,)))

    asked = _says(session, settings, team, "как вернуть товар", n=1)
    assert chat.waiting_chats(session, actor=agent) == []  # the bot answered
    refused = _says(session, settings, team, "нет", n=2)

    assert asked.answered and not refused.answered
    assert [w.ticket_id for w in chat.waiting_chats(session, actor=agent)] == [asked.ticket_id]
    transcript = _transcript(session, asked.ticket_id)
    assert [kind for kind, _text in transcript] == [
        AuthorKind.CUSTOMER, AuthorKind.BOT, AuthorKind.CUSTOMER, AuthorKind.BOT]
    assert transcript[-1][1] == "Передаю разговор сотруднику — он ответит здесь."
    handoff = session.scalar(sa.select(TicketEvent).where(
        TicketEvent.ticket_id == asked.ticket_id, TicketEvent.kind == "bot_handoff"))
    assert handoff.data["reason"] == "not_helped"
    assert handoff.data["articles_tried"] == [help_centre.returns.id]
    assert handoff.data["questions"] == ["как вернуть товар", "нет"]
    # Handed off: the bot stays out of the rest of the conversation.
    later = _says(session, settings, team, "как вернуть товар", n=3)
    assert not later.answered
    assert [t.decision for t in bot.turns(session, asked.ticket_id)] == [
        Decision.ANSWERED, Decision.HANDED_OFF]


def test_asking_for_an_operator_goes_straight_to_the_agents(
        session, settings, make_team, make_agent, help_centre, chat_bot):
    team = make_team("Чат")
    agent = identity.actor_for_user(make_agent(teams=(team,)))

    stored = _says(session, settings, team, "позовите оператора", n=1)

    assert not stored.answered
    assert [w.ticket_id for w in chat.waiting_chats(session, actor=agent)] == [stored.ticket_id]
    turn = bot.turns(session, stored.ticket_id)[0]
    assert (turn.decision, turn.reason) == (Decision.HANDED_OFF, "asked_for_human")
    told = session.get(Message, turn.reply_message_id)  # not left in silence
    assert (told.author_kind, told.body_text) == (
        AuthorKind.BOT, "Передаю разговор сотруднику — он ответит здесь.")


def test_the_visitor_sees_the_bots_answer_live(app_client, session, make_team, help_centre,
                                               chat_bot):
    from tests.channels.chat.conftest import hello

    team = make_team("Чат")
    session.commit()
    with app_client.websocket_connect("/chat/ws") as ws:
        hello(ws, team=str(team.id), lang="ru")
        ws.send_json({"type": "message", "id": "m1", "text": "где мой заказ 12345?"})
        # The bot's answer is published at commit, so it may come before the ack.
        frames = {frame["type"]: frame for frame in (ws.receive_json(), ws.receive_json())}

    answer = frames["message"]["message"]
    assert answer["author"] == "bot"
    assert help_centre.tracking.title in answer["text"] and "/help/ru/" in answer["text"]


def test_the_bot_answers_a_telegram_message_first_and_steps_aside_for_an_agent(
        session, settings, help_centre, make_agent, monkeypatch):
    monkeypatch.setattr(hooks, "first_responders", [bot.answer_messenger])
    monkeypatch.setitem(outbound._senders, Channel.TELEGRAM, lambda job, _s: "1")
    account = channels.create_account(session, actor=SYSTEM, kind=Channel.TELEGRAM,
                                      name="Бот", config={})

    def write(text: str, n: int) -> hooks.Outcome:
        inbound = Inbound(channel=Channel.TELEGRAM, external_id=f"{account.id}:7:{n}",
                          identities=[(IdentityKind.TELEGRAM, "7")], text=text,
                          account_id=account.id)
        return hooks.take_in(session, account=account, external_id=inbound.external_id,
                             payload=b"{}", build=lambda: inbound, settings=settings)

    first = write("Где мой заказ? Как его отследить?", 1)
    answer = session.scalars(sa.select(Message).where(
        Message.ticket_id == first.ticket_id, Message.author_kind == AuthorKind.BOT)).one()
    assert answer.channel == Channel.TELEGRAM and "отследить" in answer.body_text.lower()
    assert outbound.plan(session, answer, settings=settings).recipient == "7"

    agent = make_agent(role=Role.ADMIN)
    tickets.add_message(session, first.ticket_id, tickets.NewMessage(text="Посмотрю сам"),
                        actor=actor_of(agent))
    write("Спасибо, жду", 2)
    bot_messages = session.scalar(sa.select(sa.func.count()).select_from(Message).where(
        Message.ticket_id == first.ticket_id, Message.author_kind == AuthorKind.BOT))
    assert bot_messages == 1  # a person has the conversation now
