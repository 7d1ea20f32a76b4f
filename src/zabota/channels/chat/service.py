"""Web chat: visitors and their messages (through the inbound core, so a transcript is ticket
messages), the chats waiting for an agent, accepting and answering them.

A visitor is a random id the server mints and signs; the widget keeps the signed token. Each
visitor message carries an id the widget chose, and `<visitor>:<that id>` is its external id,
so a message re-sent after a lost acknowledgement is stored once.
"""

from __future__ import annotations

import hashlib
import mimetypes
import secrets
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import structlog
from itsdangerous import BadSignature, SignatureExpired, Signer, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from zabota.channels.chat import errors
from zabota.channels.chat.hub import Frame
from zabota.channels.chat.responders import VisitorMessage, offer_to_first_responders
from zabota.channels.inbound import Inbound, InboundFile, find_duplicate, receive
from zabota.channels.models import ChannelAccount
from zabota.core.clock import SYSTEM_CLOCK, Clock
from zabota.core.errors import ZabotaError
from zabota.core.i18n import _
from zabota.core.outbox import after_commit
from zabota.core.presence import PresenceBoard
from zabota.core.settings import Settings
from zabota.identity import service as identity
from zabota.identity.models import Customer, IdentityKind
from zabota.identity.permissions import Actor, Permission, require
from zabota.tickets import service as tickets
from zabota.tickets.attachments import safe_filename
from zabota.tickets.errors import AttachmentRejected
from zabota.tickets.models import (
    Attachment,
    AuthorKind,
    Channel,
    Message,
    Status,
    Ticket,
    TicketEvent,
)

log = structlog.get_logger()

VISITOR_SALT = "zabota.chat.visitor"
UPLOAD_SALT = "zabota.chat.upload"
FILE_SALT = "zabota.chat.file"
UPLOAD_TTL = timedelta(hours=24)
FILE_TTL = timedelta(days=30)
HISTORY_LIMIT = 200
PANEL_LIMIT = 100
# A chat that has waited this long without an agent is a ticket in the inbox, not a chat.
WAITING_WINDOW = timedelta(hours=24)
WAITING = (Status.NEW, Status.OPEN)
UNFINISHED = (Status.NEW, Status.OPEN, Status.PENDING, Status.ON_HOLD)
PUBLIC_AUTHORS = {AuthorKind.CUSTOMER: "visitor", AuthorKind.AGENT: "agent",
                  AuthorKind.BOT: "bot", AuthorKind.SYSTEM: "system"}


# --- visitors -----------------------------------------------------------------------------


def new_visitor(settings: Settings) -> tuple[str, str]:
    """A fresh visitor id and the signed token the widget keeps."""
    visitor_id = "v" + secrets.token_urlsafe(16)
    return visitor_id, _visitor_signer(settings).sign(visitor_id).decode()


def visitor_from_token(token: str, settings: Settings) -> str:
    try:
        return _visitor_signer(settings).unsign(token.encode()).decode()
    except (BadSignature, UnicodeError):
        raise errors.UnknownVisitor() from None


def _visitor_signer(settings: Settings) -> Signer:
    return Signer(settings.resolved_secret_key(), salt=VISITOR_SALT)


# --- widgets and who is online ------------------------------------------------------------


@dataclass(frozen=True)
class Widget:
    """Where a widget's chats go: `data-zabota-team` names a chat account (its address) or a
    team by id; empty means no team (admins and supervisors see those chats)."""

    key: str = ""
    team_id: int | None = None
    account_id: int | None = None
    origins: tuple[str, ...] = ()

    def allows(self, origin: str | None) -> bool:
        """An account may list the sites allowed to embed it (`config["origins"]`)."""
        if not self.origins or not origin:
            return True
        return origin.rstrip("/").lower() in self.origins


