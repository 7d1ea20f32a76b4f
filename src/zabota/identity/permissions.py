"""Who may do what. Visibility of rows is a query filter; this is the verb check."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal

from zabota.core.errors import Forbidden
from zabota.identity.models import Role


class Permission(enum.StrEnum):
    MANAGE_USERS = "manage_users"
    MANAGE_TEAMS = "manage_teams"
    MANAGE_TOKENS = "manage_tokens"
    MANAGE_FIELDS = "manage_fields"
    VIEW_CUSTOMERS = "view_customers"
    EDIT_CUSTOMERS = "edit_customers"
    MERGE_CUSTOMERS = "merge_customers"
    WORK_TICKETS = "work_tickets"  # assign, transfer, escalate, edit fields, internal notes
    MERGE_TICKETS = "merge_tickets"
    VIEW_STAFF = "view_staff"
    MANAGE_SETTINGS = "manage_settings"
    MANAGE_ROUTING = "manage_routing"  # categories, routing rules, category models
    EDIT_KB = "edit_kb"  # write and revise knowledge-base drafts, send them to review
    PUBLISH_KB = "publish_kb"  # publish, unpublish and edit published articles
    MANAGE_KB = "manage_kb"  # categories, synonyms, canned responses, deleting articles
    MANAGE_BOT = "manage_bot"  # the bot's FAQ pairs and guided flows, the review of its turns


_STAFF = {
    Permission.VIEW_CUSTOMERS, Permission.EDIT_CUSTOMERS, Permission.WORK_TICKETS,
    Permission.MERGE_TICKETS, Permission.VIEW_STAFF, Permission.EDIT_KB,
}
GRANTS: dict[Role, set[Permission]] = {
    Role.AGENT: _STAFF,
    Role.SUPERVISOR: _STAFF | {Permission.MERGE_CUSTOMERS, Permission.PUBLISH_KB,
                               Permission.MANAGE_KB, Permission.MANAGE_BOT},
    Role.ADMIN: set(Permission),
}


@dataclass(frozen=True)
class Actor:
    """Who is acting: a staff user, a customer, or the system itself (jobs, channels)."""

    kind: Literal["user", "customer", "system"]
    id: int
    name: str = ""
    role: Role | None = None
    team_ids: frozenset[int] = field(default_factory=frozenset)
    organization_id: int | None = None
    sees_organization_tickets: bool = False
    language: str = "ru"
    timezone: str = ""
    token_id: int | None = None

    @property
    def is_staff(self) -> bool:
        return self.kind == "user"

    @property
    def is_customer(self) -> bool:
        return self.kind == "customer"

    @property
    def sees_everything(self) -> bool:
        return self.kind == "system" or self.role in (Role.ADMIN, Role.SUPERVISOR)

    def can(self, permission: Permission) -> bool:
        if self.kind == "system":
            return True
        return self.role is not None and permission in GRANTS[self.role]


SYSTEM = Actor(kind="system", id=0, name="Zabota")


def require(actor: Actor, permission: Permission) -> None:
    if not actor.can(permission):
        raise Forbidden()
