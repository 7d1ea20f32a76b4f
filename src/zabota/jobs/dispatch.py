"""Outbox delivery: the first job. Woken after each commit, and every minute as a safety net."""

from __future__ import annotations

import threading
import time

import structlog
from huey import crontab

from zabota.automation import service as _automation  # noqa: F401 - outbox subscribers
from zabota.channels import outbound as _outbound  # noqa: F401 - outbox subscribers
from zabota.core import outbox
from zabota.core.db import get_database
from zabota.core.settings import get_settings
from zabota.jobs.huey_app import huey
from zabota.kb import analytics as _kb_analytics  # noqa: F401 - outbox subscribers
from zabota.routing import service as _routing  # noqa: F401 - outbox subscribers

log = structlog.get_logger()
_WAKE_INTERVAL = 0.5
_covered_until = 0.0
_lock = threading.Lock()


@huey.task(retries=3, retry_delay=5)  # type: ignore[untyped-decorator]
def dispatch_outbox() -> int:
    """Deliver every due outbox event; safe to run twice or on several workers at once."""
    delivered = 0
    settings = get_settings()
    while True:
        with get_database().session_scope() as session:
            batch = outbox.dispatch_pending(session, max_attempts=settings.outbox_max_attempts)
        delivered += batch
        if batch == 0:
            return delivered


@huey.periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def dispatch_outbox_periodically() -> None:
    dispatch_outbox.call_local()


def request_dispatch() -> None:
    """Make sure a dispatch runs after this commit, enqueueing at most two a second.

    A dispatch already queued to start after now will see this commit's events, so we add
    none; otherwise the next one starts at once or at the end of the current interval.
    """
    global _covered_until
    now = time.monotonic()
    with _lock:
        if now < _covered_until:
            return
        eta = max(now, _covered_until + _WAKE_INTERVAL)
        _covered_until = eta
    try:
        if eta > now:
            dispatch_outbox.schedule(delay=eta - now)
        else:
            dispatch_outbox()
    except Exception as exc:  # the queue being down must not fail the request; cron catches up
        log.warning("outbox.wakeup_failed", error=type(exc).__name__)


def install_wakeup() -> None:
    outbox.on_commit_wakeup(request_dispatch)
