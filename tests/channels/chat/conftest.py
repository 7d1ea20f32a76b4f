"""Web chat test set-up: a team with an agent who can sign in, and a few widget helpers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pytest

from zabota.identity.models import Team, User

PASSWORD = "agent-password"


@pytest.fixture(autouse=True)
def _fresh_live_marks():
    """Each test rolls its rows back, so message ids repeat between tests; the process-wide
    hub must not remember a previous test's message as heard."""
    from zabota.channels.chat.hub import MEMORY_HUB

    MEMORY_HUB._live.clear()


@pytest.fixture(autouse=True)
def _no_bot(monkeypatch):
    """The chat itself, without the answer bot that speaks first (tests/bot has its own)."""
    from zabota.bot import service as bot

    monkeypatch.setattr("zabota.web.app.enable_in_chat", lambda: None)
    bot.disable_in_chat()


@dataclass
class Desk:
    team: Team
    agent: User
    other: User  # an agent of another team


@pytest.fixture
def desk(session, make_team, make_agent) -> Desk:
    team = make_team("Чат магазина")
    other_team = make_team("Склад")
    agent = make_agent(teams=(team,), password=PASSWORD, language="ru")
    other = make_agent(teams=(other_team,), password=PASSWORD)
    session.commit()
    return Desk(team, agent, other)


def login(client, user: User) -> str:
    """Sign in through the login form; returns the CSRF token of the chats page."""
    response = client.post("/login", data={"email": user.email, "password": PASSWORD},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    page = client.get("/agent/chats").text
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', page).group(1) if (
        'name="csrf_token"' in page) else re.search(r'data-csrf="([0-9a-f]+)"', page).group(1)


def hello(ws, **fields: Any) -> dict[str, Any]:
    """Open the conversation; skips error frames sent before the welcome and returns it."""
    ws.send_json({"type": "hello", "lang": "en", **fields})
    while True:
        frame = ws.receive_json()
        if frame["type"] == "welcome":
            return frame
        assert frame["type"] == "error", frame


def send(ws, client_id: str, text: str, **fields: Any) -> dict[str, Any]:
    ws.send_json({"type": "message", "id": client_id, "text": text, **fields})
    return ws.receive_json()


def receive_until(ws, kind: str, limit: int = 10) -> dict[str, Any]:
    for _ in range(limit):
        frame = ws.receive_json()
        if frame["type"] == kind:
            return frame
    raise AssertionError(f"no {kind} frame")


@dataclass
class LiveSite:
    """An app on a database of its own whose sessions really commit (several connections at
    once, as in production), with a team and an agent."""

    client: Any
    database: Any
    team_id: int
    agent_id: int
    agent_email: str


@pytest.fixture
def committed_site(committed_db_url, settings):
    from fastapi.testclient import TestClient

    from zabota.core.db import Database
    from zabota.identity import service as identity
    from zabota.identity.models import Role
    from zabota.identity.permissions import SYSTEM
    from zabota.web.app import create_app

    database = Database(committed_db_url)
    with database.session_scope() as session:
        team = identity.create_team(session, name="Чат магазина", actor=SYSTEM)
        agent = identity.create_user(session, email="chat-agent@example.com", name="Ирина",
                                     role=Role.AGENT, password=PASSWORD, team_ids=[team.id],
                                     actor=SYSTEM)
        ids = (team.id, agent.id)
    with TestClient(create_app(settings, database)) as client:
        yield LiveSite(client, database, *ids, "chat-agent@example.com")
    database.dispose()