def resolve_widget(session: Session, key: str) -> Widget:
    key = key.strip()
    if not key:
        return Widget()
    account = session.scalar(sa.select(ChannelAccount).where(
        ChannelAccount.kind == Channel.CHAT, ChannelAccount.address == key,
        ChannelAccount.enabled.is_(True)))
    if account is not None:
        configured = account.config.get("origins") or []
        origins = tuple(str(o).rstrip("/").lower() for o in configured if isinstance(o, str))
        return Widget(key, account.team_id, account.id, origins)
    if key.isdigit() and len(key) <= 9:
        try:
            return Widget(key, identity.get_team(session, int(key)).id)
        except ZabotaError:
            pass
    raise errors.UnknownWidget()


def _desk(team_id: int | None) -> int:
    # The chat desk of a team is "ticket" -team_id on the presence board (ticket ids are
    # positive), and 0 is the desk of those who take every team's chats.
    return -team_id if team_id else 0


def beat_desk(board: PresenceBoard, actor: Actor) -> None:
    """An agent with the chats page open is online for chats of their teams (admins and
    supervisors for all)."""
    keys = [0] if actor.sees_everything else [_desk(t) for t in sorted(actor.team_ids)]
    for key in keys:
        board.beat(key, actor.id, actor.name, "chat")


def agents_online(board: PresenceBoard, widget: Widget) -> bool:
    if board.others(0, -1):
        return True
    return widget.team_id is not None and bool(board.others(_desk(widget.team_id), -1))


def desk_topics(actor: Actor) -> list[str]:
    if actor.sees_everything:
        return ["desk:all"]
    return [f"desk:{team_id}" for team_id in sorted(actor.team_ids)]


def desk_topics_of(team_id: int | None) -> list[str]:
    return ["desk:all"] if team_id is None else ["desk:all", f"desk:{team_id}"]


# --- what a visitor sees ------------------------------------------------------------------


@dataclass
class VisitorState:
    customer_id: int | None = None
    ticket_id: int | None = None  # the visitor's latest chat
    email: str | None = None
    agent_name: str | None = None  # who holds the chat
    messages: list[Frame] | None = None


def visitor_state(session: Session, visitor_id: str, *, after: int,
                  settings: Settings) -> VisitorState:
    """The visitor's chat: the latest conversation, or whatever came after message `after`."""
    customer = identity.find_customer_by_identity(session, IdentityKind.CHAT, visitor_id)
    if customer is None:
        return VisitorState(messages=[])
    ticket_ids = _visitor_ticket_ids(session, customer.id, visitor_id)
    if not ticket_ids:
        return VisitorState(customer.id, email=customer.email, messages=[])
    current = max(ticket_ids)
    query = sa.select(Message).where(Message.is_internal.is_(False))
    if after > 0:
        query = query.where(Message.ticket_id.in_(ticket_ids), Message.id > after)
        rows = list(session.scalars(query.order_by(Message.id).limit(HISTORY_LIMIT)))
    else:
        rows = list(session.scalars(query.where(Message.ticket_id == current)
                                    .order_by(Message.id.desc()).limit(HISTORY_LIMIT)))[::-1]
    ticket = session.get(Ticket, current)
    agent = None
    if ticket is not None and ticket.assignee_id is not None and ticket.status in UNFINISHED:
        agent = identity.get_user(session, ticket.assignee_id).name
    return VisitorState(customer.id, current, visitor_email(session, current) or customer.email,
                        agent, message_frames(session, rows, visitor_id=visitor_id,
                                              settings=settings))


def _visitor_ticket_ids(session: Session, customer_id: int, visitor_id: str) -> list[int]:
    """The chats this visitor wrote in (not other chats of the same customer: an e-mail
    address typed into a widget must not open someone else's transcripts)."""
    return list(session.scalars(
        sa.select(Message.ticket_id).join(Ticket, Ticket.id == Message.ticket_id)
        .where(Ticket.customer_id == customer_id, Message.channel == Channel.CHAT,
               Message.external_id.startswith(f"{visitor_id}:", autoescape=True))
        .distinct()))


