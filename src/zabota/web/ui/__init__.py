"""Server-rendered UI: the agent workspace, the customer portal and sign-in."""

from fastapi import APIRouter

from zabota.web.ui import agent, auth, portal
from zabota.web.ui.common import STATIC_DIR, LoginRequired

router = APIRouter(include_in_schema=False)
for module in (auth, agent, portal):
    router.include_router(module.router)

__all__ = ["STATIC_DIR", "LoginRequired", "router"]
