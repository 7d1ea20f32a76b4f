"""Telegram: webhook and long polling in, Bot API replies out, against the fake Bot API."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from tests.channels.messengers.conftest import TELEGRAM_SECRET, payload
from tests.channels.messengers.fakes import TELEGRAM_TOKEN
from tests.conftest import TransactionalDatabase, actor_of, no_new_rows

from zabota.channels import hooks, outbound
from zabota.channels import service as channels
from zabota.channels.models import (
    DeliveryStatus,
    OutboundDelivery,
    QuarantinedDelivery,
    QuarantineStatus,
)
from zabota.channels.telegram import polling
from zabota.channels.telegram import send as telegram_send
from zabota.identity.models import ChannelIdentity, Customer, IdentityKind, Role
from zabota.identity.permissions import SYSTEM
from zabota.tickets.attachments import store_attachment
from zabota.tickets.models import Message, Ticket


def post(client, account, update, *, secret: str | None = TELEGRAM_SECRET,
         raw: bytes | None = None):
    headers = {"Content-Type": "application/json"}
    if secret is not None:
        headers["X-Telegram-Bot-Api-Secret-Token"] = secret
    body = raw if raw is not None else json.dumps(update).encode()
    return client.post(f"/api/v1/channels/telegram/{account.id}/webhook", content=body,
                       headers=headers)


def text_update(text: str, *, update_id: int = 500, message_id: int = 77,
                user_id: int = 367699112, **extra) -> dict:
    return {"update_id": update_id, "message": {
        "message_id": message_id, "date": 1700000000, "text": text,
        "from": {"id": user_id, "is_bot": False, "first_name": "Ольга", "last_name": "Ким",
                 "username": "olga_k", "language_code": "ru"},
        "chat": {"id": user_id, "first_name": "Ольга", "type": "private"}, **extra}}


def message_by_external(session, external_id: str) -> Message:
    """By "chat:message"; the stored id starts with the bot's account id."""
    return session.scalars(sa.select(Message).where(
        Message.external_id.endswith(f":{external_id}"))).one()


def tickets_count(session) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(Ticket))


def test_a_message_becomes_a_ticket_and_the_agent_reply_goes_back_by_sendMessage(
        app_client, session, telegram_account, platforms, make_agent, auth_headers, deliver):
    answer = post(app_client, telegram_account, payload("015-telegram-text"))

    assert answer.status_code == 200, answer.text
    assert answer.json()["result"] == "stored" and answer.json()["created_ticket"]
    message = message_by_external(session, "367699112:921")
    ticket = session.get(Ticket, message.ticket_id)
    customer = session.get(Customer, ticket.customer_id)
    assert (message.body_text, ticket.subject, ticket.channel.value) == (
        "message", "message", "telegram")
    assert customer.name == "Michael Krukov"
    assert session.scalar(sa.select(ChannelIdentity.value).where(
        ChannelIdentity.customer_id == customer.id,
        ChannelIdentity.kind == IdentityKind.TELEGRAM)) == "367699112"
    assert (message.account_id, message.meta["update_id"]) == (telegram_account.id, 210473607)

    agent = make_agent(role=Role.ADMIN)
    reply = app_client.post(f"/api/v1/tickets/{ticket.id}/messages",
                            headers=auth_headers(agent),
                            json={"text": "Здравствуйте! <b>Смотрим</b>"})
    assert reply.status_code == 201, reply.text
    delivery = deliver(reply.json()["id"])

    sent = platforms.calls_to("telegram", "sendMessage")
    assert [(c.params["chat_id"], c.params["text"]) for c in sent] == [
        ("367699112", "Здравствуйте! <b>Смотрим</b>")]
    assert "parse_mode" not in sent[0].params  # plain text: nothing to escape or break
    assert delivery.status == DeliveryStatus.SENT
    assert delivery.external_id.startswith(f"{telegram_account.id}:367699112:")


def test_a_retried_update_is_stored_once(app_client, session, telegram_account):
    update = payload("016-telegram-text")
    first = post(app_client, telegram_account, update)
    again = post(app_client, telegram_account, update)

    assert (first.json()["result"], again.json()["result"]) == ("stored", "duplicate")
    assert again.json()["message_id"] == first.json()["message_id"]
    assert session.scalar(sa.select(sa.func.count()).select_from(Message).where(
        Message.external_id == f"{telegram_account.id}:408258968:154")) == 1


