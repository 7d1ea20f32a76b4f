"""Outbound system mail: a proper message, sent over SMTP or, with no mail host, kept as a file.

Callers use `send()`, which queues the message; the `send_mail` job builds and delivers it
with retries. `build_message` and `deliver` are the parts the job (and tests) put together.
"""

from __future__ import annotations

import asyncio
import email.utils
import os
import secrets
from email.message import EmailMessage
from email.policy import SMTP
from pathlib import Path

import aiosmtplib
import structlog

from zabota.core.clock import SYSTEM_CLOCK, Clock
from zabota.core.settings import Settings, get_settings

log = structlog.get_logger()
_MAX_LINE_OCTETS = 998  # RFC 5322 §2.1.1, without the CRLF


def make_message_id(sender: str) -> str:
    """A fresh Message-ID in the sender's domain (RFC 5322 §3.6.4)."""
    domain = email.utils.parseaddr(sender)[1].rpartition("@")[2] or "zabota.local"
    # Short enough that the header is not folded: some receivers keep the fold's space.
    return f"<{secrets.token_hex(16)}@{domain}>"


def build_message(to: str, subject: str, text: str, html: str | None = None, *,
                  sender: str = "", message_id: str | None = None,
                  clock: Clock = SYSTEM_CLOCK) -> EmailMessage:
    """A UTF-8 message with Date and Message-ID; an empty sender is filled in by `deliver`."""
    message = EmailMessage()
    if sender:
        message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = email.utils.format_datetime(clock.now())
    message["Message-ID"] = message_id or make_message_id(sender)
    # RFC 3834: tells autoresponders and vacation replies not to answer a robot.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(text, subtype="plain", charset="utf-8", cte=_transfer_encoding(text))
    if html is not None:
        message.add_alternative(html, subtype="html", charset="utf-8",
                                cte=_transfer_encoding(html))
    return message


def _transfer_encoding(body: str) -> str:
    # 8bit keeps the saved .eml readable (a developer copies the magic link out of it);
    # aiosmtplib re-encodes to 7bit for the rare server without 8BITMIME.
    lines = body.encode("utf-8").splitlines()
    return "8bit" if all(len(line) <= _MAX_LINE_OCTETS for line in lines) else "quoted-printable"


def deliver(message: EmailMessage, settings: Settings) -> Path | None:
    """Send over SMTP when a mail host is set; otherwise save the message and return its path.

    Raises on a connection or SMTP error, so the calling job retries. Must not be called from
    a running event loop: use `deliver_async` there.
    """
    return asyncio.run(deliver_async(message, settings))


async def deliver_async(message: EmailMessage, settings: Settings) -> Path | None:
    if message["From"] is None:
        message["From"] = settings.mail_from
    if not settings.mail_host:
        return save_to_file(message, settings.mail_dir)
    await aiosmtplib.send(
        message, hostname=settings.mail_host, port=settings.mail_port,
        username=settings.mail_user or None, password=settings.mail_password or None,
        use_tls=settings.mail_use_tls,
        start_tls=settings.mail_starttls and not settings.mail_use_tls,
        timeout=settings.mail_timeout_seconds,
    )
    log.info("mail.sent", message_id=message["Message-ID"])
    return None


def save_to_file(message: EmailMessage, directory: Path) -> Path:
    """Write the message as an .eml file, atomically (a watcher never sees half a file)."""
    directory.mkdir(parents=True, exist_ok=True)
    stamp = email.utils.parsedate_to_datetime(str(message["Date"])).strftime("%Y%m%dT%H%M%S")
    path = directory / f"{stamp}-{secrets.token_hex(4)}.eml"
    partial = path.with_suffix(".part")
    # The file may hold a sign-in link: readable by the server's user only.
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(message.as_bytes(policy=SMTP))
    os.replace(partial, path)
    log.info("mail.saved_to_file", path=str(path), message_id=message["Message-ID"])
    return path


def send(to: str, subject: str, text: str, html: str | None = None, *,
         settings: Settings | None = None) -> str:
    """Queue a message for delivery and return its Message-ID (kept across retries).

    Call after the transaction that made the message true has committed.
    """
    from zabota.jobs.mail import send_mail  # jobs import the core, not back

    message_id = make_message_id((settings or get_settings()).mail_from)
    send_mail(to=to, subject=subject, text=text, html=html, message_id=message_id)
    return message_id
