"""Jobs: retrain the category model every night and when an admin asks."""

from __future__ import annotations

import structlog
from huey import crontab

from zabota.core.db import get_database
from zabota.identity.permissions import SYSTEM
from zabota.jobs.huey_app import huey
from zabota.routing import errors, service

log = structlog.get_logger()


@huey.task(retries=1, retry_delay=300)  # type: ignore[untyped-decorator]
def retrain_category_model() -> str | None:
    """Train on the solved tickets and register the model; None on a cold start."""
    try:
        model = service.train_in(get_database(), actor=SYSTEM)
    except errors.NotEnoughTrainingData as exc:
        log.info("routing.cold_start", rows=exc.data.get("rows"))
        return None
    return model.version


@huey.periodic_task(crontab(hour="3", minute="40"))  # type: ignore[untyped-decorator]
def retrain_category_model_nightly() -> None:
    retrain_category_model.call_local()
