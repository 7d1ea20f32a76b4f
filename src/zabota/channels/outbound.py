"""What every channel shares on the way out: a public reply becomes an `OutboundDelivery` in the
same transaction chain as the message, and a job hands it to the channel's sender, retrying
with back-off until it is sent or dead-lettered for an admin to replay.

A channel registers one `Sender`: it gets an `Outgoing` (everything it needs, already read from
the database) and returns the id the platform gave the message, or raises to be retried.
Senders talk to the network outside any database transaction.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from zabota.channels.models import ChannelAccount, DeliveryStatus, OutboundDelivery
from zabota.core import mailer
from zabota.core.clock import SYSTEM_CLOCK, Clock
from zabota.core.outbox import OutboxEvent, after_commit, subscribe
from zabota.core.settings import Settings, get_settings
from zabota.identity.links import link_to_request
from zabota.identity.models import ChannelIdentity, Customer, IdentityKind
from zabota.tickets.models import Channel, Message, Ticket

log = structlog.get_logger()

BACKOFF_BASE = timedelta(seconds=30)
MAX_ATTEMPTS = 8  # 30 s doubling: the last try about two hours after the first
# A claimed delivery is not picked again for this long (the sender's own timeouts are shorter).
LEASE = timedelta(minutes=5)


class PermanentFailure(Exception):
    """The platform said no for good (blocked bot, unknown user): retrying will not help."""


@dataclass(frozen=True)
class OutgoingFile:
    filename: str
    content_type: str
    path: Path


@dataclass(frozen=True)
class Outgoing:
    """One reply to send, with everything a sender needs already read from the database."""

    delivery_id: int
    channel: Channel  # the channel it goes out on
    message_channel: Channel  # the channel of the message (portal, api: told by e-mail)
    recipient: str
    account: ChannelAccount | None
    ticket_id: int
    ticket_subject: str
    customer_name: str
    customer_language: str | None
    text: str
    html: str
    files: Sequence[OutgoingFile] = ()
    # Fixed before the first attempt where the channel lets us choose it (e-mail Message-ID).
    external_id: str | None = None
    # External ids of the conversation so far, oldest first (e-mail References).
    thread: Sequence[str] = field(default_factory=tuple)
    # For portal and API requests: the signed link back to the request in the portal.
    portal_link: str | None = None
    # Parts an earlier attempt got accepted (see `hooks.send_in_order`), and how the sending
    # job records each part as it is accepted.
    parts_sent: int = 0
    on_part_sent: Callable[[int, str | None], None] | None = None


Sender = Callable[[Outgoing, Settings], "str | None"]
_senders: dict[Channel, Sender] = {}

# A reply on the portal or the API is told to the customer by e-mail.
_TOLD_BY_EMAIL = frozenset({Channel.PORTAL, Channel.API})
IDENTITY_OF = {
    Channel.EMAIL: IdentityKind.EMAIL, Channel.TELEGRAM: IdentityKind.TELEGRAM,
    Channel.VK: IdentityKind.VK, Channel.WHATSAPP: IdentityKind.WHATSAPP,
    Channel.CHAT: IdentityKind.CHAT, Channel.PHONE: IdentityKind.PHONE,
}


def register_sender(channel: Channel) -> Callable[[Sender], Sender]:
    def register(sender: Sender) -> Sender:
        _senders[channel] = sender
        return sender

    return register


def sender_for(channel: Channel) -> Sender | None:
    return _senders.get(channel)


# --- planning: in the outbox dispatcher's transaction --------------------------------------


@subscribe("message.created")
def plan_delivery(session: Session, row: OutboxEvent) -> None:
    """A public answer by an agent or the bot goes to the customer on the message's channel."""
    payload = row.payload
    if payload.get("author_kind") not in ("agent", "bot") or payload.get("is_internal"):
        return
    message_id = int(payload["message_id"])
    if session.scalar(sa.select(OutboundDelivery.id)
                      .where(OutboundDelivery.message_id == message_id)) is not None:
        return  # planned already (the dispatcher retried this event)
    message = session.get(Message, message_id)
    if message is None:
        return
    delivery = plan(session, message)
    if delivery is not None:
        after_commit(session, lambda: enqueue(delivery.id))


