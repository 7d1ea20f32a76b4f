"""What every UI page shares: templates with gettext, the signed-in person, CSRF."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import jinja2
from fastapi import Depends, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from zabota.core.db import Database
from zabota.core.errors import Forbidden, ZabotaError
from zabota.core.i18n import N_, _, get_language, gettext, ngettext
from zabota.core.settings import Settings
from zabota.core.site import get_site
from zabota.identity import errors as identity_errors
from zabota.identity import service as identity
from zabota.identity.models import IdentityKind
from zabota.identity.permissions import Actor
from zabota.tickets import attachments
from zabota.tickets.service import channel_label, priority_label, status_label

WEB_DIR = Path(__file__).resolve().parent.parent
STATIC_DIR = WEB_DIR / "static"
SESSION_COOKIE = "zabota_session"

_env = jinja2.Environment(loader=jinja2.FileSystemLoader(WEB_DIR / "templates"),
                          extensions=["jinja2.ext.i18n"], autoescape=True)
_env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
templates = Jinja2Templates(env=_env)


def _localtime(value: datetime | None, tz: str, fmt: str = "%d.%m.%Y %H:%M") -> str:
    """Times are stored in UTC and shown in the installation's (later: the viewer's) zone."""
    if value is None:
        return ""
    return value.astimezone(ZoneInfo(tz)).strftime(fmt)


templates.env.filters["localtime"] = _localtime
templates.env.globals["status_label"] = status_label
templates.env.globals["priority_label"] = priority_label
templates.env.globals["channel_label"] = channel_label

# Product names stay as they are in every language.
IDENTITY_KINDS = {IdentityKind.EMAIL: N_("E-mail"), IdentityKind.PHONE: N_("Phone"),
                  IdentityKind.TELEGRAM: "Telegram", IdentityKind.VK: "VK",
                  IdentityKind.WHATSAPP: "WhatsApp", IdentityKind.CHAT: N_("Web chat visitor"),
                  IdentityKind.EXTERNAL: N_("External id")}


def identity_label(kind: IdentityKind) -> str:
    return _(IDENTITY_KINDS[kind])


templates.env.globals["identity_label"] = identity_label


class LoginRequired(Exception):
    """Raised by UI dependencies; the app answers with a redirect to the login page."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


def csrf_token(settings: Settings, session_token: str) -> str:
    key = settings.resolved_secret_key().encode()
    return hmac.new(key, b"csrf:" + session_token.encode(), hashlib.sha256).hexdigest()[:32]


def ui_session(request: Request) -> Iterator[Session]:
    database: Database = request.app.state.database
    with database.sessions() as session:
        yield session


UISession = Annotated[Session, Depends(ui_session)]


def ui_actor(request: Request) -> Actor:
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise LoginRequired(str(request.url.path))
    database: Database = request.app.state.database
    try:
        with database.read_sessions() as session:
            actor = identity.actor_for_token(session, token)
    except identity_errors.InvalidToken:
        raise LoginRequired(str(request.url.path)) from None
    request.state.csrf = csrf_token(request.app.state.settings, token)
    request.state.actor = actor
    return actor


UIActor = Annotated[Actor, Depends(ui_actor)]


def staff_actor(actor: UIActor) -> Actor:
    if not actor.is_staff:
        raise Forbidden()
    return actor


StaffActor = Annotated[Actor, Depends(staff_actor)]


def check_csrf(request: Request, token: str) -> None:
    expected = getattr(request.state, "csrf", None)
    if not expected or not hmac.compare_digest(expected, token or ""):
        raise Forbidden(_("The form has expired; reload the page and try again"))


def render(request: Request, name: str, context: dict[str, Any] | None = None, *,
           status_code: int = 200) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    actor = getattr(request.state, "actor", None)
    database: Database = request.app.state.database
    with database.read_sessions() as session:
        site = get_site(session, settings)
    # Times show in the viewer's own zone when they chose one, else the installation's.
    base = {"request": request, "lang": get_language(), "site": site,
            "tz": (actor.timezone if actor is not None else "") or site.timezone,
            "unread": _unread(request, actor),
            "actor": getattr(request.state, "actor", None),
            "csrf": getattr(request.state, "csrf", "")}
    return templates.TemplateResponse(request, name, {**base, **(context or {})},
                                      status_code=status_code)


def _unread(request: Request, actor: Actor | None) -> int:
    if actor is None or not actor.is_staff:
        return 0
    from zabota.automation import service as automation

    database: Database = request.app.state.database
    with database.read_sessions() as session:
        return automation.unread_count(session, actor)


def store_uploads(session: Session, actor: Actor, files: list[UploadFile] | None,
                  settings: Settings) -> list[int]:
    """Files from a form, kept within the limits; their ids go on the message."""
    ids = []
    for upload in files or []:
        if not upload.filename:
            continue  # the browser sends an empty part when no file was chosen
        data = upload.file.read(settings.max_attachment_bytes + 1)
        row = attachments.store_attachment(session, actor=actor, filename=upload.filename,
                                           content_type=upload.content_type, data=data,
                                           settings=settings)
        ids.append(row.id)
    return ids


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def error_text(exc: ZabotaError) -> str:
    return exc.detail or _(exc.title)


def field_errors(exc: ZabotaError) -> dict[str, str]:
    errors = exc.data.get("errors")
    if not isinstance(errors, list):
        return {}
    return {str(e["field"]): str(e["message"]) for e in errors if isinstance(e, dict)}
