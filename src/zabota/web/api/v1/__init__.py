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

router = APIRouter()
for module in (auth, tickets, attachments, customers, users, teams, fields, kb, routing):
    router.include_router(module.router)
router.include_router(routing.triage)
router.include_router(channel_hooks.router)
