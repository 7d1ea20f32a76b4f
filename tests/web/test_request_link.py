"""The link in an answer e-mail opens that request, for two weeks, until another sign-in link
is used."""

from __future__ import annotations

import re
from datetime import timedelta

from zabota.core.clock import SYSTEM_CLOCK, FrozenClock
from zabota.identity import service as identity
from zabota.identity.links import link_to_request


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match is not None
    return match.group(1)


def test_the_link_opens_the_request_after_a_button_press(app_client, session, settings,
                                                        make_ticket, make_customer):
    customer = make_customer("anna@example.org")
    ticket = make_ticket(customer=customer, subject="Сломался чайник")
    session.commit()
    link = link_to_request(settings, customer, ticket.id, base_url="http://testserver")
    page = app_client.get(link)
    assert page.status_code == 200 and "/portal/open/" in page.text
    assert "zabota_session" not in app_client.cookies  # looking at it signs nobody in
    opened = app_client.post(link, data={"csrf_token": csrf_of(page.text)},
                             follow_redirects=False)
    assert opened.status_code == 303
    assert opened.headers["location"] == f"/portal/requests/{ticket.id}"
    assert "Сломался чайник" in app_client.get(opened.headers["location"]).text


def test_an_old_or_superseded_link_is_refused(app_client, session, settings, make_ticket,
                                             make_customer):
    customer = make_customer("boris@example.org")
    ticket = make_ticket(customer=customer)
    session.commit()
    link = link_to_request(settings, customer, ticket.id, base_url="http://testserver")
    app_client.app.state.clock = FrozenClock(SYSTEM_CLOCK.now() + timedelta(days=15))
    assert app_client.get(link).status_code == 400
    app_client.app.state.clock = SYSTEM_CLOCK
    identity.redeem_login_link(session, customer_id=customer.id, nonce=customer.login_nonce,
                               password_fingerprint=None)
    session.commit()
    assert app_client.get(link).status_code == 400
    assert app_client.get(link.replace("/open/", "/open/x")).status_code == 400
