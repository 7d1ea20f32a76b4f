"""Ticket lifecycle: the only code that changes tickets, messages and their history."""

from __future__ import annotations

import base64
import functools
import html
import json
import math
import re
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, NamedTuple, ParamSpec, cast

import nh3
import sqlalchemy as sa
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, lazyload, selectinload

from zabota.core import outbox
from zabota.core.clock import SYSTEM_CLOCK, Clock, as_utc
from zabota.core.db import insert_later, insert_now, is_sqlite, race_guard
from zabota.core.errors import Forbidden, NotFound, ZabotaError, field_error
from zabota.core.fields import MAX_ROW_ID, drop_nul
from zabota.core.i18n import _
from zabota.identity import service as identity
from zabota.identity.models import IdentityKind, User
from zabota.identity.permissions import SYSTEM as SYSTEM_ACTOR
from zabota.identity.permissions import Actor, Permission, require
from zabota.tickets import errors
from zabota.tickets.attachments import claim_attachments
from zabota.tickets.events import MessageCreated, TicketCreated, TicketsMerged, TicketUpdated
from zabota.tickets.models import (
    AuthorKind,
    Channel,
    CustomFieldDef,
    FieldType,
    Message,
    Priority,
    SavedView,
    Status,
    Ticket,
    TicketEvent,
    TicketRead,
    TicketTag,
)
from zabota.tickets.search import Owners, backend_for

log = structlog.get_logger()
P = ParamSpec("P")

TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.NEW: frozenset({Status.OPEN, Status.PENDING, Status.ON_HOLD, Status.SOLVED}),
    Status.OPEN: frozenset({Status.PENDING, Status.ON_HOLD, Status.SOLVED}),
    Status.PENDING: frozenset({Status.OPEN, Status.ON_HOLD, Status.SOLVED}),
    Status.ON_HOLD: frozenset({Status.OPEN, Status.PENDING, Status.SOLVED}),
    Status.SOLVED: frozenset({Status.OPEN, Status.CLOSED}),
    Status.CLOSED: frozenset(),
}
MAX_TAG_LENGTH = 64
EXPORT_SETTLE = timedelta(seconds=2)


# --- visibility -------------------------------------------------------------------------


def visible_tickets(actor: Actor) -> sa.ColumnElement[bool]:
    """The one permission filter every ticket query goes through."""
    if actor.sees_everything:
        return sa.true()
    if actor.is_staff:
        own = Ticket.assignee_id == actor.id
        return sa.or_(own, Ticket.team_id.in_(actor.team_ids)) if actor.team_ids else own
    if actor.is_customer:
        own = Ticket.customer_id == actor.id
        if actor.sees_organization_tickets and actor.organization_id is not None:
            return sa.or_(own, Ticket.organization_id == actor.organization_id)
        return own
    return sa.false()


def get_ticket_for(session: Session, actor: Actor, ticket_id: int, *,
                   for_update: bool = False) -> Ticket:
    """The ticket if the actor may see it; 404 otherwise, so existence does not leak."""
    if actor.sees_everything and not (for_update and not is_sqlite(session)):
        # Nothing to filter, and on SQLite the write transaction already holds the lock that
        # FOR UPDATE would take: the session's copy, when it has one, needs no query.
        found = session.get(Ticket, ticket_id)
        if found is None:
            raise errors.TicketNotFound()
        return found
    query = sa.select(Ticket).where(Ticket.id == ticket_id, visible_tickets(actor))
    if for_update:
        query = query.with_for_update()
    ticket = session.scalar(query)
    if ticket is None:
        raise errors.TicketNotFound()
    return ticket


# --- history ----------------------------------------------------------------------------


def _actor_kind(actor: Actor) -> str:
    return actor.kind


def _record(
    session: Session, ticket: Ticket, kind: str, *, actor: Actor, at: datetime,
    field_name: str | None = None, from_value: object = None, to_value: object = None,
    reason: str | None = None, data: dict[str, Any] | None = None,
) -> None:
    # Straight into the table, not through the unit of work: the history is append-only and
    # never read back as objects of this session, and every ticket writes several events.
    row = {
        "ticket_id": ticket.id, "kind": kind, "field": field_name,
        "from_value": None if from_value is None else str(from_value)[:300],
        "to_value": None if to_value is None else str(to_value)[:300],
        "actor_kind": _actor_kind(actor),
        "actor_id": actor.id if actor.kind != "system" else None,
        "reason": reason, "data": data or {}, "at": at,
    }
    batch = session.info.get(_EVENT_BATCH)
    if batch is None:
        insert_later(session, _EVENTS_INSERT, row)
    else:
        batch.append(row)
    if ticket.updated_at != at:  # a new ticket has it already: no UPDATE to flush
        ticket.updated_at = at


_EVENTS_INSERT = sa.insert(cast(sa.Table, TicketEvent.__table__))
_EVENT_BATCH = "tickets.event_batch"
_OWNERS_BATCH = "tickets.owners_batch"


@contextmanager
def one_write(session: Session) -> Iterator[None]:
    """Several changes to a ticket as one UPDATE and one insert of their history rows: no
    flush between the changes (a lookup such as "is this team real?" would flush each)."""
    if _EVENT_BATCH in session.info:  # nested: the outer block writes
        yield
        return
    batch: list[dict[str, Any]] = []
    owners: dict[int, Ticket] = {}  # tickets whose team or assignee changed
    session.info[_EVENT_BATCH], session.info[_OWNERS_BATCH] = batch, owners
    try:
        with session.no_autoflush:
            yield
    finally:
        del session.info[_EVENT_BATCH], session.info[_OWNERS_BATCH]
    if batch:
        session.connection().execute(_EVENTS_INSERT, batch)
    for ticket in owners.values():  # once per ticket, however many of the two changed
        _write_owners(session, ticket)


# --- create -----------------------------------------------------------------------------


@dataclass
class NewMessage:
    text: str | None = None
    html: str | None = None
    is_internal: bool = False
    external_id: str | None = None
    attachment_ids: list[int] = field(default_factory=list)
    account_id: int | None = None  # the channel account it came through
    meta: dict[str, Any] = field(default_factory=dict)  # channel details (addresses, call data)


def sanitize(text: str | None, raw_html: str | None) -> tuple[str, str]:
    """Plain text and safe HTML of a message body; HTML from outside is cleaned on the way in."""
    # Channels deliver what they get; PostgreSQL cannot store a NUL in text.
    text, raw_html = text and drop_nul(text), raw_html and drop_nul(raw_html)
    if raw_html:
        safe = nh3.clean(raw_html, link_rel="noopener noreferrer nofollow")
        plain = text or html.unescape(nh3.clean(raw_html.replace("<br", "\n<br")
                                                .replace("</p>", "</p>\n"), tags=set())).strip()
        return plain, safe
    plain = (text or "").strip()
    paragraphs = (html.escape(p).replace("\n", "<br>") for p in plain.split("\n\n"))
    return plain, "".join(f"<p>{p}</p>" for p in paragraphs)


class Opened(NamedTuple):
    ticket: Ticket
    first_message: Message  # an earlier delivery's message when `external_id` was stored


