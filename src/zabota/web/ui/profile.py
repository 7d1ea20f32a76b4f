"""A staff member's own profile: language, presence, time zone, password, two-factor sign-in."""

from __future__ import annotations

from functools import cache
from typing import Annotated, Any
from zoneinfo import available_timezones

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from itsdangerous import BadSignature

from zabota.core.errors import ZabotaError
from zabota.core.i18n import N_, _
from zabota.identity import service as identity
from zabota.identity.models import Presence, User
from zabota.identity.permissions import Actor
from zabota.web.ui.auth import request_clock, timed_serializer
from zabota.web.ui.common import (
    StaffActor,
    UISession,
    check_csrf,
    error_text,
    field_errors,
    redirect,
    render,
)

router = APIRouter(prefix="/agent/profile")
TOTP_SETUP_SALT = "zabota.totp-setup"
TOTP_SETUP_SECONDS = 30 * 60
PRESENCE = {Presence.ONLINE: N_("Online"), Presence.AWAY: N_("Away"),
            Presence.OFFLINE: N_("Offline")}
DONE = {
    "settings": N_("Your settings are saved"),
    "password": N_("Your password is changed; your other sessions are signed out"),
    "totp-on": N_("Two-factor authentication is on"),
    "totp-off": N_("Two-factor authentication is off"),
}


@cache
def _timezones() -> list[str]:
    skip = ("Etc/", "SystemV/", "US/", "posix/", "right/")
    return [*sorted(tz for tz in available_timezones() if "/" in tz and not tz.startswith(skip)),
            "UTC"]


def _context(session: UISession, actor: Actor, **extra: Any) -> dict[str, Any]:
    user: User = identity.get_user_for(session, actor.id, actor=actor)
    form = {"language": user.language, "presence": user.presence.value,
            "timezone": user.timezone}
    return {"user": user, "form": form, "errors": {}, "presences": PRESENCE,
            "timezones": _timezones(), "setup": None, **extra}


def _rerender(request: Request, session: UISession, actor: Actor, exc: ZabotaError,
              **extra: Any) -> Response:
    session.rollback()
    context = _context(session, actor, **extra)
    context.update(error=error_text(exc), errors=field_errors(exc))
    return render(request, "agent/profile.html", context, status_code=exc.status)


@router.get("")
def profile(request: Request, session: UISession, actor: StaffActor,
            done: str | None = None) -> Response:
    notice = _(DONE[done]) if done in DONE else None
    return render(request, "agent/profile.html", _context(session, actor, notice=notice))


@router.post("")
def save_settings(request: Request, session: UISession, actor: StaffActor,
                  language: Annotated[str, Form(max_length=8)] = "",
                  presence: Annotated[str, Form(max_length=16)] = "",
                  timezone: Annotated[str, Form(max_length=64)] = "",
                  csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf_token)
    try:
        identity.update_own_profile(session, actor=actor, language=language, presence=presence,
                                    timezone=timezone)
        session.commit()
    except ZabotaError as exc:
        session.rollback()
        context = _context(session, actor)
        context.update(error=error_text(exc), errors=field_errors(exc),
                       form={"language": language, "presence": presence, "timezone": timezone})
        return render(request, "agent/profile.html", context, status_code=exc.status)
    response = redirect("/agent/profile?done=settings")
    # The interface follows the new language at once, as the RU/EN switch does.
    response.set_cookie("zabota_lang", language, samesite="lax", max_age=365 * 24 * 3600)
    return response


@router.post("/password")
def change_password(request: Request, session: UISession, actor: StaffActor,
                    current_password: Annotated[str, Form(max_length=200)] = "",
                    new_password: Annotated[str, Form(max_length=200)] = "",
                    new_password_again: Annotated[str, Form(max_length=200)] = "",
                    csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf_token)
    if new_password != new_password_again:
        message = _("The two new passwords differ")
        context = _context(session, actor, error=message,
                           errors={"new_password_again": message})
        return render(request, "agent/profile.html", context, status_code=422)
    try:
        identity.change_own_password(session, actor=actor, current=current_password,
                                     new=new_password, clock=request_clock(request))
        session.commit()
    except ZabotaError as exc:
        return _rerender(request, session, actor, exc)
    return redirect("/agent/profile?done=password")


def _setup(request: Request, session: UISession, actor: Actor, secret: str) -> dict[str, str]:
    signed = timed_serializer(request, TOTP_SETUP_SALT).dumps({"u": actor.id, "s": secret})
    return {"secret": secret, "uri": identity.totp_uri(session, secret, actor=actor),
            "signed": signed}


@router.get("/totp")
def totp_setup(request: Request, session: UISession, actor: StaffActor) -> Response:
    """Show a new secret to add to an authenticator app; nothing changes until confirmed."""
    try:
        secret, _uri = identity.begin_totp_setup(session, actor=actor)
    except ZabotaError as exc:
        return _rerender(request, session, actor, exc)
    return render(request, "agent/profile.html",
                  _context(session, actor, setup=_setup(request, session, actor, secret)))


@router.post("/totp")
def totp_confirm(request: Request, session: UISession, actor: StaffActor,
                 setup: Annotated[str, Form(max_length=500)] = "",
                 code: Annotated[str, Form(max_length=20)] = "",
                 csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf_token)
    # The secret travels signed in the form: it is shown on the page anyway, and the
    # signature ties it to this person so a pasted form from elsewhere does not apply.
    try:
        claims = timed_serializer(request, TOTP_SETUP_SALT).loads(setup,
                                                                  max_age=TOTP_SETUP_SECONDS)
        if int(claims["u"]) != actor.id:
            raise ValueError
        secret = str(claims["s"])
    except (BadSignature, KeyError, TypeError, ValueError):
        context = _context(session, actor,
                           error=_("The set-up took too long; start it again"))
        return render(request, "agent/profile.html", context, status_code=400)
    try:
        identity.confirm_totp(session, secret, code, actor=actor, clock=request_clock(request))
        session.commit()
    except ZabotaError as exc:
        return _rerender(request, session, actor, exc,
                         setup=_setup(request, session, actor, secret))
    return redirect("/agent/profile?done=totp-on")


@router.post("/totp/disable")
def totp_disable(request: Request, session: UISession, actor: StaffActor,
                 password: Annotated[str, Form(max_length=200)] = "",
                 csrf_token: Annotated[str, Form()] = "") -> Response:
    check_csrf(request, csrf_token)
    try:
        identity.disable_totp(session, password, actor=actor)
        session.commit()
    except ZabotaError as exc:
        return _rerender(request, session, actor, exc)
    return redirect("/agent/profile?done=totp-off")