def plan(session: Session, message: Message, *, clock: Clock = SYSTEM_CLOCK,
         settings: Settings | None = None) -> OutboundDelivery | None:
    """The delivery of one public reply, or None where the channel has no way back (a
    phone call, a customer without the identity the channel needs)."""
    settings = settings or get_settings()
    ticket = session.get(Ticket, message.ticket_id)
    if ticket is None:
        return None
    channel = Channel.EMAIL if message.channel in _TOLD_BY_EMAIL else message.channel
    if channel not in IDENTITY_OF or channel not in _senders:
        return None
    recipient = _recipient(session, ticket, channel)
    if recipient is None:
        log.info("channels.no_recipient", ticket_id=ticket.id, channel=channel.value)
        return None
    account_id = _account_for(session, ticket, channel)
    external_id = None
    if channel == Channel.EMAIL:
        account = session.get(ChannelAccount, account_id) if account_id else None
        external_id = mailer.make_message_id(
            account.address if account and account.address else settings.mail_from)
    now = clock.now()
    delivery = OutboundDelivery(
        message_id=message.id, ticket_id=ticket.id, channel=channel, account_id=account_id,
        recipient=recipient, status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=now,
        external_id=external_id, created_at=now)
    session.add(delivery)
    session.flush()
    return delivery


def _recipient(session: Session, ticket: Ticket, channel: Channel) -> str | None:
    """The address the customer last wrote to us from on this channel, else their identity."""
    last_from = session.scalar(
        sa.select(Message.meta).where(Message.ticket_id == ticket.id,
                                      Message.direction == "inbound", Message.channel == channel)
        .order_by(Message.id.desc()).limit(1))
    if last_from and last_from.get("reply_to"):
        return str(last_from["reply_to"])
    customer = session.get(Customer, ticket.customer_id)
    while customer is not None and customer.merged_into_id is not None:
        customer = session.get(Customer, customer.merged_into_id)
    if customer is None:
        return None
    if channel == Channel.EMAIL and customer.email:
        return customer.email
    return session.scalar(
        sa.select(ChannelIdentity.value)
        .where(ChannelIdentity.customer_id == customer.id,
               ChannelIdentity.kind == IDENTITY_OF[channel])
        .order_by(ChannelIdentity.id.desc()).limit(1))


def _account_for(session: Session, ticket: Ticket, channel: Channel) -> int | None:
    """The account the customer wrote through, else one of the ticket's team, else any."""
    came_through = session.scalar(
        sa.select(Message.account_id).where(Message.ticket_id == ticket.id,
                                            Message.channel == channel,
                                            Message.account_id.is_not(None))
        .order_by(Message.id.desc()).limit(1))
    if came_through is not None:
        return came_through
    return session.scalar(
        sa.select(ChannelAccount.id)
        .where(ChannelAccount.kind == channel, ChannelAccount.enabled.is_(True))
        .order_by((ChannelAccount.team_id == ticket.team_id).desc(), ChannelAccount.id)
        .limit(1))


def reply_options(session: Session, ticket: Ticket) -> list[Channel]:
    """The channels an answer to this ticket can go out on: the one the customer last wrote
    on first, then every other one we have an identity of theirs for."""
    from zabota.tickets.service import reply_channel

    default = reply_channel(session, ticket)
    kinds = set(session.scalars(sa.select(ChannelIdentity.kind)
                                .where(ChannelIdentity.customer_id == ticket.customer_id)))
    others = [channel for channel, kind in IDENTITY_OF.items()
              if kind in kinds and channel in _senders and channel != default]
    return [default, *others]


