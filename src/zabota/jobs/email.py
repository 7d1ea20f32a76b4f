"""E-mail jobs: poll every IMAP mailbox once a minute."""

from __future__ import annotations

from huey import crontab

from zabota.channels.email import imap
from zabota.core.db import get_database
from zabota.core.settings import get_settings
from zabota.jobs.huey_app import huey

# A bounded share per run, so one huge mailbox does not hold a worker for long: the rest is
# taken by the next runs (and a message is never skipped: what is not flagged is fetched).
MAX_MESSAGES_PER_POLL = 1000


@huey.periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def poll_mailboxes() -> int:
    """Fetch new mail of every enabled mailbox, in parallel; returns the messages stored."""
    results = imap.poll_all(get_database(), get_settings(), max_messages=MAX_MESSAGES_PER_POLL)
    return sum(result.stored for result in results)
