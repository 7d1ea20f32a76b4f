"""Ids in addresses and filters beyond what any column holds name nothing: 404 or 422, never a
driver's overflow (SQLite: Python int too large; PostgreSQL: integer out of range)."""

from __future__ import annotations

import re

import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute, APIWebSocketRoute

from zabota.core.fields import MAX_ROW_ID
from zabota.identity.models import Role
from zabota.web import chat, ui
from zabota.web.api import v1 as api_v1

PASSWORD = "admin-password-1"
HUGE = (2**31, 2**63 - 1, 2**63, 2**64, 10**30)


@pytest.fixture
def admin_client(app_client, session, make_agent, auth_headers):
    admin = make_agent(role=Role.ADMIN, password=PASSWORD, language="en")
    session.commit()
    signed_in = app_client.post("/login", data={"email": admin.email, "password": PASSWORD},
                                follow_redirects=False)
    assert signed_in.status_code == 303, signed_in.text
    app_client.headers.update(auth_headers(admin))
    return app_client


def _addresses(routers: list[APIRouter], prefix: str = "") -> list[tuple[str, str]]:
    """(method, path template) of every route with only numbers in its path."""
    found = []
    for router in routers:
        for route in router.routes:
            assert isinstance(route, APIRoute | APIWebSocketRoute), route
            if not isinstance(route, APIRoute):
                continue
            params = re.findall(r"\{(\w+)\}", route.path)
            numbers = {p.name for p in route.dependant.path_params
                       if p.field_info.annotation is int}
            if params and set(params) <= numbers:
                found.extend((method, prefix + route.path)
                             for method in sorted(route.methods - {"HEAD"}))
    return found


def _fill(path: str, value: int) -> str:
    return re.sub(r"\{\w+\}", str(value), path)


@pytest.mark.parametrize("value", HUGE)
def test_api_addresses_with_huge_ids_are_not_found(admin_client, value):
    addresses = _addresses(api_v1.ROUTERS, "/api/v1")
    assert len(addresses) > 30  # every part of the API is walked
    for method, path in addresses:
        response = admin_client.request(method, _fill(path, value), json={})
        # An id in range is looked up (or the empty body refused); one beyond is no address.
        expected = (404,) if value > MAX_ROW_ID else (404, 422)
        assert response.status_code in expected, (method, path, response.text)
        assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("value", HUGE)
def test_pages_with_huge_ids_are_not_found(admin_client, value):
    addresses = _addresses([*ui.ROUTERS, chat.router])
    assert len(addresses) > 50
    admin_client.headers["Accept"] = "text/html"
    for method, path in addresses:
        response = admin_client.request(method, _fill(path, value), follow_redirects=False)
        # A form without its CSRF token is refused before anything is looked up, and staff
        # are no customers of the portal.
        expected = (404,) if method == "GET" and not path.startswith("/portal/") else (403, 404)
        assert response.status_code in expected, (method, path, response.status_code)


@pytest.mark.parametrize(("query", "field"), [
    ("team_id=2147483648", "team_id"),
    ("assignee_id=9223372036854775808", "assignee_id"),
    ("customer_id=99999999999999999999999", "customer_id"),
    ("organization_id=9223372036854775808", "organization_id"),
])
def test_filters_with_huge_ids_are_refused_by_name(admin_client, query, field):
    response = admin_client.get(f"/api/v1/tickets?{query}")
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": field, "message": "The number is out of range"}]


def test_a_path_that_is_not_a_number_is_not_found(admin_client):
    response = admin_client.get("/api/v1/tickets/abc")
    assert response.status_code == 404
    assert response.json()["title"] == "Not found"