def record_bounce(session: Session, external_ids: Sequence[str], failure: str, *,
                  clock: Clock = SYSTEM_CLOCK) -> list[OutboundDelivery]:
    """A mail system reported that our e-mail with one of these Message-IDs never reached the
    customer: the reply shows as not delivered (with what the mail system said), it joins
    the undelivered replies an admin can send again, and the ticket's history says so."""
    from zabota.tickets import service as tickets  # tickets import channels' models, not us

    if not external_ids:
        return []
    rows = list(session.scalars(sa.select(OutboundDelivery).where(
        OutboundDelivery.channel == Channel.EMAIL,
        OutboundDelivery.external_id.in_(list(external_ids)[:50]),
        OutboundDelivery.status == DeliveryStatus.SENT)))
    for row in rows:
        row.status = DeliveryStatus.DEAD
        row.last_error = f"bounced: {failure}" if failure else "bounced"
        tickets.record_decision(session, row.ticket_id, "reply_bounced", clock=clock,
                                reason=row.last_error[:500],
                                data={"message_id": row.message_id,
                                      "recipient": row.recipient, "failure": failure})
        log.info("channels.reply_bounced", delivery_id=row.id, ticket_id=row.ticket_id)
    return rows


def deliveries_of(session: Session, message_ids: Sequence[int]) -> dict[int, OutboundDelivery]:
    if not message_ids:
        return {}
    rows = session.scalars(sa.select(OutboundDelivery)
                           .where(OutboundDelivery.message_id.in_(message_ids)))
    return {row.message_id: row for row in rows}


# --- sending: in the job, outside transactions while on the network ------------------------


def enqueue(delivery_id: int) -> None:
    from zabota.jobs.channels import deliver_outbound  # the job layer imports us, not back

    try:
        deliver_outbound(delivery_id)
    except Exception as exc:  # the queue being down must not fail a reply: the sweep catches up
        log.warning("channels.enqueue_failed", delivery_id=delivery_id,
                    error=type(exc).__name__)


def claim(session: Session, delivery_id: int, *, clock: Clock = SYSTEM_CLOCK) -> bool:
    """Take a due delivery for one attempt; False if it is not due or someone else has it."""
    now = clock.now()
    result = session.execute(
        sa.update(OutboundDelivery)
        .where(OutboundDelivery.id == delivery_id,
               OutboundDelivery.status == DeliveryStatus.PENDING,
               OutboundDelivery.next_attempt_at <= now)
        .values(next_attempt_at=now + LEASE))
    return bool(getattr(result, "rowcount", 0))


def outgoing(session: Session, delivery_id: int, settings: Settings) -> Outgoing:
    delivery = session.get_one(OutboundDelivery, delivery_id)
    message = session.get_one(Message, delivery.message_id)
    ticket = session.get_one(Ticket, delivery.ticket_id)
    customer = session.get_one(Customer, ticket.customer_id)
    account = session.get(ChannelAccount, delivery.account_id) if delivery.account_id else None
    if account is not None:
        session.expunge(account)
    thread: list[str] = []
    if delivery.channel == Channel.EMAIL:
        thread = [ref for ref in session.scalars(
            sa.select(Message.external_id).where(Message.ticket_id == ticket.id,
                                                 Message.channel == Channel.EMAIL,
                                                 Message.external_id.is_not(None),
                                                 Message.id < message.id)
            .order_by(Message.id)) if ref]
        thread += [ref for ref in session.scalars(
            sa.select(OutboundDelivery.external_id)
            .where(OutboundDelivery.ticket_id == ticket.id,
                   OutboundDelivery.channel == Channel.EMAIL,
                   OutboundDelivery.status == DeliveryStatus.SENT,
                   OutboundDelivery.id < delivery.id).order_by(OutboundDelivery.id)) if ref]
    files = [OutgoingFile(a.filename, a.content_type, settings.attachments_path / a.storage_key)
             for a in message.attachments]
    return Outgoing(
        delivery_id=delivery.id, channel=delivery.channel, message_channel=message.channel,
        recipient=delivery.recipient, account=account, ticket_id=ticket.id,
        ticket_subject=ticket.subject, customer_name=customer.name,
        customer_language=customer.language, text=message.body_text, html=message.body_html,
        files=files, external_id=delivery.external_id, thread=thread[-20:],
        parts_sent=delivery.parts_sent,
        portal_link=(link_to_request(settings, customer, ticket.id)
                     if message.channel in _TOLD_BY_EMAIL else None))


