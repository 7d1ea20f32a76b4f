"""The agent's side: waiting chats, accepting with the waiting time recorded, several chats at
once, typing both ways, replies that reach the visitor live, and the bot's hook."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from starlette.websockets import WebSocketDisconnect

from tests.channels.chat.conftest import hello, login, receive_until, send
from zabota.channels.chat import errors as chat_errors
from zabota.channels.chat import service as chat
from zabota.channels.chat.responders import chat_first_responders, register_first_responder
from zabota.identity import service as identity
from zabota.identity.models import Role
from zabota.tickets import service as tickets
from zabota.tickets.models import AuthorKind, Channel, Message, Status, Ticket, TicketEvent

FETCH = {"X-Requested-With": "fetch"}


def visitor_says(session, settings, visitor_id, client_id, text, *, team_id, clock=None):
    extra = {"clock": clock} if clock is not None else {}
    stored = chat.store_visitor_message(session, chat.IncomingMessage(
        visitor_id=visitor_id, client_id=client_id, text=text, language="ru",
        widget=chat.Widget(str(team_id), team_id)), settings=settings, **extra)
    return stored


def test_an_agent_accepts_a_waiting_chat_and_they_talk_live(app_client, session, desk):
    team = str(desk.team.id)
    csrf = login(app_client, desk.agent)
    with app_client.websocket_connect("/chat/ws") as visitor, \
            app_client.websocket_connect("/agent/chats/live") as agent:
        assert agent.receive_json()["type"] == "ready"
        hello(visitor, team=team)
        first = send(visitor, "v1", "Здравствуйте, не могу оплатить заказ")["message"]
        desk_frame = receive_until(agent, "desk")
        assert (desk_frame["event"], desk_frame["ticket"]) == ("message", first["ticket"])
        assert desk_frame["message"]["text"] == "Здравствуйте, не могу оплатить заказ"

        waiting = app_client.get("/agent/chats/waiting").text
        assert "не могу оплатить заказ" in waiting
        assert f"/agent/chats/{first['ticket']}/accept" in waiting

        accepted = app_client.post(f"/agent/chats/{first['ticket']}/accept",
                                   data={"csrf_token": csrf}, headers=FETCH).json()
        assert accepted["ticket"] == first["ticket"] and accepted["waited_seconds"] >= 0
        assert "не могу оплатить заказ" in accepted["panel"]
        assert receive_until(visitor, "status")["agent"] == desk.agent.name
        assert receive_until(agent, "desk")["event"] == "accepted"

        agent.send_json({"type": "watch", "tickets": [first["ticket"]]})
        assert receive_until(agent, "watching")["online"] == {str(first["ticket"]): True}
        visitor.send_json({"type": "typing", "on": True})
        assert receive_until(agent, "typing") == {"type": "typing", "ticket": first["ticket"],
                                                  "on": True}
        agent.send_json({"type": "typing", "ticket": first["ticket"], "on": True})
        assert receive_until(visitor, "typing")["name"] == desk.agent.name

        reply = app_client.post(f"/agent/chats/{first['ticket']}/messages", headers=FETCH,
                                data={"csrf_token": csrf, "text": "Сейчас проверю платёж"})
        assert reply.status_code == 201
        heard = receive_until(visitor, "message")["message"]
        assert (heard["author"], heard["name"], heard["text"]) == (
            "agent", desk.agent.name, "Сейчас проверю платёж")
        assert heard["id"] == reply.json()["message"]["id"]

        own = receive_until(agent, "message")  # other agents on the chat see the reply too
        assert own["message"]["id"] == heard["id"]
        second = send(visitor, "v2", "Спасибо!")["message"]
        seen = receive_until(agent, "message")
        assert (seen["ticket"], seen["message"]["id"]) == (first["ticket"], second["id"])
    ticket = session.get(Ticket, first["ticket"])
    session.refresh(ticket)
    assert (ticket.assignee_id, ticket.status) == (desk.agent.id, Status.OPEN)


def test_the_chats_page_holds_several_chats_and_works_without_javascript(app_client, session,
                                                                         settings, desk):
    one = visitor_says(session, settings, "vone", "1", "Первый вопрос", team_id=desk.team.id)
    two = visitor_says(session, settings, "vtwo", "1", "Второй вопрос", team_id=desk.team.id)
    session.commit()
    csrf = login(app_client, desk.agent)
    for stored in (one, two):
        response = app_client.post(f"/agent/chats/{stored.ticket_id}/accept",
                                   data={"csrf_token": csrf}, follow_redirects=False)
        assert (response.status_code, response.headers["location"]) == (303, "/agent/chats")
    page = app_client.get("/agent/chats").text
    assert page.count('class="chat-panel card"') == 2
    assert "Первый вопрос" in page and "Второй вопрос" in page
    assert 'class="waiting-chat"' not in page
    response = app_client.post(f"/agent/chats/{one.ticket_id}/messages",
                               data={"csrf_token": csrf, "text": "Ответ"},
                               follow_redirects=False)
    assert response.status_code == 303
    refused = app_client.post(f"/agent/chats/{one.ticket_id}/messages", headers=FETCH,
                              data={"csrf_token": csrf, "text": "  "})
    assert refused.status_code == 422 and refused.headers["content-type"].startswith(
        "application/problem+json")
    finished = app_client.post(f"/agent/chats/{two.ticket_id}/finish", headers=FETCH,
                               data={"csrf_token": csrf})
    assert finished.status_code == 200
    assert session.get(Ticket, two.ticket_id).status == Status.SOLVED
    again = visitor_says(session, settings, "vtwo", "2", "Ещё вопрос", team_id=desk.team.id)
    assert again.created_ticket and again.ticket_id != two.ticket_id


def test_accepting_records_how_long_the_visitor_waited(session, settings, desk, make_agent,
                                                       frozen_clock):
    stored = visitor_says(session, settings, "vwait", "1", "Алло?", team_id=desk.team.id,
                          clock=frozen_clock)
    frozen_clock.advance(timedelta(seconds=40))
    visitor_says(session, settings, "vwait", "2", "Есть кто?", team_id=desk.team.id,
                 clock=frozen_clock)
    frozen_clock.advance(timedelta(seconds=55))
    agent = identity.actor_for_user(desk.agent)
    accepted = chat.accept_chat(session, stored.ticket_id, actor=agent, clock=frozen_clock)

    assert accepted.waited_seconds == 95.0 and not accepted.already_mine
    event = session.scalar(sa.select(TicketEvent).where(
        TicketEvent.ticket_id == stored.ticket_id, TicketEvent.kind == "chat_accepted"))
    assert event.data["waited_seconds"] == 95.0 and event.data["agent_id"] == desk.agent.id
    assert event.at == frozen_clock.now()
    assert chat.accept_chat(session, stored.ticket_id, actor=agent).already_mine
    colleague = identity.actor_for_user(make_agent(teams=(desk.team,)))
    with pytest.raises(chat_errors.ChatTaken):
        chat.accept_chat(session, stored.ticket_id, actor=colleague)


def test_only_unanswered_chats_of_ones_teams_are_waiting(session, settings, desk, make_agent,
                                                         make_ticket, frozen_clock):
    mine = visitor_says(session, settings, "va", "1", "Мой вопрос", team_id=desk.team.id)
    other_team = desk.other.teams[0]
    theirs = visitor_says(session, settings, "vb", "1", "Чужой вопрос", team_id=other_team.id)
    answered = visitor_says(session, settings, "vc", "1", "Уже отвечен", team_id=desk.team.id)
    make_ticket(team_id=desk.team.id, subject="Письмо, не чат")
    tickets.add_message(session, answered.ticket_id, tickets.NewMessage(text="Ответ бота"),
                        actor=identity.actor_for_user(desk.agent), author_kind=AuthorKind.BOT,
                        channel=Channel.CHAT)
    agent = identity.actor_for_user(desk.agent)
    admin = identity.actor_for_user(make_agent(role=Role.ADMIN))

    assert [w.ticket_id for w in chat.waiting_chats(session, actor=agent)] == [mine.ticket_id]
    assert {w.ticket_id for w in chat.waiting_chats(session, actor=admin)} == {
        mine.ticket_id, theirs.ticket_id}
    waiting = chat.waiting_chats(session, actor=agent)[0]
    assert waiting.preview == "Мой вопрос" and waiting.customer_name
    later = type(frozen_clock)(frozen_clock.now() + timedelta(days=400))
    assert chat.waiting_chats(session, actor=agent, clock=later) == []


def test_the_bot_answers_first_through_the_responder_hook(app_client, session, desk):
    def bot(db, message):
        tickets.add_message(db, message.ticket_id, tickets.NewMessage(
            text=f"Бот: нашёл статью про «{message.text}»"),
            actor=identity.actor_for_user(desk.agent), author_kind=AuthorKind.BOT,
            channel=Channel.CHAT)
        return True

    def broken(_db, _message):
        raise RuntimeError("the bot fell over")

    register_first_responder(broken)
    register_first_responder(bot)
    try:
        with app_client.websocket_connect("/chat/ws") as ws:
            hello(ws, team=str(desk.team.id))
            ws.send_json({"type": "message", "id": "b1", "text": "возврат"})
            # The bot's answer is published at commit, so it may come before the ack.
            frames = {frame["type"]: frame for frame in (ws.receive_json(), ws.receive_json())}
            ack, answer = frames["ack"], frames["message"]["message"]
    finally:
        chat_first_responders.remove(broken)
        chat_first_responders.remove(bot)
    assert (answer["author"], answer["text"]) == ("bot", "Бот: нашёл статью про «возврат»")
    authors = session.scalars(sa.select(Message.author_kind).where(
        Message.ticket_id == ack["message"]["ticket"]).order_by(Message.id)).all()
    assert authors == [AuthorKind.CUSTOMER, AuthorKind.BOT]
    agent = identity.actor_for_user(desk.agent)
    assert chat.waiting_chats(session, actor=agent) == []


def test_the_agents_live_channel_is_for_signed_in_staff_of_this_site(app_client, desk):
    with pytest.raises(WebSocketDisconnect) as anonymous, \
            app_client.websocket_connect("/agent/chats/live"):
        pass
    assert anonymous.value.code == 4401
    login(app_client, desk.agent)
    with pytest.raises(WebSocketDisconnect) as foreign, app_client.websocket_connect(
            "/agent/chats/live", headers={"origin": "https://evil.example"}):
        pass
    assert foreign.value.code == 4403
    with app_client.websocket_connect("/agent/chats/live") as agent:
        assert agent.receive_json()["type"] == "ready"
        agent.send_text("{oops")
        assert agent.receive_json()["code"] == "bad_json"
        agent.send_json({"type": "watch", "tickets": ["x"]})
        assert agent.receive_json()["code"] == "invalid_frame"
        agent.send_json({"type": "watch", "tickets": [999_999]})
        assert agent.receive_json() == {"type": "watching", "online": {}}


def test_another_teams_chat_cannot_be_accepted(app_client, session, settings, desk):
    stored = visitor_says(session, settings, "vx", "1", "Вопрос", team_id=desk.team.id)
    session.commit()
    csrf = login(app_client, desk.other)
    response = app_client.post(f"/agent/chats/{stored.ticket_id}/accept", headers=FETCH,
                               data={"csrf_token": csrf})
    assert response.status_code == 404
    assert session.get(Ticket, stored.ticket_id).assignee_id is None


def test_a_chat_given_to_an_agent_elsewhere_opens_on_their_chats_page(app_client, session,
                                                                     settings, desk):
    from zabota.core import outbox

    stored = visitor_says(session, settings, "vr", "1", "Вопрос", team_id=desk.team.id)
    outbox.settle_as_history(session, after_id=0)  # routing and the rest already ran
    session.commit()
    login(app_client, desk.agent)
    with app_client.websocket_connect("/agent/chats/live") as agent:
        assert agent.receive_json()["type"] == "ready"
        tickets.assign_ticket(session, stored.ticket_id, desk.agent.id,
                              actor=identity.actor_for_user(desk.agent), reason="routing")
        session.commit()
        outbox.dispatch_pending(session)
        session.commit()
        changed = receive_until(agent, "desk")
    assert (changed["event"], changed["ticket"]) == ("changed", stored.ticket_id)
    waiting = app_client.get("/agent/chats/waiting").text
    assert f'data-mine="{stored.ticket_id}"' in waiting and "waiting-chat" not in waiting