def visitor_of_ticket(session: Session, ticket_id: int) -> str | None:
    """The visitor who last wrote in the chat: its replies go to them."""
    meta = session.scalar(
        sa.select(Message.meta).where(Message.ticket_id == ticket_id,
                                      Message.channel == Channel.CHAT,
                                      Message.direction == "inbound")
        .order_by(Message.id.desc()).limit(1))
    visitor = (meta or {}).get("visitor")
    return str(visitor) if visitor else None


def visitor_email(session: Session, ticket_id: int) -> str | None:
    """The address the visitor left for answers while they are away, newest first."""
    left = session.scalar(
        sa.select(TicketEvent.data).where(TicketEvent.ticket_id == ticket_id,
                                          TicketEvent.kind == "chat_email")
        .order_by(TicketEvent.id.desc()).limit(1))
    if left and left.get("email"):
        return str(left["email"])
    meta = session.scalar(
        sa.select(Message.meta).where(Message.ticket_id == ticket_id,
                                      Message.channel == Channel.CHAT,
                                      Message.direction == "inbound")
        .order_by(Message.id.desc()).limit(1))
    email = (meta or {}).get("email")
    return str(email) if email else None


def message_frames(session: Session, messages: Sequence[Message], *, visitor_id: str | None,
                   settings: Settings) -> list[Frame]:
    """Messages as the widget (visitor_id given) or the agent's page shows them."""
    names: dict[int, str] = {}
    customers: dict[int, str] = {}
    frames = []
    for message in messages:
        name = ""
        if message.author_user_id is not None:
            if message.author_user_id not in names:
                names[message.author_user_id] = identity.get_user(
                    session, message.author_user_id).name
            name = names[message.author_user_id]
        elif message.author_customer_id is not None and visitor_id is None:
            if message.author_customer_id not in customers:
                customer = session.get(Customer, message.author_customer_id)
                customers[message.author_customer_id] = customer.name if customer else ""
            name = customers[message.author_customer_id]
        elif message.author_kind == AuthorKind.BOT:
            name = _("Bot")
        frames.append(message_frame(message, name=name, visitor_id=visitor_id,
                                    settings=settings))
    return frames


def message_frame(message: Message, *, name: str, visitor_id: str | None,
                  settings: Settings) -> Frame:
    external = message.external_id or ""
    _visitor, sep, client_id = external.partition(":")
    files = [{"name": a.filename, "size": a.size, "type": a.content_type,
              "url": file_url(a.id, visitor_id, settings) if visitor_id else f"/files/{a.id}"}
             for a in message.attachments]
    return {"id": message.id, "ticket": message.ticket_id,
            "author": PUBLIC_AUTHORS[message.author_kind], "name": name,
            "text": message.body_text, "at": message.created_at.isoformat(),
            "client_id": client_id if sep and message.author_kind == AuthorKind.CUSTOMER
            and message.channel == Channel.CHAT else None,
            "files": files}


# --- a visitor's message ------------------------------------------------------------------


@dataclass(frozen=True)
class IncomingMessage:
    visitor_id: str
    client_id: str
    text: str
    widget: Widget
    language: str
    uploads: Sequence[str] = ()
    email: str | None = None
    name: str | None = None
    page: str | None = None


@dataclass(frozen=True)
class StoredMessage:
    visitor_frame: Frame
    agent_frame: Frame
    ticket_id: int
    team_id: int | None
    assignee_id: int | None
    duplicate: bool
    created_ticket: bool
    answered: bool  # by a first responder (the bot): agents are not told


