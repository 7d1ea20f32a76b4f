"""VK Callback API in: `confirmation` is answered with the community's code, `message_new` in a
private dialogue becomes an `Inbound`, every other event is acknowledged with `ok` and ignored.

VK repeats an event until it gets exactly `ok`, so everything we took in, ignored on purpose
or quarantined is answered `ok`; only a passing failure is not.

External id of a message: `"{group_id}:{peer_id}:{conversation_message_id}"`. The message `id`
is 0 in chats and for some API versions, and a person writing to two of our communities has
the same `peer_id` in both, so the community is part of the id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog
from sqlalchemy.orm import Session

from zabota.channels import hooks
from zabota.channels import service as channels
from zabota.channels.hooks import FileRef, MalformedUpdate, Outcome
from zabota.channels.inbound import Inbound, InboundFile
from zabota.channels.models import ChannelAccount, QuarantinedDelivery
from zabota.channels.vk.client import DEFAULT_BASE_URL, VkApi, VkApiError
from zabota.core.clock import SYSTEM_CLOCK, Clock
from zabota.core.i18n import _, language
from zabota.core.settings import Settings, get_settings
from zabota.identity import service as identity
from zabota.identity.models import IdentityKind
from zabota.tickets.models import Channel

log = structlog.get_logger()

CHAT_PEER_OFFSET = 2_000_000_000  # peer ids of multi-user chats start here


@dataclass(frozen=True)
class Attachment:
    kind: str
    file: FileRef | None = None  # downloadable content
    line: str | None = None  # what we say instead when there is nothing to download


@dataclass(frozen=True)
class Event:
    """One Callback API event, read without network or database."""

    type: str
    group_id: int | None = None
    event_id: str | None = None
    secret: str | None = None
    sender_id: int | None = None
    peer_id: int | None = None
    message_id: int | None = None  # 0 in chats
    conversation_message_id: int | None = None
    out: bool = False
    text: str = ""
    attachments: tuple[Attachment, ...] = ()
    lines: tuple[str, ...] = ()  # forwarded messages, location
    reply_ids: tuple[tuple[int | None, int | None], ...] = ()  # (conversation id, id)

    @property
    def is_chat(self) -> bool:
        return self.peer_id is not None and self.peer_id >= CHAT_PEER_OFFSET

    def external_id(self, group_id: int | str) -> str:
        if self.conversation_message_id:
            return f"{group_id}:{self.peer_id}:{self.conversation_message_id}"
        if self.message_id:
            return f"{group_id}:id:{self.message_id}"
        return f"{group_id}:event:{self.event_id}"


def _int(value: object) -> int | None:
    # Beyond 64 bits no id of VK's: as unreadable as a missing one.
    return value if isinstance(value, int) and not isinstance(value, bool) and (
        -2**63 <= value < 2**63) else None


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def parse_event(data: dict[str, Any]) -> Event:
    kind = data.get("type")
    if not isinstance(kind, str) or not kind:
        raise MalformedUpdate("the event has no type")
    group_id, event_id = _int(data.get("group_id")), _str(data.get("event_id")) or None
    secret = _str(data.get("secret")) or None
    body = data.get("object")
    if kind != "message_new":
        other = hooks.obj(body)
        sender = _int(other.get("user_id")) or _int(other.get("from_id"))
        return Event(kind, group_id=group_id, event_id=event_id, secret=secret,
                     sender_id=sender, peer_id=_int(other.get("peer_id")))
    if not isinstance(body, dict):
        raise MalformedUpdate("message_new has no object")
    # API 5.103+ wraps the message ({"message": …, "client_info": …}); older ones do not.
    message: dict[str, Any] = body["message"] if isinstance(body.get("message"), dict) else body
    sender, peer = _int(message.get("from_id")), _int(message.get("peer_id"))
    if sender is None or peer is None:
        raise MalformedUpdate("message_new has no from_id or peer_id")
    message_id = _int(message.get("id"))
    cmid = _int(message.get("conversation_message_id"))
    if not message_id and not cmid and not event_id:
        raise MalformedUpdate("message_new has no id")
    attachments = tuple(_attachment(item, index)
                        for index, item in enumerate(_list(message.get("attachments"))))
    lines = [_("[Forwarded message] {text}").format(text=_str(fwd.get("text"))).strip()
             for fwd in _list(message.get("fwd_messages")) if isinstance(fwd, dict)]
    coordinates = hooks.obj(hooks.obj(message.get("geo")).get("coordinates"))
    if coordinates:
        lines.append(_("[Location: {lat}, {lon}]").format(
            lat=coordinates.get("latitude"), lon=coordinates.get("longitude")))
    reply = message.get("reply_message")
    replies = ((_int(reply.get("conversation_message_id")), _int(reply.get("id"))),
               ) if isinstance(reply, dict) else ()
    return Event(kind, group_id=group_id, event_id=event_id, secret=secret, sender_id=sender,
                 peer_id=peer, message_id=message_id, conversation_message_id=cmid,
                 out=bool(message.get("out")), text=_str(message.get("text")),
                 attachments=attachments, lines=tuple(lines), reply_ids=replies)


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _attachment(item: object, index: int) -> Attachment:
    if not isinstance(item, dict) or not isinstance(item.get("type"), str):
        raise MalformedUpdate("an attachment has no type")
    kind = item["type"]
    body = hooks.obj(item.get(kind))
    if kind == "photo":
        url = _largest_photo(body)
        if url:
            return Attachment(kind, FileRef(f"photo_{_int(body.get('id')) or index}.jpg",
                                            "image/jpeg", None, url))
    elif kind == "doc" and _str(body.get("url")):
        title = _str(body.get("title")) or f"document_{index}"
        ext = _str(body.get("ext"))
        name = title if not ext or title.lower().endswith("." + ext.lower()) else f"{title}.{ext}"
        return Attachment(kind, FileRef(name, None, _int(body.get("size")), body["url"]))
    elif kind == "audio_message" and _str(body.get("link_mp3")):
        return Attachment(kind, FileRef(f"voice_{_int(body.get('id')) or index}.mp3",
                                        "audio/mpeg", None, body["link_mp3"]))
    elif kind == "graffiti" and _str(body.get("url")):
        return Attachment(kind, FileRef(f"graffiti_{index}.png", "image/png", None,
                                        body["url"]))
    elif kind == "sticker":
        return Attachment(kind, line=_("[Sticker]"))
    elif kind == "link":
        return Attachment(kind, line=_str(body.get("url")) or None)
    detail = _str(body.get("title")) or _str(body.get("question"))
    return Attachment(kind, line=_("[VK attachment of type “{kind}”] {detail}").format(
        kind=kind, detail=detail).strip())


def _largest_photo(photo: dict[str, Any]) -> str | None:
    orig = photo.get("orig_photo")
    if isinstance(orig, dict) and _str(orig.get("url")):
        return str(orig["url"])
    sizes = [s for s in _list(photo.get("sizes")) if isinstance(s, dict) and _str(s.get("url"))]
    if not sizes:
        return None
    best = max(sizes, key=lambda s: (_int(s.get("width")) or 0) * (_int(s.get("height")) or 0))
    return str(best["url"])


# --- taking events in ----------------------------------------------------------------------


def receive_callback(session: Session, account_id: int, payload: bytes, *, settings: Settings,
                     clock: Clock = SYSTEM_CLOCK) -> Outcome:
    """A Callback API call. The secret travels in the body, so a body we cannot read cannot
    be told apart from noise: it gets a 400 and is not quarantined."""
    account = hooks.account_of(session, Channel.VK, account_id)
    data = hooks.json_object(payload)
    _authenticate(account, data)
    hooks.require_enabled(account)
    return handle_event(session, account, data, payload, settings=settings, clock=clock)


def _authenticate(account: ChannelAccount, data: dict[str, Any]) -> None:
    secret = hooks.config_str(account, "secret")
    given = data.get("secret")
    group = hooks.config_str(account, "group_id")
    if group and data.get("group_id") is not None and str(data.get("group_id")) != group:
        raise hooks.WebhookUnauthorized(_("The event is for another VK community"))
    # VK sends no secret with `confirmation` when none is set in the community; a wrong
    # one is refused there too. An account without a secret takes events unsigned, as VK
    # allows; the admin guide tells to set one.
    if data.get("type") == "confirmation" and given is None:
        return
    if secret and not hooks.secrets_equal(given if isinstance(given, str) else None, secret):
        raise hooks.WebhookUnauthorized()


def handle_event(session: Session, account: ChannelAccount, data: dict[str, Any],
                 payload: bytes, *, settings: Settings, clock: Clock = SYSTEM_CLOCK,
                 strict: bool = False) -> Outcome:
    # Placeholders and notes are written in the installation's language.
    with language(settings.default_language):
        return _handle_event(session, account, data, payload, settings=settings, clock=clock,
                             strict=strict)


def _handle_event(session: Session, account: ChannelAccount, data: dict[str, Any],
                  payload: bytes, *, settings: Settings, clock: Clock, strict: bool) -> Outcome:
    try:
        event = parse_event(data)
    except MalformedUpdate as exc:
        if strict:
            raise
        return hooks.keep_unreadable(session, account, payload, exc,
                                     external_id=_str(data.get("event_id")), clock=clock)
    where = {"account_id": account.id, "event_id": event.event_id}
    if event.type == "confirmation":
        code = hooks.config_str(account, "confirmation")
        if not code:
            raise hooks.MalformedPayload(_("Enter the confirmation string of this community"))
        return Outcome(hooks.Result.IGNORED, reason="confirmation", answer=code)
    if event.type != "message_new":
        return hooks.ignored(f"{event.type} event", **where)
    if event.is_chat:
        return hooks.ignored("group chat", **where)
    if event.out or (event.sender_id or 0) <= 0:
        return hooks.ignored("not from a person", **where)
    group_id = hooks.config_str(account, "group_id") or str(event.group_id or 0)
    return hooks.take_in(session, account=account, external_id=event.external_id(group_id),
                         payload=payload, settings=settings, clock=clock, strict=strict,
                         build=lambda: _inbound(session, account, event, group_id, settings))


def _inbound(session: Session, account: ChannelAccount, event: Event, group_id: str,
             settings: Settings) -> Inbound:
    assert event.sender_id is not None
    refs = [a.file for a in event.attachments if a.file is not None]
    lines = [a.line for a in event.attachments if a.file is None and a.line]
    files: list[InboundFile] = []
    notes: list[str] = []
    with hooks.http_client() as client:
        if refs:
            files, notes = hooks.fetch_files(
                refs, lambda ref: _download(account, client, ref.locator,
                                            limit=settings.max_attachment_bytes),
                settings=settings)
        name = _name(session, account, client, event.sender_id)
    replies = []
    for cmid, message_id in event.reply_ids:
        if cmid:
            replies.append(f"{group_id}:{event.peer_id}:{cmid}")
        if message_id:
            replies.append(f"{group_id}:id:{message_id}")
    meta: dict[str, Any] = {"peer_id": event.peer_id, "message_id": event.message_id,
                            "conversation_message_id": event.conversation_message_id}
    if event.event_id:
        meta["event_id"] = event.event_id
    if event.peer_id != event.sender_id:
        meta["reply_to"] = str(event.peer_id)
    return Inbound(channel=Channel.VK, external_id=event.external_id(group_id),
                   identities=[(IdentityKind.VK, str(event.sender_id))], name=name,
                   text=hooks.join_text(event.text, *lines, *event.lines, *notes), files=files,
                   replies_to=replies, account_id=account.id, meta=meta)


# Where VK keeps users' files. A URL elsewhere is not fetched: an event with a forged URL
# must not make us read an internal address and show the answer to agents.
VK_FILE_HOSTS = ("vk.com", "vk.me", "userapi.com", "vkuser.net", "vkuseraudio.net",
                 "vkuservideo.net", "vk-cdn.net", "mycdn.me")


def _download(account: ChannelAccount, client: httpx.Client, url: str, *, limit: int) -> bytes:
    host = urlsplit(url).hostname or ""
    # A configured API address (a proxy, a test server) may serve the files too.
    own = urlsplit(hooks.api_base(account, DEFAULT_BASE_URL)).hostname
    trusted = host == own or (urlsplit(url).scheme == "https" and any(
        host == domain or host.endswith("." + domain) for domain in VK_FILE_HOSTS))
    if not trusted:
        raise hooks.FileUnavailable(_("not a VK file address"))
    return hooks.download(client, url, limit=limit)[0]


def _name(session: Session, account: ChannelAccount, client: httpx.Client,
          user_id: int) -> str | None:
    """VK events carry no names: ask `users.get`, once, when the person is new to us."""
    if identity.find_customer_by_identity(session, IdentityKind.VK, str(user_id)) is not None:
        return None
    try:
        users = VkApi.for_account(account, client).call("users.get", {"user_ids": user_id})
    except (VkApiError, httpx.HTTPError) as exc:
        log.info("vk.name_unknown", account_id=account.id, error=type(exc).__name__)
        return None
    user = users[0] if isinstance(users, list) and users and isinstance(users[0], dict) else {}
    name = " ".join(p for p in (_str(user.get("first_name")), _str(user.get("last_name"))) if p)
    return name or None


@channels.register_reingest(Channel.VK)
def reingest(session: Session, row: QuarantinedDelivery) -> None:
    if row.account_id is None:
        raise hooks.MalformedPayload(_("The item names no channel account"))
    account = hooks.account_of(session, Channel.VK, row.account_id)
    handle_event(session, account, hooks.json_object(row.payload), row.payload,
                 settings=get_settings(), strict=True)