def open_ticket(
    session: Session, *, actor: Actor, subject: str, message: NewMessage,
    channel: Channel = Channel.API, customer_id: int | None = None,
    customer_identities: Sequence[tuple[IdentityKind, str]] = (), customer_name: str | None = None,
    priority: Priority = Priority.NORMAL, team_id: int | None = None,
    assignee_id: int | None = None, category: str | None = None, language: str | None = None,
    tags: Iterable[str] = (), custom_fields: dict[str, Any] | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> Opened:
    """Open a ticket with the customer's first message; finds or creates the customer."""
    now = clock.now()
    if actor.is_customer:
        # Other channels reach us through their adapters, which act as the system.
        staff_only = (team_id, assignee_id, customer_id, custom_fields, list(tags),
                      list(customer_identities))
        if any(staff_only) or priority != Priority.NORMAL or channel not in (
                Channel.API, Channel.PORTAL):
            raise Forbidden(_("Customers cannot set the customer, channel, team, assignee, "
                              "priority, tags or custom fields of a request"))
        customer = identity.get_customer(session, actor.id, actor=actor)
    elif customer_id is not None:
        customer = identity.get_customer(session, customer_id, actor=actor)
    else:
        require(actor, Permission.EDIT_CUSTOMERS)
        customer = identity.find_or_create_customer(
            session, identities=customer_identities, name=customer_name, clock=clock)
    if team_id is not None:
        identity.require_team(session, team_id)
    if assignee_id is not None:
        _get_agent(session, assignee_id)
    plain, safe = sanitize(message.text, message.html)
    if not plain and not message.attachment_ids:
        raise field_error("message.text", _("Write what the request is about"))
    ticket = Ticket(
        subject=drop_nul(subject).strip(), status=Status.OPEN if assignee_id else Status.NEW,
        priority=priority, channel=channel, customer_id=customer.id,
        organization_id=customer.organization_id, team_id=team_id, assignee_id=assignee_id,
        category=category, language=language or customer.language,
        custom_fields=_validated_fields(session, custom_fields or {}),
        created_at=now, updated_at=now,
    )
    insert_now(session, ticket, tag_rows=[])  # see insert_now: no unit of work for it
    ticket_tags = _clean_tags(tags)
    if ticket_tags:
        ticket.tag_rows = [TicketTag(tag=tag) for tag in ticket_tags]
    _record(session, ticket, "created", actor=actor, at=now, data={
        "status": ticket.status.value, "priority": ticket.priority.value,
        "channel": channel.value, "team_id": team_id, "assignee_id": assignee_id,
        "customer_id": customer.id,
    })
    if assignee_id is not None:
        _record(session, ticket, "assigned", actor=actor, at=now, field_name="assignee_id",
                to_value=assignee_id)
    outbox.add(session, TicketCreated(at=now, ticket_id=ticket.id, customer_id=customer.id,
                                      channel=channel.value, actor_kind=actor.kind,
                                      actor_id=actor.id))
    author = Actor(kind="customer", id=customer.id, name=customer.name)
    first = _insert_message(session, ticket, author=author, author_kind=AuthorKind.CUSTOMER,
                            channel=channel, plain=plain, safe=safe, is_internal=False,
                            external_id=message.external_id,
                            attachment_ids=message.attachment_ids, uploader=actor, at=now,
                            index=False, account_id=message.account_id, meta=message.meta)
    # The subject and the first message in one index write: a second write would rewrite the
    # row (FTS5) or update it (PostgreSQL). A redelivered message stored elsewhere adds nothing.
    texts = (ticket.subject, plain) if first.ticket_id == ticket.id else (ticket.subject,)
    backend_for(session).add(session, ticket.id, *texts, internal=False, new=True)
    log.info("ticket.created", ticket_id=ticket.id, channel=channel.value)
    return Opened(ticket, first)


def _ticket_of(open_: Callable[P, Opened]) -> Callable[P, Ticket]:
    @functools.wraps(open_)
    def create(*args: P.args, **kwargs: P.kwargs) -> Ticket:
        return open_(*args, **kwargs).ticket
    return create


create_ticket = _ticket_of(open_ticket)  # the same, for callers that need only the ticket


# --- messages ---------------------------------------------------------------------------


def add_message(
    session: Session, ticket_id: int, message: NewMessage, *, actor: Actor,
    channel: Channel | None = None, author_kind: AuthorKind | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> Message:
    """Add a reply or an internal note. Idempotent by (channel, external_id)."""
    ticket = get_ticket_for(session, actor, ticket_id, for_update=True)
    if message.is_internal and not actor.can(Permission.WORK_TICKETS):
        raise Forbidden()
    if channel is None:
        channel = ticket.channel if actor.is_customer or message.is_internal else (
            reply_channel(session, ticket))
    if message.external_id:
        existing = session.scalar(sa.select(Message).where(
            Message.channel == channel, Message.external_id == message.external_id))
        if existing is not None:
            return _redelivered(existing, ticket, actor)  # stored once already
    if author_kind is None:
        author_kind = AuthorKind.CUSTOMER if actor.is_customer else (
            AuthorKind.AGENT if actor.is_staff else AuthorKind.SYSTEM)
    plain, safe = sanitize(message.text, message.html)
    if not plain and not message.attachment_ids:
        raise field_error("text", _("The message is empty"))
    now = clock.now()
    if author_kind == AuthorKind.CUSTOMER:
        _on_customer_message(session, ticket, actor=actor, at=now)
    elif author_kind in (AuthorKind.AGENT, AuthorKind.BOT) and not message.is_internal:
        _on_public_reply(session, ticket, actor=actor, at=now, author_kind=author_kind)
    return _insert_message(session, ticket, author=actor, author_kind=author_kind,
                           channel=channel, plain=plain, safe=safe,
                           is_internal=message.is_internal, external_id=message.external_id,
                           attachment_ids=message.attachment_ids, uploader=actor, at=now,
                           account_id=message.account_id, meta=message.meta)


def _redelivered(existing: Message, ticket: Ticket, actor: Actor) -> Message:
    """The stored message a repeated `external_id` names, if it is this one's repeat.

    Channel adapters act as the system and carry the platform's own ids: a repeat is the
    same delivery wherever it was stored (a follow-up may have opened a new ticket). A
    person's client chooses its ids, so a repeat is one only on the same ticket by the same
    author; anything else is refused without a word about the other message."""
    if actor.kind == "system":
        return existing
    author = existing.author_customer_id if actor.is_customer else existing.author_user_id
    if existing.ticket_id == ticket.id and author == actor.id:
        return existing
    raise errors.ExternalIdTaken(errors=[{"field": "external_id",
                                          "message": _(errors.ExternalIdTaken.title)}])


def reply_channel(session: Session, ticket: Ticket) -> Channel:
    """Where an answer goes by default: the channel the customer last wrote on."""
    last = session.scalar(
        sa.select(Message.channel)
        .where(Message.ticket_id == ticket.id, Message.direction == "inbound")
        .order_by(Message.created_at.desc(), Message.id.desc()).limit(1))
    return last or ticket.channel


def _insert_message(
    session: Session, ticket: Ticket, *, author: Actor, author_kind: AuthorKind,
    channel: Channel, plain: str, safe: str, is_internal: bool, external_id: str | None,
    attachment_ids: Sequence[int], uploader: Actor, at: datetime, index: bool = True,
    account_id: int | None = None, meta: dict[str, Any] | None = None,
) -> Message:
    msg = Message(
        ticket_id=ticket.id, author_kind=author_kind,
        author_user_id=author.id if author.is_staff else None,
        author_customer_id=author.id if author.is_customer else None,
        direction="internal" if is_internal else (
            "inbound" if author_kind == AuthorKind.CUSTOMER else "outbound"),
        channel=channel, is_internal=is_internal, body_text=plain, body_html=safe,
        external_id=external_id, account_id=account_id, meta=meta or {}, created_at=at,
    )
    if external_id is None:
        _write_message(session, msg)  # no external id, no unique key to race on
    else:
        try:
            with race_guard(session):
                _write_message(session, msg)
        except IntegrityError:
            # The same delivery raced us here; the stored one wins, nothing is doubled.
            existing = session.scalar(sa.select(Message).where(
                Message.channel == channel, Message.external_id == external_id))
            if existing is None:
                raise
            return _redelivered(existing, ticket, uploader)
    claim_attachments(session, msg, attachment_ids, uploader=uploader)
    _record(session, ticket, "message_added", actor=author, at=at, data={
        "message_id": msg.id, "author_kind": author_kind.value, "is_internal": is_internal,
        "channel": channel.value,
    })
    outbox.add(session, MessageCreated(at=at, ticket_id=ticket.id, message_id=msg.id,
                                       author_kind=author_kind.value, channel=channel.value,
                                       is_internal=is_internal, assignee_id=ticket.assignee_id))
    if index:
        backend_for(session).add(session, ticket.id, plain, internal=is_internal)
    return msg


def _write_message(session: Session, msg: Message) -> None:
    # A customer's message is written straight away (insert_now): it comes with nearly
    # every new request, and no session hook watches it (the chat's live feed watches
    # agents' and the bot's replies, which go through the unit of work).
    if msg.author_kind == AuthorKind.CUSTOMER:
        insert_now(session, msg, attachments=[])
    else:
        session.add(msg)
        session.flush()


def _on_customer_message(session: Session, ticket: Ticket, *, actor: Actor,
                         at: datetime) -> None:
    if ticket.status == Status.CLOSED:
        raise errors.TicketClosed()
    if ticket.status in (Status.PENDING, Status.ON_HOLD, Status.SOLVED):
        _set_status(session, ticket, Status.OPEN, actor=actor, at=at,
                    reason=_("The customer answered"))


def _on_public_reply(session: Session, ticket: Ticket, *, actor: Actor, at: datetime,
                     author_kind: AuthorKind) -> None:
    if ticket.status == Status.CLOSED:
        raise errors.TicketClosed()
    ticket.replies += 1
    if ticket.first_response_at is None and author_kind == AuthorKind.AGENT:
        ticket.first_response_at = at
    if ticket.status == Status.NEW:
        _set_status(session, ticket, Status.OPEN, actor=actor, at=at)


def list_messages(session: Session, ticket_id: int, *, actor: Actor) -> Sequence[Message]:
    get_ticket_for(session, actor, ticket_id)
    query = sa.select(Message).where(Message.ticket_id == ticket_id).order_by(
        Message.created_at, Message.id)
    if not actor.can(Permission.WORK_TICKETS):
        query = query.where(Message.is_internal.is_(False))
    return session.scalars(query).all()


def list_events(session: Session, ticket_id: int, *, actor: Actor) -> Sequence[TicketEvent]:
    require(actor, Permission.WORK_TICKETS)
    get_ticket_for(session, actor, ticket_id)
    return session.scalars(sa.select(TicketEvent).where(TicketEvent.ticket_id == ticket_id)
                           .order_by(TicketEvent.id)).all()


# --- changes ----------------------------------------------------------------------------


def _set_status(session: Session, ticket: Ticket, status: Status, *, actor: Actor,
                at: datetime, reason: str | None = None) -> None:
    old = ticket.status
    if status == old:
        return
    if status not in TRANSITIONS[old]:
        raise errors.InvalidTransition(
            _("A ticket cannot go from “{old}” to “{new}”").format(
                old=status_label(old), new=status_label(status)),
            errors=[{"field": "status", "message": _("Allowed next statuses: {allowed}").format(
                allowed=", ".join(sorted(s.value for s in TRANSITIONS[old])) or "—")}],
        )
    ticket.status = status
    if old == Status.SOLVED and status != Status.CLOSED:
        ticket.reopens += 1
        ticket.solved_at = None
    if status == Status.SOLVED:
        ticket.solved_at = at
    if status == Status.CLOSED:
        ticket.closed_at = at
    _record(session, ticket, "status_changed", actor=actor, at=at, field_name="status",
            from_value=old.value, to_value=status.value, reason=reason)


def status_label(status: Status) -> str:
    labels = {
        Status.NEW: _("new"), Status.OPEN: _("open"), Status.PENDING: _("pending"),
        Status.ON_HOLD: _("on hold"), Status.SOLVED: _("solved"), Status.CLOSED: _("closed"),
    }
    return labels[status]


def priority_label(priority: Priority) -> str:
    labels = {Priority.LOW: _("low"), Priority.NORMAL: _("normal"), Priority.HIGH: _("high"),
              Priority.URGENT: _("urgent")}
    return labels[priority]


def channel_label(channel: Channel) -> str:
    # Product names stay as they are in every language.
    labels = {Channel.EMAIL: _("E-mail"), Channel.CHAT: _("Web chat"),
              Channel.TELEGRAM: "Telegram", Channel.VK: "VK", Channel.WHATSAPP: "WhatsApp",
              Channel.PHONE: _("Phone"), Channel.PORTAL: _("Portal"), Channel.API: "API"}
    return labels[channel]


_ACTIVE_USER = sa.select(User.id).where(User.id == sa.bindparam("id"), User.is_active.is_(True))


def _require_agent(session: Session, user_id: int) -> None:
    """Refuse an id that is not an active staff user's (reads the id only)."""
    if session.scalar(_ACTIVE_USER, {"id": user_id}) is None:
        raise field_error("assignee_id", _("No active agent with this id"))


def _get_agent(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        raise field_error("assignee_id", _("No active agent with this id"))
    return user


def _clean_tags(tags: Iterable[str]) -> list[str]:
    cleaned: dict[str, None] = {}
    for tag in tags:
        value = tag.strip().lower().replace(" ", "-")
        if not value:
            continue
        if len(value) > MAX_TAG_LENGTH:
            raise field_error("tags", _("A tag has at most {n} characters").format(
                n=MAX_TAG_LENGTH))
        cleaned[value] = None
    return sorted(cleaned)


def update_ticket(
    session: Session, ticket_id: int, changes: dict[str, Any], *, actor: Actor,
    reason: str | None = None, clock: Clock = SYSTEM_CLOCK, checked: Collection[str] = (),
    routing: bool = False,
) -> Ticket:
    """Apply field changes, each recorded in the history; unchanged values write nothing.

    `checked` names the id fields (team_id, assignee_id) whose values the caller read from
    the database in this same transaction: they are not looked up again. `routing`: the
    first routing of a new request (triage, the bot handing a conversation to its team), so
    a team change is not counted as a transfer."""
    ticket = get_ticket_for(session, actor, ticket_id, for_update=True)
    if actor.is_customer:
        allowed = set(changes) <= {"status"} and changes.get("status") in (
            Status.SOLVED, Status.OPEN, Status.CLOSED)
        if not allowed:
            raise Forbidden()
    else:
        require(actor, Permission.WORK_TICKETS)
    now = clock.now()
    diff: dict[str, Any] = {}
    with one_write(session):
        for name, value in changes.items():
            before = _apply_change(session, ticket, name, value, actor=actor, at=now,
                                   reason=reason, checked=name in checked, routing=routing)
            if before is not _UNCHANGED:
                diff[name] = [_plain(before), _plain(value)]
    if diff:
        outbox.add(session, TicketUpdated(at=now, ticket_id=ticket.id, actor_kind=actor.kind,
                                          actor_id=actor.id, changes=diff, reason=reason))
    if _EVENT_BATCH not in session.info:  # inside `one_write` the block's end writes it all
        session.flush()
    return ticket


_UNCHANGED = object()


def _plain(value: object) -> object:
    if isinstance(value, (Status, Priority)):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    return value


def _apply_change(session: Session, ticket: Ticket, name: str, value: Any, *, actor: Actor,
                  at: datetime, reason: str | None, checked: bool = False,
                  routing: bool = False) -> object:
    if name == "status":
        old = ticket.status
        if value == old:
            return _UNCHANGED
        _set_status(session, ticket, Status(value), actor=actor, at=at, reason=reason)
        return old
    if name == "assignee_id":
        return _assign(session, ticket, value, actor=actor, at=at, reason=reason,
                       checked=checked)
    if name == "team_id":
        return _change_team(session, ticket, value, actor=actor, at=at, reason=reason,
                            checked=checked, counted=not routing)
    if name == "tags":
        old_tags = ticket.tags
        new_tags = _clean_tags(value)
        if new_tags == old_tags:
            return _UNCHANGED
        ticket.tag_rows = [TicketTag(tag=tag) for tag in new_tags]
        _record(session, ticket, "tags_changed", actor=actor, at=at, field_name="tags",
                from_value=",".join(old_tags), to_value=",".join(new_tags), reason=reason)
        return old_tags
    if name == "custom_fields":
        merged = {**ticket.custom_fields, **_validated_fields(session, value)}
        merged = {key: val for key, val in merged.items() if val is not None}
        if merged == ticket.custom_fields:
            return _UNCHANGED
        old_fields = ticket.custom_fields
        for key in sorted(set(old_fields) | set(merged)):
            if old_fields.get(key) != merged.get(key):
                _record(session, ticket, "field_changed", actor=actor, at=at,
                        field_name=f"custom_fields.{key}", from_value=old_fields.get(key),
                        to_value=merged.get(key), reason=reason)
        ticket.custom_fields = merged
        return old_fields
    if name in ("subject", "priority", "category", "language"):
        old = getattr(ticket, name)
        if value == old:
            return _UNCHANGED
        setattr(ticket, name, value)
        _record(session, ticket, "field_changed", actor=actor, at=at, field_name=name,
                from_value=_plain(old), to_value=_plain(value), reason=reason)
        return old
    raise field_error(name, _("This field cannot be changed"))


def _assign(session: Session, ticket: Ticket, agent_id: int | None, *, actor: Actor,
            at: datetime, reason: str | None, counted: bool = True,
            checked: bool = False) -> object:
    if agent_id == ticket.assignee_id:
        return _UNCHANGED  # a retried request must not log a second transfer
    if agent_id is not None and not checked:
        _require_agent(session, agent_id)
    previous = ticket.assignee_id
    ticket.assignee_id = agent_id
    _owners_changed(session, ticket)
    # A transfer is the responsible person or team changing hands, counted once per action.
    is_transfer = counted and previous is not None and agent_id is not None
    if is_transfer:
        ticket.transfers += 1
    _record(session, ticket, "assigned", actor=actor, at=at, field_name="assignee_id",
            from_value=previous, to_value=agent_id, reason=reason,
            data={"transfer": is_transfer})
    if ticket.status == Status.NEW and agent_id is not None:
        _set_status(session, ticket, Status.OPEN, actor=actor, at=at)
    return previous


def _change_team(session: Session, ticket: Ticket, team_id: int | None, *, actor: Actor,
                 at: datetime, reason: str | None, counted: bool = True,
                 checked: bool = False) -> object:
    if team_id == ticket.team_id:
        return _UNCHANGED
    if team_id is not None and not checked:
        identity.require_team(session, team_id)
    previous = ticket.team_id
    ticket.team_id = team_id
    _owners_changed(session, ticket)
    is_transfer = counted and previous is not None and team_id is not None
    if is_transfer:
        ticket.transfers += 1
    _record(session, ticket, "team_changed", actor=actor, at=at, field_name="team_id",
            from_value=previous, to_value=team_id, reason=reason, data={"transfer": is_transfer})
    return previous


def _owners_changed(session: Session, ticket: Ticket) -> None:
    # The search index keeps the team and assignee beside the terms (PostgreSQL, ADR 010);
    # inside `one_write` the block's end writes them, once.
    pending = session.info.get(_OWNERS_BATCH)
    if pending is None:
        _write_owners(session, ticket)
    else:
        pending[ticket.id] = ticket


def _write_owners(session: Session, ticket: Ticket) -> None:
    backend_for(session).owners_changed(session, ticket.id, team_id=ticket.team_id,
                                        assignee_id=ticket.assignee_id)


def assign_ticket(session: Session, ticket_id: int, agent_id: int | None, *, actor: Actor,
                  reason: str | None = None, clock: Clock = SYSTEM_CLOCK) -> Ticket:
    return update_ticket(session, ticket_id, {"assignee_id": agent_id}, actor=actor,
                         reason=reason, clock=clock)


def transfer_ticket(
    session: Session, ticket_id: int, *, actor: Actor, reason: str,
    team_id: int | None = None, agent_id: int | None = None, clock: Clock = SYSTEM_CLOCK,
) -> Ticket:
    """Hand the ticket to another team and/or agent; one action counts as one transfer."""
    require(actor, Permission.WORK_TICKETS)
    if team_id is None and agent_id is None:
        raise field_error("team_id", _("Choose a team or an agent to transfer to"))
    ticket = get_ticket_for(session, actor, ticket_id, for_update=True)
    now = clock.now()
    changes: dict[str, Any] = {}
    counted = False
    if team_id is not None and team_id != ticket.team_id:
        before = _change_team(session, ticket, team_id, actor=actor, at=now, reason=reason)
        changes["team_id"] = [before, team_id]
        counted = before is not None
        if agent_id is None and ticket.assignee_id is not None:
            agent = _get_agent(session, ticket.assignee_id)
            if team_id not in {team.id for team in agent.teams}:
                # The old agent is not in the new team: the ticket waits in its queue.
                changes["assignee_id"] = [ticket.assignee_id, None]
                _assign(session, ticket, None, actor=actor, at=now, reason=reason)
    if agent_id is not None and agent_id != ticket.assignee_id:
        before = _assign(session, ticket, agent_id, actor=actor, at=now, reason=reason,
                         counted=not counted)
        changes["assignee_id"] = [before, agent_id]
    if changes:
        outbox.add(session, TicketUpdated(at=now, ticket_id=ticket.id, actor_kind=actor.kind,
                                          actor_id=actor.id, changes=changes, reason=reason))
    session.flush()
    return ticket


def record_decision(session: Session, ticket_id: int, kind: str, *, data: dict[str, Any],
                    reason: str | None = None, actor: Actor = SYSTEM_ACTOR,
                    clock: Clock = SYSTEM_CLOCK) -> None:
    """Append an automatic decision (triage, …) and its explanation to the ticket's history."""
    ticket = get_ticket_for(session, actor, ticket_id)
    _record(session, ticket, kind, actor=actor, at=clock.now(),
            reason=None if reason is None else reason[:500], data=data)


def first_customer_message_query(*columns: Any) -> sa.Select[Any]:
    """The first public message a customer wrote on the ticket bound as "ticket_id"."""
    return (sa.select(*columns).where(Message.ticket_id == sa.bindparam("ticket_id"),
                                      Message.author_kind == AuthorKind.CUSTOMER,
                                      Message.is_internal.is_(False))
            .order_by(Message.id).limit(1))


_FIRST_CUSTOMER_MESSAGE = first_customer_message_query(Message).options(
    lazyload(Message.attachments))  # the text is wanted, not the files


def first_customer_message(session: Session, ticket_id: int) -> Message | None:
    message: Message | None = session.scalar(_FIRST_CUSTOMER_MESSAGE, {"ticket_id": ticket_id})
    return message


# How many other requests the customer opened in [since, before]; binds customer_id, since,
# before and exclude_id.
RECENT_REQUESTS = sa.select(sa.func.count()).select_from(Ticket).where(
    Ticket.customer_id == sa.bindparam("customer_id"),
    Ticket.created_at >= sa.bindparam("since"), Ticket.created_at <= sa.bindparam("before"),
    Ticket.id != sa.bindparam("exclude_id"))


def active_ticket_counts(session: Session, user_ids: Sequence[int]) -> dict[int, int]:
    """New and open tickets held by each of the users (their current load)."""
    if not user_ids:
        return {}
    rows = session.execute(
        sa.select(Ticket.assignee_id, sa.func.count())
        .where(Ticket.assignee_id.in_(list(user_ids)),
               Ticket.status.in_((Status.NEW, Status.OPEN)))
        .group_by(Ticket.assignee_id))
    return {int(uid): int(n) for uid, n in rows if uid is not None}


def solved_ticket_texts(session: Session, categories: Sequence[str], *,
                        limit: int | None = None) -> tuple[list[str], list[str]]:
    """Subject + first customer message, and the category, of solved and closed tickets in
    the given categories, newest first: the categories agents kept or corrected while
    working the ticket to its end."""
    first = (sa.select(Message.ticket_id, sa.func.min(Message.id).label("message_id"))
             .where(Message.author_kind == AuthorKind.CUSTOMER)
             .group_by(Message.ticket_id).subquery())
    query = (sa.select(Ticket.subject, Message.body_text, Ticket.category)
             .join(first, first.c.ticket_id == Ticket.id)
             .join(Message, Message.id == first.c.message_id)
             .where(Ticket.status.in_((Status.SOLVED, Status.CLOSED)),
                    Ticket.category.in_(list(categories)), Ticket.merged_into_id.is_(None))
             .order_by(Ticket.id.desc()))
    if limit is not None:
        query = query.limit(limit)
    texts, labels = [], []
    for subject, body, category in session.execute(query):
        texts.append(f"{subject}\n{body}")
        labels.append(str(category))
    return texts, labels


def escalate_ticket(session: Session, ticket_id: int, *, actor: Actor, reason: str,
                    clock: Clock = SYSTEM_CLOCK) -> Ticket:
    """Raise the escalation level and pass the ticket to the team's next support line."""
    require(actor, Permission.WORK_TICKETS)
    ticket = get_ticket_for(session, actor, ticket_id, for_update=True)
    team = identity.get_team(session, ticket.team_id) if ticket.team_id else None
    if team is None or team.escalation_team_id is None:
        raise errors.NothingToEscalate()
    now = clock.now()
    level = ticket.escalation_level
    ticket.escalation_level = level + 1
    _record(session, ticket, "escalated", actor=actor, at=now, field_name="escalation_level",
            from_value=level, to_value=level + 1, reason=reason)
    _change_team(session, ticket, team.escalation_team_id, actor=actor, at=now, reason=reason)
    changes: dict[str, Any] = {"escalation_level": [level, level + 1],
                               "team_id": [team.id, team.escalation_team_id]}
    if ticket.assignee_id is not None:
        changes["assignee_id"] = [ticket.assignee_id, None]
        _assign(session, ticket, None, actor=actor, at=now, reason=reason)
    outbox.add(session, TicketUpdated(at=now, ticket_id=ticket.id, actor_kind=actor.kind,
                                      actor_id=actor.id, changes=changes, reason=reason))
    session.flush()
    return ticket


def merge_tickets(session: Session, source_id: int, target_id: int, *, actor: Actor,
                  reason: str | None = None, clock: Clock = SYSTEM_CLOCK) -> Ticket:
    """Move the source's conversation into the target and close the source."""
    require(actor, Permission.MERGE_TICKETS)
    if source_id == target_id:
        raise errors.CannotMergeTicket(_("A ticket cannot be merged into itself"))
    # Lock in id order so two opposite merges cannot deadlock.
    first, second = sorted((source_id, target_id))
    locked = {t: get_ticket_for(session, actor, t, for_update=True) for t in (first, second)}
    source, target = locked[source_id], locked[target_id]
    if source.merged_into_id is not None or target.status == Status.CLOSED:
        raise errors.CannotMergeTicket()
    now = clock.now()
    moved = session.execute(sa.update(Message).where(Message.ticket_id == source.id)
                            .values(ticket_id=target.id))
    backend_for(session).move(session, source.id, target.id)
    union = sorted(set(source.tags) | set(target.tags))
    if union != target.tags:
        _apply_change(session, target, "tags", union, actor=actor, at=now, reason=reason)
    _record(session, target, "merged", actor=actor, at=now, field_name="merged_from",
            to_value=source.id, reason=reason,
            data={"messages": int(getattr(moved, "rowcount", 0) or 0)})
    source.merged_into_id = target.id
    _record(session, source, "merged", actor=actor, at=now, field_name="merged_into",
            to_value=target.id, reason=reason)
    if source.status != Status.SOLVED:
        source.status, old = Status.SOLVED, source.status
        source.solved_at = now
        _record(session, source, "status_changed", actor=actor, at=now, field_name="status",
                from_value=old.value, to_value=Status.SOLVED.value, reason=reason)
    _set_status(session, source, Status.CLOSED, actor=actor, at=now, reason=reason)
    outbox.add(session, TicketsMerged(at=now, source_id=source.id, target_id=target.id,
                                      actor_kind=actor.kind, actor_id=actor.id))
    session.flush()
    session.expire(target, ["tag_rows"])
    return target


@dataclass
class BulkResult:
    ticket_id: int
    ok: bool
    error: ZabotaError | None = None


def bulk_update(session: Session, ticket_ids: Sequence[int], changes: dict[str, Any], *,
                actor: Actor, reason: str | None = None,
                clock: Clock = SYSTEM_CLOCK) -> list[BulkResult]:
    """Apply the same change to many tickets; each succeeds or fails on its own."""
    require(actor, Permission.WORK_TICKETS)
    results: list[BulkResult] = []
    for ticket_id in dict.fromkeys(ticket_ids):
        try:
            with session.begin_nested():
                ticket_changes = dict(changes)
                add_tags = ticket_changes.pop("add_tags", None)
                remove_tags = ticket_changes.pop("remove_tags", None)
                if add_tags or remove_tags:
                    current = get_ticket_for(session, actor, ticket_id).tags
                    ticket_changes["tags"] = (set(current) | set(add_tags or ())) - set(
                        remove_tags or ())
                update_ticket(session, ticket_id, ticket_changes, actor=actor, reason=reason,
                              clock=clock)
            results.append(BulkResult(ticket_id, True))
        except ZabotaError as exc:
            results.append(BulkResult(ticket_id, False, exc))
    return results


def move_customer_tickets(session: Session, source_customer_id: int, target_customer_id: int,
                          *, actor: Actor, clock: Clock = SYSTEM_CLOCK) -> int:
    """Part of merging customers: every ticket of the source now belongs to the target."""
    now = clock.now()
    tickets = session.scalars(sa.select(Ticket).where(Ticket.customer_id == source_customer_id)
                              .with_for_update()).all()
    for ticket in tickets:
        ticket.customer_id = target_customer_id
        _record(session, ticket, "field_changed", actor=actor, at=now, field_name="customer_id",
                from_value=source_customer_id, to_value=target_customer_id,
                reason="customers merged")
    session.execute(sa.update(Message).where(Message.author_customer_id == source_customer_id)
                    .values(author_customer_id=target_customer_id))
    return len(tickets)


# --- custom fields ----------------------------------------------------------------------


def create_field_def(session: Session, *, actor: Actor, key: str, label: str, type: FieldType,
                     label_en: str = "", options: Sequence[str] = (),
                     clock: Clock = SYSTEM_CLOCK) -> CustomFieldDef:
    require(actor, Permission.MANAGE_FIELDS)
    if session.scalar(sa.select(CustomFieldDef.id).where(CustomFieldDef.key == key)) is not None:
        raise field_error("key", _("A field with this key already exists"))
    row = CustomFieldDef(key=key, label=label, label_en=label_en, type=type,
                         options=_field_options(type, options), created_at=clock.now())
    session.add(row)
    session.flush()
    return row


def _field_options(type: FieldType, options: Sequence[str]) -> list[str]:
    options = [option.strip() for option in options if option.strip()]
    if type == FieldType.SELECT and not options:
        raise field_error("options", _("A list field needs at least one option"))
    if type != FieldType.SELECT and options:
        raise field_error("options", _("Only a list field has options"))
    if len(set(options)) < len(options):
        raise field_error("options", _("Each option can be listed once"))
    return options


def get_field_def(session: Session, field_id: int) -> CustomFieldDef:
    row = session.get(CustomFieldDef, field_id)
    if row is None:
        raise NotFound(_("There is no such custom field"))
    return row


def update_field_def(session: Session, field_id: int, *, actor: Actor, label: str | None = None,
                     label_en: str | None = None, options: Sequence[str] | None = None,
                     is_active: bool | None = None) -> CustomFieldDef:
    """Rename a field, change a list's options, or turn it off or on. Its key and type stay:
    tickets store values under the key, in the type. Turned off, it leaves forms and takes
    no new values; the values tickets have keep, as do options taken off the list."""
    require(actor, Permission.MANAGE_FIELDS)
    row = get_field_def(session, field_id)
    if label is not None:
        row.label = label
    if label_en is not None:
        row.label_en = label_en
    if options is not None:
        row.options = _field_options(row.type, options)
    if is_active is not None:
        row.is_active = is_active
    session.flush()
    return row


def list_field_defs(session: Session) -> Sequence[CustomFieldDef]:
    return session.scalars(sa.select(CustomFieldDef).order_by(CustomFieldDef.id)).all()


def _validated_fields(session: Session, values: dict[str, Any]) -> dict[str, Any]:
    if not values:
        return {}
    defs = {d.key: d for d in session.scalars(
        sa.select(CustomFieldDef).where(CustomFieldDef.key.in_(values), CustomFieldDef.is_active))}
    cleaned: dict[str, Any] = {}
    for key, value in values.items():
        definition = defs.get(key)
        name = f"custom_fields.{key}"
        if definition is None:
            raise field_error(name, _("There is no custom field “{key}”").format(key=key))
        if value is None:
            cleaned[key] = None
            continue
        cleaned[key] = _typed_value(definition, value, name)
    return cleaned


# A number field holds what JSON readers (browsers, reports) read exactly; NaN and infinity
# are no numbers to them, and a larger integer would be rounded or refused by the database.
MAX_FIELD_NUMBER = 2**53


def _typed_value(definition: CustomFieldDef, value: Any, name: str) -> Any:
    kind = definition.type
    if kind == FieldType.TEXT and isinstance(value, str) and len(value) <= 2000:
        return value
    if kind == FieldType.NUMBER and isinstance(value, (int, float)) and not isinstance(
            value, bool) and math.isfinite(value) and abs(value) <= MAX_FIELD_NUMBER:
        return value
    if kind == FieldType.BOOLEAN and isinstance(value, bool):
        return value
    if kind == FieldType.DATE and isinstance(value, str):
        try:
            return date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    if kind == FieldType.SELECT and value in definition.options:
        return value
    messages = {
        FieldType.TEXT: _("Enter text of at most 2000 characters"),
        FieldType.NUMBER: _("Enter a number"),
        FieldType.BOOLEAN: _("Enter true or false"),
        FieldType.DATE: _("Enter a date as YYYY-MM-DD"),
        FieldType.SELECT: _("Choose one of: {options}").format(
            options=", ".join(definition.options)),
    }
    raise field_error(name, messages[kind])


# --- lists, search, export -------------------------------------------------------------


@dataclass
class TicketFilter:
    status: list[Status] = field(default_factory=list)
    priority: list[Priority] = field(default_factory=list)
    team_id: int | None = None
    assignee_id: int | None = None
    unassigned: bool = False
    customer_id: int | None = None
    organization_id: int | None = None
    channel: Channel | None = None
    tag: str | None = None
    category: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    updated_from: datetime | None = None
    updated_to: datetime | None = None
    q: str | None = None


SORTS: dict[str, Any] = {
    "updated_at": Ticket.updated_at, "created_at": Ticket.created_at, "id": Ticket.id,
}


def _filtered(query: sa.Select[Any], flt: TicketFilter, *, actor: Actor,
              session: Session, named: list[int] | None = None) -> sa.Select[Any]:
    """The visible tickets that pass the filter; `named` is `_named_by` of its `q`, when the
    caller looked it up already."""
    conditions: list[sa.ColumnElement[bool]] = [visible_tickets(actor)]
    if flt.status:
        conditions.append(Ticket.status.in_(flt.status))
    if flt.priority:
        conditions.append(Ticket.priority.in_(flt.priority))
    equals: tuple[tuple[Any, object], ...] = (
        (Ticket.team_id, flt.team_id), (Ticket.assignee_id, flt.assignee_id),
        (Ticket.customer_id, flt.customer_id), (Ticket.organization_id, flt.organization_id),
        (Ticket.channel, flt.channel), (Ticket.category, flt.category),
    )
    for column, value in equals:
        if value is not None:
            conditions.append(column == value)
    if flt.unassigned:
        conditions.append(Ticket.assignee_id.is_(None))
    ranges: tuple[tuple[Any, datetime | None, datetime | None], ...] = (
        (Ticket.created_at, flt.created_from, flt.created_to),
        (Ticket.updated_at, flt.updated_from, flt.updated_to),
    )
    for column, low, high in ranges:
        if low is not None:
            conditions.append(column >= low)
        if high is not None:
            conditions.append(column < high)
    if flt.tag:
        conditions.append(Ticket.id.in_(sa.select(TicketTag.ticket_id)
                                        .where(TicketTag.tag == flt.tag.strip().lower())))
    if flt.q:
        conditions.append(_matching_text(session, flt.q, actor=actor, named=named))
    return query.where(*conditions)


def _include_internal(actor: Actor) -> bool:
    return actor.can(Permission.WORK_TICKETS)  # staff search internal notes too


def _matching_text(session: Session, q: str, *, actor: Actor,
                   named: list[int] | None = None) -> sa.ColumnElement[bool]:
    """Tickets whose text has every term of the query.

    Two ways to the newest matches, and the cheaper one depends on how many there are: walk
    the list in its sort order and test ticket by ticket (quick when a term is common), or
    take the matches from the index and sort them (quick when they are few: walking would
    read every visible ticket for an order number, seconds at a million). So the matches the
    actor may see are read first, up to the backend's `few_matches`; only more than that
    makes the list walk. (`list_tickets` first tries the page's first tickets, ADR 010.)
    """
    backend = backend_for(session)
    include_internal = _include_internal(actor)
    owners = Owners(actor.team_ids, actor.id) if (
        actor.is_staff and not actor.sees_everything) else None
    direct = _named_by(session, q, actor=actor) if named is None else named
    matching = backend.matching_ids(q, include_internal=include_internal, owners=owners)
    few = [] if matching is None else session.scalars(
        matching.limit(backend.few_matches + 1)).all()
    if len(few) <= backend.few_matches:
        ids = [*few, *direct]
        # An empty IN may still scan; a constant false the planner folds.
        return backend.listed(Ticket.id, ids) if ids else sa.false()
    text = backend.ticket_matches(Ticket.id, q, include_internal=include_internal)
    return sa.or_(text, Ticket.id.in_(direct)) if direct else text


_TICKET_NUMBER = re.compile(r"#?\s*(\d{1,18})")
_PHONE = re.compile(r"\+?[\d\s()-]{7,24}")
NAMED_LIMIT = 200  # a customer's newest tickets found by their address


def _named_by(session: Session, q: str, *, actor: Actor) -> list[int]:
    """Tickets the query names rather than describes: a ticket number ("#1042", "1042"), or
    the e-mail address or phone number of its customer (staff only). The permission filter
    of the list still applies to them."""
    q = q.strip()
    ids: list[int] = []
    number = _TICKET_NUMBER.fullmatch(q)
    if number:
        ids.append(int(number.group(1)))
    if not actor.is_staff:
        return ids
    kinds: tuple[IdentityKind, ...] = ()
    if "@" in q and " " not in q:
        kinds = (IdentityKind.EMAIL,)
    elif _PHONE.fullmatch(q) and 7 <= sum(c.isdigit() for c in q) <= 15:
        kinds = (IdentityKind.PHONE, IdentityKind.WHATSAPP)
    for kind in kinds:
        customer = identity.find_customer_by_identity(session, kind, q)
        if customer is not None:
            ids.extend(session.scalars(
                sa.select(Ticket.id).where(Ticket.customer_id == customer.id)
                .order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(NAMED_LIMIT)))
            break
    return ids


def count_tickets(session: Session, flt: TicketFilter, *, actor: Actor, cap: int = 1000) -> int:
    """How many tickets match, counting at most `cap` (an inbox shows "999+", not a scan)."""
    capped = _filtered(sa.select(Ticket.id), flt, actor=actor, session=session).limit(cap)
    return session.scalar(sa.select(sa.func.count()).select_from(capped.subquery())) or 0


def encode_cursor(values: Sequence[object]) -> str:
    raw = json.dumps([v.isoformat() if isinstance(v, datetime) else v for v in values])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _is_row_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ROW_ID


def decode_cursor(cursor: str, *, sort: str) -> tuple[object, int]:
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        value, last_id = raw
        # A cursor is ours only if it fits the sort it is used with (an id, or a time) and
        # its ids fit the column: anything else would find nothing, or overflow the driver.
        if not _is_row_id(last_id) or (sort == "id" and not _is_row_id(value)):
            raise ValueError(cursor)
        if sort != "id":
            value = as_utc(datetime.fromisoformat(value))
        return value, last_id
    except (ValueError, TypeError) as exc:
        raise field_error("cursor", _("The cursor is not valid; start from the first page")) \
            from exc


def list_tickets(
    session: Session, flt: TicketFilter, *, actor: Actor, sort: str = "-updated_at",
    cursor: str | None = None, limit: int = 25,
) -> tuple[Sequence[Ticket], str | None]:
    """One page of visible tickets in keyset order, and the cursor of the next page."""
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    column = SORTS.get(key)
    if column is None:
        raise field_error("sort", _("Sort by one of: {options}").format(
            options=", ".join(f"{k}, -{k}" for k in SORTS)))
    bound = decode_cursor(cursor, sort=key) if cursor else None
    order = (column.desc(), Ticket.id.desc()) if descending else (column.asc(), Ticket.id.asc())

    # Tickets the query names (a number, an address): looked up once for both ways below.
    named = _named_by(session, flt.q, actor=actor) if flt.q else []

    def page(of: TicketFilter) -> sa.Select[tuple[Ticket]]:
        query = _filtered(sa.select(Ticket), of, actor=actor, session=session, named=named)
        if bound is not None:
            position = sa.tuple_(column, Ticket.id)
            after = sa.tuple_(sa.literal(bound[0], column.type), sa.literal(bound[1]))
            query = query.where(position < after if descending else position > after)
        return query.order_by(*order)

    window = backend_for(session).walk_window if flt.q else 0
    rows = _matches_among(session, page(replace(flt, q=None)).limit(window), flt.q or "",
                          actor=actor, key=key, descending=descending, wanted=limit + 1,
                          named=named) if window else None
    if rows is None:
        rows = session.scalars(page(flt).limit(limit + 1)
                               .options(selectinload(Ticket.tag_rows))).all()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor([getattr(last, key), last.id])
    return rows, next_cursor


def _matches_among(session: Session, newest: sa.Select[tuple[Ticket]], q: str, *,
                   actor: Actor, key: str, descending: bool, wanted: int,
                   named: list[int]) -> Sequence[Ticket] | None:
    """The first `wanted` matches of a page, if the page's first tickets (`newest`, a bounded
    slice of the list) hold that many; None otherwise. Testing a few hundred tickets costs
    a few milliseconds, and a common term is answered here without reading its matches from
    the index at all (tens of milliseconds for a term in a fifth of a million tickets)."""
    shown = aliased(Ticket, newest.subquery())
    column = getattr(shown, key)
    order = (column.desc(), shown.id.desc()) if descending else (column.asc(), shown.id.asc())
    test = backend_for(session).ticket_matches(shown.id, q,
                                               include_internal=_include_internal(actor))
    if named:
        test = sa.or_(test, shown.id.in_(named))
    rows = session.scalars(sa.select(shown).where(test).order_by(*order).limit(wanted)
                           .options(selectinload(shown.tag_rows))).all()
    return rows if len(rows) == wanted else None


def export_changes(
    session: Session, *, actor: Actor, since_cursor: str | None, limit: int = 500,
    clock: Clock = SYSTEM_CLOCK,
) -> tuple[Sequence[Ticket], str]:
    """Tickets changed after the cursor, in change order, and the cursor to continue from.

    The cursor is a position in the event log, so no change is missed the way an
    `updated_at` window can miss one. Events of the last few seconds wait for the next call:
    a transaction that took its id earlier may still be committing.
    """
    require(actor, Permission.WORK_TICKETS)
    after = 0
    if since_cursor:
        try:
            # Plain ASCII digits only: int() would also take " 12", "1_000" and "١٢".
            if not (since_cursor.isascii() and since_cursor.isdigit()):
                raise ValueError(since_cursor)
            after = int(since_cursor)
            if after > MAX_ROW_ID:
                raise ValueError(since_cursor)
        except ValueError as exc:
            raise field_error("since_cursor", _("The cursor is not valid")) from exc
    settled = clock.now() - EXPORT_SETTLE
    # Only tickets the actor sees: a token of one team gets full pages, not empty ones
    # while the cursor walks past the others' changes.
    seen = sa.true() if actor.sees_everything else TicketEvent.ticket_id.in_(
        sa.select(Ticket.id).where(visible_tickets(actor)))
    rows = session.execute(
        sa.select(TicketEvent.ticket_id, sa.func.max(TicketEvent.id).label("last"))
        .where(TicketEvent.id > after, TicketEvent.at <= settled, seen)
        .group_by(TicketEvent.ticket_id)
        .order_by(sa.func.max(TicketEvent.id)).limit(limit)
    ).all()
    if not rows:
        return [], str(after)
    ids = [row.ticket_id for row in rows]
    last = rows[-1].last
    by_id = {t.id: t for t in session.scalars(
        sa.select(Ticket).where(Ticket.id.in_(ids), visible_tickets(actor))
        .options(selectinload(Ticket.tag_rows)))}
    # Ordered by each ticket's latest event, a ticket left off this page has its latest
    # event after `last`, so the next call returns it.
    return [by_id[i] for i in ids if i in by_id], str(last)


def visible_ticket_exists(session: Session, actor: Actor, ticket_id: int) -> bool:
    return session.scalar(sa.select(Ticket.id).where(Ticket.id == ticket_id,
                                                     visible_tickets(actor))) is not None


def changed_since(session: Session, *, actor: Actor, after_event_id: int,
                  limit: int = 50) -> tuple[int, list[int]]:
    """The newest event id and the visible tickets with events after `after_event_id`
    (a negative `after_event_id` asks only for the newest id, to start following)."""
    newest = session.scalar(sa.select(sa.func.max(TicketEvent.id))) or 0
    if after_event_id < 0 or newest <= after_event_id:
        return newest, []
    ids = session.scalars(
        sa.select(TicketEvent.ticket_id).join(Ticket, Ticket.id == TicketEvent.ticket_id)
        .where(TicketEvent.id > after_event_id, TicketEvent.id <= newest, visible_tickets(actor))
        .distinct().limit(limit)).all()
    return newest, list(ids)


def get_message(session: Session, message_id: int) -> Message:
    """A message by id for system jobs (outbox handlers); not for user-facing reads."""
    message = session.get(Message, message_id)
    if message is None:
        raise errors.TicketNotFound()
    return message


def mark_seen(session: Session, actor: Actor, ticket_id: int, *,
              clock: Clock = SYSTEM_CLOCK) -> None:
    """Remember when a staff user last opened the ticket (for the inbox's updated marker)."""
    row = session.get(TicketRead, (actor.id, ticket_id))
    if row is None:
        session.add(TicketRead(user_id=actor.id, ticket_id=ticket_id, seen_at=clock.now()))
    else:
        row.seen_at = clock.now()


def seen_times(session: Session, actor: Actor, ticket_ids: Iterable[int]) -> dict[int, datetime]:
    ids = list(ticket_ids)
    if not ids or not actor.is_staff:
        return {}
    rows = session.execute(sa.select(TicketRead.ticket_id, TicketRead.seen_at).where(
        TicketRead.user_id == actor.id, TicketRead.ticket_id.in_(ids))).all()
    return {ticket_id: as_utc(seen) for ticket_id, seen in rows}


def save_view(session: Session, actor: Actor, *, name: str, params: str,
              clock: Clock = SYSTEM_CLOCK) -> SavedView:
    """Save (or overwrite) the actor's inbox view under a name."""
    require(actor, Permission.WORK_TICKETS)
    name = name.strip()
    if not name:
        raise field_error("name", _("This field is required"))
    if len(name) > 80:
        raise field_error("name", _("Enter at most {n} characters").format(n=80))
    row = session.scalar(sa.select(SavedView).where(SavedView.user_id == actor.id,
                                                    SavedView.name == name))
    if row is None:
        row = SavedView(user_id=actor.id, name=name, params=params[:2000],
                        created_at=clock.now())
        session.add(row)
    else:
        row.params = params[:2000]
    session.flush()
    return row


def saved_views(session: Session, actor: Actor) -> Sequence[SavedView]:
    return session.scalars(sa.select(SavedView).where(SavedView.user_id == actor.id)
                           .order_by(SavedView.name)).all()


def delete_view(session: Session, actor: Actor, view_id: int) -> None:
    session.execute(sa.delete(SavedView).where(SavedView.id == view_id,
                                               SavedView.user_id == actor.id))
