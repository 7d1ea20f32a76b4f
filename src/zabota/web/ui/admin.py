"""The admin area: staff and roles, teams, customers and organisations, custom fields, API
tokens and the installation's settings. Admins change things; supervisors look."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo, available_timezones

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from zabota.core.db import Database
from zabota.core.errors import Forbidden, InvalidInput, ZabotaError, field_error
from zabota.core.i18n import LANGUAGES, N_, _
from zabota.core.settings import Settings
from zabota.core.site import get_site, update_site
from zabota.identity import service as identity
from zabota.identity.models import Customer, IdentityKind, Presence, Role, User
from zabota.identity.permissions import Actor, Permission, require
from zabota.identity.schemas import (
    CustomerUpdate,
    OrganizationCreate,
    OrganizationUpdate,
    PersonalTokenCreate,
    TeamCreate,
    TeamUpdate,
    UserCreate,
    UserUpdate,
)
from zabota.tickets import service as tickets
from zabota.tickets.models import FieldType
from zabota.tickets.schemas import FieldDefCreate, FieldDefUpdate
from zabota.web.deps import PathId, QueryId, SmallPathId
from zabota.web.problems import field_message as validation_message
from zabota.web.ui.common import (
    IDENTITY_KINDS,
    UIActor,
    UISession,
    check_csrf,
    error_text,
    field_errors,
    redirect,
    render,
)

router = APIRouter(prefix="/admin")
Model = TypeVar("Model", bound=BaseModel)
Many = Annotated[list[str] | None, Form(max_length=500)]
Csrf = Annotated[str, Form(max_length=100)]
CUSTOMERS_PER_PAGE = 50

ROLES = {Role.ADMIN: N_("Administrator"), Role.SUPERVISOR: N_("Supervisor"),
         Role.AGENT: N_("Agent")}
PRESENCE = {Presence.ONLINE: N_("Online"), Presence.AWAY: N_("Away"),
            Presence.OFFLINE: N_("Offline")}
FIELD_TYPES = {FieldType.TEXT: N_("Text"), FieldType.NUMBER: N_("Number"),
               FieldType.BOOLEAN: N_("Yes or no"), FieldType.DATE: N_("Date"),
               FieldType.SELECT: N_("List of options")}
LANGUAGE_NAMES = {"ru": "Русский", "en": "English"}  # each in its own language
LABELS = {"roles": ROLES, "presence": PRESENCE, "identity_kinds": IDENTITY_KINDS,
          "field_types": FIELD_TYPES, "language_names": LANGUAGE_NAMES}


def area_actor(actor: UIActor) -> Actor:
    """Keep agents and customers out of the area; each service still checks its own verb."""
    if actor.role not in (Role.ADMIN, Role.SUPERVISOR):
        raise Forbidden()
    return actor


AreaActor = Annotated[Actor, Depends(area_actor)]


def _may(actor: Actor) -> dict[str, bool]:
    """What the page offers to change; the service refuses anything else anyway."""
    return {
        "users": actor.can(Permission.MANAGE_USERS),
        "teams": actor.can(Permission.MANAGE_TEAMS),
        "customers": actor.can(Permission.EDIT_CUSTOMERS),
        "merge": actor.can(Permission.MERGE_CUSTOMERS),
        "fields": actor.can(Permission.MANAGE_FIELDS),
        "tokens": actor.can(Permission.MANAGE_TOKENS),
        # Settings have no permission of their own yet; they belong to admins.
        "settings": actor.role == Role.ADMIN,
    }


def _options() -> dict[str, list[tuple[str, str]]]:
    """(value, text) pairs for the selects, in the language of this request."""
    return {
        "roles": [(role.value, _(text)) for role, text in ROLES.items()],
        "presence": [(presence.value, _(text)) for presence, text in PRESENCE.items()],
        "languages": [(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
        "identity_kinds": [(kind.value, _(text)) for kind, text in IDENTITY_KINDS.items()],
        "field_types": [(kind.value, _(text)) for kind, text in FIELD_TYPES.items()],
    }


def _page(request: Request, actor: Actor, name: str, context: dict[str, Any], *,
          status_code: int = 200) -> Response:
    base = {"may": _may(actor), "errors": {}, "labels": LABELS, "options": _options(),
            "notice": _("Saved") if request.query_params.get("saved") else None}
    return render(request, f"admin/{name}", {**base, **context}, status_code=status_code)


def _failed(exc: ZabotaError) -> dict[str, Any]:
    return {"error": error_text(exc), "errors": field_errors(exc)}


def _field_name(location: tuple[int | str, ...]) -> str:
    # A list of plain values (team_ids.2) is one form control; skill rows keep their index.
    parts = [str(part) for part in location]
    if len(parts) > 1 and isinstance(location[-1], int):
        parts = parts[:-1]
    return ".".join(parts)


def _parse(schema: type[Model], data: dict[str, Any]) -> Model:
    """The API's schema checks the form too, so both refuse the same input the same way."""
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(errors=[{"field": _field_name(e["loc"]),
                                    "message": validation_message(dict(e))}
                                   for e in exc.errors()]) from None


