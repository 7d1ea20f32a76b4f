"""Staff two-factor sign-in (TOTP) and the profile page, through the real UI and API."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import pytest
import sqlalchemy as sa

from zabota.core.clock import SYSTEM_CLOCK, FrozenClock
from zabota.identity import service as identity
from zabota.identity.models import ApiToken, Presence, User

PASSWORD = "correct horse battery"


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no {name} on the page"
    return match.group(1)


@pytest.fixture(autouse=True)
def in_english(app_client) -> None:
    """Assert on the English texts (the msgids); the Russian ones are checked by i18n tests."""
    app_client.headers["Accept-Language"] = "en"


@pytest.fixture
def clock(app_client) -> FrozenClock:
    """The app's clock, frozen at the real now (tokens still expire by the real clock)."""
    frozen = FrozenClock(SYSTEM_CLOCK.now())
    app_client.app.state.clock = frozen
    return frozen


@pytest.fixture
def agent(session, make_agent) -> User:
    user = make_agent(password=PASSWORD)
    session.commit()
    return user


def sign_in(client, email: str, password: str = PASSWORD):
    return client.post("/login", data={"email": email, "password": password},
                       follow_redirects=False)


def enable_totp(session, user: User, clock: FrozenClock) -> pyotp.TOTP:
    actor = identity.actor_for_user(user)
    secret, _uri = identity.begin_totp_setup(session, actor=actor)
    totp = pyotp.TOTP(secret)
    identity.confirm_totp(session, secret, totp.at(clock.now()), actor=actor, clock=clock)
    session.commit()
    clock.advance(timedelta(seconds=30))  # the code used to confirm is spent
    return totp


def test_turning_on_two_factor_from_the_profile_then_signing_in_with_a_code(
        app_client, session, agent, clock):
    assert sign_in(app_client, agent.email).status_code == 303
    setup = app_client.get("/agent/profile/totp")
    assert setup.status_code == 200
    secret = re.search(r"<code>([A-Z2-7]{32})</code>", setup.text).group(1)
    assert f"otpauth://totp/Zabota:{agent.email.replace('@', '%40')}?secret={secret}" in (
        setup.text.replace("&amp;", "&"))
    form = {"setup": hidden(setup.text, "setup"), "csrf_token": csrf_of(setup.text)}

    wrong = app_client.post("/agent/profile/totp", data={**form, "code": "000000"})
    assert wrong.status_code == 422
    assert "The code is wrong or has expired" in wrong.text
    assert secret in wrong.text  # the same set-up is shown again, not a new secret
    totp = pyotp.TOTP(secret)
    done = app_client.post("/agent/profile/totp", data={**form, "code": totp.at(clock.now())},
                           follow_redirects=False)
    assert done.headers["location"] == "/agent/profile?done=totp-on"
    session.expire_all()
    assert session.get(User, agent.id).totp_secret == secret

    app_client.cookies.clear()
    step = sign_in(app_client, agent.email)
    assert step.status_code == 200 and 'name="code"' in step.text
    assert "zabota_session" not in step.cookies
    pending = hidden(step.text, "pending")
    assert PASSWORD not in step.text

    # The code that turned it on cannot be used again, even within its 30 seconds.
    replay = app_client.post("/login/otp", data={"pending": pending,
                                                 "code": totp.at(clock.now())})
    assert replay.status_code == 401 and "The code is wrong or has expired" in replay.text
    assert hidden(replay.text, "pending") == pending  # the second step is shown again

    clock.advance(timedelta(seconds=30))
    signed_in = app_client.post("/login/otp", data={"pending": pending,
                                                    "code": totp.at(clock.now()),
                                                    "next": "/agent/profile"},
                                follow_redirects=False)
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/agent/profile"
    assert "zabota_session" in signed_in.cookies
    assert app_client.get("/agent/profile").status_code == 200


def test_the_code_step_expires_and_cannot_be_forged(app_client, session, agent, clock):
    totp = enable_totp(session, agent, clock)
    pending = hidden(sign_in(app_client, agent.email).text, "pending")

    forged = app_client.post("/login/otp", data={"pending": pending[:-2] + "xx",
                                                 "code": totp.at(clock.now())})
    assert forged.status_code == 401 and 'name="password"' in forged.text

    clock.advance(timedelta(minutes=6))
    late = app_client.post("/login/otp", data={"pending": pending, "code": totp.at(clock.now())})
    assert late.status_code == 401
    assert "The sign-in took too long" in late.text and 'name="password"' in late.text


def test_the_api_asks_for_the_code_of_a_two_factor_account(app_client, session, agent, clock):
    totp = enable_totp(session, agent, clock)
    body = {"email": agent.email, "password": PASSWORD}

    missing = app_client.post("/api/v1/auth/token", json=body)
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["code"] == "otp_required"
    assert set(missing.json()) == {"type", "title", "status", "detail", "instance", "code"}

    wrong = app_client.post("/api/v1/auth/token", json={**body, "otp": "123456"})
    assert (wrong.status_code, wrong.json()["code"]) == (401, "bad_otp")

    bad_password = app_client.post("/api/v1/auth/token",
                                   json={**body, "password": "nope", "otp": "123456"})
    assert bad_password.json()["code"] == "bad_credentials"  # the password is checked first

    ok = app_client.post("/api/v1/auth/token", json={**body, "otp": totp.at(clock.now())})
    assert ok.status_code == 200, ok.text
    me = {"Authorization": f"Bearer {ok.json()['access_token']}"}
    assert app_client.get(f"/api/v1/users/{agent.id}", headers=me).status_code == 200


