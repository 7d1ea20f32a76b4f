"""RFC 9457 problem+json for every error, titles in the user's language."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from zabota.core.errors import InvalidInput, RateLimited, ZabotaError
from zabota.core.i18n import _, language, ngettext

PROBLEM = "application/problem+json"


def _language(request: Request) -> str:
    return getattr(request.state, "language", "ru")


def problem(request: Request, *, status: int, code: str, title: str, detail: str,
            headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body = {"type": f"/problems/{code}", "title": title, "status": status, "detail": detail,
            "instance": request.url.path, "code": code, **extra}
    return JSONResponse(body, status, media_type=PROBLEM, headers=headers)


def _wants_html(request: Request) -> bool:
    """UI pages get an HTML error page; the API and machines get problem+json."""
    return not request.url.path.startswith("/api/") and "text/html" in request.headers.get(
        "accept", "")


def _html_error(request: Request, status: int, title: str, detail: str) -> Response:
    from zabota.web.ui.common import render

    return render(request, "error.html", {"title": title, "detail": detail},
                  status_code=status)


def login_required(request: Request, exc: Exception) -> Response:
    from urllib.parse import quote

    from zabota.web.ui.common import LoginRequired

    assert isinstance(exc, LoginRequired)
    return RedirectResponse(f"/login?next={quote(exc.next_url)}", status_code=303)


def zabota_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ZabotaError)
    with language(_language(request)):
        title = _(exc.title)
        if _wants_html(request):
            return _html_error(request, exc.status, title, exc.detail or title)
        headers = ({"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited)
                   else None)
        return problem(request, status=exc.status, code=exc.code, title=title,
                       detail=exc.detail or title, headers=headers, **exc.data)


def validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    if any((error.get("loc") or ("",))[0] == "path" for error in exc.errors()):
        # `/tickets/abc` or an id beyond any column: the address names nothing.
        return http_error(request, StarletteHTTPException(404))
    with language(_language(request)):
        errors = [{"field": _field_path(error), "message": field_message(error)}
                  for error in exc.errors()]
        title = _(InvalidInput.title)
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or title
        if _wants_html(request):  # a hand-edited address, or a box the page did not limit
            return _html_error(request, 422, title, detail)
        return problem(request, status=422, code=InvalidInput.code, title=title, detail=detail,
                       errors=errors)


def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    with language(_language(request)):
        titles = {404: _("Not found"), 405: _("This method is not allowed here"),
                  401: _("Sign in first"), 413: _("The request is too large")}
        title = titles.get(exc.status_code, _("The request cannot be processed"))
        if _wants_html(request):
            return _html_error(request, exc.status_code, title, title)
        return problem(request, status=exc.status_code, code=f"http_{exc.status_code}",
                       title=title, detail=title, headers=getattr(exc, "headers", None))


def server_error(request: Request, exc: Exception) -> Response:
    """Whatever no other handler knew: a bug. The client still gets a problem (or the error
    page) in its language; the traceback goes to the log."""
    with language(_language(request)):
        title = _("Something went wrong on our side")
        detail = _("The error has been logged. Try again; if it happens again, tell the "
                   "administrator.")
        if _wants_html(request):
            return _html_error(request, 500, title, detail)
        return problem(request, status=500, code="internal_error", title=title, detail=detail)


def _field_path(error: dict[str, Any]) -> str:
    location = [str(part) for part in error.get("loc", ())]
    if error.get("type") == "json_invalid":
        return "body"  # its location is a byte offset, no field
    if location and location[0] in ("body", "query", "path", "header"):
        location = location[1:]
    return ".".join(location) or "body"


def field_message(error: dict[str, Any]) -> str:
    """A pydantic error as one sentence in the current language (API and forms alike)."""
    kind: str = error.get("type", "")
    ctx: dict[str, Any] = error.get("ctx") or {}
    reason = " ".join(str(part) for part in (ctx.get("error", ""), ctx.get("reason", ""),
                                              error.get("msg", "")))
    if kind == "value_error" and reason.endswith("no_contact"):
        return _("Give at least one contact: e-mail, phone or another id")
    if kind == "value_error" and reason.endswith("empty_message"):
        return _("The message is empty")
    if kind == "value_error" and reason.endswith("no_action"):
        return _("Choose what the rule does: a category, team, priority, tags or assignee")
    if kind == "value_error" and reason.endswith("not_a_number"):
        return _("Enter a whole number")
    if kind == "value_error" and reason.endswith("not_null"):
        return _("This field cannot be empty")
    if kind == "value_error" and "email" in reason.lower():
        return _("Enter a valid e-mail address")
    messages = {
        "missing": _("This field is required"),
        "extra_forbidden": _("Unknown field"),
        "json_invalid": _("The request body is not valid JSON"),
        "model_attributes_type": _("Expected a JSON object"),
        "dict_type": _("Expected a JSON object"),
        "list_type": _("Expected a list"),
        "int_parsing": _("Enter a whole number"),
        "int_type": _("Enter a whole number"),
        "int_from_float": _("Enter a whole number"),
        "float_parsing": _("Enter a number"),
        "bool_parsing": _("Enter true or false"),
        "bool_type": _("Enter true or false"),
        "string_type": _("Enter text"),
        "string_unicode": _("Enter text"),
        "model_type": _("Expected a JSON object"),
        "timezone_aware": _("Give the time with its offset, e.g. 2026-03-01T10:00:00+03:00"),
        "date_parsing": _("Enter a date as YYYY-MM-DD"),
        "date_from_datetime_parsing": _("Enter a date as YYYY-MM-DD"),
        "float_type": _("Enter a number"),
        "finite_number": _("Enter a number"),
        "datetime_parsing": _("Enter a date and time in ISO 8601 format"),
        "datetime_from_date_parsing": _("Enter a date and time in ISO 8601 format"),
        "string_pattern_mismatch": _("The value has the wrong format"),
    }
    if kind in messages:
        return messages[kind]
    if kind == "string_too_short":
        return (_("This field cannot be empty") if ctx.get("min_length") == 1
                else _("Enter at least {n} characters").format(n=ctx.get("min_length")))
    if kind == "string_too_long":
        return _("Enter at most {n} characters").format(n=ctx.get("max_length"))
    if kind == "too_long":
        n = int(ctx.get("max_length") or 0)
        return ngettext("At most {n} item", "At most {n} items", n).format(n=n)
    if kind == "too_short":
        n = int(ctx.get("min_length") or 0)
        return ngettext("At least {n} item", "At least {n} items", n).format(n=n)
    if kind in ("enum", "literal_error"):
        # pydantic lists them in English: "'low', 'normal' or 'high'".
        options = str(ctx.get("expected", "")).replace("' or '", "', '")
        return _("Choose one of: {options}").format(options=options)
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        return _("The number is out of range")
    return str(error.get("msg", _("The value is not valid")))


def install(app: FastAPI) -> None:
    from zabota.web.ui.common import LoginRequired

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(ZabotaError, zabota_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, server_error)
