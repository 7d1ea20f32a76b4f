"""The built-in SMTP receiver, for installations that point MX or a relay at Zabota.

It takes mail for the addresses of the e-mail channel accounts (550 for any other; while no
account has an address, for any address, so a fresh install can be tried), stores each
message through `store_raw` and commits before it answers 250: a 250 means the message is
ours. A message that can never be stored (unreadable, refused by the ticket service) is
quarantined for an admin and also answered 250: a 4xx would only make the sender retry it
until it bounces. Any other failure to store answers 451, so the sending server tries again
later; the Message-ID makes the second delivery a duplicate rather than a second message.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import sqlalchemy as sa
import structlog
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope
from aiosmtpd.smtp import Session as SMTPSession

from zabota.channels.email.ingest import store_raw
from zabota.channels.email.parse import addresses
from zabota.channels.models import ChannelAccount
from zabota.core.clock import SYSTEM_CLOCK, Clock
from zabota.core.db import Database
from zabota.core.settings import Settings
from zabota.tickets.models import Channel

log = structlog.get_logger()

_ANY = -1  # no account has an address yet: take mail for any recipient


class EmailReceiver:
    """The aiosmtpd handler: RCPT checks the address, DATA stores the message."""

    def __init__(self, database: Database, settings: Settings, *,
                 clock: Clock = SYSTEM_CLOCK) -> None:
        self.database = database
        self.settings = settings
        self.clock = clock

    def account_for(self, recipient: str) -> int | None:
        """The account that receives mail for this address; `_ANY` while none has one."""
        wanted = recipient.strip().strip("<>").lower()
        with self.database.read_sessions() as session:
            rows = session.execute(sa.select(ChannelAccount.id, ChannelAccount.address).where(
                ChannelAccount.kind == Channel.EMAIL, ChannelAccount.enabled.is_(True),
                ChannelAccount.address.is_not(None))).all()
        if not rows:
            return _ANY
        for account_id, address in rows:
            if any(found.email == wanted for found in addresses(address)):
                return int(account_id)
        return None

    def store(self, raw: bytes, account_id: int | None) -> str:
        result = store_raw(self.database, raw, account_id=account_id, settings=self.settings,
                           clock=self.clock)
        return type(result).__name__

    async def handle_RCPT(self, server: SMTP, session: SMTPSession, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        try:
            account_id = await asyncio.to_thread(self.account_for, address)
        except Exception as exc:
            log.error("email.smtp_rcpt_failed", error=type(exc).__name__)
            return "451 4.3.0 Temporary failure, please try again later"
        if account_id is None:
            return f"550 5.1.1 <{address}>: no such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: SMTPSession,
                          envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if isinstance(envelope.content, bytes) and not raw:
            raw = envelope.content
        # The final delivery agent records the envelope sender (RFC 5321 §4.4): a null
        # one marks bounces and auto-replies, which must not become tickets.
        sender = (envelope.mail_from or "").strip().strip("<>")
        raw = f"Return-Path: <{sender}>\r\n".encode("utf-8", "replace") + raw
        try:
            account_id = await asyncio.to_thread(self._first_account, envelope.rcpt_tos)
            outcome = await asyncio.to_thread(self.store, raw, account_id)
        except Exception as exc:  # the database is away or busy: the sender retries
            log.error("email.smtp_store_failed", error=type(exc).__name__)
            return "451 4.3.0 Temporary failure, please try again later"
        log.info("email.smtp_received", outcome=outcome, account_id=account_id)
        return "250 2.0.0 OK: message accepted"

    def _first_account(self, recipients: list[str]) -> int | None:
        for recipient in recipients:
            account_id = self.account_for(recipient)
            if account_id is not None:
                return None if account_id == _ANY else account_id
        return None


class ReceiverController(Controller):
    """aiosmtpd's controller (its own thread and event loop), bound as configured."""

    def __init__(self, handler: EmailReceiver, *, hostname: str, port: int,
                 data_size_limit: int, **kwargs: Any) -> None:
        super().__init__(handler, hostname=hostname, port=port, data_size_limit=data_size_limit,
                         ident="Zabota ESMTP", **kwargs)


def start_smtp_receiver(settings: Settings, database: Database, *,
                        clock: Clock = SYSTEM_CLOCK) -> ReceiverController | None:
    """Start the receiver in a thread (None when switched off or the port is taken)."""
    if not settings.smtp_enabled:
        return None
    controller = ReceiverController(
        EmailReceiver(database, settings, clock=clock), hostname=settings.smtp_host,
        port=settings.smtp_port, data_size_limit=settings.email_max_message_bytes)
    try:
        controller.start()
    except (OSError, RuntimeError) as exc:
        log.error("email.smtp_not_started", host=settings.smtp_host, port=settings.smtp_port,
                  error=str(exc))
        return None
    log.info("email.smtp_listening", host=settings.smtp_host, port=settings.smtp_port)
    return controller


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (for tests and benchmarks)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
