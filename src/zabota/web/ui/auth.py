from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import sqlalchemy as sa
from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from zabota.core.clock import SYSTEM_CLOCK, Clock
from zabota.core.errors import RateLimited, ZabotaError
from zabota.core.i18n import LANGUAGES, _
from zabota.core.settings import Settings
from zabota.core.signing import serializer_for
from zabota.identity import errors as identity_errors
from zabota.identity import service as identity
from zabota.identity.models import Customer, User
from zabota.tickets import attachments
from zabota.web.deps import PathId, limiter
from zabota.web.ui.common import (
    SESSION_COOKIE,
    LoginRequired,
    UISession,
    check_csrf,
    error_text,
    redirect,
    render,
    ui_actor,
)

router = APIRouter()
OTP_STEP_SALT = "zabota.login-otp"
OTP_STEP_SECONDS = 5 * 60


def request_clock(request: Request) -> Clock:
    """The app's clock: the system's, or a frozen one a test put on app.state."""
    clock: Clock = getattr(request.app.state, "clock", SYSTEM_CLOCK)
    return clock


def timed_serializer(request: Request, salt: str) -> URLSafeTimedSerializer:
    """Signs short-lived values with the installation's secret; `salt` keeps uses apart."""
    return serializer_for(request.app.state.settings, salt, request_clock(request))


def start_session(request: Request, token: str, target: str,
                  language: str | None = None) -> Response:
    """Redirect to `target` carrying the sign-in cookie for `token`, and the person's own
    language as the UI's when they chose one other than the installation's default (it then
    wins over the browser's list; the default leaves the browser to decide)."""
    settings: Settings = request.app.state.settings
    response = redirect(target)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https",
                        max_age=settings.access_token_ttl_hours * 3600)
    if language in LANGUAGES and language != settings.default_language:
        response.set_cookie("zabota_lang", language, samesite="lax", max_age=365 * 24 * 3600)
    return response


def language_of(session: Session, *, user_id: int | None = None,
                 customer_id: int | None = None) -> str | None:
    if user_id is not None:
        return session.scalar(sa.select(User.language).where(User.id == user_id))
    return session.scalar(sa.select(Customer.language).where(Customer.id == customer_id))


def _safe_next(value: str | None, default: str) -> str:
    # Only local paths: an open redirect would let a phishing link borrow our login page.
    if value and value.startswith("/") and not value.startswith("//"):
        return value
    return default


@router.get("/")
def home(request: Request) -> Response:
    try:
        actor = ui_actor(request)
    except LoginRequired:
        return redirect("/login")
    return redirect("/agent" if actor.is_staff else "/portal")


@router.get("/login")
def login_form(request: Request, next: str | None = None) -> Response:
    return render(request, "login.html", {"next": next or "", "email": "", "error": None})


@router.post("/login")
def login(request: Request, session: UISession, email: Annotated[str, Form(max_length=254)] = "",
          password: Annotated[str, Form(max_length=200)] = "",
          next: Annotated[str, Form(max_length=500)] = "") -> Response:
    settings: Settings = request.app.state.settings
    if not email.strip() or not password:
        return render(request, "login.html", {
            "next": next, "email": email, "error": _("Enter your e-mail and password")},
            status_code=422)
    try:
        client = request.client.host if request.client else "unknown"
        limiter(request).hit(f"login-ip:{client}", limit=settings.login_rate_limit_per_minute * 5)
        limiter(request).hit(f"login:{email.lower()}", limit=settings.login_rate_limit_per_minute)
        token, row = identity.issue_access_token(
            session, email, password, ttl=timedelta(hours=settings.access_token_ttl_hours),
            clock=request_clock(request))
        session.commit()
    except identity_errors.OtpRequired as exc:
        # The password was right. What the second step carries is a signed, short-lived
        # "user X passed the password", never the password itself.
        pending = timed_serializer(request, OTP_STEP_SALT).dumps(
            {"u": exc.user_id, "f": exc.fingerprint})
        return render(request, "login_otp.html", {"next": next, "pending": pending,
                                                  "error": None})
    except (ZabotaError, RateLimited) as exc:
        return render(request, "login.html", {"next": next, "email": email,
                                              "error": error_text(exc)}, status_code=401
                      if exc.status == 401 else exc.status)
    return start_session(request, token, _safe_next(next, "/agent" if row.user_id else "/portal"),
                         language_of(session, user_id=row.user_id,
                                      customer_id=row.customer_id))


@router.post("/login/otp")
def login_otp(request: Request, session: UISession,
              pending: Annotated[str, Form(max_length=500)] = "",
              code: Annotated[str, Form(max_length=20)] = "",
              next: Annotated[str, Form(max_length=500)] = "") -> Response:
    """The second step for staff with two-factor authentication.

    No CSRF token: `pending` can only be had by passing the password, so a forged form
    cannot carry one."""
    settings: Settings = request.app.state.settings
    try:
        claims = timed_serializer(request, OTP_STEP_SALT).loads(pending,
                                                                max_age=OTP_STEP_SECONDS)
        user_id, fingerprint = int(claims["u"]), str(claims["f"])
    except (BadSignature, KeyError, TypeError, ValueError):
        return render(request, "login.html", {
            "next": next, "email": "",
            "error": _("The sign-in took too long; enter your e-mail and password again")},
            status_code=401)
    try:
        limiter(request).hit(f"login-otp:{user_id}", limit=settings.login_rate_limit_per_minute)
        token = identity.issue_token_with_otp(
            session, user_id, code, fingerprint=fingerprint,
            ttl=timedelta(hours=settings.access_token_ttl_hours), clock=request_clock(request))
        session.commit()
    except identity_errors.BadCredentials:
        return render(request, "login.html", {
            "next": next, "email": "",
            "error": _("The sign-in took too long; enter your e-mail and password again")},
            status_code=401)
    except (ZabotaError, RateLimited) as exc:
        session.rollback()
        return render(request, "login_otp.html", {"next": next, "pending": pending,
                                                  "error": error_text(exc)},
                      status_code=exc.status)
    return start_session(request, token, _safe_next(next, "/agent"),
                         language_of(session, user_id=user_id))


@router.post("/logout")
def logout(request: Request, session: UISession,
           csrf_token: Annotated[str, Form()] = "") -> Response:
    actor = ui_actor(request)
    check_csrf(request, csrf_token)
    identity.revoke_own_token(session, actor)
    session.commit()
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/lang/{code}")
def switch_language(code: str, request: Request, next: str | None = None) -> RedirectResponse:
    response = redirect(_safe_next(next, "/"))
    if code in ("ru", "en"):
        response.set_cookie("zabota_lang", code, samesite="lax", max_age=365 * 24 * 3600)
    return response


@router.get("/files/{attachment_id}")
def download(attachment_id: PathId, request: Request, session: UISession) -> Response:
    """An attachment for whoever may see its message (staff or the ticket's customer)."""
    actor = ui_actor(request)
    settings: Settings = request.app.state.settings
    row, path = attachments.get_attachment_for(session, actor, attachment_id, settings)
    # Always a download, never rendered inline: an uploaded HTML or SVG must not run here.
    return FileResponse(path, media_type=row.content_type, filename=row.filename,
                        content_disposition_type="attachment",
                        headers={"X-Content-Type-Options": "nosniff"})
