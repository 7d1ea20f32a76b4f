"""VK Callback API in, `messages.send` out, against the fake VK API."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from tests.channels.messengers.conftest import VK_CONFIRMATION, VK_SECRET, payload
from tests.channels.messengers.fakes import VK_GROUP_ID
from tests.conftest import actor_of, no_new_rows

from zabota.channels import hooks, outbound
from zabota.channels import service as channels
from zabota.channels.models import DeliveryStatus, QuarantinedDelivery, QuarantineStatus
from zabota.channels.vk import send as vk_send
from zabota.identity.models import ChannelIdentity, Customer, IdentityKind, Role
from zabota.identity.permissions import SYSTEM
from zabota.tickets.attachments import store_attachment
from zabota.tickets.models import Channel, Message, Ticket


def post(client, account, event, *, secret: str | None = VK_SECRET, raw: bytes | None = None):
    if event is not None and secret is not None:
        event = {**event, "secret": secret}
    body = raw if raw is not None else json.dumps(event).encode()
    return client.post(f"/api/v1/channels/vk/{account.id}/callback", content=body,
                       headers={"Content-Type": "application/json"})


def text_event(text: str = "Где мой заказ?", *, cmid: int = 1234, user: int = 1) -> dict:
    event = payload("031-vk-message-new-text")
    event["group_id"] = VK_GROUP_ID
    event["object"]["message"].update(text=text, conversation_message_id=cmid, from_id=user,
                                      peer_id=user)
    return event


def test_confirmation_answers_the_communitys_code(app_client, vk_account):
    event = {**payload("018-vk-confirmation"), "group_id": VK_GROUP_ID}
    answer = post(app_client, vk_account, event, secret=None)
    assert (answer.status_code, answer.text) == (200, VK_CONFIRMATION)
    assert answer.headers["content-type"].startswith("text/plain")

    other = post(app_client, vk_account, payload("018-vk-confirmation"), secret=None)
    assert other.status_code == 401  # group 123456 is not ours


def test_a_message_becomes_a_ticket_and_the_reply_goes_by_messages_send(
        app_client, session, vk_account, platforms, make_agent, auth_headers, deliver):
    answer = post(app_client, vk_account, text_event())

    assert (answer.status_code, answer.text) == (200, "ok")
    message = session.scalars(sa.select(Message).where(Message.channel == Channel.VK)).one()
    ticket = session.get(Ticket, message.ticket_id)
    customer = session.get(Customer, ticket.customer_id)
    assert (message.external_id, message.body_text) == (
        f"{VK_GROUP_ID}:1:1234", "Где мой заказ?")
    assert customer.name == "Иван Петров"  # from users.get, the event has no names
    assert session.scalar(sa.select(ChannelIdentity.value).where(
        ChannelIdentity.customer_id == customer.id, ChannelIdentity.kind == IdentityKind.VK)) == "1"

    reply = app_client.post(f"/api/v1/tickets/{ticket.id}/messages",
                            headers=auth_headers(make_agent(role=Role.ADMIN)),
                            json={"text": "Заказ в пути"})
    delivery = deliver(reply.json()["id"])

    (sent,) = platforms.calls_to("vk", "messages.send")
    assert (sent.params["peer_id"], sent.params["message"], sent.params["v"]) == (
        "1", "Заказ в пути", "5.199")
    assert sent.params["random_id"] == str(vk_send.random_id(delivery.id, 0))
    assert delivery.status == DeliveryStatus.SENT and delivery.external_id.startswith("id:")


def test_a_repeated_event_is_stored_once(app_client, session, vk_account):
    event = text_event()
    answers = [post(app_client, vk_account, event) for _ in range(2)]
    assert [a.text for a in answers] == ["ok", "ok"]
    assert session.scalar(sa.select(sa.func.count()).select_from(Message)) == 1


def test_the_largest_photo_is_downloaded(app_client, session, vk_account, platforms):
    event = payload("026-vk-message-new-photo")
    event["group_id"] = VK_GROUP_ID
    for size in event["object"]["message"]["attachments"][0]["photo"]["sizes"]:
        size["url"] = f"{platforms.base_url}/vk/files/{size['type']}.jpg"
    platforms.vk_files["z.jpg"] = jpeg = b"\xff\xd8 the 960 px one"

    assert post(app_client, vk_account, event).text == "ok"

    message = session.scalars(sa.select(Message)).one()
    assert message.body_text == ".echo with attachment"
    assert [(a.filename, a.size) for a in message.attachments] == [
        ("photo_457269465.jpg", len(jpeg))]
    assert [c.params["name"] for c in platforms.calls_to("vk", "file")] == ["z.jpg"]


def test_a_photo_that_is_gone_is_named_and_the_text_kept(app_client, session, vk_account,
                                                         platforms):
    event = payload("026-vk-message-new-photo")
    for size in event["object"]["message"]["attachments"][0]["photo"]["sizes"]:
        size["url"] = f"{platforms.base_url}/vk/files/missing.jpg"
    assert post(app_client, vk_account, event).text == "ok"
    message = session.scalars(sa.select(Message)).one()
    assert message.body_text.startswith(".echo with attachment")
    assert "photo_457269465.jpg" in message.body_text and "HTTP 404" in message.body_text


@pytest.mark.parametrize("secret", [None, "", "wrong"])
def test_a_wrong_secret_is_refused(app_client, session, vk_account, secret):
    with no_new_rows(session, Message), no_new_rows(session, QuarantinedDelivery):
        answer = post(app_client, vk_account, text_event(), secret=secret)
    assert answer.status_code == 401
    assert answer.json()["code"] == "webhook_unauthorized"


@pytest.mark.parametrize("name", [
    "020-vk-message-allow", "022-vk-message-event", "024-vk-message-new-chat",
    "028-vk-message-new-poll", "032-vk-message-typing-state",
])
def test_other_events_and_chats_are_answered_ok_and_ignored(app_client, session, vk_account,
                                                            name):
    event = payload(name)
    event["group_id"] = VK_GROUP_ID
    with no_new_rows(session, Ticket), no_new_rows(session, QuarantinedDelivery):
        answer = post(app_client, vk_account, event)
    assert (answer.status_code, answer.text) == (200, "ok")


def test_unreadable_bodies_get_a_400_and_are_not_kept(app_client, session, vk_account):
    with no_new_rows(session, QuarantinedDelivery):
        broken = post(app_client, vk_account, None, raw=b"type=message_new")
        not_object = post(app_client, vk_account, None, raw=b"[1, 2]")
    assert (broken.status_code, not_object.status_code) == (400, 400)
    assert broken.json()["code"] == "malformed_payload"


def test_an_authentic_event_we_cannot_read_is_answered_ok_and_quarantined(
        app_client, session, vk_account):
    event = text_event()
    del event["object"]["message"]["from_id"]
    answer = post(app_client, vk_account, event)
    assert answer.text == "ok"
    row = session.scalars(sa.select(QuarantinedDelivery)).one()
    assert (row.channel, row.reason) == (Channel.VK, "message_new has no from_id or peer_id")


def test_unknown_and_disabled_accounts(app_client, session, vk_account):
    assert post(app_client, type("A", (), {"id": 987654})(), text_event()).status_code == 404
    channels.update_account(session, vk_account.id, actor=SYSTEM, enabled=False)
    session.commit()
    assert post(app_client, vk_account, text_event()).status_code == 403


@pytest.mark.parametrize("code, kind", [
    (901, outbound.PermanentFailure), (902, outbound.PermanentFailure),
    (9, hooks.RetryAfter), (6, hooks.RetryAfter), (10, Exception),
])
def test_vk_errors_in_a_200_answer_are_told_apart(app_client, session, settings, vk_account,
                                                  platforms, make_agent, auth_headers, code,
                                                  kind):
    post(app_client, vk_account, text_event())
    ticket_id = session.scalar(sa.select(Ticket.id))
    reply = app_client.post(f"/api/v1/tickets/{ticket_id}/messages",
                            headers=auth_headers(make_agent(role=Role.ADMIN)),
                            json={"text": "Ответ"})
    delivery = outbound.plan(session, session.get(Message, reply.json()["id"]), settings=settings)
    platforms.script("vk", "messages.send", 200, {"error": {
        "error_code": code, "error_msg": "refused", "request_params": []}})
    job = outbound.outgoing(session, delivery.id, settings)

    with pytest.raises(kind) as raised:
        vk_send.send_reply(job, settings)
    permanent = isinstance(raised.value, outbound.PermanentFailure)
    assert permanent == (code in (901, 902))

    # The retry carries the same random_id, so VK would drop a copy that did get through.
    vk_send.send_reply(job, settings)
    vk_send.send_reply(job, settings)
    ids = {c.params["random_id"] for c in platforms.calls_to("vk", "messages.send")}
    assert ids == {str(vk_send.random_id(delivery.id, 0))}
    assert len(set(platforms.vk_sent.values())) == 1


def test_attachments_are_uploaded_and_sent_with_the_message(
        app_client, session, settings, vk_account, platforms, make_agent, auth_headers, deliver):
    post(app_client, vk_account, text_event())
    ticket_id = session.scalar(sa.select(Ticket.id))
    agent = make_agent(role=Role.ADMIN)
    photo = store_attachment(session, actor=actor_of(agent), filename="чек.jpg",
                             content_type="image/jpeg", data=b"\xff\xd8jpeg", settings=settings)
    doc = store_attachment(session, actor=actor_of(agent), filename="акт.pdf",
                           content_type="application/pdf", data=b"%PDF", settings=settings)
    session.commit()
    reply = app_client.post(f"/api/v1/tickets/{ticket_id}/messages", headers=auth_headers(agent),
                            json={"text": "Документы", "attachment_ids": [photo.id, doc.id]})

    delivery = deliver(reply.json()["id"])

    assert delivery.status == DeliveryStatus.SENT, delivery.last_error
    assert platforms.calls_to("vk", "upload:photo")[0].files["photo"][:2] == (
        "чек.jpg", b"\xff\xd8jpeg")
    assert platforms.calls_to("vk", "docs.save")[0].params["title"] == "акт.pdf"
    (sent,) = platforms.calls_to("vk", "messages.send")
    photo_ref, doc_ref = sent.params["attachment"].split(",")
    assert photo_ref.startswith(f"photo-{VK_GROUP_ID}_") and photo_ref.endswith("_k3y")
    assert doc_ref.startswith(f"doc-{VK_GROUP_ID}_")


def test_a_failed_download_is_retried_by_vk_then_released_by_an_admin(
        app_client, session, vk_account, platforms):
    event = text_event("Фото чека")
    event["object"]["message"]["attachments"] = [{"type": "doc", "doc": {
        "id": 5, "owner_id": 1, "title": "чек", "ext": "pdf", "size": 4,
        "url": f"{platforms.base_url}/vk/files/later.pdf"}}]
    # 404 is final for a file; a server error is passing.
    platforms.vk_file_status["later.pdf"] = 500
    answers = [post(app_client, vk_account, event) for _ in range(3)]
    assert [a.status_code for a in answers] == [503, 503, 200]
    row = session.scalars(sa.select(QuarantinedDelivery)).one()
    assert row.status == QuarantineStatus.QUARANTINED

    del platforms.vk_file_status["later.pdf"]
    platforms.vk_files["later.pdf"] = b"%PDF"
    channels.release(session, row.id, actor=SYSTEM)
    message = session.scalars(sa.select(Message)).one()
    assert [a.filename for a in message.attachments] == ["чек.pdf"]


def test_the_connection_test_reads_the_community(vk_account):
    test = channels.connection_test_for(Channel.VK)
    assert test(vk_account) == "Подключено сообщество ВКонтакте «Забота — тест»"
    vk_account.config = {**vk_account.config, "access_token": "bad"}
    with pytest.raises(ValueError, match="error 5"):
        test(vk_account)


def test_files_are_fetched_only_from_vk_addresses(app_client, session, vk_account, platforms):
    event = text_event("Смотрите файл")
    event["object"]["message"]["attachments"] = [{"type": "doc", "doc": {
        "id": 6, "owner_id": 1, "title": "secrets", "ext": "txt", "size": 10,
        "url": "http://169.254.169.254/latest/meta-data/"}}]
    assert post(app_client, vk_account, event).text == "ok"
    message = session.scalars(sa.select(Message)).one()
    assert not message.attachments
    assert message.body_text == ("Смотрите файл\n\n"
                                 "[Attachment “secrets.txt” was not kept: not a VK file address]")
