"""The widget's WebSocket protocol, as a browser speaks it: messages become ticket messages
exactly once, bad frames get clear errors and the conversation goes on."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from starlette.websockets import WebSocketDisconnect

from tests.channels.chat.conftest import hello, receive_until, send
from zabota.channels.service import create_account
from zabota.identity.models import ChannelIdentity, IdentityKind
from zabota.identity.permissions import SYSTEM
from zabota.tickets.models import Channel, Message, Status, Ticket


def test_a_visitor_message_is_a_ticket_message_stored_once(app_client, session, desk):
    with app_client.websocket_connect("/chat/ws") as ws:
        welcome = hello(ws, team=str(desk.team.id), email="Olga@Example.org")
        assert welcome["messages"] == [] and welcome["agents_online"] is False
        ack = send(ws, "m-1", "Где мой заказ 7781?")
        again = send(ws, "m-1", "Где мой заказ 7781?")  # the ack was lost: the widget re-sends

    assert ack["type"] == "ack" and ack["id"] == "m-1"
    assert again["message"]["id"] == ack["message"]["id"]
    stored = session.scalars(sa.select(Message).where(Message.channel == Channel.CHAT)).all()
    assert [m.body_text for m in stored] == ["Где мой заказ 7781?"]
    ticket = session.get(Ticket, stored[0].ticket_id)
    assert (ticket.channel, ticket.team_id, ticket.status) == (Channel.CHAT, desk.team.id,
                                                               Status.NEW)
    kinds = {i.kind: i.value for i in session.scalars(sa.select(ChannelIdentity).where(
        ChannelIdentity.customer_id == ticket.customer_id))}
    assert kinds[IdentityKind.EMAIL] == "olga@example.org"
    assert kinds[IdentityKind.CHAT] == stored[0].meta["visitor"]


def test_the_next_messages_continue_the_same_chat_and_come_back_on_return(app_client, desk):
    with app_client.websocket_connect("/chat/ws") as ws:
        token = hello(ws, team=str(desk.team.id))["token"]
        first = send(ws, "a1", "Здравствуйте")["message"]
        second = send(ws, "a2", "Заказ не пришёл")["message"]
    assert first["ticket"] == second["ticket"]

    with app_client.websocket_connect("/chat/ws") as ws:
        welcome = hello(ws, token=token, team=str(desk.team.id))
    assert welcome["token"] == token and welcome["ticket"] == first["ticket"]
    assert [m["text"] for m in welcome["messages"]] == ["Здравствуйте", "Заказ не пришёл"]
    assert [m["client_id"] for m in welcome["messages"]] == ["a1", "a2"]


BAD_FRAMES = [
    (b"\x00\x01", "binary_frame"),
    ("{not json", "bad_json"),
    ('["a list"]', "bad_frame"),
    ('{"type": "dance"}', "unknown_type"),
    ('{"type": "message", "id": "has space", "text": "x"}', "invalid_frame"),
    ('{"type": "message", "id": "e1", "text": "   "}', "empty_message"),
    ('{"type": "message", "id": "e2", "text": "' + "я" * 5001 + '"}', "message_too_long"),
    ('{"type": "message", "id": "e3", "text": "' + "x" * 70_000 + '"}', "frame_too_large"),
    ('{"type": "typing", "on": "maybe"}', "invalid_frame"),
    ('{"type": "email", "email": "not-an-address"}', "invalid_email"),
]


def test_bad_frames_get_a_clear_error_and_the_connection_stays(app_client, desk):
    with app_client.websocket_connect("/chat/ws") as ws:
        ws.send_json({"type": "message", "id": "early", "text": "before hello"})
        early = ws.receive_json()
        assert (early["code"], early["id"], early["retry"]) == ("hello_first", "early", True)
        hello(ws, team=str(desk.team.id))
        for frame, code in BAD_FRAMES:
            if isinstance(frame, bytes):
                ws.send_bytes(frame)
            else:
                ws.send_text(frame)
            error = ws.receive_json()
            assert (error["type"], error["code"]) == ("error", code), frame[:60]
            assert error["message"] and error["fatal"] is False
        ack = send(ws, "after-all", "А теперь нормальное сообщение")
    assert ack["type"] == "ack"


def test_errors_speak_the_visitors_language(app_client, desk):
    with app_client.websocket_connect("/chat/ws") as ws:
        hello(ws, team=str(desk.team.id), lang="ru")
        error = send(ws, "e1", "")
        ws.send_json({"type": "email", "email": "nope"})
        bad_email = ws.receive_json()
    assert (error["code"], error["message"], error["id"]) == (
        "empty_message", "Сообщение пустое", "e1")
    assert bad_email["message"] == "Введите правильный адрес e-mail"


def test_an_unknown_visitor_token_starts_a_new_conversation(app_client, desk):
    with app_client.websocket_connect("/chat/ws") as ws:
        ws.send_json({"type": "hello", "token": "v123.forged", "team": str(desk.team.id),
                      "lang": "en"})
        error = ws.receive_json()
        welcome = ws.receive_json()
    assert (error["code"], error["fatal"]) == ("unknown_visitor", False)
    assert welcome["type"] == "welcome" and welcome["token"] != "v123.forged"
    assert welcome["messages"] == []


def test_an_unknown_widget_is_refused_and_the_connection_closed(app_client):
    with app_client.websocket_connect("/chat/ws") as ws:
        ws.send_json({"type": "hello", "team": "no-such-shop", "lang": "en"})
        error = ws.receive_json()
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
    assert (error["code"], error["fatal"]) == ("unknown_widget", True)
    assert "data-zabota-team" in error["message"]
    assert closed.value.code == 4404


def test_a_chat_account_routes_to_its_team_and_limits_the_sites(app_client, session, desk):
    create_account(session, actor=SYSTEM, kind=Channel.CHAT, name="Магазин", address="shop",
                   team_id=desk.team.id, config={"origins": ["https://shop.example"]})
    session.commit()
    with app_client.websocket_connect("/chat/ws",
                                      headers={"origin": "https://shop.example"}) as ws:
        hello(ws, team="shop")
        ticket_id = send(ws, "s1", "Здравствуйте")["message"]["ticket"]
    assert session.get(Ticket, ticket_id).team_id == desk.team.id
    with app_client.websocket_connect("/chat/ws",
                                      headers={"origin": "https://evil.example"}) as ws:
        ws.send_json({"type": "hello", "team": "shop", "lang": "en"})
        assert ws.receive_json()["code"] == "origin_not_allowed"
        with pytest.raises(WebSocketDisconnect):
            ws.receive_json()


def test_messages_over_the_rate_limit_are_refused_for_a_retry(app_client, settings, session,
                                                              desk):
    settings.chat_rate_limit_per_minute = 2
    with app_client.websocket_connect("/chat/ws") as ws:
        hello(ws, team=str(desk.team.id))
        assert send(ws, "r1", "раз")["type"] == "ack"
        assert send(ws, "r2", "два")["type"] == "ack"
        refused = send(ws, "r3", "три")
        assert (refused["code"], refused["id"], refused["retry"]) == ("rate_limited", "r3", True)
        assert refused["retry_after"] >= 1
        app_client.app.state.rate_limiter.reset()  # the minute has passed
        assert send(ws, "r3", "три")["type"] == "ack"
    texts = session.scalars(sa.select(Message.body_text).where(Message.channel == Channel.CHAT)
                            .order_by(Message.id)).all()
    assert texts == ["раз", "два", "три"]


def test_reconnecting_loses_and_doubles_nothing(committed_site):
    """The connection drops after a message was sent but before its ack was read, and an
    agent answers meanwhile: on reconnect the widget re-sends and asks for what it missed."""
    from zabota.channels.chat import service as chat
    from zabota.identity import service as identity

    site = committed_site
    team = str(site.team_id)
    with site.client.websocket_connect("/chat/ws") as ws:
        token = hello(ws, team=team)["token"]
        seen = send(ws, "k1", "Первое")["message"]
        ws.send_json({"type": "message", "id": "k2", "text": "Второе"})  # ack never read
    with site.database.session_scope() as session:
        agent = identity.actor_for_user(identity.get_user(session, site.agent_id))
        answer_id = chat.send_reply(session, seen["ticket"], actor=agent, text="Уже смотрю").id

    with site.client.websocket_connect("/chat/ws") as ws:
        welcome = hello(ws, token=token, team=team, after=seen["id"])
        resent = send(ws, "k2", "Второе")
        ws.send_json({"type": "sync", "after": seen["id"]})
        history = receive_until(ws, "history")

    assert resent["type"] == "ack" and resent["message"]["text"] == "Второе"
    assert answer_id in {m["id"] for m in welcome["messages"]}
    assert [(m["author"], m["text"]) for m in history["messages"]] == sorted(
        [("visitor", "Второе"), ("agent", "Уже смотрю")],
        key=lambda m: {"Второе": resent["message"]["id"], "Уже смотрю": answer_id}[m[1]])
    with site.database.read_sessions() as session:
        texts = session.scalars(sa.select(Message.body_text).where(
            Message.ticket_id == seen["ticket"]).order_by(Message.id)).all()
    assert sorted(texts) == ["Второе", "Первое", "Уже смотрю"]


def test_a_new_visitor_is_told_when_nobody_is_online(app_client, desk):
    from tests.channels.chat.conftest import login

    with app_client.websocket_connect("/chat/ws") as ws:
        assert hello(ws, team=str(desk.team.id))["agents_online"] is False
        login(app_client, desk.agent)
        with app_client.websocket_connect("/agent/chats/live") as agent:
            assert agent.receive_json()["type"] == "ready"  # on the desk now
            ws.send_json({"type": "ping"})
            pong = receive_until(ws, "pong")
    assert pong["agents_online"] is True


def test_the_admins_connection_test_names_the_widget_key(session, desk):
    from zabota.channels.service import connection_test_for

    check = connection_test_for(Channel.CHAT)
    ready = create_account(session, actor=SYSTEM, kind=Channel.CHAT, name="Сайт",
                           address="shop", team_id=desk.team.id, config={})
    nameless = create_account(session, actor=SYSTEM, kind=Channel.CHAT, name="Без адреса",
                              config={})
    assert 'data-zabota-team="shop"' in check(ready)
    with pytest.raises(ValueError, match="data-zabota-team"):
        check(nameless)