def _optional_int(value: str, field: str) -> int | None:
    if not value.strip():
        return None
    try:
        return int(value)
    except ValueError:
        raise field_error(field, _("Enter a whole number")) from None


@router.get("")
def home(actor: AreaActor) -> Response:
    return redirect("/admin/users")


# --- users and roles -----------------------------------------------------------------------


def user_form(
    email: Annotated[str, Form(max_length=254)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    role: Annotated[str, Form(max_length=16)] = Role.AGENT.value,
    password: Annotated[str, Form(max_length=200)] = "",
    language: Annotated[str, Form(max_length=16)] = "ru",
    capacity: Annotated[str, Form(max_length=20)] = "10",
    presence: Annotated[str, Form(max_length=16)] = Presence.OFFLINE.value,
    is_active: Annotated[bool, Form()] = False,
    team_ids: Many = None,
    skill_category: Many = None,
    skill_language: Many = None,
    skill_level: Many = None,
) -> dict[str, Any]:
    """What was typed into the user form, kept as text so a refused form shows it again."""
    skills = [{"category": category, "language": lang, "level": level}
              for category, lang, level in zip(skill_category or [], skill_language or [],
                                               skill_level or [], strict=False)
              if category.strip()]
    return {"email": email, "name": name, "role": role, "password": password,
            "language": language, "capacity": capacity, "presence": presence,
            "is_active": is_active, "team_ids": team_ids or [], "skills": skills}


UserForm = Annotated[dict[str, Any], Depends(user_form)]


def _user_values(user: User) -> dict[str, Any]:
    return {"email": user.email, "name": user.name, "role": user.role.value,
            "language": user.language, "capacity": str(user.capacity),
            "presence": user.presence.value, "is_active": user.is_active,
            "team_ids": [str(team.id) for team in user.teams],
            "skills": [{"category": s.category, "language": s.language, "level": str(s.level)}
                       for s in user.skills]}


def _user_page(request: Request, session: Session, actor: Actor, user_id: int | None,
               form: dict[str, Any], *, extra: dict[str, Any] | None = None,
               status_code: int = 200) -> Response:
    user = identity.get_user_for(session, user_id, actor=actor) if user_id else None
    teams = identity.list_teams(session, actor=actor)
    context = {"user": user, "form": {**form, "password": ""},  # never sent back
               "team_options": [(team.id, team.name) for team in teams], **(extra or {})}
    return _page(request, actor, "user_form.html", context, status_code=status_code)


@router.get("/users")
def users(request: Request, session: UISession, actor: AreaActor) -> Response:
    return _page(request, actor, "users.html",
                 {"users": identity.list_users(session, actor=actor)})


@router.get("/users/new")
def new_user_form(request: Request, session: UISession, actor: AreaActor) -> Response:
    require(actor, Permission.MANAGE_USERS)  # a form nobody may send is no use
    return _user_page(request, session, actor, None,
                      {"role": Role.AGENT.value, "language": "ru", "capacity": "10",
                       "team_ids": [], "skills": []})


@router.post("/users/new")
def create_user(request: Request, session: UISession, actor: AreaActor, form: UserForm,
                csrf_token: Csrf = "") -> Response:
    check_csrf(request, csrf_token)
    try:
        body = _parse(UserCreate, {
            "email": form["email"], "name": form["name"], "role": form["role"],
            "password": form["password"] or None, "language": form["language"],
            "capacity": form["capacity"], "team_ids": form["team_ids"],
            "skills": form["skills"]})
        user = identity.create_user(
            session, actor=actor, email=str(body.email), name=body.name, role=body.role,
            password=body.password, language=body.language, capacity=body.capacity,
            team_ids=body.team_ids, skills=[(s.category, s.language, s.level)
                                            for s in body.skills])
        session.commit()
    except ZabotaError as exc:
        session.rollback()
        return _user_page(request, session, actor, None, form, extra=_failed(exc),
                          status_code=exc.status)
    return redirect(f"/admin/users/{user.id}?saved=1")


@router.get("/users/{user_id}")
def user_page(user_id: SmallPathId, request: Request, session: UISession,
              actor: AreaActor) -> Response:
    user = identity.get_user_for(session, user_id, actor=actor)
    return _user_page(request, session, actor, user_id, _user_values(user))


@router.post("/users/{user_id}")
def update_user(user_id: SmallPathId, request: Request, session: UISession, actor: AreaActor,
                form: UserForm, csrf_token: Csrf = "") -> Response:
    check_csrf(request, csrf_token)
    try:
        fields = {
            "email": form["email"], "name": form["name"], "role": form["role"],
            "language": form["language"], "capacity": form["capacity"],
            "presence": form["presence"], "is_active": form["is_active"],
            "team_ids": form["team_ids"], "skills": form["skills"]}
        if form["password"]:  # an empty box keeps the password
            fields["password"] = form["password"]
        body = _parse(UserUpdate, fields)
        identity.update_user(session, user_id, actor=actor,
                             **body.model_dump(exclude_none=True))
        session.commit()
    except ZabotaError as exc:
        session.rollback()
        return _user_page(request, session, actor, user_id, form, extra=_failed(exc),
                          status_code=exc.status)
    return redirect(f"/admin/users/{user_id}?saved=1")


# --- teams ---------------------------------------------------------------------------------


def team_form(
    name: Annotated[str, Form(max_length=200)] = "",
    description: Annotated[str, Form(max_length=1000)] = "",
    email: Annotated[str, Form(max_length=254)] = "",
    escalation_team_id: Annotated[str, Form(max_length=20)] = "",
    member_ids: Many = None,
) -> dict[str, Any]:
    return {"name": name, "description": description, "email": email,
            "escalation_team_id": escalation_team_id, "member_ids": member_ids or []}


TeamForm = Annotated[dict[str, Any], Depends(team_form)]


def _team_input(schema: type[Model], form: dict[str, Any]) -> Model:
    return _parse(schema, {
        "name": form["name"], "description": form["description"],
        "email": form["email"].strip() or None, "member_ids": form["member_ids"],
        "escalation_team_id": _optional_int(form["escalation_team_id"], "escalation_team_id")})


def _team_page(request: Request, session: Session, actor: Actor, team_id: int | None,
               form: dict[str, Any], *, extra: dict[str, Any] | None = None,
               status_code: int = 200) -> Response:
    team = identity.get_team_for(session, team_id, actor=actor) if team_id else None
    others = [t for t in identity.list_teams(session, actor=actor) if t.id != team_id]
    users = identity.list_users(session, actor=actor)
    context = {"team": team, "form": form,
               "escalation_options": [("", "—"), *((t.id, t.name) for t in others)],
               "member_options": [(u.id, u.name if u.is_active else _(
                   "{name} (deactivated)").format(name=u.name)) for u in users],
               **(extra or {})}
    return _page(request, actor, "team_form.html", context, status_code=status_code)


@router.get("/teams")
def teams(request: Request, session: UISession, actor: AreaActor) -> Response:
    rows = identity.list_teams(session, actor=actor)
    return _page(request, actor, "teams.html",
                 {"teams": rows, "names": {team.id: team.name for team in rows}})


@router.get("/teams/new")
def new_team_form(request: Request, session: UISession, actor: AreaActor) -> Response:
    require(actor, Permission.MANAGE_TEAMS)
    return _team_page(request, session, actor, None, {"member_ids": []})


@router.post("/teams/new")
def create_team(request: Request, session: UISession, actor: AreaActor, form: TeamForm,
                csrf_token: Csrf = "") -> Response:
    check_csrf(request, csrf_token)
    try:
        body = _team_input(TeamCreate, form)
        team = identity.create_team(
            session, actor=actor, name=body.name, description=body.description,
            email=str(body.email) if body.email else None,
            escalation_team_id=body.escalation_team_id, member_ids=body.member_ids)
        session.commit()
    except ZabotaError as exc:
        session.rollback()
        return _team_page(request, session, actor, None, form, extra=_failed(exc),
                          status_code=exc.status)
    return redirect(f"/admin/teams/{team.id}?saved=1")


@router.get("/teams/{team_id}")
def team_page(team_id: SmallPathId, request: Request, session: UISession,
              actor: AreaActor) -> Response:
    team = identity.get_team_for(session, team_id, actor=actor)
    form = {"name": team.name, "description": team.description, "email": team.email or "",
            "escalation_team_id": str(team.escalation_team_id or ""),
            "member_ids": [str(uid) for uid in team.member_ids]}
    return _team_page(request, session, actor, team_id, form)


@router.post("/teams/{team_id}")
def update_team(team_id: SmallPathId, request: Request, session: UISession, actor: AreaActor,
                form: TeamForm, csrf_token: Csrf = "") -> Response:
    check_csrf(request, csrf_token)
    try:
        body = _team_input(TeamUpdate, form)
        # Every field is on the form, so an empty one clears (e-mail, escalation team).
        identity.update_team(session, team_id, actor=actor, **body.model_dump())
        session.commit()
    except ZabotaError as exc:
        session.rollback()
        return _team_page(request, session, actor, team_id, form, extra=_failed(exc),
                          status_code=exc.status)
    return redirect(f"/admin/teams/{team_id}?saved=1")


# --- customers -----------------------------------------------------------------------------


@router.get("/customers")
def customers(request: Request, session: UISession, actor: AreaActor,
              q: Annotated[str | None, Query(max_length=200)] = None,
              after: QueryId = None) -> Response:
    rows = identity.list_customers(session, actor=actor, q=q or None, after_id=after,
                                   limit=CUSTOMERS_PER_PAGE)
    orgs = {org.id: org.name for org in identity.list_organizations(session, actor=actor)}
    next_after = rows[-1].id if len(rows) == CUSTOMERS_PER_PAGE else None
    return _page(request, actor, "customers.html",
                 {"customers": rows, "orgs": orgs, "q": q or "", "next_after": next_after})


def _customer_values(customer: Customer) -> dict[str, Any]:
    return {"name": customer.name, "organization_id": str(customer.organization_id or ""),
            "sees_organization_tickets": customer.sees_organization_tickets,
            "language": customer.language or "", "notes": customer.notes}


def _customer_page(request: Request, session: Session, actor: Actor, customer_id: int, *,
                   form: dict[str, Any] | None = None, extra: dict[str, Any] | None = None,
                   status_code: int = 200) -> Response:
    customer = identity.get_customer(session, customer_id, actor=actor)
    context = {"customer": customer, "form": form or _customer_values(customer),
               "organizations": identity.list_organizations(session, actor=actor),
               "identity_form": {}, "merge_form": {}, **(extra or {})}
    return _page(request, actor, "customer.html", context, status_code=status_code)


@router.get("/customers/{customer_id}")
def customer_page(customer_id: PathId, request: Request, session: UISession,
                  actor: AreaActor) -> Response:
    return _customer_page(request, session, actor, customer_id)


@router.post("/customers/{customer_id}")
def update_customer(
    customer_id: PathId, request: Request, session: UISession, actor: AreaActor,
    name: Annotated[str, Form(max_length=200)] = "",
    organization_id: Annotated[str, Form(max_length=20)] = "",
    sees_organization_tickets: Annotated[bool, Form()] = False,
    language: Annotated[str, Form(max_length=16)] = "",
    notes: Annotated[str, Form(max_length=10_000)] = "",
    csrf_token: Csrf = "",
) -> Response:
    check_csrf(request, csrf_token)
    form = {"name": name, "organization_id": organization_id, "notes": notes,
            "sees_organization_tickets": sees_organization_tickets, "language": language}
    try:
        body = _parse(CustomerUpdate, {
            **form, "language": language or None,
            "organization_id": _optional_int(organization_id, "organization_id")})
        identity.update_customer(session, customer_id, actor=actor, **body.model_dump())
        session.commit()
    except ZabotaError as exc:
        session.rollback()
        return _customer_page(request, session, actor, customer_id, form=form,
                              extra=_failed(exc), status_code=exc.status)
    return redirect(f"/admin/customers/{customer_id}?saved=1")


@router.post("/customers/{customer_id}/identities")
def add_identity(customer_id: PathId, request: Request, session: UISession, actor: AreaActor,
                 kind: Annotated[str, Form(max_length=16)] = "",
                 value: Annotated[str, Form(max_length=254)] = "",
                 csrf_token: Csrf = "") -> Response:
    check_csrf(request, csrf_token)
    try:
        try:
            identity_kind = IdentityKind(kind)
        except ValueError:
            raise field_error("kind", _("Choose a kind of contact")) from None
        if not value.strip():
            raise field_error("value", _("This field is required"))
        identity.add_identity(session, customer_id, identity_kind, value, actor=actor)
        session.commit()
    except ZabotaError as exc:
        session.rollback()
        # Whatever the service names (phone, value), the message belongs next to this form.
        errors = {("identity_kind" if field == "kind" else "identity_value"): message
                  for field, message in field_errors(exc).items()}
        return _customer_page(request, session, actor, customer_id,
                              extra={"error": error_text(exc), "errors": errors,
                                     "identity_form": {"kind": kind, "value": value}},
                              status_code=exc.status)
    return redirect(f"/admin/customers/{customer_id}?saved=1")


def _find_merge_source(session: Session, actor: Actor, text: str) -> Customer:
    text = text.strip()
    if text.lstrip("#").isdigit():
        return identity.get_customer(session, int(text.lstrip("#")), actor=actor)
    if "@" in text:
        found = identity.find_customer_by_identity(session, IdentityKind.EMAIL, text)
        if found is None:
            raise field_error("source", _("No customer has this e-mail address"))
        return identity.get_customer(session, found.id, actor=actor)
    raise field_error("source", _("Enter a customer number or an e-mail address"))


@router.post("/customers/{customer_id}/merge")
def merge_customer(customer_id: PathId, request: Request, session: UISession, actor: AreaActor,
                   source: Annotated[str, Form(max_length=254)] = "",
                   confirmed: Annotated[bool, Form()] = False,
                   csrf_token: Csrf = "") -> Response:
    """Merging cannot be undone, so the first post asks to confirm and the second merges."""
    check_csrf(request, csrf_token)
    try:
        other = _find_merge_source(session, actor, source)
        if not confirmed:
            target = identity.get_customer(session, customer_id, actor=actor)
            return _page(request, actor, "merge_confirm.html",
                         {"source": other, "target": target})
        identity.merge_customers(session, other.id, customer_id, actor=actor)
        session.commit()
    except ZabotaError as exc:
        session.rollback()
        return _customer_page(request, session, actor, customer_id,
                              extra={**_failed(exc), "merge_form": {"source": source}},
                              status_code=exc.status)
    return redirect(f"/admin/customers/{customer_id}?saved=1")


# --- organisations -------------------------------------------------------------------------


def organization_form(
    name: Annotated[str, Form(max_length=200)] = "",
    domain: Annotated[str, Form(max_length=253)] = "",
    sla_tier: Annotated[str, Form(max_length=32)] = "standard",
    is_vip: Annotated[bool, Form()] = False,
    notes: Annotated[str, Form(max_length=10_000)] = "",
) -> dict[str, Any]:
    return {"name": name, "domain": domain, "sla_tier": sla_tier, "is_vip": is_vip,
            "notes": notes}


OrganizationForm = Annotated[dict[str, Any], Depends(organization_form)]


def _organization_page(request: Request, session: Session, actor: Actor, org_id: int | None,
                       form: dict[str, Any], *, extra: dict[str, Any] | None = None,
                       status_code: int = 200) -> Response:
    org = identity.get_organization(session, org_id, actor=actor) if org_id else None
    members = (identity.list_customers(session, actor=actor, organization_id=org_id, limit=100)
               if org_id else [])
    return _page(request, actor, "organization_form.html",
                 {"org": org, "form": form, "members": members, **(extra or {})},
                 status_code=status_code)


@router.get("/organizations")
def organizations(request: Request, session: UISession, actor: AreaActor) -> Response:
    return _page(request, actor, "organizations.html",
                 {"organizations": identity.list_organizations(session, actor=actor)})


@router.get("/organizations/new")
def new_organization_form(request: Request, session: UISession, actor: AreaActor) -> Response:
    require(actor, Permission.EDIT_CUSTOMERS)
    return _organization_page(request, session, actor, None, {"sla_tier": "standard"})


@router.post("/organizations/new")
def create_organization(request: Request, session: UISession, actor: AreaActor,
                        form: OrganizationForm, csrf_token: Csrf = "") -> Response:
    check_csrf(request, csrf_token)
    try:
        body = _parse(OrganizationCreate, {**form, "domain": form["domain"].strip() or None})
        org = identity.create_organization(session, actor=actor, **body.model_dump())
        session.commit()
    except ZabotaError as exc:
        session.rollback()
        return _organization_page(request, session, actor, None, form, extra=_failed(exc),
                                  status_code=exc.status)
    return redirect(f"/admin/organizations/{org.id}?saved=1")


@router.get("/organizations/{org_id}")
def organization_page(org_id: SmallPathId, request: Request, session: UISession,
                      actor: AreaActor) -> Response:
    org = identity.get_organization(session, org_id, actor=actor)
    form = {"name": org.name, "domain": org.domain or "", "sla_tier": org.sla_tier,
            "is_vip": org.is_vip, "notes": org.notes}
    return _organization_page(request, session, actor, org_id, form)


@router.post("/organizations/{org_id}")
def update_organization(org_id: SmallPathId, request: Request, session: UISession, actor: AreaActor,
                        form: OrganizationForm, csrf_token: Csrf = "") -> Response:
    check_csrf(request, csrf_token)
    try:
        body = _parse(OrganizationUpdate, {**form, "domain": form["domain"].strip() or None})
        identity.update_organization(session, org_id, actor=actor, **body.model_dump())
        session.commit()
    except ZabotaError as exc:
        session.rollback()
        return _organization_page(request, session, actor, org_id, form, extra=_failed(exc),
                                  status_code=exc.status)
    return redirect(f"/admin/organizations/{org_id}?saved=1")


# --- custom fields -------------------------------------------------------------------------


def _fields_page(request: Request, session: Session, actor: Actor, form: dict[str, Any], *,
                 extra: dict[str, Any] | None = None, status_code: int = 200) -> Response:
    return _page(request, actor, "fields.html",
                 {"fields": tickets.list_field_defs(session), "form": form,
                  **(extra or {})}, status_code=status_code)


@router.get("/fields")
def fields(request: Request, session: UISession, actor: AreaActor) -> Response:
    return _fields_page(request, session, actor, {"type": FieldType.TEXT.value})


@router.post("/fields")
def create_field(request: Request, session: UISession, actor: AreaActor,
                 key: Annotated[str, Form(max_length=64)] = "",
                 label: Annotated[str, Form(max_length=200)] = "",
                 label_en: Annotated[str, Form(max_length=200)] = "",
                 type: Annotated[str, Form(max_length=16)] = FieldType.TEXT.value,
                 options: Annotated[str, Form(max_length=20_000)] = "",
                 csrf_token: Csrf = "") -> Response:
    check_csrf(request, csrf_token)
    form = {"key": key, "label": label, "label_en": label_en, "type": type, "options": options}
    try:
        body = _parse(FieldDefCreate, {
            **form, "options": [line.strip() for line in options.splitlines() if line.strip()]})
        tickets.create_field_def(session, actor=actor, key=body.key, label=body.label,
                                 label_en=body.label_en, type=body.type, options=body.options)
        session.commit()
    except ZabotaError as exc:
        session.rollback()
        return _fields_page(request, session, actor, form, extra=_failed(exc),
                            status_code=exc.status)
    return redirect("/admin/fields?saved=1")


def _field_form(row: Any) -> dict[str, Any]:
    return {"label": row.label, "label_en": row.label_en, "options": "\n".join(row.options),
            "is_active": row.is_active}


@router.get("/fields/{field_id}")
def edit_field(field_id: SmallPathId, request: Request, session: UISession,
               actor: AreaActor) -> Response:
    editing = tickets.get_field_def(session, field_id)
    return _fields_page(request, session, actor, _field_form(editing), extra={"editing": editing})


@router.post("/fields/{field_id}")
def update_field(field_id: SmallPathId, request: Request, session: UISession, actor: AreaActor,
                 label: Annotated[str, Form(max_length=200)] = "",
                 label_en: Annotated[str, Form(max_length=200)] = "",
                 options: Annotated[str, Form(max_length=20_000)] = "",
                 is_active: Annotated[bool, Form()] = False,
                 csrf_token: Csrf = "") -> Response:
    check_csrf(request, csrf_token)
    editing = tickets.get_field_def(session, field_id)
    form = {"label": label, "label_en": label_en, "options": options, "is_active": is_active}
    try:
        body = _parse(FieldDefUpdate, {
            **form, "options": [line.strip() for line in options.splitlines() if line.strip()]})
        tickets.update_field_def(session, field_id, actor=actor,
                                 **body.model_dump(exclude_unset=True))
        session.commit()
    except ZabotaError as exc:
        session.rollback()
        return _fields_page(request, session, actor, form,
                            extra={**_failed(exc), "editing": editing}, status_code=exc.status)
    return redirect("/admin/fields?saved=1")


# --- API tokens ----------------------------------------------------------------------------


def _tokens_page(request: Request, session: Session, actor: Actor, form: dict[str, Any], *,
                 extra: dict[str, Any] | None = None, status_code: int = 200) -> Response:
    rows = identity.list_personal_tokens(session, actor=actor)
    users_by_id = {user.id: user for user in identity.list_users(session, actor=actor)}
    return _page(request, actor, "tokens.html",
                 {"tokens": rows, "users": users_by_id, "form": form, **(extra or {})},
                 status_code=status_code)


@router.get("/tokens")
def tokens(request: Request, session: UISession, actor: AreaActor) -> Response:
    return _tokens_page(request, session, actor, {})


def _expiry(value: str, timezone: str) -> datetime | None:
    """A token chosen to expire on a day works to the end of that day, installation time."""
    if not value.strip():
        return None
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise field_error("expires_at", _("Enter a date as YYYY-MM-DD")) from None
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=ZoneInfo(timezone))


