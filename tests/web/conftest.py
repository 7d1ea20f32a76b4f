"""Fixtures of the UI tests: a browser-like client and signed-up staff."""

from __future__ import annotations

import pytest

from zabota.identity.models import Role

PASSWORD = "correct-horse-9"


@pytest.fixture
def client(app_client):
    app_client.headers.update({"Accept": "text/html", "Accept-Language": "ru-RU,ru;q=0.9"})
    return app_client


@pytest.fixture
def admin(session, make_agent):
    user = make_agent(role=Role.ADMIN, password=PASSWORD)
    session.commit()
    return user


@pytest.fixture
def supervisor(session, make_agent):
    user = make_agent(role=Role.SUPERVISOR, password=PASSWORD)
    session.commit()
    return user
