"""What every channel shares on the way in: an adapter turns a delivery into an `Inbound`, and
`receive` finds the customer, threads it into a ticket (or opens one) and stores it once.

Adapters parse; they never create tickets or customers themselves. So threading, idempotency
and the "one person across channels" rule are written once, here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from zabota.channels.models import ChannelAccount, OutboundDelivery
from zabota.core.clock import SYSTEM_CLOCK, Clock
from zabota.core.i18n import _
from zabota.core.settings import Settings, get_settings
from zabota.identity import service as identity
from zabota.identity.models import Customer, IdentityKind
from zabota.identity.permissions import SYSTEM, Actor
from zabota.tickets import errors as ticket_errors
from zabota.tickets import service as tickets
from zabota.tickets.attachments import store_attachment
from zabota.tickets.models import (
    MAX_MESSAGE_HTML,
    MAX_MESSAGE_TEXT,
    Attachment,
    Channel,
    Message,
    Status,
    Ticket,
    TicketEvent,
)

log = structlog.get_logger()

# Conversations (not letters): a new message continues the customer's unfinished ticket on
# the same channel; a finished one (solved or closed) is not reopened by a "thanks!" but
# starts a new request.
CONVERSATIONAL = frozenset({Channel.CHAT, Channel.TELEGRAM, Channel.VK, Channel.WHATSAPP,
                            Channel.PHONE})
_TICKET_NUMBER = re.compile(r"\[#(\d{1,12})\]|(?:^|\s)#(\d{1,12})\b")
MAX_SUBJECT = 120


@dataclass(frozen=True)
class InboundFile:
    filename: str
    data: bytes
    content_type: str | None = None
    inline: bool = False
    content_id: str | None = None


@dataclass
class Inbound:
    """One normalised inbound message, whatever channel it came from."""

    channel: Channel
    external_id: str  # unique per channel: Message-ID, Telegram chat:message id, …
    identities: Sequence[tuple[IdentityKind, str]]
    name: str | None = None
    text: str = ""
    html: str | None = None
    subject: str | None = None
    files: Sequence[InboundFile] = ()
    # External ids of earlier messages this one answers (e-mail In-Reply-To + References).
    replies_to: Sequence[str] = ()
    account_id: int | None = None
    team_id: int | None = None
    language: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    received_at: datetime | None = None
    # Always open a new ticket (a missed call asks for a call-back of its own).
    new_ticket: bool = False


@dataclass(frozen=True)
class Received:
    ticket_id: int
    message_id: int
    created_ticket: bool = False
    duplicate: bool = False
    follow_up_of: int | None = None  # a closed ticket this one continues


def ticket_number_in(subject: str | None) -> int | None:
    """`[#1042]` (what we put in our subjects) or a bare `#1042`."""
    match = _TICKET_NUMBER.search(subject or "")
    return int(match.group(1) or match.group(2)) if match else None


def find_duplicate(session: Session, channel: Channel, external_id: str) -> Message | None:
    return session.scalar(sa.select(Message).where(Message.channel == channel,
                                                   Message.external_id == external_id))


def stored_before(session: Session, channel: Channel, external_id: str) -> Received | None:
    """Where this delivery was stored already, if it was (ids only: no message is loaded)."""
    row = session.execute(_STORED, {"channel": channel, "external_id": external_id}).first()
    return None if row is None else Received(row.ticket_id, row.id, duplicate=True)


# Built once: every inbound message asks these, and building a statement (and its cache key)
# costs more than SQLite takes to run it.
_STORED = sa.select(Message.ticket_id, Message.id).where(
    Message.channel == sa.bindparam("channel"), Message.external_id == sa.bindparam("external_id"))
_ACCOUNT_TEAM = sa.select(ChannelAccount.team_id).where(ChannelAccount.id == sa.bindparam("id"))


def receive(session: Session, inbound: Inbound, *, settings: Settings | None = None,
            clock: Clock = SYSTEM_CLOCK) -> Received:
    """Store one inbound message exactly once and return where it went."""
    settings = settings or get_settings()
    existing = stored_before(session, inbound.channel, inbound.external_id)
    if existing is not None:
        return existing
    customer = identity.find_or_create_customer(session, identities=inbound.identities,
                                                name=inbound.name, clock=clock)
    author = Actor(kind="customer", id=customer.id, name=customer.name,
                   organization_id=customer.organization_id, sees_organization_tickets=True,
                   language=customer.language or settings.default_language)
    text, attachment_ids = _store_files(session, inbound, author, settings, clock)
    text, html = _within_limits(inbound, text)
    message = tickets.NewMessage(text=text, html=html, external_id=inbound.external_id,
                                 attachment_ids=attachment_ids, account_id=inbound.account_id,
                                 meta=inbound.meta)
    ticket = None if inbound.new_ticket else _thread(session, inbound, customer)
    follow_up_of = None
    if ticket is not None and ticket.status == Status.CLOSED:
        follow_up_of, ticket = ticket.id, None
    if ticket is not None:
        try:
            stored = tickets.add_message(session, ticket.id, message, actor=author,
                                         channel=inbound.channel, clock=clock)
        except ticket_errors.TicketNotFound:  # threaded into someone else's ticket
            ticket = None
        else:
            return Received(stored.ticket_id, stored.id)
    # The system opens the ticket on the customer's behalf, so it carries the files in.
    if attachment_ids:
        session.execute(sa.update(Attachment).where(Attachment.id.in_(attachment_ids))
                        .values(uploaded_by_kind=SYSTEM.kind, uploaded_by_id=SYSTEM.id))
    created, first = _open_ticket(session, inbound, customer, message, text, clock=clock)
    if follow_up_of is not None:
        _link_follow_up(session, created, follow_up_of, clock=clock)
    log.info("channels.ticket_opened", channel=inbound.channel.value, ticket_id=created.id)
    return Received(created.id, first.id, created_ticket=True, follow_up_of=follow_up_of)


def _store_files(session: Session, inbound: Inbound, author: Actor, settings: Settings,
                 clock: Clock) -> tuple[str, list[int]]:
    """Keep the files within the limits; a refused one is named in the text, never dropped
    silently, and never costs the rest of the message."""
    ids: list[int] = []
    refused: list[str] = []
    for file in inbound.files:
        try:
            row = store_attachment(session, actor=author, filename=file.filename,
                                   content_type=file.content_type, data=file.data,
                                   settings=settings, clock=clock)
        except ticket_errors.AttachmentRejected as exc:
            refused.append(_("Attachment “{name}” was not kept: {reason}").format(
                name=file.filename, reason=exc.detail or _(exc.title)))
            continue
        ids.append(row.id)
    text = inbound.text.strip()
    if refused:
        text = "\n\n".join([text, *(f"[{line}]" for line in refused)]).strip()
    return text, ids


def _within_limits(inbound: Inbound, text: str) -> tuple[str, str | None]:
    """Text and HTML within what the API takes for one message. A longer delivery is cut with
    a visible note rather than refused: refusing would lose it."""
    html = inbound.html
    if html is not None and len(html) > MAX_MESSAGE_HTML:
        html = None  # the text (cut below if need be) is shown instead
    if len(text) > MAX_MESSAGE_TEXT:
        note = "\n\n" + _("… [message truncated: it was too long]")
        log.warning("channels.text_truncated", channel=inbound.channel.value,
                    external_id=inbound.external_id, chars=len(text), kept=MAX_MESSAGE_TEXT)
        text = text[:MAX_MESSAGE_TEXT - len(note)].rstrip() + note
        html = None  # it would show the whole of what the text no longer holds
    return text, html


def _thread(session: Session, inbound: Inbound, customer: Customer) -> Ticket | None:
    ticket = _by_references(session, inbound) if inbound.replies_to else None
    if ticket is None:
        number = ticket_number_in(inbound.subject)
        if number is not None:
            candidate = session.get(Ticket, number)
            if candidate is not None and _belongs(candidate, customer):
                ticket = candidate
    if ticket is None and inbound.channel in CONVERSATIONAL:
        ticket = session.scalar(
            sa.select(Ticket)
            .where(Ticket.customer_id == customer.id, Ticket.channel == inbound.channel,
                   Ticket.merged_into_id.is_(None),
                   Ticket.status.not_in([Status.SOLVED, Status.CLOSED]))
            .order_by(Ticket.updated_at.desc(), Ticket.id.desc()).limit(1))
    while ticket is not None and ticket.merged_into_id is not None:
        ticket = session.get(Ticket, ticket.merged_into_id)
    return ticket


def _belongs(ticket: Ticket, customer: Customer) -> bool:
    return ticket.customer_id == customer.id or (
        customer.organization_id is not None
        and ticket.organization_id == customer.organization_id)


def _by_references(session: Session, inbound: Inbound) -> Ticket | None:
    refs = [ref for ref in inbound.replies_to if ref][-50:]
    from_messages = (sa.select(Message.ticket_id.label("ticket_id"), Message.id.label("rank"))
                     .where(Message.external_id.in_(refs)))
    from_deliveries = (sa.select(OutboundDelivery.ticket_id.label("ticket_id"),
                                 OutboundDelivery.message_id.label("rank"))
                       .where(OutboundDelivery.external_id.in_(refs)))
    found = sa.union_all(from_messages, from_deliveries).subquery()
    ticket_id = session.scalar(sa.select(found.c.ticket_id).order_by(found.c.rank.desc())
                               .limit(1))
    return None if ticket_id is None else session.get(Ticket, ticket_id)


def _open_ticket(session: Session, inbound: Inbound, customer: Customer,
                 message: tickets.NewMessage, text: str, *, clock: Clock) -> tickets.Opened:
    team_id = inbound.team_id
    if team_id is None and inbound.account_id is not None:
        team_id = session.scalar(_ACCOUNT_TEAM, {"id": inbound.account_id})
        if team_id is not None:
            # The channel's team is a default that routing may improve on (routing.service).
            message.meta = {**message.meta, "team_from_channel": True}
    subject = (inbound.subject or "").strip() or _first_line(text) or default_subject(
        inbound.channel)
    return tickets.open_ticket(
        session, actor=SYSTEM, subject=subject[:MAX_SUBJECT], message=message,
        channel=inbound.channel, customer_id=customer.id, team_id=team_id,
        language=inbound.language, clock=clock)


def _first_line(text: str) -> str:
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return line if len(line) <= MAX_SUBJECT else line[:MAX_SUBJECT - 1].rstrip() + "…"


def default_subject(channel: Channel) -> str:
    return {
        Channel.EMAIL: _("E-mail without a subject"),
        Channel.CHAT: _("Chat from the website"),
        Channel.TELEGRAM: _("Message in Telegram"),
        Channel.VK: _("Message in VK"),
        Channel.WHATSAPP: _("Message in WhatsApp"),
        Channel.PHONE: _("Phone call"),
    }.get(channel, _("New request"))


def _link_follow_up(session: Session, ticket: Ticket, previous_id: int, *,
                    clock: Clock) -> None:
    now = clock.now()
    session.add_all([
        TicketEvent(ticket_id=ticket.id, kind="follow_up", field="follows",
                    to_value=str(previous_id), actor_kind="system", actor_id=None,
                    reason=_("The customer wrote again about a closed request"),
                    data={"follows": previous_id}, at=now),
        TicketEvent(ticket_id=previous_id, kind="follow_up", field="followed_by",
                    to_value=str(ticket.id), actor_kind="system", actor_id=None,
                    reason=_("The customer wrote again about a closed request"),
                    data={"followed_by": ticket.id}, at=now),
    ])
    session.flush()
