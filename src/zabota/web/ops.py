"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

from zabota.core import outbox
from zabota.core.db import Database

router = APIRouter(tags=["ops"])

REQUESTS = Counter("zabota_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("zabota_http_request_seconds", "HTTP request latency", ["method", "route"],
                    buckets=(0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
OUTBOX_BACKLOG = Gauge("zabota_outbox_backlog", "Outbox events not yet delivered")


def observe(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route).observe(seconds)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    database: Database = request.app.state.database
    try:
        with database.read_sessions() as session:
            session.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError:
        return JSONResponse({"status": "unavailable", "database": "unreachable"}, 503)
    return JSONResponse({"status": "ok", "database": "ok"})


@router.get("/metrics")
def metrics(request: Request) -> Response:
    database: Database = request.app.state.database
    with database.read_sessions() as session:
        OUTBOX_BACKLOG.set(outbox.backlog(session))
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