def test_the_largest_photo_is_downloaded_through_getFile(app_client, session, telegram_account,
                                                         platforms):
    update = payload("012-telegram-photo")
    largest = update["message"]["photo"][1]["file_id"]
    platforms.telegram_files[largest] = b"\xff\xd8\xff\xe0 a jpeg"

    answer = post(app_client, telegram_account, update)

    assert answer.json()["result"] == "stored", answer.text
    message = message_by_external(session, "367699112:923")
    assert [(a.filename, a.content_type, a.size) for a in message.attachments] == [
        ("photo_923.jpg", "image/jpeg", 11)]
    assert [c.params["file_id"] for c in platforms.calls_to("telegram", "getFile")] == [largest]
    assert platforms.calls_to("telegram", "file")[0].params["path"] == f"documents/{largest}"


def test_a_document_with_a_caption_keeps_both(app_client, session, telegram_account, platforms):
    platforms.telegram_files["BQACAgIAAxk"] = b"%PDF-1.4 invoice"
    update = text_update("", message_id=80)
    del update["message"]["text"]
    update["message"].update(caption="Счёт не сходится", document={
        "file_id": "BQACAgIAAxk", "file_unique_id": "AgAD", "file_name": "счёт.pdf",
        "mime_type": "application/pdf", "file_size": 16})

    assert post(app_client, telegram_account, update).json()["result"] == "stored"

    message = message_by_external(session, "367699112:80")
    assert message.body_text == "Счёт не сходится"
    assert [(a.filename, a.content_type) for a in message.attachments] == [
        ("счёт.pdf", "application/pdf")]


def test_a_file_over_the_limit_is_named_and_not_downloaded(app_client, session, settings,
                                                           telegram_account, platforms):
    settings.max_attachment_bytes = 1024 * 1024
    update = text_update("Видео с ошибкой", message_id=81)
    update["message"]["document"] = {"file_id": "huge", "file_name": "screen.zip",
                                     "mime_type": "application/zip", "file_size": 30_000_000}

    assert post(app_client, telegram_account, update).json()["result"] == "stored"

    message = message_by_external(session, "367699112:81")
    assert message.body_text.startswith("Видео с ошибкой")
    assert "screen.zip" in message.body_text and not message.attachments
    assert platforms.calls_to("telegram", "getFile") == []


def test_start_greets_in_the_customers_language_and_opens_no_ticket(
        app_client, session, telegram_account, platforms):
    with no_new_rows(session, Ticket):
        answer = post(app_client, telegram_account, text_update("/start"))
        english = text_update("/start promo", update_id=501, message_id=78, user_id=42)
        english["message"]["from"]["language_code"] = "en"
        post(app_client, telegram_account, english)

    assert answer.json() == {"ok": True, "result": "ignored", "reason": "/start"}
    assert [(c.params["chat_id"], c.params["text"])
            for c in platforms.calls_to("telegram", "sendMessage")] == [
        (367699112, "Здравствуйте! Чем помочь?"), (42, "Hello! How can we help?")]


@pytest.mark.parametrize("name, reason", [
    ("005-telegram-group-command", "group chat"),
    ("007-telegram-group-message", "group chat"),
    ("009-telegram-group-pinned", "group chat"),
    ("011-telegram-my-chat-member", "my_chat_member update"),
    ("001-telegram-callback-query", "callback query without a conversation"),
])
def test_group_chats_and_service_updates_are_acknowledged_and_ignored(
        app_client, session, telegram_account, name, reason):
    with no_new_rows(session, Ticket), no_new_rows(session, QuarantinedDelivery):
        answer = post(app_client, telegram_account, payload(name))
    assert answer.status_code == 200
    assert (answer.json()["result"], answer.json()["reason"]) == ("ignored", reason)


