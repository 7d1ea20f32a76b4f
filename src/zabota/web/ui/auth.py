from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from zabota.core.errors import RateLimited, ZabotaError
from zabota.core.settings import Settings
from zabota.identity import service as identity
from zabota.web.deps import limiter
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
    try:
        client = request.client.host if request.client else "unknown"
        limiter(request).hit(f"login-ip:{client}", limit=settings.login_rate_limit_per_minute * 5)
        limiter(request).hit(f"login:{email.lower()}", limit=settings.login_rate_limit_per_minute)
        token, row = identity.issue_access_token(
            session, email, password, ttl=timedelta(hours=settings.access_token_ttl_hours))
        session.commit()
    except (ZabotaError, RateLimited) as exc:
        return render(request, "login.html", {"next": next, "email": email,
                                              "error": error_text(exc)}, status_code=401
                      if exc.status == 401 else exc.status)
    target = _safe_next(next, "/agent" if row.user_id else "/portal")
    response = redirect(target)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax",
                        secure=request.url.scheme == "https",
                        max_age=settings.access_token_ttl_hours * 3600)
    return response


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
