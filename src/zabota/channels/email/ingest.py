"""One raw e-mail into the helpdesk: parsed, checked for loops, stored once through the shared
inbound core; what cannot be read is quarantined with the reason, never dropped."""

from __future__ import annotations

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zabota.channels import service as channels
from zabota.channels.email.parse import (
    IgnoreCode,
    IgnoredReason,
    MalformedEmail,
    external_id_of,
    own_address_set,
    parse,
)
from zabota.channels.inbound import Received, receive, stored_before
from zabota.channels.models import ChannelAccount, OutboundDelivery, QuarantinedDelivery
from zabota.channels.outbound import record_bounce
from zabota.core.clock import SYSTEM_CLOCK, Clock
from zabota.core.db import Database, race_guard
from zabota.core.errors import InvalidInput
from zabota.core.i18n import _
from zabota.core.settings import Settings
from zabota.tickets.models import Channel

log = structlog.get_logger()


def own_addresses(session: Session, settings: Settings) -> frozenset[str]:
    """Addresses mail from which is our own coming back: our mailboxes and the system sender."""
    accounts = session.scalars(sa.select(ChannelAccount.address).where(
        ChannelAccount.kind == Channel.EMAIL, ChannelAccount.address.is_not(None)))
    return own_address_set([*accounts, settings.mail_from])


def too_large(size: int, settings: Settings) -> str:
    return _("The message ({size} kB) is larger than the limit of {limit} kB; only its header "
             "is kept").format(size=size // 1024, limit=settings.email_max_message_bytes // 1024)


def header_block(raw: bytes) -> bytes:
    """The header of a message (what we keep of one too large to store)."""
    end = raw.find(b"\r\n\r\n")
    end = raw.find(b"\n\n") if end < 0 else end
    return raw[:end if 0 <= end < 256 * 1024 else 256 * 1024]


def take(session: Session, raw: bytes, *, account_id: int | None, settings: Settings,
         clock: Clock = SYSTEM_CLOCK, own: frozenset[str] | None = None,
         ) -> Received | IgnoredReason:
    """Parse and store one message; raises `MalformedEmail` for what cannot be read.
    `own`: our addresses (`own_addresses`), when the caller read them once for a batch.

    The caller commits (and on any other error rolls back and counts a failure)."""
    if len(raw) > settings.email_max_message_bytes:
        raise MalformedEmail(too_large(len(raw), settings))
    if own is None:
        own = own_addresses(session, settings)
    parsed = parse(raw, account_id=account_id, own_addresses=own)
    if parsed.ignored is not None:
        log.info("email.ignored", code=parsed.ignored.code.value,
                 message_id=parsed.ignored.external_id, account_id=account_id)
        if parsed.ignored.bounced:  # about one of our replies? then it did not arrive
            record_bounce(session, parsed.ignored.bounced, parsed.ignored.failure, clock=clock)
        return parsed.ignored
    inbound = parsed.inbound
    assert inbound is not None
    if not inbound.text.strip() and not inbound.files:
        # A subject and nothing else ("see subject", a blank reply) is still a request; the
        # ticket service refuses an empty message, and a refusal would lose the mail.
        inbound.text = _("(The e-mail has no text)")
    if session.scalar(_OURS, {"external_id": inbound.external_id}) is not None:
        # One of our replies came back (a forwarding rule, our address in Cc): a loop.
        log.info("email.ignored", code=IgnoreCode.LOOP.value, message_id=inbound.external_id)
        return IgnoredReason(IgnoreCode.LOOP, "our own message", inbound.external_id)
    try:
        with race_guard(session):
            return receive(session, inbound, settings=settings, clock=clock)
    except IntegrityError:
        # Another process stored the same Message-ID a moment ago (two pollers, SMTP and
        # IMAP at once): the unique key decided, and this copy is the duplicate.
        existing = stored_before(session, Channel.EMAIL, inbound.external_id)
        if existing is None:
            raise
        return existing


_OURS = sa.select(OutboundDelivery.id).where(  # built once: asked of every message
    OutboundDelivery.channel == Channel.EMAIL,
    OutboundDelivery.external_id == sa.bindparam("external_id")).limit(1)


def ingest_raw(session: Session, raw: bytes, *, account_id: int | None, settings: Settings,
               clock: Clock = SYSTEM_CLOCK, own: frozenset[str] | None = None,
               ) -> Received | IgnoredReason:
    """Store one raw message exactly once, or say why it creates no ticket.

    Malformed mail is quarantined (in this transaction) with the reason and reported as
    ignored; it never raises for the content of the message. The caller commits."""
    try:
        return take(session, raw, account_id=account_id, settings=settings, clock=clock,
                    own=own)
    except MalformedEmail as exc:
        return quarantine_raw(session, raw, str(exc), account_id=account_id,
                              settings=settings, clock=clock)


def quarantine_raw(session: Session, raw: bytes, reason: str, *, account_id: int | None,
                   settings: Settings, clock: Clock = SYSTEM_CLOCK) -> IgnoredReason:
    """Keep a message we will not take with the reason, for an admin. The caller commits."""
    external_id = external_id_of(raw)
    payload = raw if len(raw) <= settings.email_max_message_bytes else header_block(raw)
    channels.quarantine(session, channel=Channel.EMAIL, payload=payload, reason=reason,
                        account_id=account_id, external_id=external_id, clock=clock)
    log.warning("email.quarantined", message_id=external_id, account_id=account_id)
    return IgnoredReason(IgnoreCode.MALFORMED, reason, external_id)


def store_raw(database: Database, raw: bytes, *, account_id: int | None, settings: Settings,
              clock: Clock = SYSTEM_CLOCK, own: frozenset[str] | None = None,
              ) -> Received | IgnoredReason:
    """`ingest_raw` in a transaction of its own, committed. A message the ticket service
    refuses (`InvalidInput`) is refused for good: retrying it would fail the same way, so it
    is quarantined with the reason instead. Any other error is raised (try again later)."""
    try:
        with database.session_scope() as session:
            return ingest_raw(session, raw, account_id=account_id, settings=settings,
                              clock=clock, own=own)
    except InvalidInput as exc:  # rolled back: quarantine it in a transaction of its own
        reason = _("The message cannot be stored: {reason}").format(
            reason=exc.detail or _(exc.title))
        with database.session_scope() as session:
            return quarantine_raw(session, raw, reason, account_id=account_id,
                                  settings=settings, clock=clock)


@channels.register_reingest(Channel.EMAIL)
def reingest(session: Session, row: QuarantinedDelivery) -> Received | IgnoredReason:
    """An admin released a quarantined message: try it again (raises if it fails again)."""
    from zabota.core.settings import get_settings

    return take(session, row.payload, account_id=row.account_id, settings=get_settings())