def store_visitor_message(session: Session, incoming: IncomingMessage, *, settings: Settings,
                          clock: Clock = SYSTEM_CLOCK) -> StoredMessage:
    """Store the message once, whatever the number of times the widget sends it."""
    external_id = f"{incoming.visitor_id}:{incoming.client_id}"
    if incoming.uploads:  # a re-sent message finds its files gone: answer it before reading
        existing = find_duplicate(session, Channel.CHAT, external_id)
        if existing is not None:
            return _stored(session, existing, incoming, settings, duplicate=True)
    files = [load_upload(settings, incoming.visitor_id, token) for token in incoming.uploads]
    identities: list[tuple[IdentityKind, str]] = [(IdentityKind.CHAT, incoming.visitor_id)]
    meta: dict[str, Any] = {"visitor": incoming.visitor_id, "reply_to": incoming.visitor_id,
                            "language": incoming.language}
    if incoming.email:
        identities.append((IdentityKind.EMAIL, incoming.email))
        meta["email"] = incoming.email
    if incoming.page:
        meta["page"] = incoming.page[:500]
    name = incoming.name or _("Website visitor {id}").format(id=hashlib.sha256(
        incoming.visitor_id.encode()).hexdigest()[:6].upper())
    got = receive(session, Inbound(
        channel=Channel.CHAT, external_id=external_id, identities=identities, name=name,
        text=incoming.text, files=[file for file, _path in files],
        account_id=incoming.widget.account_id, team_id=incoming.widget.team_id,
        language=incoming.language, meta=meta, received_at=clock.now()),
        settings=settings, clock=clock)
    spooled = [path for _file, path in files]
    after_commit(session, lambda: _unlink(spooled))
    message = session.get_one(Message, got.message_id)
    ticket = session.get_one(Ticket, got.ticket_id)
    answered = False
    if not got.duplicate and ticket.assignee_id is None:
        answered = offer_to_first_responders(session, VisitorMessage(
            ticket_id=ticket.id, message_id=message.id, visitor_id=incoming.visitor_id,
            customer_id=ticket.customer_id, text=message.body_text,
            language=incoming.language, team_id=ticket.team_id,
            created_ticket=got.created_ticket))
    return _stored(session, message, incoming, settings, duplicate=got.duplicate,
                   created_ticket=got.created_ticket, answered=answered)


def _stored(session: Session, message: Message, incoming: IncomingMessage, settings: Settings,
            *, duplicate: bool, created_ticket: bool = False,
            answered: bool = False) -> StoredMessage:
    ticket = session.get_one(Ticket, message.ticket_id)
    customer = session.get(Customer, ticket.customer_id)
    visitor_frame = message_frame(message, name="", visitor_id=incoming.visitor_id,
                                  settings=settings)
    agent_frame = message_frame(message, name=customer.name if customer else "",
                                visitor_id=None, settings=settings)
    return StoredMessage(visitor_frame, agent_frame, ticket.id, ticket.team_id,
                         ticket.assignee_id, duplicate, created_ticket, answered)


def leave_email(session: Session, visitor_id: str, email: str, *,
                clock: Clock = SYSTEM_CLOCK) -> int | None:
    """Remember where to answer a visitor who goes away; returns their current chat, if any.

    The address is recorded on the chat (a `chat_email` event) and, when nobody else has it,
    becomes one of the customer's identities.
    """
    email = identity.normalize_identity(IdentityKind.EMAIL, email)
    customer = identity.find_customer_by_identity(session, IdentityKind.CHAT, visitor_id)
    if customer is None:
        return None  # no chat yet: the address goes with the first message
    identity.find_or_create_customer(
        session, identities=[(IdentityKind.CHAT, visitor_id), (IdentityKind.EMAIL, email)],
        clock=clock)
    ticket_ids = _visitor_ticket_ids(session, customer.id, visitor_id)
    if not ticket_ids:
        return None
    current = max(ticket_ids)
    ticket = session.get_one(Ticket, current)
    if ticket.status not in UNFINISHED or visitor_email(session, current) == email:
        return current
    tickets.record_decision(session, current, "chat_email", data={"email": email},
                            reason=_("The visitor left an e-mail address for the answer"),
                            clock=clock)
    return current


# --- uploads ------------------------------------------------------------------------------

_last_sweep = 0.0
_sweep_lock = threading.Lock()