def test_a_button_press_in_a_conversation_joins_it(app_client, session, telegram_account,
                                                   platforms):
    first = post(app_client, telegram_account, payload("015-telegram-text")).json()
    pressed = post(app_client, telegram_account, payload("001-telegram-callback-query")).json()

    assert pressed["result"] == "stored" and pressed["ticket_id"] == first["ticket_id"]
    message = session.get(Message, pressed["message_id"])
    assert message.body_text == "Pressed the button “b”"
    assert [c.params["callback_query_id"]
            for c in platforms.calls_to("telegram", "answerCallbackQuery")] == [
        "1579255662248293506"]


def test_an_edit_is_kept_next_to_the_original(app_client, session, telegram_account):
    first = post(app_client, telegram_account, text_update("Заказ 15")).json()
    edited = text_update("Заказ 51", update_id=502)
    edited["edited_message"] = {**edited.pop("message"), "edit_date": 1700000100}

    again = post(app_client, telegram_account, edited).json()

    assert again["result"] == "stored" and again["ticket_id"] == first["ticket_id"]
    assert session.get(Message, again["message_id"]).body_text == "Edited message: Заказ 51"


@pytest.mark.parametrize("secret", [None, "", "wrong-secret"])
def test_a_call_without_the_secret_token_is_refused(app_client, session, telegram_account,
                                                    secret):
    with no_new_rows(session, Message), no_new_rows(session, QuarantinedDelivery):
        answer = post(app_client, telegram_account, payload("015-telegram-text"), secret=secret)
    assert answer.status_code == 401
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "webhook_unauthorized"


def test_unknown_disabled_and_foreign_accounts_are_refused(app_client, session, telegram_account,
                                                          phone_account):
    update = payload("015-telegram-text")
    unknown = app_client.post("/api/v1/channels/telegram/999999/webhook", json=update,
                              headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET})
    foreign = app_client.post(f"/api/v1/channels/telegram/{phone_account.id}/webhook",
                              json=update,
                              headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET,
                                       "Accept-Language": "ru"})
    channels.update_account(session, telegram_account.id, actor=SYSTEM, enabled=False)
    session.commit()
    disabled = post(app_client, telegram_account, update)

    assert (unknown.status_code, foreign.status_code, disabled.status_code) == (404, 404, 403)
    assert foreign.json()["code"] == unknown.json()["code"] == "channel_account_not_found"
    assert disabled.json()["code"] == "channel_disabled"
    assert tickets_count(session) == 0


def test_malformed_json_is_a_400_and_kept_in_quarantine(app_client, session, telegram_account):
    answer = post(app_client, telegram_account, None, raw=b'{"update_id": 1, "message": {')

    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["code"] == "malformed_payload"
    row = session.scalars(sa.select(QuarantinedDelivery)).one()
    assert (row.channel.value, row.account_id, row.payload) == (
        "telegram", telegram_account.id, b'{"update_id": 1, "message": {')
    assert row.status == QuarantineStatus.QUARANTINED and "JSON" in row.reason


def test_an_authentic_update_we_cannot_read_is_acknowledged_and_quarantined(
        app_client, session, telegram_account):
    update = text_update("Привет")
    del update["message"]["chat"]

    answer = post(app_client, telegram_account, update)

    assert (answer.status_code, answer.json()["result"]) == (200, "quarantined")
    row = session.scalars(sa.select(QuarantinedDelivery)).one()
    assert (row.external_id, row.reason) == ("update:500", "message.chat is not an object")
    assert tickets_count(session) == 0


def test_an_id_beyond_64_bits_is_unreadable_not_a_failure_to_retry(
        app_client, session, telegram_account):
    update = text_update("Привет")
    update["message"]["chat"]["id"] = 2**64

    answer = post(app_client, telegram_account, update)

    assert (answer.status_code, answer.json()["result"]) == (200, "quarantined")
    row = session.scalars(sa.select(QuarantinedDelivery)).one()
    assert row.reason == "message.chat.id is not a whole number of at most 64 bits"
    assert tickets_count(session) == 0


