"""WhatsApp Cloud API in: the subscription check (`GET`), and signed notifications (`POST`) whose
`messages` become `Inbound`s and whose `statuses` update the delivery of our replies.

Meta batches several messages and statuses in one notification. Each is split into an envelope
of its own (the same shape, one item), so one unreadable item is quarantined alone and an admin
can release it through the same code.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import mimetypes
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from zabota.channels import hooks
from zabota.channels import service as channels
from zabota.channels.hooks import FileRef, MalformedUpdate, Outcome
from zabota.channels.inbound import Inbound, InboundFile
from zabota.channels.models import (
    ChannelAccount,
    DeliveryStatus,
    OutboundDelivery,
    QuarantinedDelivery,
)
from zabota.channels.whatsapp.client import GraphApi
from zabota.core.clock import SYSTEM_CLOCK, Clock
from zabota.core.errors import Forbidden, ZabotaError
from zabota.core.i18n import N_, _, language
from zabota.core.settings import Settings, get_settings
from zabota.identity import service as identity
from zabota.identity.models import IdentityKind
from zabota.tickets.models import Channel, Message

log = structlog.get_logger()

_MEDIA = ("image", "video", "audio", "document", "sticker")
_STATUS_ORDER = {"sent": 1, "delivered": 2, "read": 3, "failed": 4}


class VerifyTokenMismatch(Forbidden):
    code, title = "verify_token_mismatch", N_("The verify token does not match")


@dataclass(frozen=True)
class WaMessage:
    id: str
    sender: str
    type: str
    phone_number_id: str | None = None
    name: str | None = None
    text: str = ""
    files: tuple[FileRef, ...] = ()
    lines: tuple[str, ...] = ()
    context_id: str | None = None
    forwarded: bool = False
    new_number: str | None = None  # a `system` message: the customer changed their number

    @property
    def is_status_update(self) -> bool:
        return False


@dataclass(frozen=True)
class WaStatus:
    id: str
    status: str
    recipient: str | None = None
    errors: tuple[str, ...] = ()

    @property
    def is_status_update(self) -> bool:
        return True


def signature_valid(payload: bytes, header: str | None, app_secret: str) -> bool:
    """`X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body keyed by the app secret>`."""
    if not header or not app_secret:
        return False
    scheme, _sep, given = header.strip().partition("=")
    if scheme.lower() != "sha256" or not given:
        return False
    expected = hmac.new(app_secret.encode(), payload, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given.strip().lower())


def split_payload(data: dict[str, Any]) -> list[dict[str, Any]]:
    """One envelope per message or status, each shaped like the notification it came in."""
    entries = data.get("entry")
    if not isinstance(entries, list):
        raise MalformedUpdate("the notification has no entry list")
    envelopes: list[dict[str, Any]] = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("changes", []), list):
            raise MalformedUpdate("an entry has no changes list")
        for change in entry.get("changes", []):
            if not isinstance(change, dict) or change.get("field") != "messages":
                continue  # account updates, templates, quality: not ours
            value = change.get("value")
            if not isinstance(value, dict):
                raise MalformedUpdate("a change has no value")
            rest = {k: v for k, v in value.items() if k not in ("messages", "statuses")}
            for key in ("messages", "statuses"):
                items = value.get(key) or []
                for item in items if isinstance(items, list) else [items]:
                    envelopes.append({
                        "object": data.get("object"),
                        "entry": [{"id": entry.get("id"), "changes": [
                            {"field": "messages", "value": {**rest, key: [item]}}]}]})
    return envelopes


def parse_item(envelope: dict[str, Any]) -> WaMessage | WaStatus:
    """The one message or status of an envelope made by `split_payload`."""
    try:
        value = envelope["entry"][0]["changes"][0]["value"]
    except (KeyError, IndexError, TypeError) as exc:
        raise MalformedUpdate("not a single-item notification") from exc
    if value.get("statuses"):
        return _status(value["statuses"][0])
    items = value.get("messages")
    if not isinstance(items, list) or not items or not isinstance(items[0], dict):
        raise MalformedUpdate("no message in the notification")
    metadata = hooks.obj(value.get("metadata"))
    return _message(items[0], value.get("contacts"), _str(metadata.get("phone_number_id")))


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _status(item: object) -> WaStatus:
    if not isinstance(item, dict) or not _str(item.get("id")) or not _str(item.get("status")):
        raise MalformedUpdate("a status has no id or status")
    errors = []
    for error in _list(item.get("errors")):
        if isinstance(error, dict):
            details = error.get("error_data")
            detail = details.get("details") if isinstance(details, dict) else None
            errors.append(" ".join(str(part) for part in (
                error.get("code"), error.get("title") or error.get("message"),
                f"({detail})" if detail else "") if part))
    return WaStatus(item["id"], item["status"], _str(item.get("recipient_id")) or None,
                    tuple(errors))


def _message(item: dict[str, Any], contacts: object, phone_number_id: str) -> WaMessage:
    wamid, sender, kind = _str(item.get("id")), _str(item.get("from")), _str(item.get("type"))
    if not wamid or not sender or not kind:
        raise MalformedUpdate("a message has no id, from or type")
    name = None
    for contact in _list(contacts):
        if isinstance(contact, dict) and contact.get("wa_id") == sender:
            profile = contact.get("profile")
            name = _str(profile.get("name")) if isinstance(profile, dict) else None
    body = hooks.obj(item.get(kind))
    text, files, lines, new_number = "", [], [], None
    if kind == "text":
        text = _str(body.get("body"))
    elif kind in _MEDIA:
        media_id = _str(body.get("id"))
        if not media_id:
            raise MalformedUpdate(f"{kind} has no media id")
        mime = _str(body.get("mime_type")) or None
        files.append(FileRef(_filename(kind, body, wamid, mime), mime, None, media_id))
        text = _str(body.get("caption"))
    elif kind == "interactive":
        reply = body.get(_str(body.get("type"))) if isinstance(body, dict) else None
        if isinstance(reply, dict):
            text = " — ".join(p for p in (_str(reply.get("title")),
                                          _str(reply.get("description"))) if p)
    elif kind == "button":
        text = _str(body.get("text"))
    elif kind == "location":
        place = ", ".join(p for p in (_str(body.get("name")), _str(body.get("address"))) if p)
        lines.append(_("[Location: {lat}, {lon}]").format(
            lat=body.get("latitude"), lon=body.get("longitude")) + (f" {place}" if place else ""))
    elif kind == "contacts":
        for card in _list(item.get("contacts")):
            if isinstance(card, dict):
                card_name = hooks.obj(card.get("name"))
                phones = ", ".join(_str(p.get("phone")) for p in _list(card.get("phones"))
                                   if isinstance(p, dict))
                lines.append(_("[Contact: {name} {phone}]").format(
                    name=_str(card_name.get("formatted_name")), phone=phones).strip())
    elif kind == "system":
        new_number = _str(body.get("wa_id")) or None
        text = _str(body.get("body"))
    elif kind != "reaction":
        inner = _str(body.get("type")) if kind == "unsupported" else kind
        lines.append(_("[WhatsApp message of a type Zabota cannot show: {kind}]")
                     .format(kind=inner or kind))
    context = hooks.obj(item.get("context"))
    return WaMessage(wamid, sender, kind, phone_number_id=phone_number_id or None, name=name,
                     text=text, files=tuple(files), lines=tuple(lines),
                     context_id=_str(context.get("id")) or None,
                     forwarded=bool(context.get("forwarded")), new_number=new_number)


def _filename(kind: str, body: dict[str, Any], wamid: str, mime: str | None) -> str:
    given = _str(body.get("filename"))
    if given:
        return given
    ext = mimetypes.guess_extension((mime or "").split(";")[0].strip()) or ""
    suffix = hashlib.sha256(wamid.encode()).hexdigest()[:8]
    return f"{kind}_{suffix}{ext}"


# --- taking notifications in ---------------------------------------------------------------


def verify_subscription(session: Session, account_id: int, *, mode: str | None,
                        token: str | None, challenge: str | None) -> str:
    """Meta's `GET` check when the webhook is set up: echo the challenge if the token fits."""
    account = hooks.account_of(session, Channel.WHATSAPP, account_id)
    if mode != "subscribe" or not challenge:
        raise hooks.MalformedPayload(_("Expected hub.mode=subscribe with a hub.challenge"))
    if not hooks.secrets_equal(token, hooks.config_str(account, "verify_token")):
        raise VerifyTokenMismatch()
    hooks.require_enabled(account)
    return challenge


