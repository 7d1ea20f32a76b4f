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

# Each included in the app on its own, as the API's routers are (zabota.web.api.v1).
ROUTERS: tuple[APIRouter, ...] = tuple(
    module.router for module in (auth, help, kb, agent, portal, admin, admin_channels,
                                 portal_auth, profile, routing, bot_admin))

__all__ = ["ROUTERS", "STATIC_DIR", "LoginRequired"]