def test_a_failing_download_is_retried_by_telegram_then_quarantined_and_released(
        app_client, session, telegram_account, platforms):
    update = text_update("Скриншот", message_id=90)
    update["message"]["document"] = {"file_id": "flaky", "file_name": "s.png",
                                     "mime_type": "image/png", "file_size": 4}
    for _attempt in range(3):
        platforms.script("telegram", "getFile", 502, {"ok": False, "error_code": 502,
                                                      "description": "Bad Gateway"})

    answers = [post(app_client, telegram_account, update) for _attempt in range(4)]

    assert [a.status_code for a in answers] == [503, 503, 200, 200]
    assert answers[0].json()["code"] == "retry_later"
    assert [a.json()["result"] for a in answers[2:]] == ["quarantined", "quarantined"]
    row = session.scalars(sa.select(QuarantinedDelivery)).one()
    assert (row.external_id, row.attempts, row.status) == (
        f"{telegram_account.id}:367699112:90", 3, QuarantineStatus.QUARANTINED)

    platforms.telegram_files["flaky"] = b"\x89PNG"
    channels.release(session, row.id, actor=SYSTEM)
    message = message_by_external(session, "367699112:90")
    assert [a.filename for a in message.attachments] == ["s.png"]
    assert row.status == QuarantineStatus.RELEASED


def test_an_oversized_body_is_refused_unread(app_client, telegram_account):
    answer = post(app_client, telegram_account, None,
                  raw=b'{"update_id": 1, "x": "' + b"a" * (hooks.MAX_WEBHOOK_BYTES + 1) + b'"}')
    assert answer.status_code == 413
    assert answer.json()["code"] == "payload_too_large"


# --- replies ------------------------------------------------------------------------------


def _reply(session, app_client, account, make_agent, auth_headers, text="Ответ", *, agent=None,
           **extra):
    got = post(app_client, account, payload("015-telegram-text")).json()
    agent = agent or make_agent(role=Role.ADMIN)
    reply = app_client.post(f"/api/v1/tickets/{got['ticket_id']}/messages",
                            headers=auth_headers(agent), json={"text": text, **extra})
    assert reply.status_code == 201, reply.text
    return reply.json()["id"]


def test_a_blocked_bot_is_a_permanent_failure(app_client, session, telegram_account, platforms,
                                              make_agent, auth_headers, deliver):
    message_id = _reply(session, app_client, telegram_account, make_agent, auth_headers)
    platforms.blocked_chats.add("367699112")

    delivery = deliver(message_id)

    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DEAD, 1)
    assert "bot was blocked by the user" in delivery.last_error


@pytest.mark.parametrize("status, body, expected", [
    (429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 7",
           "parameters": {"retry_after": 7}}, hooks.RetryAfter),
    (500, {"ok": False, "error_code": 500, "description": "Internal Server Error"}, Exception),
])
def test_flood_limits_and_outages_are_retried(app_client, session, settings, telegram_account,
                                              platforms, make_agent, auth_headers, status, body,
                                              expected):
    message_id = _reply(session, app_client, telegram_account, make_agent, auth_headers)
    delivery = outbound.plan(session, session.get(Message, message_id), settings=settings)
    platforms.script("telegram", "sendMessage", status, body)
    job = outbound.outgoing(session, delivery.id, settings)

    with pytest.raises(expected) as raised:
        telegram_send.send_reply(job, settings)
    assert not isinstance(raised.value, outbound.PermanentFailure)
    if status == 429:
        assert raised.value.retry_after == 7
    failed = outbound.record_result(session, delivery.id, error=raised.value)
    assert (failed.status, failed.attempts) == (DeliveryStatus.PENDING, 1)
    assert telegram_send.send_reply(job, settings).startswith(  # then it goes
        f"{telegram_account.id}:367699112:")


