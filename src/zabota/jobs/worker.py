"""Huey consumers: a standalone worker, or threads inside the server for the embedded default."""

from __future__ import annotations

from huey.consumer import Consumer

from zabota.jobs import (
    channels,  # noqa: F401 - registers the tasks
    dispatch,  # noqa: F401 - registers the tasks
    mail,  # noqa: F401 - registers the tasks
    maintenance,  # noqa: F401 - registers the tasks
)
from zabota.jobs.huey_app import huey


def run_consumer(*, workers: int = 2) -> None:
    consumer = huey.create_consumer(workers=workers, worker_type="thread", periodic=True,
                                    check_worker_health=True)
    consumer.run()


def start_embedded_consumer() -> Consumer:
    consumer = huey.create_consumer(workers=1, worker_type="thread", periodic=True)
    consumer.start()
    return consumer
