"""Channel jobs: deliver replies to the customers' channels, retried with back-off."""

from __future__ import annotations

import dataclasses

import structlog
from huey import crontab

from zabota.channels import load_adapters, outbound
from zabota.channels.models import DeliveryStatus
from zabota.core.clock import SYSTEM_CLOCK
from zabota.core.db import get_database
from zabota.core.settings import get_settings
from zabota.jobs.huey_app import huey

log = structlog.get_logger()
load_adapters()  # the senders the deliveries need


@huey.task()  # type: ignore[untyped-decorator]
def deliver_outbound(delivery_id: int) -> str:
    """One attempt at one delivery. Retries are scheduled by the delivery row, not by Huey,
    so that a lost task is picked up again by the sweep and an admin can see every try."""
    settings = get_settings()
    database = get_database()
    with database.session_scope() as session:
        if not outbound.claim(session, delivery_id):
            return "not due"
    with database.read_sessions() as session:
        job = outbound.outgoing(session, delivery_id, settings)

    def part_sent(parts_sent: int, first_id: str | None) -> None:
        with database.session_scope() as session:
            outbound.record_part_sent(session, delivery_id, parts_sent, first_id)

    job = dataclasses.replace(job, on_part_sent=part_sent)
    sender = outbound.sender_for(job.channel)
    error: BaseException | None = None
    external_id: str | None = None
    permanent = False
    try:
        if sender is None:
            raise outbound.PermanentFailure(f"no sender for {job.channel.value}")
        external_id = sender(job, settings)
    except outbound.PermanentFailure as exc:
        error, permanent = exc, True
    except Exception as exc:  # any failure of the network or the platform: try again later
        error = exc
    with database.session_scope() as session:
        row = outbound.record_result(session, delivery_id, external_id=external_id,
                                     error=error, permanent=permanent)
        status, next_at = row.status, row.next_attempt_at
    if status == DeliveryStatus.PENDING:
        delay = (next_at - SYSTEM_CLOCK.now()).total_seconds()
        deliver_outbound.schedule((delivery_id,), delay=max(delay, 1.0))
    return status.value


@huey.periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]
def deliver_due_outbound() -> int:
    """The safety net: deliveries whose task was lost (a restart, a full queue) go out."""
    with get_database().read_sessions() as session:
        ids = outbound.due(session)
    for delivery_id in ids:
        deliver_outbound.call_local(delivery_id)
    return len(ids)
