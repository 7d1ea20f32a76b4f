"""The newcomer's walk through the API: log in, create, list, reply, transfer, solve, reopen."""

from zabota.identity import service as identity
from zabota.identity.models import Role
from zabota.identity.permissions import SYSTEM


def test_whole_ticket_lifecycle_through_the_api(app_client, session, make_team, make_agent):
    billing, delivery = make_team("Billing"), make_team("Delivery")
    identity.create_user(session, email="lead@example.com", name="Lead", role=Role.SUPERVISOR,
                         password="correct horse", actor=SYSTEM)
    first, second = make_agent(teams=(billing,)), make_agent(teams=(delivery,))
    session.commit()

    login = app_client.post("/api/v1/auth/token",
                            json={"email": "LEAD@example.com", "password": "correct horse"})
    assert login.status_code == 200, login.text
    auth = {"Authorization": f"Bearer {login.json()['access_token']}"}

    created = app_client.post("/api/v1/tickets", headers=auth, json={
        "subject": "Двойное списание", "team_id": billing.id,
        "customer": {"email": "Olga@Example.org", "name": "Ольга"},
        "message": {"text": "С карты списали дважды за заказ 5521"},
    })
    assert created.status_code == 201, created.text
    ticket = created.json()
    tid = ticket["id"]
    assert (ticket["status"], ticket["number"], ticket["channel"]) == ("new", tid, "api")

    listed = app_client.get("/api/v1/tickets", headers=auth, params={"team_id": billing.id})
    assert [t["id"] for t in listed.json()["items"]] == [tid]

    assigned = app_client.post(f"/api/v1/tickets/{tid}/assign", headers=auth,
                               json={"agent_id": first.id})
    assert assigned.json()["status"] == "open"
    reply = app_client.post(f"/api/v1/tickets/{tid}/messages", headers=auth,
                            json={"text": "Проверяем платёж"})
    assert reply.status_code == 201 and reply.json()["author_kind"] == "agent"

    moved = app_client.post(f"/api/v1/tickets/{tid}/transfer", headers=auth,
                            json={"team_id": delivery.id, "agent_id": second.id,
                                  "reason": "Это вопрос доставки"})
    assert moved.json()["transfers"] == 1
    assert (moved.json()["team_id"], moved.json()["assignee_id"]) == (delivery.id, second.id)

    solved = app_client.patch(f"/api/v1/tickets/{tid}", headers=auth, json={"status": "solved"})
    assert solved.json()["solved_at"] is not None

    customer_id = ticket["customer_id"]
    customer = identity.get_customer(session, customer_id, actor=SYSTEM)
    customer_auth = {"Authorization": "Bearer " + identity.issue_token_for(
        session, ttl=__import__("datetime").timedelta(hours=1), customer_id=customer.id)}
    session.commit()
    again = app_client.post(f"/api/v1/tickets/{tid}/messages", headers=customer_auth,
                            json={"text": "Деньги так и не вернули"})
    assert again.status_code == 201
    reopened = app_client.get(f"/api/v1/tickets/{tid}", headers=auth).json()
    assert (reopened["status"], reopened["reopens"], reopened["solved_at"]) == ("open", 1, None)

    events = app_client.get(f"/api/v1/tickets/{tid}/events", headers=auth).json()
    steps = [(e["kind"], e["field"], e["from_value"], e["to_value"]) for e in events]
    assert steps == [
        ("created", None, None, None),
        ("message_added", None, None, None),
        ("assigned", "assignee_id", None, str(first.id)),
        ("status_changed", "status", "new", "open"),
        ("message_added", None, None, None),
        ("team_changed", "team_id", str(billing.id), str(delivery.id)),
        ("assigned", "assignee_id", str(first.id), str(second.id)),
        ("status_changed", "status", "open", "solved"),
        ("status_changed", "status", "solved", "open"),
        ("message_added", None, None, None),
    ]
    assert events[5]["reason"] == "Это вопрос доставки"
    assert all(e["actor_kind"] == "user" for e in events[2:8])


def test_openapi_and_docs_are_served(app_client):
    spec = app_client.get("/openapi.json").json()
    assert "/api/v1/tickets" in spec["paths"]
    assert "/api/v1/tickets/{ticket_id}/events" in spec["paths"]
    assert app_client.get("/docs").status_code == 200


def test_metrics_are_exposed(app_client):
    app_client.get("/healthz")
    body = app_client.get("/metrics").text
    assert "zabota_http_requests_total" in body and "zabota_outbox_backlog" in body


def test_responses_carry_server_timing(app_client):
    timing = app_client.get("/healthz").headers["server-timing"]
    assert timing.startswith("app;dur=") and float(timing.split("=")[1]) >= 0
