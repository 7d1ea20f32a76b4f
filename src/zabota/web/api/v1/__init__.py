from fastapi import APIRouter

from zabota.web.api.v1 import attachments, auth, customers, fields, teams, tickets, users

router = APIRouter()
for module in (auth, tickets, attachments, customers, users, teams, fields):
    router.include_router(module.router)