def receive_notification(session: Session, account_id: int, payload: bytes, *,
                         signature: str | None, settings: Settings,
                         clock: Clock = SYSTEM_CLOCK) -> Outcome:
    account = hooks.account_of(session, Channel.WHATSAPP, account_id)
    if not signature_valid(payload, signature, hooks.config_str(account, "app_secret")):
        raise hooks.WebhookUnauthorized()
    hooks.require_enabled(account)
    try:
        data = hooks.json_object(payload)
    except hooks.MalformedPayload as exc:
        return hooks.reject_malformed(session, account, payload, exc, clock=clock)
    try:
        envelopes = split_payload(data)
    except MalformedUpdate as exc:
        return hooks.keep_unreadable(session, account, payload, exc, clock=clock)
    return hooks.combine([
        handle_item(session, account, envelope, settings=settings, clock=clock)
        for envelope in envelopes])


def handle_item(session: Session, account: ChannelAccount, envelope: dict[str, Any], *,
                settings: Settings, clock: Clock = SYSTEM_CLOCK,
                strict: bool = False) -> Outcome:
    # Placeholders and notes are written in the installation's language.
    with language(settings.default_language):
        return _handle_item(session, account, envelope, settings=settings, clock=clock,
                            strict=strict)


def _handle_item(session: Session, account: ChannelAccount, envelope: dict[str, Any], *,
                 settings: Settings, clock: Clock, strict: bool) -> Outcome:
    payload = json.dumps(envelope, ensure_ascii=False).encode()
    try:
        item = parse_item(envelope)
    except MalformedUpdate as exc:
        if strict:
            raise
        return hooks.keep_unreadable(session, account, payload, exc, clock=clock)
    if isinstance(item, WaStatus):
        return apply_status(session, item, clock=clock)
    account = _account_for_number(session, account, item.phone_number_id)
    where = {"account_id": account.id, "message_id": item.id}
    if item.type == "reaction":
        return hooks.ignored("reaction", **where)
    if item.type == "system":
        _follow_number_change(session, item, clock=clock)
        return hooks.ignored("system message", **where)
    return hooks.take_in(session, account=account, external_id=item.id, payload=payload,
                         settings=settings, clock=clock, strict=strict,
                         build=lambda: _inbound(account, item, settings))


