"""The mail job: build and deliver one message, retried with back-off."""

from __future__ import annotations

from typing import Any

import aiosmtplib
import structlog
from huey import signals

from zabota.core import mailer
from zabota.core.settings import get_settings
from zabota.jobs.huey_app import huey

log = structlog.get_logger()


# 8 retries, 30 s doubling: the last one is about two hours after the first try.
@huey.task(retries=8, retry_delay=30, retry_backoff=2)  # type: ignore[untyped-decorator]
def send_mail(to: str, subject: str, text: str, html: str | None = None,
              message_id: str | None = None) -> None:
    """Deliver one message. The Message-ID is fixed by the caller, so a retry after a lost
    reply is recognisably the same message to the receiving server."""
    settings = get_settings()
    message = mailer.build_message(to, subject, text, html, sender=settings.mail_from,
                                   message_id=message_id)
    try:
        mailer.deliver(message, settings)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = sorted({r.code for r in exc.recipients})
        if any(code < 500 for code in codes):
            raise  # 4xx is "try later" (greylisting, full mailbox): Huey retries
        # A permanent "no such mailbox": retrying for two hours would not change the answer.
        log.warning("mail.refused", message_id=message["Message-ID"], codes=codes)


@huey.signal(signals.SIGNAL_ERROR)  # type: ignore[untyped-decorator]
def log_undelivered_mail(signal: str, task: Any, exc: BaseException | None = None) -> None:
    if isinstance(task, send_mail.task_class) and task.retries == 0:
        log.error("mail.undelivered", message_id=task.kwargs.get("message_id"),
                  error=type(exc).__name__)
