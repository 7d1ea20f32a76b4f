"""Routing in the browser's shoes: the admin adds a phrase rule and sees it win; the ticket
page says why; an agent takes a suggestion in one click."""

from __future__ import annotations

import pytest

from tests.routing.conftest import deliver, triaged
from tests.routing.test_triage import small_installation, solved_history
from tests.web.test_admin_ui import PASSWORD, csrf_of, post, sign_in
from zabota.identity.models import Role
from zabota.identity.permissions import SYSTEM
from zabota.routing import service as routing
from zabota.routing.models import RoutingCorrection


@pytest.fixture
def client(app_client):
    app_client.headers.update({"Accept": "text/html", "Accept-Language": "ru-RU,ru;q=0.9"})
    return app_client


def test_an_admin_adds_a_phrase_rule_and_sees_it_win(client, session, desk, make_agent,
                                                      make_ticket):
    admin = make_agent(role=Role.ADMIN, password=PASSWORD)
    session.commit()
    sign_in(client, admin.email)

    refused = post(client, "/admin/routing/rules", {"name": "Пусто", "phrases": "сбой"})
    added = post(client, "/admin/routing/rules", {
        "name": "Сбой транзакции", "phrases": "сбой транзакции\nтранзакция не прошла",
        "category": "billing", "priority": "high"})

    assert refused.status_code == 422 and "Пусто" in refused.text
    assert added.status_code == 303
    page = client.get("/admin/routing/rules")
    assert "Сбой транзакции" in page.text and "«транзакция не прошла»" in page.text
    ticket = triaged(session, make_ticket, subject="Оплата", text="Сбоем транзакций списало")
    assert (ticket.category, ticket.team_id) == ("billing", desk.finance.id)
    ticket_page = client.get(f"/agent/tickets/{ticket.id}")
    assert "Финансы: правило «Сбой транзакции»; приоритет высокий" in ticket_page.text
    assert "Только правила" in ticket_page.text  # no model yet, and the page says so


def test_admin_pages_for_categories_and_models(client, session, desk, make_agent):
    admin = make_agent(role=Role.ADMIN, password=PASSWORD)
    supervisor = make_agent(role=Role.SUPERVISOR, password=PASSWORD)
    session.commit()
    sign_in(client, admin.email)

    created = post(client, "/admin/routing/categories", {
        "key": "billing.refunds", "name_ru": "Возвраты", "name_en": "Refunds",
        "parent_id": str(routing.category_by_key(session, "billing").id)})
    bad = post(client, "/admin/routing/categories", {"key": "Плохой ключ", "name_ru": "x"})
    mode = post(client, f"/admin/routing/teams/{desk.finance.id}/mode",
                {"mode": "round_robin"}, form_page="/admin/routing/categories")
    models = client.get("/admin/routing/models")

    assert created.status_code == 303 and "Возвраты" in client.get(
        "/admin/routing/categories").text
    assert bad.status_code == 422
    assert mode.status_code == 303
    assert routing.team_modes(session)[desk.finance.id].value == "round_robin"
    assert "только по правилам" in models.text
    sign_in(client, supervisor.email)
    assert "Новое фразовое правило" not in client.get("/admin/routing/rules").text


def test_an_agent_takes_a_suggestion_in_one_click(client, session, desk, make_agent,
                                                  make_ticket, tmp_path):
    small_installation(session, threshold=0.99)
    solved_history(session, make_ticket)
    routing.train_category_model(session, actor=SYSTEM, directory=tmp_path)
    agent = make_agent(role=Role.SUPERVISOR, password=PASSWORD)
    ticket = triaged(session, make_ticket, subject="Добрый день", text="Добрый день")
    session.commit()
    assert routing.get_triage(session, ticket.id).needs_review
    sign_in(client, agent.email)

    queue = client.get("/agent/triage")
    assert f"#{ticket.number}" in queue.text
    token = csrf_of(client, f"/agent/tickets/{ticket.id}")
    client.post(f"/agent/tickets/{ticket.id}/category",
                data={"category": "delivery", "csrf_token": token})
    deliver(session)

    session.refresh(ticket)
    assert ticket.category == "delivery"
    correction = session.query(RoutingCorrection).one()
    assert (correction.source, correction.confirmed) == ("suggestion", "delivery")
    assert f"#{ticket.number}" not in client.get("/agent/triage").text
