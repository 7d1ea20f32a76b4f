"""WhatsApp Cloud API: verification, signed notifications in, Graph API replies out, against
the fake Graph API."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from tests.channels.messengers.conftest import WA_VERIFY_TOKEN, payload, wa_signature
from tests.channels.messengers.fakes import WA_PHONE_NUMBER_ID
from tests.conftest import actor_of, no_new_rows

from zabota.channels import hooks, outbound
from zabota.channels import service as channels
from zabota.channels.models import (
    DeliveryStatus,
    OutboundDelivery,
    QuarantinedDelivery,
    QuarantineStatus,
)
from zabota.channels.whatsapp import send as whatsapp_send
from zabota.identity import service as identity
from zabota.identity.models import ChannelIdentity, Customer, IdentityKind, Role
from zabota.identity.permissions import SYSTEM
from zabota.tickets.attachments import store_attachment
from zabota.tickets.models import Channel, Message, Ticket

CUSTOMER = "972987654321"


def post(client, account, notification, *, signature: str | None = "valid",
         raw: bytes | None = None):
    body = raw if raw is not None else json.dumps(notification).encode()
    headers = {"Content-Type": "application/json"}
    if signature == "valid":
        headers["X-Hub-Signature-256"] = wa_signature(body)
    elif signature is not None:
        headers["X-Hub-Signature-256"] = signature
    return client.post(f"/api/v1/channels/whatsapp/{account.id}/webhook", content=body,
                       headers=headers)


def with_id(notification: dict, wamid: str) -> dict:
    value = notification["entry"][0]["changes"][0]["value"]
    (value.get("messages") or value.get("statuses"))[0]["id"] = wamid
    return notification


def stored(session) -> list[Message]:
    return list(session.scalars(sa.select(Message).where(Message.channel == Channel.WHATSAPP)
                                .order_by(Message.id)))


# --- verification ---------------------------------------------------------------------------


def test_the_subscription_check_echoes_the_challenge(app_client, whatsapp_account):
    url = f"/api/v1/channels/whatsapp/{whatsapp_account.id}/webhook"
    good = app_client.get(url, params={"hub.mode": "subscribe", "hub.verify_token":
                                       WA_VERIFY_TOKEN, "hub.challenge": "1158201444"})
    wrong = app_client.get(url, params={"hub.mode": "subscribe", "hub.verify_token": "nope",
                                        "hub.challenge": "1158201444"})
    no_mode = app_client.get(url, params={"hub.verify_token": WA_VERIFY_TOKEN,
                                          "hub.challenge": "1"})
    unknown = app_client.get("/api/v1/channels/whatsapp/424242/webhook",
                             params={"hub.mode": "subscribe", "hub.verify_token": "x",
                                     "hub.challenge": "1"})

    assert (good.status_code, good.text) == (200, "1158201444")
    assert good.headers["content-type"].startswith("text/plain")
    assert (wrong.status_code, wrong.json()["code"]) == (403, "verify_token_mismatch")
    assert (no_mode.status_code, no_mode.json()["code"]) == (400, "malformed_payload")
    assert unknown.status_code == 404


# --- messages in, replies out ---------------------------------------------------------------


def test_a_text_becomes_a_ticket_and_the_reply_goes_through_the_graph_api(
        app_client, session, whatsapp_account, platforms, make_agent, auth_headers, deliver):
    answer = post(app_client, whatsapp_account, payload("049-whatsapp-reply-context"))

    assert answer.status_code == 200 and answer.json()["result"] == "stored", answer.text
    (message,) = stored(session)
    customer = session.get(Customer, session.get(Ticket, message.ticket_id).customer_id)
    identities = set(session.execute(sa.select(ChannelIdentity.kind, ChannelIdentity.value)
                                     .where(ChannelIdentity.customer_id == customer.id)))
    assert (message.external_id, message.body_text, customer.name) == (
        "wamid.xyzxyz", "replied text", "Test Name")
    assert identities == {(IdentityKind.WHATSAPP, "+" + CUSTOMER),
                          (IdentityKind.PHONE, "+" + CUSTOMER)}

    reply = app_client.post(f"/api/v1/tickets/{message.ticket_id}/messages",
                            headers=auth_headers(make_agent(role=Role.ADMIN)),
                            json={"text": "Посылка у курьера"})
    delivery = deliver(reply.json()["id"])

    (sent,) = platforms.calls_to("graph", f"POST {WA_PHONE_NUMBER_ID}/messages")
    assert sent.params == {"messaging_product": "whatsapp", "recipient_type": "individual",
                           "to": CUSTOMER, "type": "text",
                           "text": {"preview_url": False, "body": "Посылка у курьера"}}
    assert delivery.status == DeliveryStatus.SENT and delivery.external_id.startswith("wamid.")


def test_a_redelivered_notification_is_stored_once(app_client, session, whatsapp_account):
    notification = payload("039-whatsapp-forwarded")
    answers = [post(app_client, whatsapp_account, notification) for _ in range(2)]
    assert [a.json()["result"] for a in answers] == ["stored", "duplicate"]
    assert [m.body_text for m in stored(session)] == ["[Forwarded message] forwarded text"]


@pytest.mark.parametrize("signature", [None, "", "sha256=00ff", "sha1=abc",
                                       wa_signature(b"another body")])
def test_a_wrong_signature_is_a_401(app_client, session, whatsapp_account, signature):
    with no_new_rows(session, Message), no_new_rows(session, QuarantinedDelivery):
        answer = post(app_client, whatsapp_account, payload("039-whatsapp-forwarded"),
                      signature=signature)
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"


def test_media_is_fetched_by_its_id_with_the_token(app_client, session, whatsapp_account,
                                                   platforms):
    platforms.graph_media["65463453"] = (b"\xff\xd8 jpeg bytes", "image/jpeg")
    platforms.graph_media["1234567890987654321"] = (b"%PDF-1.7", "application/pdf")

    post(app_client, whatsapp_account, payload("041-whatsapp-image"))
    post(app_client, whatsapp_account, with_id(payload("037-whatsapp-document"), "wamid.doc"))

    image, document = stored(session)
    assert [(a.content_type, a.size) for a in image.attachments] == [("image/jpeg", 13)]
    assert document.body_text == "[Forwarded message] caption"
    assert [a.filename for a in document.attachments] == ["filename.pdf"]
    downloads = platforms.calls_to("graph", "download")
    assert [c.params["id"] for c in downloads] == ["65463453", "1234567890987654321"]


def test_a_voice_message_is_kept(app_client, session, whatsapp_account, platforms):
    platforms.graph_media["1234567890987654321"] = (b"OggS", "audio/ogg")
    post(app_client, whatsapp_account, payload("033-whatsapp-audio"))
    (message,) = stored(session)
    assert [a.content_type for a in message.attachments] == ["audio/ogg"]


def test_a_type_outside_the_accepted_ones_is_named_not_kept(app_client, session, settings,
                                                            whatsapp_account, platforms):
    settings.allowed_attachment_types = ["image/png"]
    platforms.graph_media["1234567890987654321"] = (b"OggS", "audio/ogg")
    post(app_client, whatsapp_account, payload("033-whatsapp-audio"))
    (message,) = stored(session)
    assert not message.attachments and "audio/ogg" in message.body_text
    assert platforms.calls_to("graph", "download") == []  # refused before downloading

    settings.allowed_attachment_types = [*settings.allowed_attachment_types, "audio/ogg",
                                         "video/mp4"]
    platforms.graph_media["765756756"] = (b"\x00\x00\x00 ftyp", "video/mp4")
    post(app_client, whatsapp_account, with_id(payload("061-whatsapp-video"), "wamid.video"))
    video = stored(session)[-1]
    assert video.body_text == "[Forwarded message] caption"
    assert [a.content_type for a in video.attachments] == ["video/mp4"]


@pytest.mark.parametrize("name, text", [
    ("043-whatsapp-interactive", "title"),
    ("044-whatsapp-location", "[Forwarded message]\n\n[Location: 37.4611978, -122.2164385] "
                              "Facebook HQ, 1 Hacker Way, Menlo Park, CA 94025"),
    ("035-whatsapp-contacts", "[Contact: Chandler Bing +1 555-555-5555]\n\n"
                              "[Contact: Monica +1 666-666-6666]\n\n"
                              "[Contact: Rachel Green +1 777-777-7777]"),
    ("060-whatsapp-unsupported", "[WhatsApp message of a type Zabota cannot show: pool]"),
])
def test_other_message_types_keep_a_readable_text(app_client, session, whatsapp_account, name,
                                                  text):
    assert post(app_client, whatsapp_account, payload(name)).json()["result"] == "stored"
    assert [m.body_text for m in stored(session)] == [text]


def test_reactions_are_ignored_and_a_number_change_follows_the_customer(
        app_client, session, whatsapp_account):
    with no_new_rows(session, Ticket):
        reaction = post(app_client, whatsapp_account, payload("047-whatsapp-reaction"))
    assert reaction.json()["result"] == "ignored"

    customer = identity.find_or_create_customer(
        session, identities=[(IdentityKind.WHATSAPP, CUSTOMER)], name="Тест")
    session.commit()
    with no_new_rows(session, Ticket):
        change = post(app_client, whatsapp_account, payload("057-whatsapp-system"))
    assert change.json() == {"ok": True, "result": "ignored", "reason": "system message"}
    moved = identity.find_customer_by_identity(session, IdentityKind.WHATSAPP, "972912345678")
    assert moved is not None and moved.id == customer.id


def test_a_batch_is_split_and_a_bad_item_quarantined_alone(app_client, session,
                                                           whatsapp_account):
    notification = payload("039-whatsapp-forwarded")
    messages = notification["entry"][0]["changes"][0]["value"]["messages"]
    good = {**messages[0], "id": "wamid.second", "text": {"body": "второе"}}
    bad = {"id": "wamid.bad", "type": "text", "text": {"body": "без отправителя"}}
    messages.extend([good, bad])

    answer = post(app_client, whatsapp_account, notification)

    assert answer.status_code == 200
    assert [m.external_id for m in stored(session)] == ["wamid.xyzxyz", "wamid.second"]
    row = session.scalars(sa.select(QuarantinedDelivery)).one()
    assert row.reason == "a message has no id, from or type"
    assert json.loads(row.payload)["entry"][0]["changes"][0]["value"]["messages"] == [bad]


def test_malformed_but_signed_json_is_a_400_and_quarantined(app_client, session,
                                                            whatsapp_account):
    answer = post(app_client, whatsapp_account, None, raw=b'{"object": "whatsapp_business')
    assert (answer.status_code, answer.json()["code"]) == (400, "malformed_payload")
    row = session.scalars(sa.select(QuarantinedDelivery)).one()
    assert (row.channel, row.status) == (Channel.WHATSAPP, QuarantineStatus.QUARANTINED)

    no_entries = post(app_client, whatsapp_account, {"object": "whatsapp_business_account"})
    assert no_entries.json()["result"] == "quarantined"


# --- statuses ----------------------------------------------------------------------------


def _delivered_reply(app_client, session, whatsapp_account, make_agent, auth_headers, deliver):
    post(app_client, whatsapp_account, payload("039-whatsapp-forwarded"))
    ticket_id = session.scalar(sa.select(Ticket.id))
    reply = app_client.post(f"/api/v1/tickets/{ticket_id}/messages",
                            headers=auth_headers(make_agent(role=Role.ADMIN)),
                            json={"text": "Ответ"})
    return deliver(reply.json()["id"])


def test_statuses_update_our_reply_and_open_no_ticket(app_client, session, whatsapp_account,
                                                     make_agent, auth_headers, deliver):
    delivery = _delivered_reply(app_client, session, whatsapp_account, make_agent, auth_headers,
                                deliver)
    with no_new_rows(session, Ticket), no_new_rows(session, Message):
        for name in ("055-whatsapp-status-sent", "053-whatsapp-status-read"):
            answer = post(app_client, whatsapp_account,
                          with_id(payload(name), delivery.external_id))
            assert answer.json()["result"] == "ignored"
        # Out of order: "sent" after "read" changes nothing.
        post(app_client, whatsapp_account,
             with_id(payload("055-whatsapp-status-sent"), delivery.external_id))
    session.expire_all()
    assert session.get(Message, delivery.message_id).meta["delivery_status"] == "read"
    assert session.get(OutboundDelivery, delivery.id).status == DeliveryStatus.SENT


def test_a_failed_status_dead_letters_the_reply_with_the_reason(
        app_client, session, whatsapp_account, make_agent, auth_headers, deliver):
    delivery = _delivered_reply(app_client, session, whatsapp_account, make_agent, auth_headers,
                                deliver)
    post(app_client, whatsapp_account,
         with_id(payload("051-whatsapp-status-failed"), delivery.external_id))
    session.expire_all()
    failed = session.get(OutboundDelivery, delivery.id)
    assert failed.status == DeliveryStatus.DEAD
    assert "130472" in failed.last_error and "experiment" in failed.last_error

    unknown = post(app_client, whatsapp_account, payload("053-whatsapp-status-read"))
    assert unknown.json() == {"ok": True, "result": "ignored",
                              "reason": "status of an unknown message"}


# --- sending errors and media ----------------------------------------------------------


@pytest.mark.parametrize("status, code, kind", [
    (400, 131047, outbound.PermanentFailure),  # outside the 24-hour window
    (400, 131026, outbound.PermanentFailure),  # not a WhatsApp user
    (400, 130429, hooks.RetryAfter),
    (500, 131000, Exception),
])
def test_graph_errors_are_told_apart(app_client, session, settings, whatsapp_account,
                                     platforms, make_agent, auth_headers, status, code, kind):
    post(app_client, whatsapp_account, payload("039-whatsapp-forwarded"))
    ticket_id = session.scalar(sa.select(Ticket.id))
    reply = app_client.post(f"/api/v1/tickets/{ticket_id}/messages",
                            headers=auth_headers(make_agent(role=Role.ADMIN)),
                            json={"text": "Ответ"})
    delivery = outbound.plan(session, session.get(Message, reply.json()["id"]), settings=settings)
    platforms.script("graph", f"POST {WA_PHONE_NUMBER_ID}/messages", status, {"error": {
        "message": "refused", "type": "OAuthException", "code": code,
        "error_data": {"details": "details here"}}})

    with pytest.raises(kind) as raised:
        whatsapp_send.send_reply(outbound.outgoing(session, delivery.id, settings), settings)
    assert isinstance(raised.value, outbound.PermanentFailure) == (code in (131047, 131026))
    assert "details here" in str(raised.value)


def test_attachments_are_uploaded_then_sent(app_client, session, settings, whatsapp_account,
                                            platforms, make_agent, auth_headers, deliver):
    post(app_client, whatsapp_account, payload("039-whatsapp-forwarded"))
    ticket_id = session.scalar(sa.select(Ticket.id))
    agent = make_agent(role=Role.ADMIN)
    pdf = store_attachment(session, actor=actor_of(agent), filename="инструкция.pdf",
                           content_type="application/pdf", data=b"%PDF-1.7", settings=settings)
    session.commit()
    reply = app_client.post(f"/api/v1/tickets/{ticket_id}/messages", headers=auth_headers(agent),
                            json={"text": "Инструкция во вложении", "attachment_ids": [pdf.id]})

    delivery = deliver(reply.json()["id"])

    assert delivery.status == DeliveryStatus.SENT, delivery.last_error
    (upload,) = platforms.calls_to("graph", f"POST {WA_PHONE_NUMBER_ID}/media")
    assert upload.files["file"] == ("инструкция.pdf", b"%PDF-1.7", "application/pdf")
    _text, document = platforms.calls_to("graph", f"POST {WA_PHONE_NUMBER_ID}/messages")
    assert document.params["document"]["filename"] == "инструкция.pdf"
    assert document.params["document"]["id"] in platforms.graph_media


def test_the_connection_test_reads_the_number(whatsapp_account):
    test = channels.connection_test_for(Channel.WHATSAPP)
    assert test(whatsapp_account) == "Подключён номер WhatsApp +7 999 000-00-00 (Забота)"
    whatsapp_account.config = {**whatsapp_account.config, "access_token": "expired"}
    with pytest.raises(ValueError, match="Invalid OAuth access token"):
        test(whatsapp_account)


def test_a_disabled_account_takes_nothing(app_client, session, whatsapp_account):
    channels.update_account(session, whatsapp_account.id, actor=SYSTEM, enabled=False)
    session.commit()
    answer = post(app_client, whatsapp_account, payload("039-whatsapp-forwarded"))
    assert (answer.status_code, answer.json()["code"]) == (403, "channel_disabled")