def test_without_two_factor_the_api_needs_no_code(app_client, agent):
    ok = app_client.post("/api/v1/auth/token", json={"email": agent.email, "password": PASSWORD})
    assert ok.status_code == 200


def test_turning_two_factor_off_needs_the_password(app_client, session, agent, clock):
    enable_totp(session, agent, clock)
    token = identity.issue_token_for(session, ttl=timedelta(hours=1), user_id=agent.id)
    session.commit()
    app_client.cookies.set("zabota_session", token)
    page = app_client.get("/agent/profile")
    assert "Turn off two-factor authentication" in page.text
    csrf = csrf_of(page.text)

    wrong = app_client.post("/agent/profile/totp/disable",
                            data={"password": "guess", "csrf_token": csrf})
    assert wrong.status_code == 422 and "The password is wrong" in wrong.text
    session.expire_all()
    assert session.get(User, agent.id).totp_secret is not None

    done = app_client.post("/agent/profile/totp/disable",
                           data={"password": PASSWORD, "csrf_token": csrf},
                           follow_redirects=False)
    assert done.headers["location"] == "/agent/profile?done=totp-off"
    app_client.cookies.clear()
    assert sign_in(app_client, agent.email).headers["location"] == "/agent"


def test_profile_settings_are_saved_and_bad_values_are_shown_again(app_client, session, agent):
    assert sign_in(app_client, agent.email).status_code == 303
    csrf = csrf_of(app_client.get("/agent/profile").text)

    bad = app_client.post("/agent/profile", data={"language": "en", "presence": "away",
                                                  "timezone": "Mars/Olympus",
                                                  "csrf_token": csrf})
    assert bad.status_code == 422
    assert "Choose a time zone from the list" in bad.text
    assert '<option value="away" selected>' in bad.text  # what was chosen stays chosen

    saved = app_client.post("/agent/profile", data={"language": "en", "presence": "away",
                                                    "timezone": "Asia/Novosibirsk",
                                                    "csrf_token": csrf},
                            follow_redirects=False)
    assert saved.headers["location"] == "/agent/profile?done=settings"
    assert saved.cookies["zabota_lang"] == "en"
    session.expire_all()
    user = session.get(User, agent.id)
    assert (user.language, user.presence, user.timezone) == ("en", Presence.AWAY,
                                                             "Asia/Novosibirsk")
    assert "Your settings are saved" in app_client.get("/agent/profile?done=settings").text


def test_changing_the_password_signs_out_other_sessions(app_client, session, agent):
    other = identity.issue_token_for(session, ttl=timedelta(hours=1), user_id=agent.id)
    session.commit()
    assert sign_in(app_client, agent.email).status_code == 303
    csrf = csrf_of(app_client.get("/agent/profile").text)
    change = {"current_password": PASSWORD, "new_password": "new secret 123",
              "new_password_again": "new secret 123", "csrf_token": csrf}

    differ = app_client.post("/agent/profile/password",
                             data={**change, "new_password_again": "other"})
    assert differ.status_code == 422 and "The two new passwords differ" in differ.text
    wrong = app_client.post("/agent/profile/password",
                            data={**change, "current_password": "guess"})
    assert wrong.status_code == 422 and "The current password is wrong" in wrong.text
    short = app_client.post("/agent/profile/password",
                            data={**change, "new_password": "short",
                                  "new_password_again": "short"})
    assert short.status_code == 422

    done = app_client.post("/agent/profile/password", data=change, follow_redirects=False)
    assert done.headers["location"] == "/agent/profile?done=password"
    assert app_client.get("/agent/profile").status_code == 200  # this session goes on
    session.expire_all()
    revoked = session.scalar(sa.select(ApiToken.revoked_at).where(
        ApiToken.token_hash == identity._hash_token(other)))
    assert revoked is not None
    app_client.cookies.clear()
    assert sign_in(app_client, agent.email).status_code == 401
    assert sign_in(app_client, agent.email, "new secret 123").status_code == 303


@pytest.mark.parametrize("path", ["/agent/profile", "/agent/profile/password",
                                  "/agent/profile/totp", "/agent/profile/totp/disable"])
def test_profile_forms_need_the_csrf_token(app_client, agent, path):
    assert sign_in(app_client, agent.email).status_code == 303
    assert app_client.post(path, data={"password": PASSWORD}).status_code == 403


def test_customers_have_no_staff_profile(app_client, session, make_customer, auth_headers):
    customer = make_customer()
    token = identity.issue_token_for(session, ttl=timedelta(hours=1), customer_id=customer.id)
    session.commit()
    app_client.cookies.set("zabota_session", token)
    assert app_client.get("/agent/profile").status_code == 403
