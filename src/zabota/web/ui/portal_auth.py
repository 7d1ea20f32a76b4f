"""Customer sign-up and password-less sign-in by a one-time link sent by e-mail.

Both answer the same whether or not the address is known, so neither tells a stranger who
our customers are. A password chosen at sign-up takes effect only when the link sent to the
address is followed: whoever can read that mailbox owns the account, nobody else.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Annotated, Any

from email_validator import EmailNotValidError, validate_email
from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from itsdangerous import BadSignature
from sqlalchemy.orm import Session

from zabota.core import mailer
from zabota.core.errors import Forbidden, RateLimited, ZabotaError
from zabota.core.i18n import _
from zabota.core.settings import Settings
from zabota.identity import errors as identity_errors
from zabota.identity import service as identity
from zabota.identity.links import REQUEST_LINK_DAYS, REQUEST_LINK_SALT
from zabota.identity.models import Customer
from zabota.web.deps import limiter
from zabota.web.ui.auth import language_of, request_clock, start_session, timed_serializer
from zabota.web.ui.common import UISession, error_text, render
from zabota.web.ui.common import csrf_token as signed_csrf

router = APIRouter()
LINK_SALT = "zabota.login-link"
LINK_MINUTES = 15
ANON_COOKIE = "zabota_anon"


# --- CSRF before sign-in ------------------------------------------------------------------
# There is no session yet to tie the token to, so we tie it to a random cookie instead
# (double submit): a page on another site can neither read the cookie nor guess the token.


def _anonymous_seed(request: Request) -> tuple[str, bool]:
    seed = request.cookies.get(ANON_COOKIE, "")
    if len(seed) >= 16:
        return seed, False
    return secrets.token_urlsafe(24), True


def _anonymous_csrf(request: Request, seed: str) -> str:
    return signed_csrf(request.app.state.settings, f"anon:{seed}")


def _page(request: Request, name: str, context: dict[str, Any], *,
          status_code: int = 200) -> Response:
    """A form page for someone not signed in, with its CSRF token and cookie."""
    seed, is_new = _anonymous_seed(request)
    response = render(request, name, {**context, "csrf": _anonymous_csrf(request, seed)},
                      status_code=status_code)
    if is_new:
        response.set_cookie(ANON_COOKIE, seed, httponly=True, samesite="lax",
                            secure=request.url.scheme == "https")
    return response


def _check_anonymous_csrf(request: Request, token: str) -> None:
    seed = request.cookies.get(ANON_COOKIE, "")
    if len(seed) < 16 or not secrets.compare_digest(_anonymous_csrf(request, seed), token):
        raise Forbidden(_("The form has expired; reload the page and try again"))


# --- links ------------------------------------------------------------------------------------


def _link(request: Request, customer: Customer, password_fingerprint: str | None) -> str:
    token = timed_serializer(request, LINK_SALT).dumps(
        {"c": customer.id, "n": customer.login_nonce, "p": password_fingerprint})
    settings: Settings = request.app.state.settings
    base = settings.public_url or str(request.base_url)
    return f"{base.rstrip('/')}/login/link/{token}"


def _read_link(request: Request, token: str) -> tuple[int, int, str | None]:
    """The claims of a genuine, unexpired link; LoginLinkInvalid otherwise."""
    try:
        claims = timed_serializer(request, LINK_SALT).loads(token, max_age=LINK_MINUTES * 60)
        fingerprint = claims["p"]
        return int(claims["c"]), int(claims["n"]), None if fingerprint is None else str(
            fingerprint)
    except (BadSignature, KeyError, TypeError, ValueError):
        raise identity_errors.LoginLinkInvalid() from None


def _limit(request: Request, kind: str, email: str) -> None:
    settings: Settings = request.app.state.settings
    client = request.client.host if request.client else "unknown"
    limiter(request).hit(f"{kind}-ip:{client}", limit=settings.login_rate_limit_per_minute * 5)
    # Per address and per hour: nobody gets to flood someone's mailbox with our e-mails.
    limiter(request).hit(f"{kind}:{email.strip().lower()}",
                         limit=settings.login_rate_limit_per_minute, window=3600)


def _is_email(value: str) -> bool:
    try:
        validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        return False
    return True


# --- sign-up ----------------------------------------------------------------------------------


@router.get("/portal/signup")
def signup_form(request: Request) -> Response:
    return _page(request, "portal/signup.html", {"form": {}, "errors": {}})


def _signup_errors(name: str, email: str, password: str, password_again: str) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not name.strip():
        errors["name"] = _("This field is required")
    if not _is_email(email.strip()):
        errors["email"] = _("Enter a valid e-mail address")
    if len(password) < 8:
        errors["password"] = _("Use at least {n} characters").format(n=8)
    elif password != password_again:
        errors["password_again"] = _("The passwords differ")
    return errors


@router.post("/portal/signup")
def signup(request: Request, session: UISession,
           name: Annotated[str, Form(max_length=200)] = "",
           email: Annotated[str, Form(max_length=254)] = "",
           password: Annotated[str, Form(max_length=200)] = "",
           password_again: Annotated[str, Form(max_length=200)] = "",
           csrf_token: Annotated[str, Form()] = "") -> Response:
    _check_anonymous_csrf(request, csrf_token)
    form = {"name": name, "email": email}  # passwords are never sent back
    errors = _signup_errors(name, email, password, password_again)
    if errors:
        return _page(request, "portal/signup.html",
                     {"form": form, "errors": errors, "error": _("Some fields are not valid")},
                     status_code=422)
    try:
        _limit(request, "signup", email)
        customer, fingerprint = identity.begin_customer_signup(
            session, name=name, email=email.strip(), password=password,
            clock=request_clock(request))
        session.commit()
    except (ZabotaError, RateLimited) as exc:
        session.rollback()
        return _page(request, "portal/signup.html",
                     {"form": form, "errors": {}, "error": error_text(exc)},
                     status_code=exc.status)
    link = _link(request, customer, fingerprint)
    if fingerprint is None:
        subject = _("Sign in to Zabota")
        text = _(
            "Hello!\n\nSomeone, hopefully you, tried to create an account with this address, "
            "but you already have one. Sign in with your password, or with this link "
            "(it works once, for {minutes} minutes):\n\n{link}\n\n"
            "If it was not you, ignore this e-mail: nothing has changed.\n"
        ).format(minutes=LINK_MINUTES, link=link)
    else:
        subject = _("Confirm your e-mail address for Zabota")
        text = _(
            "Hello!\n\nSomeone, hopefully you, asked to create an account with this address. "
            "To confirm it and sign in with the password you chose, open this link "
            "(it works once, for {minutes} minutes):\n\n{link}\n\n"
            "If it was not you, ignore this e-mail: nothing will change.\n"
        ).format(minutes=LINK_MINUTES, link=link)
    # To the address typed, which is one of the customer's: the mail goes where it is awaited.
    mailer.send(identity.normalize_email(email), subject, text,
                settings=request.app.state.settings)
    return render(request, "portal/check_mail.html", {"email": email.strip(), "signup": True})


# --- sign-in by link --------------------------------------------------------------------------


@router.get("/login/link")
def link_form(request: Request) -> Response:
    return _page(request, "portal/link_request.html", {"email": "", "errors": {}})


@router.post("/login/link")
def request_link(request: Request, session: UISession,
                 email: Annotated[str, Form(max_length=254)] = "",
                 csrf_token: Annotated[str, Form()] = "") -> Response:
    _check_anonymous_csrf(request, csrf_token)
    if not _is_email(email.strip()):
        message = _("Enter a valid e-mail address")
        return _page(request, "portal/link_request.html",
                     {"email": email, "errors": {"email": message}, "error": message},
                     status_code=422)
    try:
        _limit(request, "link", email)
    except RateLimited as exc:
        return _page(request, "portal/link_request.html",
                     {"email": email, "errors": {}, "error": error_text(exc)},
                     status_code=exc.status)
    customer = identity.customer_for_login_link(session, email)
    if customer is not None:
        text = _(
            "Hello!\n\nTo sign in to Zabota, open this link (it works once, for {minutes} "
            "minutes):\n\n{link}\n\nIf you did not ask for it, ignore this e-mail.\n"
        ).format(minutes=LINK_MINUTES, link=_link(request, customer, None))
        mailer.send(identity.normalize_email(email), _("Your sign-in link for Zabota"), text,
                    settings=request.app.state.settings)
    # The same answer whether we know the address or not.
    return render(request, "portal/check_mail.html", {"email": email.strip(), "signup": False})


def _link_confirm(request: Request, token: str, check: Callable[[], None],
                  action: str | None = None) -> Response:
    """Show a button, not sign in: mail scanners open links, and must not use them up."""
    try:
        check()
    except ZabotaError as exc:
        return _page(request, "portal/link_confirm.html",
                     {"token": None, "error": error_text(exc)}, status_code=exc.status)
    return _page(request, "portal/link_confirm.html", {"token": token, "action": action})


def _use(request: Request, session: Session, csrf_token: str, redeem: Callable[[], int],
         target: Callable[[], str]) -> Response:
    """Sign the customer of a link in (rate-limited per client address) and go on."""
    _check_anonymous_csrf(request, csrf_token)
    settings: Settings = request.app.state.settings
    try:
        client = request.client.host if request.client else "unknown"
        limiter(request).hit(f"link-use-ip:{client}",
                             limit=settings.login_rate_limit_per_minute * 5)
        customer_id = redeem()
        access = identity.issue_token_for(
            session, ttl=timedelta(hours=settings.access_token_ttl_hours),
            customer_id=customer_id, clock=request_clock(request))
        session.commit()
    except (ZabotaError, RateLimited) as exc:
        session.rollback()
        return _page(request, "portal/link_confirm.html",
                     {"token": None, "error": error_text(exc)}, status_code=exc.status)
    return start_session(request, access, target(),
                         language_of(session, customer_id=customer_id))


def _current(session: Session, customer_id: int, nonce: int) -> None:
    if not identity.login_link_is_current(session, customer_id=customer_id, nonce=nonce):
        raise identity_errors.LoginLinkInvalid()


@router.get("/login/link/{token}")
def link_page(token: str, request: Request, session: UISession) -> Response:
    def check() -> None:
        customer_id, nonce, _fingerprint = _read_link(request, token)
        _current(session, customer_id, nonce)

    return _link_confirm(request, token, check)


@router.post("/login/link/{token}")
def use_link(token: str, request: Request, session: UISession,
             csrf_token: Annotated[str, Form()] = "") -> Response:
    def redeem() -> int:
        customer_id, nonce, fingerprint = _read_link(request, token)
        return identity.redeem_login_link(session, customer_id=customer_id, nonce=nonce,
                                          password_fingerprint=fingerprint).id

    return _use(request, session, csrf_token, redeem, lambda: "/portal")


# --- links to one request, in the e-mails that tell of an answer ----------------------------


def _read_request_link(request: Request, token: str) -> tuple[int, int, int]:
    try:
        claims = timed_serializer(request, REQUEST_LINK_SALT).loads(
            token, max_age=REQUEST_LINK_DAYS * 24 * 3600)
        return int(claims["c"]), int(claims["n"]), int(claims["t"])
    except (BadSignature, KeyError, TypeError, ValueError):
        raise identity_errors.LoginLinkInvalid() from None


@router.get("/portal/open/{token}")
def open_request_page(token: str, request: Request, session: UISession) -> Response:
    def check() -> None:
        customer_id, nonce, _ticket = _read_request_link(request, token)
        _current(session, customer_id, nonce)

    return _link_confirm(request, token, check, action=f"/portal/open/{token}")


@router.post("/portal/open/{token}")
def open_request(token: str, request: Request, session: UISession,
                 csrf_token: Annotated[str, Form()] = "") -> Response:
    """Unlike a sign-in link, this one is not used up: the e-mail stays useful for two weeks,
    and any sign-in by another link (which bumps the nonce) ends it."""
    ticket_id = 0

    def redeem() -> int:
        nonlocal ticket_id
        customer_id, nonce, ticket_id = _read_request_link(request, token)
        _current(session, customer_id, nonce)
        return customer_id

    return _use(request, session, csrf_token, redeem, lambda: f"/portal/requests/{ticket_id}")