def test_long_replies_are_split_and_attachments_sent_as_photo_or_document(
        app_client, session, settings, telegram_account, platforms, make_agent, auth_headers,
        deliver):
    agent = make_agent(role=Role.ADMIN)
    actor = actor_of(agent)
    photo = store_attachment(session, actor=actor, filename="схема.png", content_type="image/png",
                             data=b"\x89PNG....", settings=settings)
    pdf = store_attachment(session, actor=actor, filename="договор.pdf",
                           content_type="application/pdf", data=b"%PDF-1.4", settings=settings)
    session.commit()
    long_text = ("Первый абзац. " * 200 + "\n\n") * 3
    message_id = _reply(session, app_client, telegram_account, make_agent, auth_headers,
                        text=long_text, agent=agent, attachment_ids=[photo.id, pdf.id])

    delivery = deliver(message_id)

    assert delivery.status == DeliveryStatus.SENT, delivery.last_error
    texts = [c.params["text"] for c in platforms.calls_to("telegram", "sendMessage")]
    assert len(texts) == 3 and all(len(t) <= 4096 for t in texts)
    assert "".join(texts).replace(" ", "").replace("\n", "") == long_text.replace(
        " ", "").replace("\n", "")
    assert [c.files["photo"][:2] for c in platforms.calls_to("telegram", "sendPhoto")] == [
        ("схема.png", b"\x89PNG....")]
    assert [c.files["document"][0] for c in platforms.calls_to("telegram", "sendDocument")] == [
        "договор.pdf"]


def test_a_long_reply_failing_half_way_resumes_and_never_repeats_a_piece(
        app_client, session, telegram_account, platforms, make_agent, auth_headers, deliver):
    long_text = ("Первый абзац. " * 200 + "\n\n") * 3  # three messages in Telegram
    message_id = _reply(session, app_client, telegram_account, make_agent, auth_headers,
                        text=long_text)
    platforms.script("telegram", "sendMessage", 200, {"ok": True, "result": {
        "message_id": 900, "date": 0, "chat": {"id": 367699112, "type": "private"}}})
    platforms.script("telegram", "sendMessage", 500, {
        "ok": False, "error_code": 500, "description": "Internal Server Error"})

    delivery = deliver(message_id)  # the first piece goes, the second meets an outage
    assert (delivery.status, delivery.parts_sent) == (DeliveryStatus.PENDING, 1)
    first_id = f"{telegram_account.id}:367699112:900"
    assert delivery.external_id == first_id

    delivery.next_attempt_at = delivery.created_at  # the retry is due now
    session.commit()
    from zabota.jobs import channels as job

    job.deliver_outbound.call_local(delivery.id)
    session.expire_all()
    delivery = session.get_one(OutboundDelivery, delivery.id)

    assert (delivery.status, delivery.parts_sent) == (DeliveryStatus.SENT, 3)
    assert delivery.external_id == first_id  # replies to the first piece still thread
    texts = [c.params["text"] for c in platforms.calls_to("telegram", "sendMessage")]
    assert len(texts) == 4 and texts[1] == texts[2]  # only the refused piece went twice
    assert len(set(texts)) == 3


def test_a_reply_without_a_configured_bot_is_dead_lettered(app_client, session, settings,
                                                           telegram_account, make_agent,
                                                           auth_headers, deliver):
    message_id = _reply(session, app_client, telegram_account, make_agent, auth_headers)
    channels.update_account(session, telegram_account.id, actor=SYSTEM, enabled=False)
    session.commit()
    delivery = deliver(message_id)
    assert delivery.status == DeliveryStatus.DEAD and "отключён" in delivery.last_error


# --- polling, webhook set-up, connection test ---------------------------------------------


def test_long_polling_stores_updates_and_moves_the_offset(session, connection, settings,
                                                          telegram_account, platforms):
    platforms.telegram_updates = [payload("015-telegram-text"), payload("012-telegram-photo"),
                                  payload("016-telegram-text")]
    platforms.telegram_files[payload("012-telegram-photo")["message"]["photo"][1]["file_id"]] = (
        b"\xff\xd8jpeg")
    database = TransactionalDatabase(connection)

    first = polling.poll_once(database, telegram_account.id, settings=settings, timeout=0)
    second = polling.poll_once(database, telegram_account.id, settings=settings, timeout=0)

    assert (first.handled, second.handled) == (3, 0)
    session.expire_all()
    assert telegram_account.config["polling_offset"] == 306197399
    assert session.scalar(sa.select(sa.func.count()).select_from(Message)) == 3
    calls = platforms.calls_to("telegram", "getUpdates")
    assert calls[0].params["allowed_updates"] == ["message", "edited_message", "callback_query"]
    assert "offset" not in calls[0].params and calls[1].params["offset"] == 306197399


