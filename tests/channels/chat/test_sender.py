"""The durable path of a reply: heard live, sent again when nobody heard it, or by e-mail to a
visitor who left and gave their address."""

from __future__ import annotations

import email
from email.policy import default

import pytest
import sqlalchemy as sa

from tests.channels.chat.conftest import hello, receive_until, send
from zabota.channels import outbound
from zabota.channels.chat import sender as chat_sender
from zabota.channels.chat import service as chat
from zabota.identity import service as identity
from zabota.tickets.models import TicketEvent


@pytest.fixture
def deliver(app_client, session, settings, monkeypatch):
    """Plan the reply's delivery as the outbox does and run the chat sender on it."""
    monkeypatch.setattr(chat_sender, "get_database", lambda: app_client.app.state.database)

    def run(message) -> str | None:
        delivery = outbound.plan(session, message, settings=settings)
        assert delivery is not None and delivery.recipient == message_visitor(session, message)
        job = outbound.outgoing(session, delivery.id, settings)
        return chat_sender.send_chat_reply(job, settings)

    return run


def message_visitor(session, message):
    return chat.visitor_of_ticket(session, message.ticket_id)


def reply(session, desk, ticket_id, text):
    answer = chat.send_reply(session, ticket_id, actor=identity.actor_for_user(desk.agent),
                             text=text)
    session.commit()
    return answer


def mails(settings):
    return sorted(settings.mail_dir.glob("*.eml")) if settings.mail_dir.exists() else []


def test_a_reply_heard_live_is_not_sent_again(app_client, session, settings, desk, deliver):
    with app_client.websocket_connect("/chat/ws") as ws:
        hello(ws, team=str(desk.team.id), email="olga@example.org")
        ticket_id = send(ws, "1", "Вопрос")["message"]["ticket"]
        answer = reply(session, desk, ticket_id, "Ответ")
        assert receive_until(ws, "message")["message"]["id"] == answer.id
        assert deliver(answer) == f"chat:{answer.id}"
    assert mails(settings) == []


def test_a_visitor_who_left_with_an_email_gets_the_reply_by_email(app_client, session, settings,
                                                                  desk, deliver):
    with app_client.websocket_connect("/chat/ws") as ws:
        hello(ws, team=str(desk.team.id), lang="en")
        ticket_id = send(ws, "1", "Where is my order 7781?")["message"]["ticket"]
        ws.send_json({"type": "email", "email": "Olga@Example.org"})
        assert receive_until(ws, "email_saved")["email"] == "olga@example.org"
    answer = reply(session, desk, ticket_id, "It left the warehouse today.")

    message_id = deliver(answer)

    [path] = mails(settings)
    sent = email.message_from_bytes(path.read_bytes(), policy=default)
    assert sent["Message-ID"] == message_id and sent["To"] == "olga@example.org"
    assert sent["Subject"].startswith(f"[#{ticket_id}] ")
    body = sent.get_body(("plain",)).get_content()
    assert "It left the warehouse today." in body and "Reply to this e-mail" in body
    left = session.scalar(sa.select(TicketEvent.data).where(TicketEvent.ticket_id == ticket_id,
                                                            TicketEvent.kind == "chat_email"))
    assert left == {"email": "olga@example.org"}


def test_a_visitor_who_left_without_an_email_reads_the_reply_on_return(app_client, session,
                                                                       settings, desk, deliver):
    with app_client.websocket_connect("/chat/ws") as ws:
        token = hello(ws, team=str(desk.team.id))["token"]
        first = send(ws, "1", "Вопрос")["message"]
    answer = reply(session, desk, first["ticket"], "Ответ, пока вас не было")

    assert deliver(answer) == f"chat:{answer.id}"
    assert mails(settings) == []
    with app_client.websocket_connect("/chat/ws") as ws:
        welcome = hello(ws, token=token, team=str(desk.team.id), after=first["id"])
    assert [m["text"] for m in welcome["messages"]] == ["Ответ, пока вас не было"]


def test_a_visitor_back_before_the_sender_runs_hears_it_then(app_client, session, settings,
                                                             desk, deliver):
    with app_client.websocket_connect("/chat/ws") as ws:
        token = hello(ws, team=str(desk.team.id), email="olga@example.org")["token"]
        ticket_id = send(ws, "1", "Вопрос")["message"]["ticket"]
    answer = reply(session, desk, ticket_id, "Ответ")
    with app_client.websocket_connect("/chat/ws") as ws:
        hello(ws, token=token, team=str(desk.team.id), after=answer.id)
        assert deliver(answer) == f"chat:{answer.id}"
        assert receive_until(ws, "message")["message"]["text"] == "Ответ"
    assert mails(settings) == []
