"""Schemathesis fuzzes every operation of the OpenAPI schema: no input makes a 5xx, and every
error is problem+json."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from tests.conftest import TransactionalDatabase
from zabota.identity.models import Role
from zabota.web.app import create_app


@pytest.fixture
def fuzz_target(connection, settings, make_agent, auth_headers, make_ticket, session):
    app = create_app(settings, TransactionalDatabase(connection))
    headers = auth_headers(make_agent(role=Role.ADMIN))
    make_ticket()
    session.commit()
    return schemathesis.openapi.from_asgi("/openapi.json", app), headers


schema = schemathesis.pytest.from_fixture("fuzz_schema")


@pytest.fixture
def fuzz_schema(fuzz_target):
    return fuzz_target[0]


@schema.parametrize()
@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_input_breaks_the_api(case, fuzz_target):
    _schema, headers = fuzz_target
    response = case.call(headers=headers)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"] == ["application/problem+json"], response.text