def check_upload(settings: Settings, filename: str, content_type: str | None,
                 data: bytes) -> tuple[str, str]:
    """The same limits as any attachment, told before the message is sent."""
    def refuse(message: str) -> AttachmentRejected:
        return AttachmentRejected(message, errors=[{"field": "file", "message": message}])

    if not data:
        raise refuse(_("The file is empty"))
    if len(data) > settings.max_attachment_bytes:
        raise refuse(_("The file is larger than {limit} MB").format(
            limit=settings.max_attachment_bytes // (1024 * 1024)))
    name = safe_filename(filename)
    kind = (content_type or "").split(";")[0].strip().lower() or (
        mimetypes.guess_type(name)[0] or "application/octet-stream")
    if kind not in settings.allowed_attachment_types:
        raise refuse(_("Files of type {type} are not accepted").format(type=kind))
    return name, kind


def spool_upload(settings: Settings, visitor_id: str, filename: str,
                 content_type: str | None, data: bytes) -> str:
    """Keep an uploaded file until the message that carries it arrives; returns its token."""
    name, kind = check_upload(settings, filename, content_type, data)
    directory = _spool(settings)
    directory.mkdir(parents=True, exist_ok=True)
    file_id = uuid.uuid4().hex
    (directory / file_id).write_bytes(data)
    _sweep(directory)
    return _upload_serializer(settings).dumps({"v": visitor_id, "f": file_id, "n": name,
                                               "t": kind})


def load_upload(settings: Settings, visitor_id: str, token: str) -> tuple[InboundFile, Path]:
    try:
        data = _upload_serializer(settings).loads(
            token, max_age=int(UPLOAD_TTL.total_seconds()))
    except (SignatureExpired, BadSignature):
        raise errors.UploadExpired() from None
    if not isinstance(data, dict) or data.get("v") != visitor_id:
        raise errors.UploadExpired()
    path = _spool(settings) / str(data["f"])
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        raise errors.UploadExpired() from None
    return InboundFile(str(data["n"]), content, str(data["t"])), path


def _spool(settings: Settings) -> Path:
    return settings.data_dir / "chat-uploads"


def _upload_serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.resolved_secret_key(), salt=UPLOAD_SALT)


def _unlink(paths: Sequence[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _sweep(directory: Path) -> None:
    """Files whose message never came are removed a day later (checked once an hour)."""
    global _last_sweep
    now = time.time()
    with _sweep_lock:
        if now - _last_sweep < 3600:
            return
        _last_sweep = now
    for path in directory.iterdir():
        try:
            if now - path.stat().st_mtime > UPLOAD_TTL.total_seconds():
                path.unlink(missing_ok=True)
        except OSError:
            continue


def file_url(attachment_id: int, visitor_id: str, settings: Settings) -> str:
    token = URLSafeTimedSerializer(settings.resolved_secret_key(), salt=FILE_SALT).dumps(
        [attachment_id, visitor_id])
    return f"/chat/files/{token}"


def attachment_for_visitor(session: Session, token: str,
                           settings: Settings) -> tuple[Attachment, Path]:
    """A file of a public message, through the link the visitor's widget was given."""
    from zabota.tickets.errors import AttachmentNotFound

    try:
        attachment_id, _visitor = URLSafeTimedSerializer(
            settings.resolved_secret_key(), salt=FILE_SALT).loads(
            token, max_age=int(FILE_TTL.total_seconds()))
    except (SignatureExpired, BadSignature, ValueError, TypeError):
        raise AttachmentNotFound() from None
    row = session.get(Attachment, int(attachment_id))
    if row is None or row.message_id is None:
        raise AttachmentNotFound()
    message = session.get(Message, row.message_id)
    if message is None or message.is_internal:
        raise AttachmentNotFound()
    return row, settings.attachments_path / row.storage_key


# --- agents -------------------------------------------------------------------------------


@dataclass(frozen=True)
class WaitingChat:
    ticket_id: int
    subject: str
    customer_name: str
    team_id: int | None
    waiting_since: datetime
    preview: str


def waiting_chats(session: Session, *, actor: Actor, clock: Clock = SYSTEM_CLOCK,
                  limit: int = 50) -> list[WaitingChat]:
    """Chats nobody has accepted whose visitor waits for an answer, longest waiting first."""
    require(actor, Permission.WORK_TICKETS)
    rows = list(session.scalars(
        sa.select(Ticket).where(Ticket.channel == Channel.CHAT, Ticket.assignee_id.is_(None),
                                Ticket.status.in_(WAITING), Ticket.merged_into_id.is_(None),
                                Ticket.updated_at >= clock.now() - WAITING_WINDOW,
                                tickets.visible_tickets(actor))
        .order_by(Ticket.updated_at.desc(), Ticket.id.desc()).limit(limit)))
    if not rows:
        return []
    since = _waiting_since(session, [t.id for t in rows])
    customers = identity.customers_by_id(session, {t.customer_id for t in rows}, actor=actor)
    found = []
    for ticket in rows:
        if ticket.id not in since:
            continue
        started, preview = since[ticket.id]
        customer = customers.get(ticket.customer_id)
        found.append(WaitingChat(ticket.id, ticket.subject, customer.name if customer else "",
                                 ticket.team_id, started, preview))
    return sorted(found, key=lambda chat: (chat.waiting_since, chat.ticket_id))


def _waiting_since(session: Session, ticket_ids: Sequence[int]) -> dict[int, tuple[datetime, str]]:
    """For chats whose newest public message is the visitor's: when their wait began (the
    first of their messages since the last answer) and the newest text."""
    state: dict[int, tuple[datetime, str] | None] = {}
    for ticket_id, author, at, text, meta in session.execute(
            sa.select(Message.ticket_id, Message.author_kind, Message.created_at,
                      Message.body_text, Message.meta)
            .where(Message.ticket_id.in_(list(ticket_ids)), Message.is_internal.is_(False))
            .order_by(Message.ticket_id, Message.id)):
        if author == AuthorKind.BOT and _hands_off(meta):
            continue  # "a person will answer you": the visitor still waits for one
        if author != AuthorKind.CUSTOMER:
            state[ticket_id] = None
            continue
        started = state.get(ticket_id)
        state[ticket_id] = (started[0] if started else at, text[:140])
    return {ticket_id: value for ticket_id, value in state.items() if value is not None}


# The bot's decision recorded on its reply when it hands the conversation to a person
# (`bot.models.Decision.HANDED_OFF`; the bot builds on the channels, not the other way).
BOT_HANDED_OFF = "handed_off"


def _hands_off(meta: dict[str, Any] | None) -> bool:
    bot = (meta or {}).get("bot")
    return isinstance(bot, dict) and bot.get("decision") == BOT_HANDED_OFF


def waiting_seconds(session: Session, ticket_id: int, *, clock: Clock = SYSTEM_CLOCK
                    ) -> float | None:
    since = _waiting_since(session, [ticket_id]).get(ticket_id)
    return None if since is None else max(0.0, (clock.now() - since[0]).total_seconds())


@dataclass(frozen=True)
class Accepted:
    ticket_id: int
    team_id: int | None
    waited_seconds: float | None
    already_mine: bool


def accept_chat(session: Session, ticket_id: int, *, actor: Actor,
                clock: Clock = SYSTEM_CLOCK) -> Accepted:
    """Assign the chat to the agent and record how long the visitor waited (for AWT)."""
    require(actor, Permission.WORK_TICKETS)
    ticket = tickets.get_ticket_for(session, actor, ticket_id, for_update=True)
    if ticket.channel != Channel.CHAT:
        raise errors.NotAChat()
    if ticket.assignee_id == actor.id:
        return Accepted(ticket.id, ticket.team_id, None, already_mine=True)
    if ticket.assignee_id is not None:
        raise errors.ChatTaken()
    waited = waiting_seconds(session, ticket.id, clock=clock)
    tickets.assign_ticket(session, ticket.id, actor.id, actor=actor,
                          reason=_("Accepted the chat"), clock=clock)
    data: dict[str, Any] = {"agent_id": actor.id, "waited_seconds": waited}
    if waited is not None:
        data["waiting_since"] = (clock.now() - timedelta(seconds=waited)).isoformat()
    tickets.record_decision(session, ticket.id, "chat_accepted", data=data, actor=actor,
                            clock=clock)
    log.info("chat.accepted", ticket_id=ticket.id, agent_id=actor.id, waited_seconds=waited)
    return Accepted(ticket.id, ticket.team_id, waited, already_mine=False)


def my_chats(session: Session, *, actor: Actor, limit: int = 20) -> list[Ticket]:
    """The unfinished chats the agent holds, newest activity first."""
    return list(session.scalars(
        sa.select(Ticket).where(Ticket.channel == Channel.CHAT, Ticket.assignee_id == actor.id,
                                Ticket.status.in_(UNFINISHED),
                                Ticket.merged_into_id.is_(None))
        .order_by(Ticket.updated_at.desc(), Ticket.id.desc()).limit(limit)))


@dataclass(frozen=True)
class ChatPanel:
    ticket: Ticket
    customer: Customer
    visitor_id: str | None
    messages: list[Frame]


def chat_panel(session: Session, ticket_id: int, *, actor: Actor,
               settings: Settings) -> ChatPanel:
    require(actor, Permission.WORK_TICKETS)
    ticket = tickets.get_ticket_for(session, actor, ticket_id)
    if ticket.channel != Channel.CHAT:
        raise errors.NotAChat()
    customer = identity.get_customer(session, ticket.customer_id, actor=actor)
    rows = list(session.scalars(
        sa.select(Message).where(Message.ticket_id == ticket.id,
                                 Message.is_internal.is_(False))
        .order_by(Message.id.desc()).limit(PANEL_LIMIT)))[::-1]
    return ChatPanel(ticket, customer, visitor_of_ticket(session, ticket.id),
                     message_frames(session, rows, visitor_id=None, settings=settings))


def chat_visitor(session: Session, ticket_id: int, *, actor: Actor) -> str | None:
    """The visitor of a chat the agent may see (404 for other tickets)."""
    ticket = tickets.get_ticket_for(session, actor, ticket_id)
    if ticket.channel != Channel.CHAT:
        raise errors.NotAChat()
    return visitor_of_ticket(session, ticket.id)


def send_reply(session: Session, ticket_id: int, *, actor: Actor, text: str,
               attachment_ids: Sequence[int] = (), clock: Clock = SYSTEM_CLOCK) -> Message:
    """An agent's answer in the chat; answering a waiting chat accepts it first."""
    ticket = tickets.get_ticket_for(session, actor, ticket_id)
    if ticket.channel != Channel.CHAT:
        raise errors.NotAChat()
    if ticket.assignee_id is None:
        accept_chat(session, ticket_id, actor=actor, clock=clock)
    return tickets.add_message(session, ticket_id, tickets.NewMessage(
        text=text, attachment_ids=list(attachment_ids)), actor=actor, channel=Channel.CHAT,
        clock=clock)


def finish_chat(session: Session, ticket_id: int, *, actor: Actor,
                clock: Clock = SYSTEM_CLOCK) -> Ticket:
    """The conversation is over: the chat ticket is solved (the visitor's next message
    starts a new chat)."""
    ticket = tickets.get_ticket_for(session, actor, ticket_id)
    if ticket.channel != Channel.CHAT:
        raise errors.NotAChat()
    return tickets.update_ticket(session, ticket_id, {"status": Status.SOLVED}, actor=actor,
                                 reason=_("The chat was finished"), clock=clock)


def agent_name(session: Session, user_id: int) -> str:
    return identity.get_user(session, user_id).name

