"""Routing in the admin area (categories, rules, category models) and triage on the agent's
side (the ticket's category with its suggestions, the queue of tickets to triage)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from zabota.core.errors import NotFound, ZabotaError, field_error
from zabota.core.i18n import N_, _, get_language
from zabota.identity import service as identity
from zabota.identity.permissions import Actor, Permission
from zabota.routing import service as routing
from zabota.routing.models import AssignmentMode, RoutingRule
from zabota.routing.schemas import (
    CategoryCreate,
    RoutingSettingsIn,
    RuleCreate,
)
from zabota.tickets import service as tickets
from zabota.tickets.models import Channel, Priority
from zabota.web.deps import PathId, QueryId, SmallPathId
from zabota.web.ui.admin import AreaActor, _failed, _may, _optional_int, _page, _parse
from zabota.web.ui.common import StaffActor, UISession, check_csrf, redirect

router = APIRouter()
Csrf = Annotated[str, Form(max_length=100)]
MODES = {AssignmentMode.AUTOMATIC: N_("Automatic: least loaded agent"),
         AssignmentMode.ROUND_ROBIN: N_("Round robin"),
         AssignmentMode.MANUAL: N_("Manual: suggest only")}


def _routing_page(request: Request, actor: Actor, name: str, context: dict[str, Any], *,
                  status_code: int = 200) -> Response:
    may = {**_may(actor), "routing": actor.can(Permission.MANAGE_ROUTING)}
    return _page(request, actor, name, {"may": may, "section": "routing", **context},
                 status_code=status_code)


@router.get("/admin/routing")
def routing_home(actor: AreaActor) -> Response:
    return redirect("/admin/routing/rules")


# --- categories -----------------------------------------------------------------------------


def _categories_page(request: Request, session: Session, actor: Actor, form: dict[str, Any],
                     *, extra: dict[str, Any] | None = None,
                     status_code: int = 200) -> Response:
    categories = routing.list_categories(session)
    teams = identity.list_teams(session, actor=actor)
    lang = get_language()
    modes = routing.team_modes(session)
    return _routing_page(request, actor, "routing_categories.html", {
        "categories": categories, "names": {c.id: c.name(lang) for c in categories},
        "team_names": {t.id: t.name for t in teams}, "form": form,
        "team_options": [("", "—"), *((t.id, t.name) for t in teams)],
        "parent_options": [("", "—"), *((c.id, c.name(lang)) for c in categories)],
        "teams": teams, "modes": {t.id: modes.get(t.id, AssignmentMode.AUTOMATIC).value
                                  for t in teams},
        "mode_options": [(mode.value, _(text)) for mode, text in MODES.items()],
        **(extra or {})}, status_code=status_code)


@router.get("/admin/routing/categories")
def categories(request: Request, session: UISession, actor: AreaActor) -> Response:
    return _categories_page(request, session, actor, {})


@router.post("/admin/routing/categories")
def create_category(
    request: Request, session: UISession, actor: AreaActor,
    key: Annotated[str, Form(max_length=100)] = "",
    name_ru: Annotated[str, Form(max_length=200)] = "",
    name_en: Annotated[str, Form(max_length=200)] = "",
    parent_id: Annotated[str, Form(max_length=20)] = "",
    team_id: Annotated[str, Form(max_length=20)] = "",
    skill: Annotated[str, Form(max_length=100)] = "",
    csrf_token: Csrf = "",
) -> Response:
    check_csrf(request, csrf_token)
    form = {"key": key, "name_ru": name_ru, "name_en": name_en, "parent_id": parent_id,
            "team_id": team_id, "skill": skill}
    try:
        body = _parse(CategoryCreate, {
            **form, "parent_id": _optional_int(parent_id, "parent_id"),
            "team_id": _optional_int(team_id, "team_id")})
        routing.create_category(session, actor=actor, **body.model_dump())
        session.commit()
    except ZabotaError as exc:
        session.rollback()
        return _categories_page(request, session, actor, form, extra=_failed(exc),
                                status_code=exc.status)
    return redirect("/admin/routing/categories?saved=1")


@router.post("/admin/routing/categories/{category_id}/delete")
def delete_category(category_id: SmallPathId, request: Request, session: UISession,
                    actor: AreaActor, csrf_token: Csrf = "") -> Response:
    check_csrf(request, csrf_token)
    try:
        routing.delete_category(session, category_id, actor=actor)
        session.commit()
    except ZabotaError as exc:
        session.rollback()
        return _categories_page(request, session, actor, {}, extra=_failed(exc),
                                status_code=exc.status)
    return redirect("/admin/routing/categories?saved=1")


@router.post("/admin/routing/teams/{team_id}/mode")
def team_mode(team_id: SmallPathId, request: Request, session: UISession, actor: AreaActor,
              mode: Annotated[str, Form(max_length=16)] = "", csrf_token: Csrf = "") -> Response:
    check_csrf(request, csrf_token)
    try:
        routing.set_team_mode(session, team_id, AssignmentMode(mode), actor=actor)
        session.commit()
    except ValueError:
        return _categories_page(request, session, actor, {}, status_code=422,
                                extra={"error": _("Choose an assignment mode from the list")})
    return redirect("/admin/routing/categories?saved=1")


# --- rules ----------------------------------------------------------------------------------


def _describe_rule(rule: Any, names: dict[str, str], teams: dict[int, str]) -> dict[str, Any]:
    conditions, actions = rule.conditions, rule.actions
    when = []
    if conditions.get("phrases"):
        when.append(_("phrases: {phrases}").format(
            phrases=", ".join(f"«{p}»" for p in conditions["phrases"])))
    for key, label in (("channels", _("channel")), ("languages", _("language")),
                       ("sentiments", _("sentiment")), ("sla_tiers", _("SLA tier"))):
        if conditions.get(key):
            when.append(f"{label}: {', '.join(map(str, conditions[key]))}")
    if conditions.get("vip") is not None:
        when.append(_("VIP") if conditions["vip"] else _("not VIP"))
    for key, value in (conditions.get("custom_fields") or {}).items():
        when.append(f"{key} = {value}")
    then = []
    if actions.get("category"):
        then.append(_("category {category}").format(
            category=names.get(actions["category"], actions["category"])))
    if actions.get("team_id"):
        then.append(_("team {team}").format(team=teams.get(actions["team_id"], "—")))
    if actions.get("priority"):
        then.append(_("priority {priority}").format(
            priority=tickets.priority_label(Priority(actions["priority"]))))
    if actions.get("tags"):
        then.append(_("tags {tags}").format(tags=", ".join(actions["tags"])))
    if actions.get("assignee_id"):
        then.append(_("agent #{id}").format(id=actions["assignee_id"]))
    if actions.get("skip_model"):
        then.append(_("skip the model"))
    return {"rule": rule, "when": "; ".join(when) or _("always"), "then": "; ".join(then)}


def _rules_page(request: Request, session: Session, actor: Actor, form: dict[str, Any], *,
                extra: dict[str, Any] | None = None, status_code: int = 200) -> Response:
    lang = get_language()
    names = routing.category_names(session, lang)
    teams = {t.id: t.name for t in identity.list_teams(session, actor=actor)}
    rules = [_describe_rule(r, names, teams) for r in routing.list_rules(session)]
    return _routing_page(request, actor, "routing_rules.html", {
        "rules": rules, "form": form,
        "category_options": [("", "—"), *names.items()],
        "team_options": [("", "—"), *teams.items()],
        "priority_options": [("", "—"), *((p.value, tickets.priority_label(p))
                                         for p in Priority)],
        "channel_options": [("", _("Any channel")),
                            *((c.value, tickets.channel_label(c)) for c in Channel)],
        **(extra or {})}, status_code=status_code)


@router.get("/admin/routing/rules")
def rules(request: Request, session: UISession, actor: AreaActor,
          edit: QueryId = None) -> Response:
    if edit is None:
        return _rules_page(request, session, actor, {})
    rule = routing.get_rule(session, edit)
    return _rules_page(request, session, actor, _rule_form(rule), extra={"editing": rule})


def _rule_form(rule: RoutingRule) -> dict[str, Any]:
    """What the phrase-rule form shows of a rule (conditions it has no box for stay)."""
    when, then = rule.conditions or {}, rule.actions or {}
    return {"name": rule.name, "phrases": "\n".join(when.get("phrases", [])),
            "channel": (when.get("channels") or [""])[0],
            "category": then.get("category") or "", "team_id": str(then.get("team_id") or ""),
            "priority": then.get("priority") or "", "tags": " ".join(then.get("tags", [])),
            "is_continue": rule.is_continue, "skip_model": bool(then.get("skip_model"))}


def _rule_fields(
    name: Annotated[str, Form(max_length=200)] = "",
    phrases: Annotated[str, Form(max_length=10_000)] = "",
    channel: Annotated[str, Form(max_length=16)] = "",
    category: Annotated[str, Form(max_length=100)] = "",
    team_id: Annotated[str, Form(max_length=20)] = "",
    priority: Annotated[str, Form(max_length=16)] = "",
    tags: Annotated[str, Form(max_length=1000)] = "",
    is_continue: Annotated[bool, Form()] = False,
    skip_model: Annotated[bool, Form()] = False,
) -> dict[str, Any]:
    return {"name": name, "phrases": phrases, "channel": channel, "category": category,
            "team_id": team_id, "priority": priority, "tags": tags, "is_continue": is_continue,
            "skip_model": skip_model}


RuleForm = Annotated[dict[str, Any], Depends(_rule_fields)]


@router.post("/admin/routing/rules")
def create_rule(request: Request, session: UISession, actor: AreaActor, form: RuleForm,
                csrf_token: Csrf = "") -> Response:
    """A phrase rule from the form: one phrase per line, any of them matches."""
    check_csrf(request, csrf_token)
    return _save_rule(request, session, actor, form, None)


@router.post("/admin/routing/rules/{rule_id}")
def update_rule(rule_id: SmallPathId, request: Request, session: UISession, actor: AreaActor,
                form: RuleForm, csrf_token: Csrf = "") -> Response:
    """The same form for a rule that exists; it keeps its place and the conditions and
    actions the form has no box for (languages, sentiments, an assignee...)."""
    check_csrf(request, csrf_token)
    return _save_rule(request, session, actor, form, routing.get_rule(session, rule_id))


def _save_rule(request: Request, session: Session, actor: Actor, form: dict[str, Any],
               rule: RoutingRule | None) -> Response:
    try:
        lines = [p.strip() for p in str(form["phrases"]).splitlines() if p.strip()]
        if not lines:  # a rule without conditions holds for every ticket: not from this form
            raise field_error("phrases", _("Enter at least one phrase, one per line"))
        kept_when = dict(rule.conditions or {}) if rule else {}
        kept_then = {k: v for k, v in (rule.actions or {}).items() if k == "assignee_id"} if (
            rule) else {}
        body = _parse(RuleCreate, {
            "name": form["name"], "is_continue": form["is_continue"],
            "conditions": {**kept_when, "phrases": lines,
                           "channels": [form["channel"]] if form["channel"] else []},
            "actions": {**kept_then, "category": form["category"] or None,
                        "team_id": _optional_int(form["team_id"], "actions.team_id"),
                        "priority": form["priority"] or None, "skip_model": form["skip_model"],
                        "tags": [t for t in str(form["tags"]).replace(",", " ").split() if t]}})
        if rule is None:
            routing.create_rule(session, actor=actor, name=body.name,
                                conditions=body.conditions, actions=body.actions,
                                is_continue=body.is_continue)
        else:
            routing.update_rule(session, rule.id, actor=actor, name=body.name,
                                conditions=body.conditions, actions=body.actions,
                                is_continue=body.is_continue)
        session.commit()
    except ZabotaError as exc:
        session.rollback()
        failed = _failed(exc)
        # The form has one control per field; nested names point at it.
        failed["errors"] = {key.split(".")[-1] if key.startswith(("conditions", "actions"))
                            else key: value for key, value in failed["errors"].items()}
        extra = {**failed, "editing": rule} if rule else failed
        return _rules_page(request, session, actor, form, extra=extra, status_code=exc.status)
    return redirect("/admin/routing/rules?saved=1")


@router.post("/admin/routing/rules/{rule_id}/{action}")
def change_rule(rule_id: SmallPathId, action: str, request: Request, session: UISession,
                actor: AreaActor, csrf_token: Csrf = "") -> Response:
    check_csrf(request, csrf_token)
    if action not in ("up", "down", "toggle", "delete"):
        raise NotFound()
    try:
        if action in ("up", "down"):
            routing.move_rule(session, rule_id, actor=actor, up=action == "up")
        elif action == "toggle":
            rule = routing.get_rule(session, rule_id)
            routing.update_rule(session, rule_id, actor=actor, is_enabled=not rule.is_enabled)
        elif action == "delete":
            routing.delete_rule(session, rule_id, actor=actor)
        session.commit()
    except ZabotaError as exc:
        session.rollback()
        return _rules_page(request, session, actor, {}, extra=_failed(exc),
                           status_code=exc.status)
    return redirect("/admin/routing/rules?saved=1")


# --- models ---------------------------------------------------------------------------------


def _models_page(request: Request, session: Session, actor: Actor, form: dict[str, Any], *,
                 extra: dict[str, Any] | None = None, status_code: int = 200) -> Response:
    data = routing.training_data(session)
    models = routing.list_models(session)
    return _routing_page(request, actor, "routing_models.html", {
        "models": models, "active": next((m for m in models if m.is_active), None),
        "training_rows": len(data.labels), "training_categories": len(set(data.labels)),
        "enough": data.is_enough, "settings": data.settings,
        "form": form or {k: str(v) for k, v in asdict(data.settings).items()},
        "accuracy": routing.routing_accuracy(session),
        "corrections": routing.list_corrections(session, limit=20),
        **(extra or {})}, status_code=status_code)


@router.get("/admin/routing/models")
def models(request: Request, session: UISession, actor: AreaActor) -> Response:
    return _models_page(request, session, actor, {})


@router.post("/admin/routing/settings")
def save_settings(
    request: Request, session: UISession, actor: AreaActor,
    confidence_threshold: Annotated[str, Form(max_length=20)] = "",
    repeat_days: Annotated[str, Form(max_length=20)] = "",
    min_training_rows: Annotated[str, Form(max_length=20)] = "",
    min_per_category: Annotated[str, Form(max_length=20)] = "",
    csrf_token: Csrf = "",
) -> Response:
    check_csrf(request, csrf_token)
    form = {"confidence_threshold": confidence_threshold, "repeat_days": repeat_days,
            "min_training_rows": min_training_rows, "min_per_category": min_per_category}
    try:
        body = _parse(RoutingSettingsIn, {k: v.replace(",", ".") for k, v in form.items()})
        routing.update_routing_settings(session, actor=actor, **body.model_dump())
        session.commit()
    except ZabotaError as exc:
        session.rollback()
        return _models_page(request, session, actor, form, extra=_failed(exc),
                            status_code=exc.status)
    return redirect("/admin/routing/models?saved=1")


@router.post("/admin/routing/models/{action}")
def model_action(action: str, request: Request, session: UISession, actor: AreaActor,
                 version: Annotated[str, Form(max_length=64)] = "",
                 csrf_token: Csrf = "") -> Response:
    check_csrf(request, csrf_token)
    try:
        if action == "activate":
            routing.activate_model(session, version, actor=actor)
        elif action == "rollback":
            routing.rollback_model(session, actor=actor)
        elif action == "deactivate":
            routing.deactivate_models(session, actor=actor)
        elif action == "train":
            routing.request_training(session, actor=actor)
        session.commit()
    except ZabotaError as exc:
        session.rollback()
        return _models_page(request, session, actor, {}, extra=_failed(exc),
                            status_code=exc.status)
    return redirect("/admin/routing/models?saved=1")


# --- the agent's side -----------------------------------------------------------------------


@router.post("/agent/tickets/{ticket_id}/category")
def set_category(ticket_id: PathId, request: Request, session: UISession, actor: StaffActor,
                 category: Annotated[str, Form(max_length=100)] = "",
                 csrf_token: Csrf = "") -> Response:
    """The category an agent picks (or confirms from the suggestions) on the ticket page;
    if triage had decided otherwise it is recorded as a correction."""
    check_csrf(request, csrf_token)
    tickets.update_ticket(session, ticket_id, {"category": category or None}, actor=actor)
    session.commit()
    return redirect(f"/agent/tickets/{ticket_id}")


@router.get("/agent/triage")
def triage_queue(request: Request, session: UISession, actor: StaffActor) -> Response:
    """Tickets whose category the model was not sure of, with its suggestions."""
    from zabota.web.ui.common import render

    waiting = routing.tickets_to_triage(session, actor=actor)
    return render(request, "agent/triage.html", {
        "waiting": waiting, "names": routing.category_names(session, get_language()),
        "cold_start": routing.classifier_is_cold(session)})
