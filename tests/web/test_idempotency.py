"""A retried POST with the same Idempotency-Key never creates a second ticket or message."""

from tests.conftest import no_new_rows
from zabota.identity.models import Role
from zabota.tickets.models import Message, Ticket

BODY = {"subject": "Нет доступа к VPN", "customer": {"email": "ivan@example.org"},
        "message": {"text": "Не подключается VPN с утра"}}


def test_same_key_replays_the_first_response(app_client, make_agent, auth_headers, session):
    h = {**auth_headers(make_agent(role=Role.ADMIN)), "Idempotency-Key": "req-1"}
    first = app_client.post("/api/v1/tickets", headers=h, json=BODY)
    assert first.status_code == 201
    with no_new_rows(session, Ticket), no_new_rows(session, Message):
        again = app_client.post("/api/v1/tickets", headers=h, json=BODY)
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers["Idempotent-Replayed"] == "true"

    reused = app_client.post("/api/v1/tickets", headers=h, json={**BODY, "subject": "Другое"})
    assert (reused.status_code, reused.json()["code"]) == (422, "idempotency_key_reused")

    other = app_client.post("/api/v1/tickets", headers={**h, "Idempotency-Key": "req-2"},
                            json=BODY)
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]


def test_messages_are_idempotent_by_key_and_by_external_id(
        app_client, make_agent, make_ticket, auth_headers, session):
    ticket = make_ticket()
    h = auth_headers(make_agent(role=Role.ADMIN))
    body = {"text": "Ответ", "external_id": "crm-77"}
    first = app_client.post(f"/api/v1/tickets/{ticket.id}/messages", headers=h, json=body)
    with no_new_rows(session, Message):
        second = app_client.post(f"/api/v1/tickets/{ticket.id}/messages", headers=h, json=body)
        keyed = app_client.post(f"/api/v1/tickets/{ticket.id}/messages",
                                headers={**h, "Idempotency-Key": "m1"}, json=body)
    assert first.json()["id"] == second.json()["id"] == keyed.json()["id"]
