"""The routing API: the triage preview, admin-only CRUD, problem+json on bad input."""

from __future__ import annotations

from zabota.identity.models import Role


def test_preview_explains_a_text_without_a_ticket(app_client, session, desk, make_agent,
                                                  auth_headers, phrase_rule):
    phrase_rule("Сбой транзакции", ["сбой транзакции"], category="billing")
    agent = make_agent(teams=(desk.finance,))
    headers = {**auth_headers(agent), "Accept-Language": "en"}

    response = app_client.post("/api/v1/triage/preview", headers=headers, json={
        "text": "СРОЧНО!!! Сбоем транзакций списали деньги дважды, это ужасно"})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["language"] == "ru" and body["category"] == "billing"
    assert body["category_source"] == "rule" and body["team_id"] == desk.finance.id
    assert body["priority"] in ("high", "urgent")
    assert {r["code"] for r in body["reasons"]} >= {"urgent_words"}
    assert body["cold_start"] is True
    assert body["summary"].startswith("Billing: rule “Сбой транзакции”")


def test_rules_and_categories_are_for_admins(app_client, session, desk, make_agent,
                                             auth_headers):
    agent = make_agent(teams=(desk.finance,))
    admin = make_agent(role=Role.ADMIN)
    rule = {"name": "Сбой транзакции", "conditions": {"phrases": ["сбой транзакции"]},
            "actions": {"category": "billing", "priority": "high"}}

    refused = app_client.post("/api/v1/routing/rules", headers=auth_headers(agent), json=rule)
    created = app_client.post("/api/v1/routing/rules", headers=auth_headers(admin), json=rule)

    assert refused.status_code == 403
    assert created.status_code == 201, created.text
    assert created.json()["actions"] == {"category": "billing", "priority": "high"}
    listed = app_client.get("/api/v1/routing/rules", headers=auth_headers(admin)).json()
    assert [r["name"] for r in listed] == ["Сбой транзакции"]
    categories = app_client.get("/api/v1/routing/categories", headers=auth_headers(agent))
    assert {c["key"] for c in categories.json()} == {"billing", "delivery", "account"}
    moved = app_client.patch(f"/api/v1/routing/rules/{created.json()['id']}",
                             headers=auth_headers(admin), json={"is_enabled": False})
    assert moved.json()["is_enabled"] is False


def test_bad_rules_and_categories_get_field_errors(app_client, session, desk, make_agent,
                                                  auth_headers):
    admin = make_agent(role=Role.ADMIN)
    headers = {**auth_headers(admin), "Accept-Language": "ru"}

    no_action = app_client.post("/api/v1/routing/rules", headers=headers, json={
        "name": "x", "conditions": {"phrases": ["x"]}, "actions": {}})
    unknown = app_client.post("/api/v1/routing/rules", headers=headers, json={
        "name": "x", "actions": {"category": "nope"}})
    twice = app_client.post("/api/v1/routing/categories", headers=headers, json={
        "key": "billing", "name_ru": "Ещё раз"})

    assert no_action.status_code == 422
    assert no_action.headers["content-type"] == "application/problem+json"
    assert unknown.status_code == 422
    assert unknown.json()["errors"] == [{"field": "actions.category",
                                         "message": "Нет категории с таким ключом"}]
    assert twice.status_code == 422 and twice.json()["errors"][0]["field"] == "key"


def test_models_and_cold_start_through_the_api(app_client, session, desk, make_agent,
                                               auth_headers):
    admin = make_agent(role=Role.ADMIN)
    headers = auth_headers(admin)

    assert app_client.get("/api/v1/routing/models", headers=headers).json() == []
    training = app_client.post("/api/v1/routing/models/train", headers=headers)
    assert training.status_code == 409
    assert training.json()["code"] == "not_enough_training_data"
    assert app_client.post("/api/v1/routing/models/rollback", headers=headers).json() is None
    missing = app_client.post("/api/v1/routing/models/nope/activate", headers=headers)
    assert missing.status_code == 404