def record_result(session: Session, delivery_id: int, *, external_id: str | None = None,
                  error: BaseException | None = None, permanent: bool = False,
                  max_attempts: int = MAX_ATTEMPTS, clock: Clock = SYSTEM_CLOCK,
                  ) -> OutboundDelivery:
    delivery = session.get_one(OutboundDelivery, delivery_id)
    now = clock.now()
    delivery.attempts += 1
    if error is None:
        delivery.status = DeliveryStatus.SENT
        delivery.sent_at = now
        delivery.last_error = None
        delivery.external_id = external_id or delivery.external_id
        return delivery
    delivery.last_error = "".join(traceback.format_exception_only(error))[-2000:]
    if permanent or delivery.attempts >= max_attempts:
        delivery.status = DeliveryStatus.DEAD
        log.error("channels.delivery_dead", delivery_id=delivery.id,
                  channel=delivery.channel.value, error=type(error).__name__)
    else:
        delay = BACKOFF_BASE * 2 ** (delivery.attempts - 1)
        # A platform that said how long to wait (HTTP 429 retry_after) is not asked sooner.
        asked = getattr(error, "retry_after", None)
        if isinstance(asked, (int, float)) and asked > 0:
            delay = max(delay, timedelta(seconds=float(asked)))
        delivery.next_attempt_at = now + delay
        log.warning("channels.delivery_retry", delivery_id=delivery.id,
                    attempts=delivery.attempts, error=type(error).__name__)
    return delivery


def record_part_sent(session: Session, delivery_id: int, parts_sent: int,
                     first_id: str | None) -> None:
    """The platform accepted another part of a long reply: a retry resumes after it."""
    delivery = session.get_one(OutboundDelivery, delivery_id)
    delivery.parts_sent = parts_sent
    delivery.external_id = delivery.external_id or first_id


def due(session: Session, *, limit: int = 200, clock: Clock = SYSTEM_CLOCK) -> list[int]:
    return list(session.scalars(
        sa.select(OutboundDelivery.id)
        .where(OutboundDelivery.status == DeliveryStatus.PENDING,
               OutboundDelivery.next_attempt_at <= clock.now())
        .order_by(OutboundDelivery.id).limit(limit)))


def replay_dead(session: Session, delivery_ids: Sequence[int] | None = None, *,
                clock: Clock = SYSTEM_CLOCK) -> list[int]:
    """Put dead-lettered deliveries back in the queue (all, or the given ids)."""
    query = sa.select(OutboundDelivery).where(OutboundDelivery.status == DeliveryStatus.DEAD)
    if delivery_ids is not None:
        query = query.where(OutboundDelivery.id.in_(delivery_ids))
    rows = list(session.scalars(query))
    for row in rows:
        row.status, row.attempts, row.next_attempt_at = DeliveryStatus.PENDING, 0, clock.now()
    ids = [row.id for row in rows]

    def enqueue_all() -> None:
        for delivery_id in ids:
            enqueue(delivery_id)

    after_commit(session, enqueue_all)
    return ids


def list_deliveries(session: Session, *, status: DeliveryStatus | None = None,
                    limit: int = 100) -> Sequence[OutboundDelivery]:
    query = sa.select(OutboundDelivery).order_by(OutboundDelivery.id.desc()).limit(limit)
    if status is not None:
        query = query.where(OutboundDelivery.status == status)
    return session.scalars(query).all()