def test_polling_keeps_the_offset_on_an_update_that_must_be_retried(
        session, connection, settings, telegram_account, platforms):
    update = text_update("Файл", update_id=700, message_id=5)
    update["message"]["document"] = {"file_id": "later", "file_name": "a.txt",
                                     "mime_type": "text/plain"}
    platforms.telegram_updates = [update]
    platforms.script("telegram", "getFile", 500, {"ok": False, "error_code": 500,
                                                  "description": "Internal"})
    database = TransactionalDatabase(connection)

    result = polling.poll_once(database, telegram_account.id, settings=settings, timeout=0)
    assert (result.handled, result.must_wait) == (0, True)
    session.expire_all()
    assert "polling_offset" not in telegram_account.config

    platforms.telegram_files["later"] = b"hello"
    again = polling.poll_once(database, telegram_account.id, settings=settings, timeout=0)
    assert again.handled == 1
    session.expire_all()
    assert telegram_account.config["polling_offset"] == 701


def test_set_webhook_makes_a_secret_and_registers_the_url(session, connection, make_account,
                                                          platforms):
    from zabota.tickets.models import Channel

    account = make_account(Channel.TELEGRAM, {"token": TELEGRAM_TOKEN,
                                              "api_base_url": platforms.telegram_base})
    url = f"https://help.example.com/api/v1/channels/telegram/{account.id}/webhook"

    polling.set_webhook(TransactionalDatabase(connection), account.id, url)

    session.expire_all()
    secret = account.config["secret_token"]
    assert len(secret) >= 32
    (call,) = platforms.calls_to("telegram", "setWebhook")
    assert (call.params["url"], call.params["secret_token"]) == (url, secret)


def test_the_connection_test_calls_getMe(telegram_account, make_account, platforms):
    from zabota.tickets.models import Channel

    test = channels.connection_test_for(Channel.TELEGRAM)
    assert test(telegram_account) == "Подключено к Telegram как @zabota_test_bot"
    wrong = make_account(Channel.TELEGRAM, {"token": "1:wrong", "secret_token": "s",
                                            "api_base_url": platforms.telegram_base},
                         name="wrong")
    with pytest.raises(ValueError, match="Unauthorized"):
        test(wrong)
    nowhere = make_account(Channel.TELEGRAM, {"token": "1:x", "api_base_url":
                                              "http://127.0.0.1:9"}, name="nowhere")
    with pytest.raises(ValueError, match="недоступен"):
        test(nowhere)


def test_no_delivery_record_is_left_behind_by_ignored_updates(app_client, session,
                                                              telegram_account):
    post(app_client, telegram_account, payload("011-telegram-my-chat-member"))
    assert session.scalar(sa.select(sa.func.count()).select_from(OutboundDelivery)) == 0


def test_the_poll_command_takes_updates_into_the_database(committed_db_url, tmp_path,
                                                          platforms):
    """`zabota channels poll-telegram --once`, as an admin runs it, on a committed database."""
    import os
    import subprocess
    import sys

    from zabota.core.db import Database
    from zabota.tickets.models import Channel

    database = Database(committed_db_url)
    with database.session_scope() as session:
        account = channels.create_account(session, actor=SYSTEM, kind=Channel.TELEGRAM,
                                          name="bot", config={
                                              "token": TELEGRAM_TOKEN,
                                              "api_base_url": platforms.telegram_base})
        account_id = account.id
    platforms.telegram_updates = [payload("016-telegram-text")]
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("ZABOTA_")},
           "ZABOTA_DATABASE_URL": committed_db_url, "ZABOTA_DATA_DIR": str(tmp_path / "var")}

    done = subprocess.run([sys.executable, "-m", "zabota.cli", "channels", "poll-telegram",
                           "--once", "--account", str(account_id)], env=env,
                          capture_output=True, text=True, timeout=120, check=False)

    assert done.returncode == 0, done.stderr
    assert f"Telegram account {account_id}: 1 update(s)" in done.stdout
    with database.session_scope() as session:
        assert session.scalars(sa.select(Message.body_text)).all() == ["4"]
        assert channels.get_account(session, account_id).config["polling_offset"] == 306197399
    database.dispose()
