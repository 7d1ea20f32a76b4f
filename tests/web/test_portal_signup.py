"""Customer sign-up and one-time sign-in links: the real UI, a real SMTP server, real jobs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest

from tests.mailbox import Mailbox, smtp_server
from zabota.core.clock import SYSTEM_CLOCK, FrozenClock
from zabota.core.settings import get_settings
from zabota.identity import service as identity
from zabota.identity.models import Customer
from zabota.jobs.huey_app import huey

LINK = re.compile(r"http://testserver/login/link/(\S+)")


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


@pytest.fixture(autouse=True)
def in_english(app_client) -> None:
    """Assert on the English texts (the msgids); the Russian ones are checked by i18n tests."""
    app_client.headers["Accept-Language"] = "en"


@pytest.fixture
def mailbox(monkeypatch) -> Iterator[Mailbox]:
    """Mail goes to a local SMTP server; queued jobs run at once, as the worker would."""
    with smtp_server() as box:
        monkeypatch.setenv("ZABOTA_MAIL_HOST", "127.0.0.1")
        monkeypatch.setenv("ZABOTA_MAIL_PORT", str(box.port))
        monkeypatch.setenv("ZABOTA_MAIL_STARTTLS", "false")
        get_settings.cache_clear()
        monkeypatch.setattr(huey, "immediate", True)
        yield box
    get_settings.cache_clear()


@pytest.fixture
def clock(app_client) -> FrozenClock:
    frozen = FrozenClock(SYSTEM_CLOCK.now())
    app_client.app.state.clock = frozen
    return frozen


def link_in(mailbox: Mailbox, to: str) -> str:
    """The sign-in link of the last message to `to`."""
    messages = [m for m in mailbox.messages if to in str(m["To"])]
    assert messages, f"no mail to {to}"
    body = messages[-1].get_body(("plain",))
    assert body is not None
    match = LINK.search(body.get_content())
    assert match, "no link in the mail"
    return match.group(0).removeprefix("http://testserver")


def sign_up(client, **fields: str):
    form = client.get("/portal/signup")
    data = {"name": "Ольга Петрова", "email": "olga@example.org", "password": "kartoshka-42",
            "password_again": "kartoshka-42", "csrf_token": csrf_of(form.text), **fields}
    return client.post("/portal/signup", data=data)


def follow(client, path: str, **kwargs):
    """Open the link from the mail and press its button, as a person would."""
    page = client.get(path)
    assert page.status_code == 200, page.text
    return client.post(path, data={"csrf_token": csrf_of(page.text)}, follow_redirects=False,
                       **kwargs)


def password_works(client, email: str, password: str) -> bool:
    answer = client.post("/api/v1/auth/token", json={"email": email, "password": password})
    return answer.status_code == 200


def test_signup_errors_are_shown_next_to_the_fields_keeping_what_was_typed(app_client,
                                                                          mailbox):
    page = sign_up(app_client, email="olga@", password="kartoshka-42", password_again="other")
    assert page.status_code == 422
    assert 'value="Ольга Петрова"' in page.text and 'value="olga@"' in page.text
    assert "Enter a valid e-mail address" in page.text
    assert "kartoshka-42" not in page.text  # passwords are never sent back

    short = sign_up(app_client, name=" ", password="short", password_again="short")
    assert short.status_code == 422
    assert 'id="name-error"' in short.text and "Use at least 8 characters" in short.text

    differ = sign_up(app_client, password_again="kartoshka-43")
    assert differ.status_code == 422 and "The passwords differ" in differ.text
    assert mailbox.received == []


def test_a_new_customer_confirms_the_address_by_link_before_the_password_works(
        app_client, session, mailbox):
    done = sign_up(app_client)
    assert done.status_code == 200 and "olga@example.org" in done.text
    customer = identity.customer_for_login_link(session, "olga@example.org")
    assert customer is not None and customer.name == "Ольга Петрова"
    assert not password_works(app_client, "olga@example.org", "kartoshka-42")

    [mail] = mailbox.messages
    assert mail["Subject"] == "Confirm your e-mail address for Zabota"
    signed_in = follow(app_client, link_in(mailbox, "olga@example.org"))

    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/portal"
    assert "zabota_session" in signed_in.cookies
    assert app_client.get("/portal").status_code == 200
    assert password_works(app_client, "olga@example.org", "kartoshka-42")


def test_an_existing_customer_gets_the_password_only_through_the_link(
        app_client, session, mailbox, make_customer):
    customer = make_customer("olga@example.org", name="Ольга")  # wrote to us by e-mail before
    session.commit()

    assert sign_up(app_client, name="Someone else").status_code == 200

    session.expire_all()
    assert session.get(Customer, customer.id).password_hash is None
    assert session.get(Customer, customer.id).name == "Ольга"  # the sign-up renames nobody
    assert not password_works(app_client, "olga@example.org", "kartoshka-42")
    assert follow(app_client, link_in(mailbox, "olga@example.org")).status_code == 303
    assert password_works(app_client, "olga@example.org", "kartoshka-42")


def test_an_earlier_signup_link_cannot_set_a_later_password(app_client, session, mailbox,
                                                             make_customer):
    make_customer("olga@example.org")
    session.commit()
    sign_up(app_client)
    olgas_link = link_in(mailbox, "olga@example.org")
    sign_up(app_client, password="attacker-pass", password_again="attacker-pass")

    refused = follow(app_client, olgas_link)
    assert refused.status_code == 400
    assert not password_works(app_client, "olga@example.org", "attacker-pass")


def test_signing_up_with_an_address_that_has_a_password_changes_nothing(
        app_client, session, mailbox, make_customer):
    make_customer("olga@example.org", password="old password")
    session.commit()

    page = sign_up(app_client)

    assert page.status_code == 200  # the same answer as for a new address
    [mail] = mailbox.messages
    assert mail["Subject"] == "Sign in to Zabota"
    assert follow(app_client, link_in(mailbox, "olga@example.org")).status_code == 303
    assert password_works(app_client, "olga@example.org", "old password")
    assert not password_works(app_client, "olga@example.org", "kartoshka-42")


def request_link(client, email: str):
    form = client.get("/login/link")
    return client.post("/login/link", data={"email": email, "csrf_token": csrf_of(form.text)})


def test_a_link_signs_in_once_and_unknown_addresses_get_the_same_answer(
        app_client, session, mailbox, make_customer):
    make_customer("olga@example.org")
    session.commit()

    known = request_link(app_client, "Olga@Example.org")
    unknown = request_link(app_client, "nobody@example.org")

    assert known.status_code == unknown.status_code == 200
    assert known.text.replace("Olga@Example.org", "X") == unknown.text.replace(
        "nobody@example.org", "X")
    [mail] = mailbox.messages
    assert mail["Subject"] == "Your sign-in link for Zabota"
    path = link_in(mailbox, "olga@example.org")

    first = follow(app_client, path)
    assert first.status_code == 303 and first.headers["location"] == "/portal"
    assert app_client.get("/portal").status_code == 200

    app_client.cookies.delete("zabota_session")
    again = app_client.get(path)
    assert again.status_code == 400
    assert "This sign-in link has expired or has already been used" in again.text
    replay = app_client.post(path, data={"csrf_token": csrf_of(app_client.get("/login/link")
                                                               .text)})
    assert replay.status_code == 400 and "zabota_session" not in replay.cookies


def test_the_mail_is_in_the_language_of_the_page(app_client, session, mailbox,
                                                 make_customer):
    make_customer("olga@example.org")
    session.commit()
    app_client.headers["Accept-Language"] = "ru-RU,ru;q=0.9"

    page = request_link(app_client, "olga@example.org")

    assert "Проверьте почту" in page.text
    [mail] = mailbox.messages
    assert mail["Subject"] == "Ваша ссылка для входа в «Заботу»"
    body = mail.get_body(("plain",))
    assert body is not None and "Чтобы войти в «Заботу», откройте эту ссылку" in (
        body.get_content())


def test_a_link_expires_after_15_minutes(app_client, session, mailbox, make_customer, clock):
    make_customer("olga@example.org")
    session.commit()
    request_link(app_client, "olga@example.org")
    path = link_in(mailbox, "olga@example.org")
    page = app_client.get(path)
    csrf = csrf_of(page.text)

    clock.advance(timedelta(minutes=15, seconds=1))

    assert app_client.get(path).status_code == 400
    late = app_client.post(path, data={"csrf_token": csrf})
    assert late.status_code == 400 and "has expired" in late.text
    assert "zabota_session" not in late.cookies


def test_a_tampered_link_is_refused(app_client, session, mailbox, make_customer):
    make_customer("olga@example.org")
    session.commit()
    request_link(app_client, "olga@example.org")
    path = link_in(mailbox, "olga@example.org")

    assert app_client.get(path[:-3] + "abc").status_code == 400


def test_asking_for_links_too_often_is_limited(app_client, settings, session, mailbox,
                                               make_customer):
    make_customer("olga@example.org")
    session.commit()
    settings.login_rate_limit_per_minute = 1

    assert request_link(app_client, "olga@example.org").status_code == 200
    limited = request_link(app_client, "olga@example.org")

    assert limited.status_code == 429 and "Too many requests" in limited.text
    assert len(mailbox.messages) == 1


def test_an_invalid_address_is_shown_again(app_client, mailbox):
    page = request_link(app_client, "not an address")
    assert page.status_code == 422 and 'value="not an address"' in page.text
    assert "Enter a valid e-mail address" in page.text


def test_without_a_mail_server_the_link_is_in_an_eml_file(app_client, session, make_customer,
                                                          monkeypatch, tmp_path):
    monkeypatch.setenv("ZABOTA_DATA_DIR", str(tmp_path / "dev"))
    monkeypatch.delenv("ZABOTA_MAIL_HOST", raising=False)
    get_settings.cache_clear()
    monkeypatch.setattr(huey, "immediate", True)
    make_customer("olga@example.org")
    session.commit()
    try:
        request_link(app_client, "olga@example.org")
    finally:
        get_settings.cache_clear()

    [eml] = (tmp_path / "dev" / "mail").glob("*.eml")
    match = LINK.search(eml.read_text(encoding="utf-8"))
    assert match is not None
    assert follow(app_client, match.group(0).removeprefix("http://testserver")
                  ).status_code == 303


@pytest.mark.parametrize("path", ["/portal/signup", "/login/link", "/login/link/anything"])
def test_every_form_needs_the_csrf_token(app_client, mailbox, path):
    app_client.get("/login/link")  # the browser has the cookie, but the form lacks the token
    data = {"name": "Ольга", "email": "olga@example.org", "password": "kartoshka-42",
            "password_again": "kartoshka-42"}
    assert app_client.post(path, data=data).status_code == 403
    assert app_client.post(path, data={**data, "csrf_token": "forged"}).status_code == 403
    assert mailbox.received == []


def test_a_token_from_another_browser_does_not_count(app_client, mailbox):
    token = csrf_of(app_client.get("/portal/signup").text)
    app_client.cookies.clear()  # another browser: a different (here: no) cookie
    app_client.get("/login/link")
    answer = app_client.post("/login/link", data={"email": "olga@example.org",
                                                  "csrf_token": token})
    assert answer.status_code == 403


def test_the_login_page_links_to_sign_up_and_to_links(app_client):
    page = app_client.get("/login").text
    assert 'href="/portal/signup"' in page and 'href="/login/link"' in page
