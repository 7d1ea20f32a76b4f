"""Replies by e-mail: the Message-ID fixed before the first attempt, threading headers, the
ticket number in the subject, the mailbox's own address and SMTP server (or the
installation's mail settings; with no mail host the message is kept as an .eml file).

A portal or API request is told of each public answer by a short e-mail with the answer and a
link to the request; the customer's reply to it threads into the same ticket by its
Message-ID.
"""

from __future__ import annotations

import asyncio
import email.utils
import html
import mimetypes
import re
from collections.abc import Awaitable, Callable
from email.message import EmailMessage
from typing import Any

import aiosmtplib
import structlog

from zabota.channels.email.parse import addresses
from zabota.channels.models import ChannelAccount
from zabota.channels.outbound import Outgoing, PermanentFailure, register_sender
from zabota.core import mailer
from zabota.core.clock import SYSTEM_CLOCK, Clock
from zabota.core.i18n import _, language
from zabota.core.settings import Settings
from zabota.tickets.models import Channel

log = structlog.get_logger()

_TOLD_BY_EMAIL = frozenset({Channel.PORTAL, Channel.API})
_PREFIXES = re.compile(
    r"^\s*((re|fwd?|aw|wg|tr|ответ|отв|пересл)\s*(\[\d+\])?\s*:\s*|\[#\d+\]\s*)+", re.I)


def reply_subject(ticket_id: int, subject: str) -> str:
    """`Re: [#123] subject`, however many `Re:` and numbers the subject had."""
    core = _PREFIXES.sub("", subject or "").strip()
    return f"Re: [#{ticket_id}] {core}".rstrip()


def sender_address(job: Outgoing, settings: Settings) -> str:
    """The mailbox's address (with its name, if the address has none), else mail_from."""
    account = job.account
    if account is not None and account.address:
        found = addresses(account.address)
        if found:
            name = found[0].name or account.name
            return email.utils.formataddr((name, found[0].email))
    return settings.mail_from


def portal_link(job: Outgoing, settings: Settings) -> str:
    """The signed link that opens the request (see identity.links); a plain one to the portal
    where the job carries none."""
    if job.portal_link:
        return job.portal_link
    base = (settings.public_url or "http://127.0.0.1:8000").rstrip("/")
    return f"{base}/portal/requests/{job.ticket_id}"


def build_reply(job: Outgoing, settings: Settings, *, clock: Clock = SYSTEM_CLOCK,
                ) -> EmailMessage:
    """The reply as the customer's mail client will see it."""
    with language(job.customer_language or settings.default_language):
        body_html: str | None
        if job.message_channel in _TOLD_BY_EMAIL:
            text, body_html = _notice(job, settings)
        else:
            text, body_html = job.text, job.html or None
        subject = reply_subject(job.ticket_id, job.ticket_subject)
    message_id = job.external_id or mailer.make_message_id(sender_address(job, settings))
    recipient = (email.utils.formataddr((job.customer_name, job.recipient))
                 if job.customer_name else job.recipient)
    message = mailer.build_message(
        recipient, subject, text, body_html, sender=sender_address(job, settings),
        message_id=message_id, clock=clock)
    # A person's answer, not an automatic one: the customer's autoresponder may answer it.
    del message["Auto-Submitted"]
    if job.thread:
        message["In-Reply-To"] = job.thread[-1]
        # RFC 5322 §3.6.4; long lists are trimmed in the middle by clients anyway.
        message["References"] = " ".join(job.thread[-20:])
    message["X-Zabota-Ticket"] = str(job.ticket_id)
    for file in job.files:
        data = file.path.read_bytes()
        kind = file.content_type or mimetypes.guess_type(file.filename)[0] or (
            "application/octet-stream")
        maintype, _slash, subtype = kind.partition("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype or "octet-stream",
                               filename=file.filename)
    return message


def _notice(job: Outgoing, settings: Settings) -> tuple[str, str]:
    link = portal_link(job, settings)
    intro = _("You have a new answer to your request #{number} “{subject}”:").format(
        number=job.ticket_id, subject=job.ticket_subject)
    open_it = _("Open the request: {link}").format(link=link)
    reply = _("You can also answer this e-mail: your answer is added to the request.")
    text = "\n\n".join([intro, job.text.strip(), open_it, reply])
    body_html = (f"<p>{html.escape(intro)}</p>"
                 f"<blockquote>{job.html or html.escape(job.text)}</blockquote>"
                 f'<p><a href="{html.escape(link)}">{html.escape(_("Open the request"))}</a></p>'
                 f"<p>{html.escape(reply)}</p>")
    return text, body_html


def smtp_options(account: ChannelAccount | None, settings: Settings) -> dict[str, Any] | None:
    """aiosmtplib options of the mailbox's own SMTP server, or None for the global settings."""
    config: dict[str, Any] = (account.config or {}) if account is not None else {}
    host = str(config.get("smtp_host") or "").strip()
    if not host:
        return None
    use_tls = bool(config.get("smtp_ssl", False))
    options: dict[str, Any] = {
        "hostname": host, "port": int(config.get("smtp_port") or (465 if use_tls else 587)),
        "use_tls": use_tls,
        # Ticked (the default): TLS is required; unticked: plain, for a relay on localhost.
        "start_tls": bool(config.get("smtp_starttls", True)) and not use_tls,
        "timeout": settings.mail_timeout_seconds,
    }
    username = config.get("smtp_username") or config.get("imap_username")
    token = config.get("oauth2_token")
    if token and username:
        options["username"] = username
        options["oauth_token_generator"] = _token(str(token))
    elif config.get("smtp_username") and config.get("smtp_password"):
        options["username"] = config["smtp_username"]
        options["password"] = config["smtp_password"]
    return options


def _token(token: str) -> Callable[[], Awaitable[str]]:
    async def generate() -> str:
        return token

    return generate


async def deliver_async(message: EmailMessage, account: ChannelAccount | None,
                        settings: Settings) -> None:
    options = smtp_options(account, settings)
    if options is None:
        await mailer.deliver_async(message, settings)
        return
    await aiosmtplib.send(message, **options)


@register_sender(Channel.EMAIL)
def send_email(job: Outgoing, settings: Settings) -> str | None:
    """Send one reply; 5xx is a permanent failure, 4xx and the network are retried."""
    message = build_reply(job, settings)
    try:
        asyncio.run(deliver_async(message, job.account, settings))
    except aiosmtplib.SMTPRecipientsRefused as exc:
        if all(refused.code >= 500 for refused in exc.recipients):
            raise PermanentFailure(_("The mail server refused the address: {reason}").format(
                reason="; ".join(f"{r.code} {r.message}" for r in exc.recipients)[:500])
                ) from exc
        raise
    except aiosmtplib.SMTPResponseException as exc:
        if exc.code >= 500:
            raise PermanentFailure(_("The mail server refused the message: {code} {reason}")
                                   .format(code=exc.code, reason=exc.message[:500])) from exc
        raise
    log.info("email.reply_sent", delivery_id=job.delivery_id, ticket_id=job.ticket_id)
    return str(message["Message-ID"])


def check_smtp(account: ChannelAccount, settings: Settings) -> str:
    """Connect and sign in to the mailbox's SMTP server (raises with the server's reason)."""
    options = smtp_options(account, settings)
    if options is None:
        return _("Replies leave through the installation's mail settings")

    async def check() -> None:
        client = aiosmtplib.SMTP(**options)
        await client.connect()
        try:
            await client.noop()
        finally:
            await client.quit()

    asyncio.run(check())
    return _("SMTP: signed in to {host}").format(host=options["hostname"])