def _account_for_number(session: Session, account: ChannelAccount,
                        phone_number_id: str | None) -> ChannelAccount:
    """Meta sends every number of an app to one webhook: the reply must leave from the number
    the customer wrote to, so the message goes to that number's account if we have it."""
    if not phone_number_id or hooks.config_str(account, "phone_number_id") == phone_number_id:
        return account
    for other in channels.list_accounts(session, Channel.WHATSAPP, enabled_only=True):
        if hooks.config_str(other, "phone_number_id") == phone_number_id:
            return other
    log.warning("whatsapp.unknown_number", account_id=account.id)
    return account


def _inbound(account: ChannelAccount, item: WaMessage, settings: Settings) -> Inbound:
    files: list[InboundFile] = []
    notes: list[str] = []
    if item.files:
        with hooks.http_client() as client:
            api = GraphApi.for_account(account, client)
            files, notes = hooks.fetch_files(
                item.files, lambda ref: api.download_media(
                    ref.locator, limit=settings.max_attachment_bytes), settings=settings)
    text = item.text
    if item.forwarded:
        text = _("[Forwarded message] {text}").format(text=text).strip()
    meta: dict[str, Any] = {"wamid": item.id, "phone_number_id": item.phone_number_id,
                            # The number that wrote, if the customer has several.
                            "reply_to": item.sender}
    # A WhatsApp number is a verified phone number: a call from it is the same person.
    return Inbound(channel=Channel.WHATSAPP, external_id=item.id,
                   identities=[(IdentityKind.WHATSAPP, item.sender),
                               (IdentityKind.PHONE, item.sender)],
                   name=item.name, text=hooks.join_text(text, *item.lines, *notes),
                   files=files, replies_to=[item.context_id] if item.context_id else [],
                   account_id=account.id, meta=meta)


def _follow_number_change(session: Session, item: WaMessage, *, clock: Clock) -> None:
    """The customer moved to a new number: the new one belongs to the same customer."""
    if not item.new_number:
        return
    known = identity.find_customer_by_identity(session, IdentityKind.WHATSAPP, item.sender)
    if known is None:
        return
    try:
        identity.find_or_create_customer(session, identities=[
            (IdentityKind.WHATSAPP, item.sender), (IdentityKind.WHATSAPP, item.new_number)],
            clock=clock)
    except ZabotaError as exc:  # a number we cannot read: nothing to link
        log.info("whatsapp.number_change_skipped", reason=exc.code)


def apply_status(session: Session, status: WaStatus, *, clock: Clock = SYSTEM_CLOCK) -> Outcome:
    """`sent`/`delivered`/`read` are noted on the reply (for the agent's ticks); `failed` means
    the message never reached the customer, so its delivery is dead-lettered with Meta's
    reason for an admin to see and replay. No ticket is touched."""
    delivery = session.scalar(sa.select(OutboundDelivery).where(
        OutboundDelivery.channel == Channel.WHATSAPP, OutboundDelivery.external_id == status.id))
    if delivery is None:
        return hooks.ignored("status of an unknown message", status=status.status)
    if status.status == "failed":
        delivery.status = DeliveryStatus.DEAD
        delivery.last_error = ("WhatsApp: " + "; ".join(status.errors or ("failed",)))[-2000:]
        log.warning("whatsapp.delivery_failed", delivery_id=delivery.id)
    message = session.get(Message, delivery.message_id)
    if message is not None:
        meta = dict(message.meta or {})
        known = _STATUS_ORDER.get(str(meta.get("delivery_status")), 0)
        # Statuses may arrive out of order; a "delivered" after "read" changes nothing.
        if _STATUS_ORDER.get(status.status, 0) > known:
            meta["delivery_status"] = status.status
            meta["delivery_status_at"] = clock.now().isoformat()
            message.meta = meta
    session.flush()
    return Outcome(hooks.Result.IGNORED, reason=f"status {status.status}")


@channels.register_reingest(Channel.WHATSAPP)
def reingest(session: Session, row: QuarantinedDelivery) -> None:
    if row.account_id is None:
        raise hooks.MalformedPayload(_("The item names no channel account"))
    account = hooks.account_of(session, Channel.WHATSAPP, row.account_id)
    data = hooks.json_object(row.payload)
    for envelope in split_payload(data):
        handle_item(session, account, envelope, settings=get_settings(), strict=True)
