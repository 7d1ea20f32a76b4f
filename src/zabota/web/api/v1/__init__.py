"""REST API v1. Each module's router is included in the app on its own (see `ROUTERS`)."""

from fastapi import APIRouter

from zabota.web.api.v1 import (
    attachments,
    auth,
    channel_hooks,
    customers,
    fields,
    kb,
    routing,
    teams,
    tickets,
    users,
)

# In the app, not under one aggregate router: FastAPI matches nested routers level by
# level, each level testing its whole route list twice (to choose, then to dispatch), which
# took a third of the CPU of a small API request (docs/performance.md).
ROUTERS: tuple[APIRouter, ...] = (
    tickets.router, auth.router, attachments.router, customers.router, users.router,
    teams.router, fields.router, kb.router, routing.router, routing.triage,
    channel_hooks.router,
)
