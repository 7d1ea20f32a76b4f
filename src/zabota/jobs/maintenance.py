"""Housekeeping jobs."""

from __future__ import annotations

from huey import crontab

from zabota.core.db import get_database, refresh_statistics
from zabota.jobs.huey_app import huey


@huey.periodic_task(crontab(minute="17"))  # type: ignore[untyped-decorator]
def refresh_query_statistics() -> None:
    """Keep SQLite's planner statistics current (PostgreSQL's autovacuum does this itself).

    Without them SQLite picks a full sort for an unfiltered inbox at 100k tickets (63 ms
    instead of 1 ms in benchmarks/inbox.py).
    """
    refresh_statistics(get_database().engine)
