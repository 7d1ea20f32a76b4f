"""The bot in the admin area: FAQ pairs, guided flows (edit the JSON, versions, restore, a dry
run) and the review of the bot's turns. Admins and supervisors with MANAGE_BOT."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from zabota.bot import service as bot
from zabota.bot.models import BotFlow, Decision
from zabota.bot.schemas import FaqIn
from zabota.core.errors import ZabotaError
from zabota.core.i18n import LANGUAGES, N_, _, get_language
from zabota.identity.permissions import Actor, Permission, require
from zabota.web.deps import SmallPathId
from zabota.web.problems import field_message
from zabota.web.ui.admin import LANGUAGE_NAMES, AreaActor, _failed, _may, _page, _parse
from zabota.web.ui.common import UISession, check_csrf, redirect

router = APIRouter(prefix="/admin/bot")
Csrf = Annotated[str, Form(max_length=100)]
MAX_FLOW_CHARS = 50_000
MAX_TEST_MESSAGES = 20

DECISIONS = {Decision.ANSWERED: N_("Answered"), Decision.RESOLVED: N_("Resolved by the bot"),
             Decision.HANDED_OFF: N_("Handed off"), Decision.GREETED: N_("Greeted"),
             Decision.FLOW_STEP: N_("Flow step")}
STEP_KINDS = ("ask", "http", "answer", "handoff")
NEW_FLOW = {
    "name": "return_request",
    "triggers": {"ru": ["вернуть товар"], "en": ["return an item"]},
    "steps": [
        {"kind": "ask", "slot": "order", "pattern": r"\b(\d{4,10})\b",
         "prompt": {"ru": "Напишите номер заказа", "en": "What is the order number?"}},
        {"kind": "ask", "slot": "reason", "pattern": r"(?s)(.{3,})",
         "prompt": {"ru": "Почему вы хотите вернуть товар?",
                    "en": "Why would you like to return it?"}},
        {"kind": "handoff", "team": "Returns"},
    ],
}


def bot_actor(actor: AreaActor) -> Actor:
    require(actor, Permission.MANAGE_BOT)
    return actor


BotActor = Annotated[Actor, Depends(bot_actor)]


def _bot_page(request: Request, actor: Actor, name: str, context: dict[str, Any], *,
              status_code: int = 200) -> Response:
    return _page(request, actor, name, {"may": _may(actor), "section": "bot", **context},
                 status_code=status_code)


@router.get("")
def bot_home(actor: BotActor) -> Response:
    return redirect("/admin/bot/faq")


# --- FAQ pairs --------------------------------------------------------------------------------


def _language_options() -> list[tuple[str, str]]:
    return [(code, LANGUAGE_NAMES[code]) for code in LANGUAGES]


@router.get("/faq")
def faqs(request: Request, session: UISession, actor: BotActor,
         language: Annotated[str, Query(max_length=8)] = "") -> Response:
    wanted = language if language in LANGUAGES else None
    rows = bot.list_faqs(session, actor=actor, language=wanted)
    return _bot_page(request, actor, "bot_faq.html", {
        "faqs": rows, "language": wanted or "", "slugs": bot.faq_article_slugs(session, rows),
        "filter_options": [("", _("All languages")), *_language_options()]})


def _faq_form_page(request: Request, actor: Actor, form: dict[str, Any], *,
                   faq_id: int | None = None, extra: dict[str, Any] | None = None,
                   status_code: int = 200) -> Response:
    return _bot_page(request, actor, "bot_faq_form.html", {
        "form": form, "faq_id": faq_id, "language_options": _language_options(),
        **(extra or {})}, status_code=status_code)


@router.get("/faq/new")
def new_faq(request: Request, actor: BotActor) -> Response:
    return _faq_form_page(request, actor, {"language": get_language(), "is_active": True})


@router.get("/faq/{faq_id}")
def edit_faq(faq_id: SmallPathId, request: Request, session: UISession,
             actor: BotActor) -> Response:
    row = bot.get_faq(session, faq_id, actor=actor)
    return _faq_form_page(request, actor, {
        "language": row.language, "question": row.question,
        "alternatives": "\n".join(row.alternatives), "answer": row.answer,
        "article_slug": bot.faq_article_slugs(session, [row]).get(row.id, ""),
        "is_active": row.is_active}, faq_id=row.id)


def _save_faq(request: Request, session: Session, actor: Actor, form: dict[str, Any], *,
              faq_id: int | None) -> Response:
    try:
        body = _parse(FaqIn, {
            **form, "alternatives": [a.strip() for a in form["alternatives"].splitlines()
                                     if a.strip()],
            "article_slug": form["article_slug"].strip() or None})
        bot.save_faq(session, body, actor=actor, faq_id=faq_id)
        session.commit()
    except ZabotaError as exc:
        session.rollback()
        return _faq_form_page(request, actor, form, faq_id=faq_id, extra=_failed(exc),
                              status_code=exc.status)
    return redirect("/admin/bot/faq?saved=1")


FaqText = Annotated[str, Form(max_length=4000)]
FaqLines = Annotated[str, Form(max_length=10_000)]


@router.post("/faq/new")
def create_faq(request: Request, session: UISession, actor: BotActor,
               language: Annotated[str, Form(max_length=8)] = "",
               question: FaqText = "", alternatives: FaqLines = "", answer: FaqText = "",
               article_slug: Annotated[str, Form(max_length=200)] = "",
               is_active: Annotated[bool, Form()] = False, csrf_token: Csrf = "") -> Response:
    check_csrf(request, csrf_token)
    form = {"language": language, "question": question, "alternatives": alternatives,
            "answer": answer, "article_slug": article_slug, "is_active": is_active}
    return _save_faq(request, session, actor, form, faq_id=None)


@router.post("/faq/{faq_id}")
def update_faq(faq_id: SmallPathId, request: Request, session: UISession, actor: BotActor,
               language: Annotated[str, Form(max_length=8)] = "",
               question: FaqText = "", alternatives: FaqLines = "", answer: FaqText = "",
               article_slug: Annotated[str, Form(max_length=200)] = "",
               is_active: Annotated[bool, Form()] = False, csrf_token: Csrf = "") -> Response:
    check_csrf(request, csrf_token)
    bot.get_faq(session, faq_id, actor=actor)  # 404 before reading the form
    form = {"language": language, "question": question, "alternatives": alternatives,
            "answer": answer, "article_slug": article_slug, "is_active": is_active}
    return _save_faq(request, session, actor, form, faq_id=faq_id)


@router.post("/faq/{faq_id}/delete")
def delete_faq(faq_id: SmallPathId, request: Request, session: UISession, actor: BotActor,
               csrf_token: Csrf = "") -> Response:
    check_csrf(request, csrf_token)
    bot.delete_faq(session, faq_id, actor=actor)
    session.commit()
    return redirect("/admin/bot/faq?saved=1")


# --- flow definitions: errors a person can act on -------------------------------------------


@dataclass(frozen=True)
class FlowError:
    line: int | None  # in the text as typed
    where: str  # "step 2, pattern"
    message: str


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\]:,]|[^\s{}\[\]:,"]+')


def _value_lines(text: str) -> dict[tuple[str | int, ...], int]:
    """The line of each key (or array item) of a valid JSON text, by its path."""
    tokens = []
    line, last = 1, 0
    for match in _TOKEN.finditer(text):
        line += text.count("\n", last, match.start())
        last = match.start()
        tokens.append((match.group(), line))
    lines: dict[tuple[str | int, ...], int] = {}

    def value(i: int, path: tuple[str | int, ...]) -> int:
        token, at = tokens[i]
        lines.setdefault(path, at)
        if token not in ("{", "["):
            return i + 1
        closing, i, n = ("}" if token == "{" else "]"), i + 1, 0
        while tokens[i][0] != closing:
            if token == "{":
                key = json.loads(tokens[i][0])
                lines.setdefault((*path, key), tokens[i][1])
                i = value(i + 2, (*path, key))
            else:
                i = value(i, (*path, n))
                n += 1
            if tokens[i][0] == ",":
                i += 1
        return i + 1

    try:
        value(0, ())
    except (IndexError, ValueError):
        return lines  # cannot happen for text json.loads accepted; lines are a courtesy
    return lines


def _path(location: tuple[int | str, ...]) -> tuple[str | int, ...]:
    """The error's path in the JSON: without pydantic's union tag and "[key]" markers."""
    parts = [p for p in location if p != "[key]"]
    if len(parts) > 2 and parts[0] == "steps" and parts[2] in STEP_KINDS:
        del parts[2]
    return tuple(parts)


def _where(path: tuple[str | int, ...]) -> str:
    if len(path) >= 2 and path[0] == "steps" and isinstance(path[1], int):
        rest = ".".join(str(p) for p in path[2:])
        if not rest:
            return _("step {n}").format(n=path[1] + 1)
        return _("step {n}, {field}").format(n=path[1] + 1, field=rest)
    return ".".join(str(p) for p in path) or _("the whole flow")


_NAMES = N_("Use small Latin letters, digits and «_», starting with a letter (at most 40)")


def _message(error: dict[str, Any], path: tuple[str | int, ...]) -> str:
    kind, ctx = error.get("type", ""), error.get("ctx") or {}
    last = path[-1] if path else ""
    if kind == "regex_invalid":
        return _("Not a regular expression: {error}").format(error=ctx.get("error", ""))
    if kind == "team_unknown":
        return _("There is no team named «{team}»").format(team=ctx.get("team", ""))
    if kind == "union_tag_invalid":
        return _("Unknown kind of step «{kind}»; use one of: {kinds}").format(
            kind=ctx.get("tag", ""), kinds=", ".join(STEP_KINDS))
    if kind == "union_tag_not_found":
        return _("Say the kind of the step: {kinds}").format(kinds=", ".join(STEP_KINDS))
    if kind == "string_pattern_mismatch" and last == "url":
        return _("Enter an address that starts with http:// or https://")
    if kind == "string_pattern_mismatch" and last in ("name", "slot", "save_as"):
        return _(_NAMES)
    if kind == "literal_error" and len(path) >= 2 and path[0] == "triggers":
        return _("Use the languages ru and en")
    return field_message(error)


def flow_errors(text: str, exc: ValidationError) -> list[FlowError]:
    lines = _value_lines(text)
    found = []
    for error in exc.errors():
        path = _path(tuple(error["loc"]))
        probe = path
        while probe and probe not in lines:  # a missing field: the object that lacks it
            probe = probe[:-1]
        found.append(FlowError(lines.get(probe), _where(path), _message(dict(error), path)))
    return found


def _parse_flow(text: str) -> tuple[dict[str, Any] | None, list[FlowError]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return None, [FlowError(exc.lineno, _("column {n}").format(n=exc.colno),
                                _("This is not valid JSON here ({detail})").format(
                                    detail=exc.msg))]
    if not isinstance(data, dict):
        return None, [FlowError(1, _("the whole flow"), _("Expected a JSON object"))]
    return data, []


# --- flows ----------------------------------------------------------------------------------


@router.get("/flows")
def flows_list(request: Request, session: UISession, actor: BotActor) -> Response:
    return _bot_page(request, actor, "bot_flows.html",
                     {"flows": bot.list_flows(session, actor=actor)})


def _as_json(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 1000 else text[:1000] + "…"


def _pretty(definition: dict[str, Any]) -> str:
    return json.dumps(definition, ensure_ascii=False, indent=2)


def _flow_page(request: Request, session: Session, actor: Actor, name: str | None, *,
               text: str, errors: list[FlowError] | None = None,
               extra: dict[str, Any] | None = None, status_code: int = 200) -> Response:
    versions: list[BotFlow] = (bot.flow_versions(session, name, actor=actor)
                               if name is not None else [])
    current = next((v for v in versions if v.is_active), versions[0] if versions else None)
    return _bot_page(request, actor, "bot_flow.html", {
        "name": name, "versions": versions, "current": current, "text": text,
        "flow_errors": errors or [], "language_options": _language_options(),
        "version_options": [(str(v.version), _("Version {n}").format(n=v.version))
                            for v in versions],
        "as_json": _as_json,
        "test": {"language": get_language(), "messages": "", "version": (
            current.version if current else "")},
        **(extra or {})}, status_code=status_code)


@router.get("/flows/new")
def new_flow(request: Request, session: UISession, actor: BotActor) -> Response:
    return _flow_page(request, session, actor, None, text=_pretty(NEW_FLOW))


@router.get("/flows/{name}")
def edit_flow(name: str, request: Request, session: UISession, actor: BotActor) -> Response:
    versions = bot.flow_versions(session, name, actor=actor)
    current = next((v for v in versions if v.is_active), versions[0])
    return _flow_page(request, session, actor, name, text=_pretty(current.definition))


def _save_flow(request: Request, session: Session, actor: Actor, name: str | None,
               text: str) -> Response:
    data, errors = _parse_flow(text)
    if data is not None and name is not None and data.get("name") != name:
        errors = [FlowError(_value_lines(text).get(("name",)), "name", _(
            "A flow keeps its name; to make another flow, use «New flow»"))]
    if data is not None and name is None and isinstance(data.get("name"), str) and any(
            f.name == data["name"] for f in bot.list_flows(session, actor=actor)):
        errors = [FlowError(_value_lines(text).get(("name",)), "name", _(
            "A flow with this name exists; open it to save a new version"))]
    if data is not None and not errors:
        try:
            row = bot.save_flow(session, data, actor=actor)
            session.commit()
            return redirect(f"/admin/bot/flows/{row.name}?saved=1")
        except ValidationError as exc:
            session.rollback()
            errors = flow_errors(text, exc)
    return _flow_page(request, session, actor, name, text=text, errors=errors,
                      status_code=422)


FlowText = Annotated[str, Form(max_length=MAX_FLOW_CHARS)]


@router.post("/flows/new")
def create_flow(request: Request, session: UISession, actor: BotActor,
                definition: FlowText = "", csrf_token: Csrf = "") -> Response:
    check_csrf(request, csrf_token)
    return _save_flow(request, session, actor, None, definition)


@router.post("/flows/{name}")
def save_flow(name: str, request: Request, session: UISession, actor: BotActor,
              definition: FlowText = "", csrf_token: Csrf = "") -> Response:
    check_csrf(request, csrf_token)
    bot.flow_versions(session, name, actor=actor)  # 404 for a flow that does not exist
    return _save_flow(request, session, actor, name, definition)


@router.get("/flows/{name}/versions/{version}")
def flow_version(name: str, version: SmallPathId, request: Request, session: UISession,
                 actor: BotActor) -> Response:
    row = bot.get_flow_version(session, name, version, actor=actor)
    return _bot_page(request, actor, "bot_flow_version.html", {
        "row": row, "text": _pretty(row.definition),
        "versions": bot.flow_versions(session, name, actor=actor)})


@router.post("/flows/{name}/versions/{version}/restore")
def restore_flow(name: str, version: SmallPathId, request: Request, session: UISession,
                 actor: BotActor, csrf_token: Csrf = "") -> Response:
    check_csrf(request, csrf_token)
    try:
        bot.restore_flow(session, name, version, actor=actor)
        session.commit()
    except ValidationError as exc:  # e.g. its hand-off team was deleted since
        session.rollback()
        row = bot.get_flow_version(session, name, version, actor=actor)
        return _flow_page(request, session, actor, name, text=_pretty(row.definition),
                          errors=flow_errors(_pretty(row.definition), exc), status_code=422)
    return redirect(f"/admin/bot/flows/{name}?saved=1")


@router.post("/flows/{name}/off")
def turn_off_flow(name: str, request: Request, session: UISession, actor: BotActor,
                  csrf_token: Csrf = "") -> Response:
    check_csrf(request, csrf_token)
    bot.turn_off_flow(session, name, actor=actor)
    session.commit()
    return redirect(f"/admin/bot/flows/{name}?saved=1")


@router.post("/flows/{name}/test")
def test_flow(name: str, request: Request, session: UISession, actor: BotActor,
              version: Annotated[str, Form(max_length=10)] = "",
              language: Annotated[str, Form(max_length=8)] = "",
              messages: Annotated[str, Form(max_length=10_000)] = "",
              csrf_token: Csrf = "") -> Response:
    """A dry run of a version: the customer's messages (one per line) and the flow's replies,
    step by step. The HTTP steps really call their endpoints; nothing is stored."""
    check_csrf(request, csrf_token)
    versions = bot.flow_versions(session, name, actor=actor)
    form = {"version": version, "language": language, "messages": messages}
    lines = [line.strip() for line in messages.splitlines() if line.strip()]
    test_errors: dict[str, str] = {}
    chosen = next((v for v in versions if str(v.version) == version.strip()), None)
    if chosen is None:
        test_errors["version"] = _("Choose a version from the list")
    if language not in LANGUAGES:
        test_errors["language"] = _("Choose a language from the list")
    if not lines:
        test_errors["messages"] = _("Write at least one message of the customer")
    elif len(lines) > MAX_TEST_MESSAGES:
        test_errors["messages"] = _("At most {n} messages").format(n=MAX_TEST_MESSAGES)
    shown = next((v for v in versions if v.is_active), versions[0])
    result = None
    if chosen is not None and not test_errors:
        result = bot.dry_run_flow(session, name, chosen.version, lines, language=language,
                                  actor=actor)
    return _flow_page(request, session, actor, name, text=_pretty(shown.definition),
                      extra={"test": form, "test_errors": test_errors, "result": result},
                      status_code=422 if test_errors else 200)


# --- the review of turns --------------------------------------------------------------------


@router.get("/turns")
def turns(request: Request, session: UISession, actor: BotActor,
          decision: Annotated[str, Query(max_length=16)] = "",
          before: Annotated[int | None, Query(ge=1, le=2**62)] = None) -> Response:
    wanted = decision if decision in {d.value for d in Decision} else None
    rows = bot.review_turns(session, actor=actor, decision=wanted, before_id=before)
    return _bot_page(request, actor, "bot_turns.html", {
        "rows": rows, "decision": wanted or "",
        "decision_names": {d.value: _(text) for d, text in DECISIONS.items()},
        "reasons": {key: _(text) for key, text in bot.HANDOFF_REASONS.items()},
        "decision_options": [("", _("All decisions")),
                             *((d.value, _(text)) for d, text in DECISIONS.items())],
        "older": rows[-1].turn.id if len(rows) == bot.TURNS_PER_PAGE else None})
