"""Server-rendered UI: the agent workspace, the customer portal and sign-in."""

from fastapi import APIRouter

from zabota.web.ui import (
    admin,
    admin_channels,
    agent,
    auth,
    bot_admin,
    help,
    kb,
    portal,
    portal_auth,
    profile,
    routing,
)
from zabota.web.ui.common import STATIC_DIR, LoginRequired

router = APIRouter(include_in_schema=False)
for module in (auth, help, kb, agent, portal, admin, admin_channels, portal_auth, profile, routing,
               bot_admin):
    router.include_router(module.router)

__all__ = ["STATIC_DIR", "LoginRequired", "router"]