@router.post("/tokens")
def create_token(request: Request, session: UISession, actor: AreaActor,
                 user_id: Annotated[str, Form(max_length=20)] = "",
                 name: Annotated[str, Form(max_length=120)] = "",
                 expires: Annotated[str, Form(max_length=20)] = "",
                 csrf_token: Csrf = "") -> Response:
    check_csrf(request, csrf_token)
    settings: Settings = request.app.state.settings
    form = {"user_id": user_id, "name": name, "expires": expires}
    try:
        body = _parse(PersonalTokenCreate, {
            "user_id": _optional_int(user_id, "user_id"), "name": name,
            "expires_at": _expiry(expires, settings.timezone)})
        token, row = identity.create_personal_token(session, user_id=body.user_id,
                                                    name=body.name,
                                                    expires_at=body.expires_at, actor=actor)
        owner = identity.get_user_for(session, body.user_id, actor=actor)
        session.commit()
    except ZabotaError as exc:
        session.rollback()
        errors = {("expires" if field == "expires_at" else field): message
                  for field, message in field_errors(exc).items()}
        return _tokens_page(request, session, actor, form,
                            extra={"error": error_text(exc), "errors": errors},
                            status_code=exc.status)
    response = _page(request, actor, "token_created.html",
                     {"token": token, "row": row, "owner": owner})
    response.headers["Cache-Control"] = "no-store"  # the secret is shown once, never cached
    return response


