"""The phone connector API: calls become messages, missed calls become call-back tickets."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from tests.channels.messengers.conftest import PHONE_KEY
from tests.conftest import no_new_rows

from zabota.channels import service as channels
from zabota.channels.models import QuarantinedDelivery, QuarantineStatus
from zabota.core.errors import Conflict
from zabota.identity import service as identity
from zabota.identity.models import IdentityKind, Role
from zabota.identity.permissions import SYSTEM
from zabota.tickets import service as tickets
from zabota.tickets.models import Channel, Message, Status, Ticket


def call(**fields) -> dict:
    return {"call_id": "1700000000.42", "direction": "inbound", "status": "answered",
            "started_at": "2026-03-02T09:00:00+03:00", "waiting_seconds": 40,
            "talk_seconds": 192, "caller_number": "8 (916) 123-45-67", **fields}


def post(client, body, *, key: str | None = PHONE_KEY, raw: bytes | None = None,
         language: str = "en"):
    headers = {"Content-Type": "application/json", "Accept-Language": language}
    if key is not None:
        headers["X-Zabota-Key"] = key
    return client.post("/api/v1/channels/phone/calls", headers=headers,
                       content=raw if raw is not None else json.dumps(body).encode())


def test_an_answered_call_opens_a_ticket_for_the_agent_who_took_it(app_client, session,
                                                                   phone_account, make_agent):
    agent = make_agent()
    session.commit()

    answer = post(app_client, call(agent_email=agent.email.upper(),
                                   recording_url="https://pbx.example.com/rec/42.mp3"))

    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["result"] == "stored" and body["created_ticket"]
    ticket = session.get(Ticket, body["ticket_id"])
    message = session.get(Message, body["message_id"])
    assert (ticket.channel, ticket.subject, ticket.assignee_id) == (
        Channel.PHONE, "Phone call from +79161234567", agent.id)
    assert message.body_text == ("Incoming call, talk 3 min 12 s, waiting 40 s\n"
                                 f"Agent: {agent.email.upper()}\n"
                                 "Recording: https://pbx.example.com/rec/42.mp3")
    assert message.meta["talk_seconds"] == 192 and message.meta["waiting_seconds"] == 40
    assert message.meta["caller_number"] == "+79161234567"
    customer = identity.find_customer_by_identity(session, IdentityKind.PHONE, "+7 916 123 45 67")
    assert customer is not None and customer.id == ticket.customer_id


def test_the_same_call_reported_twice_is_stored_once(app_client, session, phone_account):
    first = post(app_client, call())
    again = post(app_client, call())
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["result"] == "duplicate"
    assert session.scalar(sa.select(sa.func.count()).select_from(Message)) == 1


def test_two_pbxs_reporting_the_same_call_id_are_two_calls(app_client, session, phone_account,
                                                           make_account):
    make_account(Channel.PHONE, {"api_key": "second-pbx-key-0123456789"}, name="Второй офис")
    first = post(app_client, call())
    other = post(app_client, call(caller_number="+7 921 777-88-99"),
                 key="second-pbx-key-0123456789")
    assert (first.status_code, other.status_code) == (201, 201), other.text
    assert other.json()["ticket_id"] != first.json()["ticket_id"]
    assert session.scalar(sa.select(sa.func.count()).select_from(Message)) == 2


def test_a_second_answered_call_joins_the_unfinished_phone_ticket(app_client, phone_account):
    first = post(app_client, call()).json()
    second = post(app_client, call(call_id="2", talk_seconds=5)).json()
    assert second["ticket_id"] == first["ticket_id"] and not second["created_ticket"]


def test_missed_calls_ask_for_one_call_back(app_client, session, phone_account):
    talk = post(app_client, call()).json()
    missed = post(app_client, call(call_id="m1", status="missed", talk_seconds=0,
                                   waiting_seconds=25)).json()
    abandoned = post(app_client, call(call_id="m2", status="abandoned", talk_seconds=0,
                                      waiting_seconds=70)).json()

    assert missed["created_ticket"] and missed["ticket_id"] != talk["ticket_id"]
    assert abandoned["ticket_id"] == missed["ticket_id"]  # one call-back waits already
    callback = session.get(Ticket, missed["ticket_id"])
    assert (callback.subject, callback.tags) == ("Call back +79161234567", ["callback"])
    texts = [m.body_text for m in session.scalars(
        sa.select(Message).where(Message.ticket_id == callback.id).order_by(Message.id))]
    assert texts == ["Missed incoming call, waiting 25 s",
                     "Incoming call abandoned in the queue after waiting 1 min 10 s"]

    tickets.update_ticket(session, callback.id, {"status": Status.SOLVED}, actor=SYSTEM)
    session.commit()
    later = post(app_client, call(call_id="m3", status="missed")).json()
    assert later["created_ticket"] and later["ticket_id"] not in (callback.id, talk["ticket_id"])


def test_an_outgoing_call_is_told_as_such(app_client, session, phone_account):
    body = post(app_client, call(direction="outbound", talk_seconds=3700)).json()
    assert session.get(Message, body["message_id"]).body_text == (
        "Outgoing call to +79161234567, talk 1 h 1 min")


@pytest.mark.parametrize("key", [None, "", "wrong-key-0123456789"])
def test_a_call_without_the_connector_key_is_refused(app_client, session, phone_account, key):
    with no_new_rows(session, Message), no_new_rows(session, QuarantinedDelivery):
        answer = post(app_client, call(), key=key)
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"


def test_a_disabled_phone_channel_is_refused(app_client, session, phone_account):
    channels.update_account(session, phone_account.id, actor=SYSTEM, enabled=False)
    session.commit()
    assert post(app_client, call()).status_code == 403


def test_an_invalid_report_gets_field_errors_and_is_kept(app_client, session, phone_account):
    answer = post(app_client, call(status="ringing", waiting_seconds=-1, extra="x"),
                  language="ru")

    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    fields = {e["field"] for e in answer.json()["errors"]}
    assert fields == {"status", "waiting_seconds", "extra"}
    row = session.scalars(sa.select(QuarantinedDelivery)).one()
    assert row.channel == Channel.PHONE and "ringing" in row.payload.decode()

    broken = post(app_client, None, raw=b'{"call_id": ')
    assert broken.status_code == 422 and broken.json()["errors"][0]["field"] == "body"


def test_a_number_that_is_no_number_is_refused_and_kept(app_client, session, phone_account):
    answer = post(app_client, call(caller_number="anonymous"))
    assert answer.status_code == 422
    assert answer.json()["errors"] == [{"field": "caller_number",
                                        "message": "A phone number has 7 to 15 digits"}]
    row = session.scalars(sa.select(QuarantinedDelivery)).one()
    assert (row.external_id, row.status) == (f"{phone_account.id}:1700000000.42",
                                             QuarantineStatus.QUARANTINED)
    with pytest.raises(Conflict):  # released as it is, it fails again and stays
        channels.release(session, row.id, actor=SYSTEM)
    assert row.status == QuarantineStatus.QUARANTINED and row.attempts == 2


def test_the_connection_test_checks_the_key(phone_account, make_account):
    test = channels.connection_test_for(Channel.PHONE)
    assert "X-Zabota-Key" in test(phone_account)
    short = make_account(Channel.PHONE, {"api_key": "short"}, name="short")
    with pytest.raises(ValueError, match="16 символов"):
        test(short)


def test_an_agent_reply_on_a_phone_ticket_plans_no_delivery(app_client, session, settings,
                                                            phone_account, make_agent):
    from tests.conftest import actor_of

    from zabota.channels import outbound

    body = post(app_client, call()).json()
    agent = make_agent(role=Role.ADMIN)
    reply = tickets.add_message(session, body["ticket_id"], tickets.NewMessage(text="Перезвоню"),
                                actor=actor_of(agent))
    assert outbound.plan(session, reply, settings=settings) is None
