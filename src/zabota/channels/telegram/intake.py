"""Telegram updates in: a webhook call or a `getUpdates` batch becomes an `Inbound` per private
message; `/start` is greeted, group chats and service updates are acknowledged and ignored.

External id of a message: `"{chat_id}:{message_id}"` (what a retried update repeats; an edit
gets its own id, so it is kept next to the original).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from zabota.channels import hooks
from zabota.channels import service as channels
from zabota.channels.hooks import FileRef, MalformedUpdate, Outcome
from zabota.channels.inbound import Inbound, InboundFile
from zabota.channels.models import ChannelAccount, QuarantinedDelivery
from zabota.channels.telegram.client import BotApi, BotApiError
from zabota.core.clock import SYSTEM_CLOCK, Clock
from zabota.core.errors import ZabotaError
from zabota.core.i18n import N_, _, language
from zabota.core.settings import Settings, get_settings
from zabota.identity import service as identity
from zabota.identity.models import IdentityKind
from zabota.tickets.models import Channel, Status, Ticket

log = structlog.get_logger()

# Updates we ask for (setWebhook / getUpdates); anything else is acknowledged and ignored.
ALLOWED_UPDATES = ("message", "edited_message", "callback_query")
DEFAULT_GREETING = N_("Hello! Write your question here and we will answer in this chat.")

# Content we keep as a file: (key, default file name, default content type).
_FILE_KINDS = (
    ("document", "document", None),
    ("video", "video.mp4", "video/mp4"),
    ("audio", "audio.mp3", "audio/mpeg"),
    ("voice", "voice.ogg", "audio/ogg"),
    ("video_note", "video_note.mp4", "video/mp4"),
    ("animation", "animation.mp4", "video/mp4"),
)
# Content with no file and no text: kept as a readable line instead of being dropped.
_OTHER_CONTENT = ("poll", "dice", "game", "venue", "story", "invoice", "giveaway",
                  "paid_media")


@dataclass(frozen=True)
class Update:
    """The parts of one Telegram update we use, read without network or database."""

    update_id: int
    kind: str  # "message", "edited_message", "callback_query", or the key of another update
    chat_id: int | None = None
    chat_type: str | None = None
    sender_id: int | None = None
    sender_name: str | None = None
    username: str | None = None
    language_code: str | None = None
    is_bot: bool = False
    message_id: int | None = None
    text: str = ""
    files: tuple[FileRef, ...] = ()
    lines: tuple[str, ...] = ()  # locations, contacts, stickers…: content without a file
    reply_to_message_id: int | None = None
    edit_date: int | None = None
    callback_query_id: str | None = None
    # The sender's own number, when they shared their contact with the bot.
    own_phone: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def is_private(self) -> bool:
        return self.chat_type == "private"

    @property
    def is_start(self) -> bool:
        command = self.text.strip().split(maxsplit=1)[0] if self.text.strip() else ""
        return self.kind == "message" and command.split("@", 1)[0] == "/start"

    @property
    def has_content(self) -> bool:
        return bool(self.text.strip() or self.files or self.lines)

    @property
    def external_id(self) -> str:
        if self.kind == "callback_query":
            return f"{self.chat_id}:callback:{self.callback_query_id}"
        if self.kind == "edited_message":
            return f"{self.chat_id}:{self.message_id}:edit:{self.edit_date or 0}"
        return f"{self.chat_id}:{self.message_id}"


def _int(value: object, name: str) -> int:
    # Telegram's ids fit in 52 bits; one beyond 64 could never be stored or answered, so it
    # is unreadable (quarantined, 200), not a failure to try again.
    if isinstance(value, bool) or not isinstance(value, int) or not -2**63 <= value < 2**63:
        raise MalformedUpdate(f"{name} is not a whole number of at most 64 bits")
    return value


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _dict(value: object, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise MalformedUpdate(f"{name} is not an object")
    return value


def parse_update(data: dict[str, Any]) -> Update:
    """Read an `Update` object; `MalformedUpdate` if a field we rely on is missing."""
    update_id = _int(data.get("update_id"), "update_id")
    kind = next((key for key in data if key != "update_id"), None)
    if kind is None:
        raise MalformedUpdate("the update carries nothing")
    body = data[kind]
    if kind in ("message", "edited_message"):
        return _message_update(update_id, kind, _dict(body, kind))
    if kind == "callback_query":
        return _callback_update(update_id, _dict(body, kind))
    # Other updates are ignored; keep who and where for the log, if they say.
    body = hooks.obj(body)
    chat = hooks.obj(body.get("chat"))
    sender = hooks.obj(body.get("from"))
    chat_id, sender_id = chat.get("id"), sender.get("id")
    return Update(update_id, kind, chat_id=chat_id if isinstance(chat_id, int) else None,
                  chat_type=_str(chat.get("type")) or None,
                  sender_id=sender_id if isinstance(sender_id, int) else None)


def _sender(message: dict[str, Any]) -> dict[str, Any]:
    sender = message.get("from")
    return hooks.obj(sender)


def _name(sender: dict[str, Any]) -> str | None:
    name = " ".join(part for part in (_str(sender.get("first_name")),
                                      _str(sender.get("last_name"))) if part).strip()
    return name or _str(sender.get("username")) or None


def _message_update(update_id: int, kind: str, message: dict[str, Any]) -> Update:
    chat = _dict(message.get("chat"), "message.chat")
    chat_id = _int(chat.get("id"), "message.chat.id")
    message_id = _int(message.get("message_id"), "message.message_id")
    sender = _sender(message)
    sender_id = sender.get("id") if isinstance(sender.get("id"), int) else None
    files, lines, own_phone = _content(message, message_id, sender_id)
    reply = message.get("reply_to_message")
    reply_id = reply.get("message_id") if isinstance(reply, dict) else None
    return Update(
        update_id, kind, chat_id=chat_id, chat_type=_str(chat.get("type")) or None,
        sender_id=sender_id, sender_name=_name(sender),
        username=_str(sender.get("username")) or None,
        language_code=_str(sender.get("language_code")) or None,
        is_bot=bool(sender.get("is_bot")), message_id=message_id,
        text=_str(message.get("text")) or _str(message.get("caption")),
        files=tuple(files), lines=tuple(lines),
        reply_to_message_id=reply_id if isinstance(reply_id, int) else None,
        edit_date=message.get("edit_date") if isinstance(message.get("edit_date"), int) else None,
        own_phone=own_phone)


def _content(message: dict[str, Any], message_id: int,
             sender_id: int | None) -> tuple[list[FileRef], list[str], str | None]:
    files: list[FileRef] = []
    lines: list[str] = []
    own_phone = None
    photo = message.get("photo")
    if isinstance(photo, list) and photo:
        # Telegram sends every size it made; the largest is the original.
        sizes = [p for p in photo if isinstance(p, dict) and isinstance(p.get("file_id"), str)]
        if not sizes:
            raise MalformedUpdate("message.photo has no file_id")
        best = max(sizes, key=lambda p: ((_size(p.get("width")) or 0)
                                         * (_size(p.get("height")) or 0),
                                         _size(p.get("file_size")) or 0))
        files.append(FileRef(f"photo_{message_id}.jpg", "image/jpeg",
                             _size(best.get("file_size")), best["file_id"]))
    for key, default_name, default_type in _FILE_KINDS:
        item = message.get(key)
        if not isinstance(item, dict):
            continue
        if not isinstance(item.get("file_id"), str):
            raise MalformedUpdate(f"message.{key} has no file_id")
        stem, dot, ext = default_name.rpartition(".")
        name = _str(item.get("file_name")) or (
            f"{stem}_{message_id}.{ext}" if dot else f"{default_name}_{message_id}")
        files.append(FileRef(name, _str(item.get("mime_type")) or default_type,
                             _size(item.get("file_size")), item["file_id"]))
        if key == "animation":
            break  # an animation also comes as a `document` copy: keep one
    sticker = message.get("sticker")
    if isinstance(sticker, dict):
        lines.append(_("[Sticker {emoji}]").format(emoji=_str(sticker.get("emoji"))).strip())
    location = message.get("location")
    if isinstance(location, dict) and "venue" not in message:
        lines.append(_("[Location: {lat}, {lon}]").format(lat=location.get("latitude"),
                                                          lon=location.get("longitude")))
    contact = message.get("contact")
    if isinstance(contact, dict):
        phone = _str(contact.get("phone_number"))
        name = " ".join(p for p in (_str(contact.get("first_name")),
                                    _str(contact.get("last_name"))) if p)
        lines.append(_("[Contact: {name} {phone}]").format(name=name, phone=phone))
        if sender_id is not None and contact.get("user_id") == sender_id and phone:
            own_phone = phone
    for key in _OTHER_CONTENT:
        if key in message:
            detail = ""
            if key == "poll" and isinstance(message[key], dict):
                detail = _str(message[key].get("question"))
            elif key == "venue" and isinstance(message[key], dict):
                detail = " ".join(p for p in (_str(message[key].get("title")),
                                              _str(message[key].get("address"))) if p)
            lines.append(_("[Telegram message of type “{kind}”] {detail}")
                         .format(kind=key, detail=detail).strip())
    return files, lines, own_phone


def _size(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _callback_update(update_id: int, query: dict[str, Any]) -> Update:
    sender = _sender(query)
    sender_id = sender.get("id") if isinstance(sender.get("id"), int) else None
    message = query.get("message")
    chat_id = chat_type = message_id = None
    label = _str(query.get("data"))
    if isinstance(message, dict) and isinstance(message.get("chat"), dict):
        chat = message["chat"]
        chat_id = chat.get("id") if isinstance(chat.get("id"), int) else None
        chat_type = _str(chat.get("type")) or None
        message_id = message.get("message_id") if isinstance(
            message.get("message_id"), int) else None
        label = _button_label(message, label) or label
    return Update(update_id, "callback_query", chat_id=chat_id, chat_type=chat_type,
                  sender_id=sender_id, sender_name=_name(sender),
                  username=_str(sender.get("username")) or None,
                  language_code=_str(sender.get("language_code")) or None,
                  is_bot=bool(sender.get("is_bot")), message_id=message_id, text=label,
                  reply_to_message_id=message_id,
                  callback_query_id=_str(query.get("id")) or None)


def _button_label(message: dict[str, Any], data: str) -> str | None:
    """The text on the button pressed: what the customer saw and chose."""
    markup = message.get("reply_markup")
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    for row in rows if isinstance(rows, list) else ():
        for button in row if isinstance(row, list) else ():
            if isinstance(button, dict) and button.get("callback_data") == data:
                return _str(button.get("text")) or None
    return None


# --- taking updates in ---------------------------------------------------------------------


def receive_webhook(session: Session, account_id: int, payload: bytes, *, secret: str | None,
                    settings: Settings, clock: Clock = SYSTEM_CLOCK) -> Outcome:
    """A webhook call: authenticated by the secret token Telegram repeats in a header."""
    account = hooks.account_of(session, Channel.TELEGRAM, account_id)
    if not hooks.secrets_equal(secret, hooks.config_str(account, "secret_token")):
        raise hooks.WebhookUnauthorized()
    hooks.require_enabled(account)
    try:
        data = hooks.json_object(payload)
    except hooks.MalformedPayload as exc:
        return hooks.reject_malformed(session, account, payload, exc, clock=clock)
    return handle_update(session, account, data, payload, settings=settings, clock=clock)


def handle_update(session: Session, account: ChannelAccount, data: dict[str, Any],
                  payload: bytes, *, settings: Settings, clock: Clock = SYSTEM_CLOCK,
                  strict: bool = False) -> Outcome:
    # What we write into a message (placeholders, notes) is in the installation's language,
    # whoever delivered it.
    with language(settings.default_language):
        return _handle_update(session, account, data, payload, settings=settings, clock=clock,
                              strict=strict)


def _handle_update(session: Session, account: ChannelAccount, data: dict[str, Any],
                   payload: bytes, *, settings: Settings, clock: Clock, strict: bool) -> Outcome:
    try:
        update = parse_update(data)
    except MalformedUpdate as exc:
        if strict:
            raise
        update_id = data.get("update_id")
        external_id = f"update:{update_id}" if isinstance(update_id, int) else None
        return hooks.keep_unreadable(session, account, payload, exc,
                                     external_id=external_id, clock=clock)
    where = {"account_id": account.id, "update_id": update.update_id}
    if update.kind not in ALLOWED_UPDATES:
        return hooks.ignored(f"{update.kind} update", **where)
    if update.chat_id is None or update.sender_id is None:
        return hooks.ignored("no chat or sender", **where)
    if not update.is_private:
        return hooks.ignored("group chat", **where)
    if update.is_bot:
        return hooks.ignored("message from a bot", **where)
    if update.is_start:
        _greet(account, update, settings)
        return hooks.ignored("/start", **where)
    if update.kind == "callback_query":
        _answer_callback(account, update)
        if not _has_conversation(session, update.sender_id):
            return hooks.ignored("callback query without a conversation", **where)
    if not update.has_content:
        return hooks.ignored("service message", **where)
    return hooks.take_in(session, account=account, external_id=_external_id(account, update),
                         payload=payload, settings=settings, clock=clock, strict=strict,
                         build=lambda: _inbound(account, update, settings))


def _external_id(account: ChannelAccount, update: Update) -> str:
    """Message ids count per chat and per bot: the same person's first message to two of
    our bots has the same chat and message id, so the bot is part of the key."""
    return f"{account.id}:{update.external_id}"


def _inbound(account: ChannelAccount, update: Update, settings: Settings) -> Inbound:
    assert update.chat_id is not None and update.sender_id is not None
    notes: list[str] = []
    files: list[InboundFile] = []
    if update.files:
        with hooks.http_client() as client:
            api = BotApi.for_account(account, client)
            files, notes = hooks.fetch_files(
                update.files, lambda ref: api.download(ref.locator,
                                                       limit=settings.max_attachment_bytes),
                settings=settings)
    text = update.text
    if update.kind == "edited_message":
        text = _("Edited message: {text}").format(text=text)
    elif update.kind == "callback_query":
        text = _("Pressed the button “{label}”").format(label=text)
    identities: list[tuple[IdentityKind, str]] = [(IdentityKind.TELEGRAM, str(update.sender_id))]
    if update.own_phone and _is_phone(update.own_phone):
        identities.append((IdentityKind.PHONE, update.own_phone))
    meta: dict[str, Any] = {"update_id": update.update_id, "chat_id": update.chat_id,
                            "message_id": update.message_id}
    if update.username:
        meta["username"] = update.username
    if update.chat_id != update.sender_id:
        meta["reply_to"] = str(update.chat_id)
    replies_to = []
    if update.reply_to_message_id is not None:
        replies_to.append(f"{account.id}:{update.chat_id}:{update.reply_to_message_id}")
    if update.kind == "edited_message":
        replies_to.append(f"{account.id}:{update.chat_id}:{update.message_id}")
    return Inbound(channel=Channel.TELEGRAM, external_id=_external_id(account, update),
                   identities=identities, name=update.sender_name,
                   text=hooks.join_text(text, *update.lines, *notes), files=files,
                   replies_to=replies_to, account_id=account.id, meta=meta)


def _is_phone(value: str) -> bool:
    try:
        identity.normalize_phone(value)
    except ZabotaError:  # a contact card with a number we cannot read: keep the text only
        return False
    return True


def _has_conversation(session: Session, sender_id: int) -> bool:
    """A button press belongs to a conversation when the customer has an unfinished Telegram
    request; a stray press on an old message does not open a new one."""
    customer = identity.find_customer_by_identity(session, IdentityKind.TELEGRAM, str(sender_id))
    if customer is None:
        return False
    return session.scalar(
        sa.select(Ticket.id).where(Ticket.customer_id == customer.id,
                                   Ticket.channel == Channel.TELEGRAM,
                                   Ticket.merged_into_id.is_(None),
                                   Ticket.status.not_in([Status.SOLVED, Status.CLOSED]))
        .limit(1)) is not None


def greeting_for(account: ChannelAccount, language_code: str | None, *, default: str) -> str:
    """The account's greeting in the customer's language (ru or en), else the built-in one."""
    lang = "ru" if (language_code or "").lower().startswith(("ru", "uk", "be", "kk")) else (
        "en" if language_code else default)
    configured = (hooks.config_str(account, f"greeting_{lang}")
                  or hooks.config_str(account, "greeting"))
    if configured:
        return configured
    with language(lang):
        return _(DEFAULT_GREETING)


def _greet(account: ChannelAccount, update: Update, settings: Settings) -> None:
    """Answer /start at once. A greeting lost to a network error is not worth a retry queue:
    the customer's next message opens the conversation anyway."""
    try:
        with hooks.http_client() as client:
            BotApi.for_account(account, client).call("sendMessage", {
                "chat_id": update.chat_id,
                "text": greeting_for(account, update.language_code,
                                     default=settings.default_language)})
    except (BotApiError, httpx.HTTPError) as exc:
        log.warning("telegram.greeting_failed", account_id=account.id, error=str(exc))


def _answer_callback(account: ChannelAccount, update: Update) -> None:
    """Stop the spinner on the pressed button (Telegram shows it until answered)."""
    try:
        with hooks.http_client() as client:
            BotApi.for_account(account, client).call(
                "answerCallbackQuery", {"callback_query_id": update.callback_query_id})
    except (BotApiError, httpx.HTTPError) as exc:
        log.warning("telegram.callback_answer_failed", account_id=account.id, error=str(exc))


@channels.register_reingest(Channel.TELEGRAM)
def reingest(session: Session, row: QuarantinedDelivery) -> None:
    """An admin released a quarantined update: read it again, failures are raised to them."""
    if row.account_id is None:
        raise hooks.MalformedPayload(_("The item names no channel account"))
    account = hooks.account_of(session, Channel.TELEGRAM, row.account_id)
    handle_update(session, account, hooks.json_object(row.payload), row.payload,
                  settings=get_settings(), strict=True)