@router.post("/tokens/{token_id}/revoke")
def revoke_token(token_id: PathId, request: Request, session: UISession, actor: AreaActor,
                 csrf_token: Csrf = "") -> Response:
    check_csrf(request, csrf_token)
    identity.revoke_token(session, token_id, actor=actor)
    session.commit()
    return redirect("/admin/tokens?saved=1")


# --- general settings ----------------------------------------------------------------------


@router.get("/settings")
def general_settings(request: Request, actor: AreaActor) -> Response:
    if not _may(actor)["settings"]:
        raise Forbidden()
    return _settings_page(request, actor, None, {}, {})


def _settings_page(request: Request, actor: Actor, error: str | None,
                   errors: dict[str, str], form: dict[str, Any],
                   status_code: int = 200) -> Response:
    settings: Settings = request.app.state.settings
    database: Database = request.app.state.database
    with database.read_sessions() as session:
        site = get_site(session, settings)
    size_mb = settings.max_attachment_bytes / (1024 * 1024)
    rows = [
        (_("Default language"), LANGUAGE_NAMES.get(settings.default_language,
                                                    settings.default_language),
         "ZABOTA_DEFAULT_LANGUAGE"),
        (_("Largest attachment"), _("{size} MB").format(size=f"{size_mb:g}"),
         "ZABOTA_MAX_ATTACHMENT_BYTES"),
        (_("Sign-in lasts"), _("{hours} h").format(hours=settings.access_token_ttl_hours),
         "ZABOTA_ACCESS_TOKEN_TTL_HOURS"),
    ]
    return _page(request, actor, "settings.html", {
        "rows": rows, "site_form": {**asdict(site), **form}, "errors": errors, "error": error,
        "language_names": LANGUAGE_NAMES, "timezones": sorted(available_timezones())},
        status_code=status_code)


@router.post("/settings")
async def save_settings(request: Request, actor: AreaActor) -> Response:
    form = await request.form()
    check_csrf(request, str(form.get("csrf_token", "")))
    values = {"company_name": str(form.get("company_name", ""))[:200],
              "logo_url": str(form.get("logo_url", ""))[:600],
              "languages": [str(v) for v in form.getlist("languages")],
              "timezone": str(form.get("timezone", ""))[:64]}
    database: Database = request.app.state.database
    settings: Settings = request.app.state.settings

    def save() -> ZabotaError | None:
        with database.sessions() as session:
            try:
                update_site(session, settings, actor=actor, **values)  # type: ignore[arg-type]
                session.commit()
            except ZabotaError as exc:
                return exc
        return None

    failed = await asyncio.to_thread(save)
    if failed is not None:
        return _settings_page(request, actor, error_text(failed), field_errors(failed), values,
                              status_code=failed.status)
    return redirect("/admin/settings?saved=1")
