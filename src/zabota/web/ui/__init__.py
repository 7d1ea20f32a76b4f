"""Server-rendered UI: the agent workspace, the customer portal and sign-in."""

from fastapi import APIRouter

from zabota.web.ui import admin, admin_channels, agent, auth, portal, portal_auth, profile
from zabota.web.ui.common import STATIC_DIR, LoginRequired

router = APIRouter(include_in_schema=False)
for module in (auth, agent, portal, admin, admin_channels, portal_auth, profile):
    router.include_router(module.router)

__all__ = ["STATIC_DIR", "LoginRequired", "router"]
