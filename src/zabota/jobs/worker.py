"""Huey consumers: a standalone worker, or threads inside the server for the embedded default."""

from __future__ import annotations

import threading

import structlog
from huey.consumer import Consumer

from zabota.jobs import (
    channels,  # noqa: F401 - registers the tasks
    dispatch,  # noqa: F401 - registers the tasks
    email,  # noqa: F401 - registers the tasks
    mail,  # noqa: F401 - registers the tasks
    maintenance,  # noqa: F401 - registers the tasks
)
from zabota.jobs.huey_app import huey
from zabota.routing import tasks as _routing_tasks  # noqa: F401 - registers the tasks

log = structlog.get_logger()


def warm_up() -> threading.Thread:
    """Load the models triage uses in a thread of their own, before the first ticket needs
    them: a first triage that loads them (seconds) would hold the write lock meanwhile."""
    thread = threading.Thread(target=_load_models, name="zabota-warm-up", daemon=True)
    thread.start()
    return thread


def _load_models() -> None:
    from zabota.core.db import get_database
    from zabota.ml.language import detect_language
    from zabota.ml.sentiment import load_sentiment_model
    from zabota.ml.text import terms
    from zabota.routing import classifier

    try:
        detect_language("Здравствуйте, warm-up")
        terms("прогрев словаря")
        load_sentiment_model()
        with get_database().read_sessions() as session:
            model = classifier.active_model(session)
            if model is not None:
                classifier.load_pipeline(model)
    except Exception as exc:  # triage loads them itself later; only slower
        log.warning("worker.warm_up_failed", error=type(exc).__name__)


def run_consumer(*, workers: int = 2) -> None:
    warm_up()
    consumer = huey.create_consumer(workers=workers, worker_type="thread", periodic=True,
                                    check_worker_health=True)
    consumer.run()


def start_embedded_consumer() -> Consumer:
    warm_up()
    consumer = huey.create_consumer(workers=1, worker_type="thread", periodic=True)
    consumer.start()
    return consumer
