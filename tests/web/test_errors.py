"""Bad input gets a clear RFC 9457 problem in the user's language; nothing valid is lost."""

import pytest

from tests.conftest import no_new_rows
from zabota.tickets.models import Ticket


@pytest.fixture
def staff(session, make_agent, auth_headers):
    from zabota.identity.models import Role

    return auth_headers(make_agent(role=Role.ADMIN, language="en"))


def test_validation_errors_name_the_field_in_russian_by_default(app_client, staff, session):
    with no_new_rows(session, Ticket):
        response = app_client.post("/api/v1/tickets", headers={**staff,
                                                               "Accept-Language": "ru-RU,ru"},
                                   json={"subject": "", "message": {"text": "x"},
                                         "customer": {"email": "not-an-email"},
                                         "priority": "asap"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["title"] == "Некоторые поля заполнены неверно"
    fields = {e["field"]: e["message"] for e in body["errors"]}
    assert fields["subject"] == "Поле не может быть пустым"
    assert fields["customer.email"] == "Введите правильный адрес e-mail"
    assert fields["priority"].startswith("Выберите одно из")
    assert body["instance"] == "/api/v1/tickets" and body["status"] == 422


def test_user_language_is_used_without_accept_language(app_client, staff):
    response = app_client.post("/api/v1/tickets", headers=staff,
                               json={"subject": "s", "message": {"text": "x"}})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "customer", "message": "Give at least one contact: e-mail, phone or another id"}]


def test_malformed_json_and_unknown_fields(app_client, staff):
    broken = app_client.post("/api/v1/tickets", headers={**staff, "Accept-Language": "en",
                                                         "Content-Type": "application/json"},
                             content=b'{"subject": ')
    assert broken.status_code == 422
    assert broken.json()["errors"][0]["message"] == "The request body is not valid JSON"
    extra = app_client.patch("/api/v1/tickets/1", headers={**staff, "Accept-Language": "en"},
                             json={"stauts": "open"})
    assert extra.json()["errors"] == [{"field": "stauts", "message": "Unknown field"}]


def test_invalid_transition_is_a_conflict_with_the_allowed_statuses(
        app_client, staff, make_ticket, session):
    ticket = make_ticket()
    session.commit()
    response = app_client.patch(f"/api/v1/tickets/{ticket.id}",
                                headers={**staff, "Accept-Language": "ru"},
                                json={"status": "closed"})
    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "invalid_status_transition"
    assert body["detail"] == "Обращение не может перейти из статуса «новое» в «закрыто»"
    assert body["errors"][0]["field"] == "status"


def test_unknown_route_and_method_are_problems_too(app_client, staff):
    missing = app_client.get("/api/v1/nothing-here", headers={"Accept-Language": "en"})
    assert (missing.status_code, missing.json()["title"]) == (404, "Not found")
    wrong = app_client.delete("/api/v1/tickets", headers=staff)
    assert wrong.status_code == 405 and wrong.json()["status"] == 405


def test_bad_query_parameters(app_client, staff):
    h = {**staff, "Accept-Language": "en"}
    bad = app_client.get("/api/v1/tickets", headers=h,
                         params={"status": "lost", "limit": 1000, "sort": "color"})
    fields = {e["field"] for e in bad.json()["errors"]}
    assert fields == {"status.0", "limit"}
    sort = app_client.get("/api/v1/tickets", headers=h, params={"sort": "color"})
    assert sort.status_code == 422 and sort.json()["errors"][0]["field"] == "sort"
    cursor = app_client.get("/api/v1/tickets", headers=h, params={"cursor": "garbage!"})
    assert cursor.status_code == 422 and cursor.json()["errors"][0]["field"] == "cursor"


def test_login_errors_and_rate_limit(app_client, settings, make_agent, session):
    from zabota.identity import service as identity

    agent = make_agent()
    identity.update_user(session, agent.id, actor=identity.actor_for_user(agent),
                         password="right password")
    session.commit()
    wrong = app_client.post("/api/v1/auth/token", headers={"Accept-Language": "ru"},
                            json={"email": agent.email, "password": "wrong"})
    assert (wrong.status_code, wrong.json()["title"]) == (401, "Неверный e-mail или пароль")
    unknown = app_client.post("/api/v1/auth/token",
                              json={"email": "nobody@example.com", "password": "wrong"})
    assert unknown.json()["code"] == wrong.json()["code"] == "bad_credentials"

    settings.login_rate_limit_per_minute = 3
    codes = [app_client.post("/api/v1/auth/token",
                             json={"email": "x@example.com", "password": "p"}).status_code
             for _ in range(5)]
    assert codes == [401, 401, 401, 429, 429]
    limited = app_client.post("/api/v1/auth/token", json={"email": "x@example.com",
                                                          "password": "p"})
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.json()["code"] == "rate_limited"


def test_api_rate_limit_per_token(app_client, settings, staff):
    settings.api_rate_limit_per_minute = 2
    codes = [app_client.get("/api/v1/tickets", headers=staff).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_null_for_a_field_that_cannot_be_cleared_is_a_field_error(
        app_client, staff, make_ticket, session):
    ticket = make_ticket()
    session.commit()
    patched = app_client.patch(f"/api/v1/tickets/{ticket.id}",
                               headers={**staff, "Accept-Language": "ru"},
                               json={"status": None, "priority": None, "team_id": None})
    assert patched.status_code == 422
    assert {(e["field"], e["message"]) for e in patched.json()["errors"]} == {
        ("status", "Поле не может быть пустым"), ("priority", "Поле не может быть пустым")}
    bulk = app_client.post("/api/v1/tickets/bulk", headers={**staff, "Accept-Language": "en"},
                           json={"ticket_ids": [ticket.id, 2**63], "changes": {"priority": None}})
    assert bulk.status_code == 422
    assert {e["field"] for e in bulk.json()["errors"]} == {"ticket_ids.1", "changes.priority"}
    session.refresh(ticket)
    assert ticket.status.value == "new" and ticket.priority.value == "normal"
