"""Nobody sees what is not theirs: reads, lists, search, changes, id guessing — via the API."""

import pytest

from zabota.identity import service as identity
from zabota.identity.models import Role
from zabota.identity.permissions import SYSTEM


@pytest.fixture
def world(session, make_team, make_agent, make_customer, make_ticket):
    """Two teams, two customers of whom one is an organisation manager, tickets everywhere."""
    org = identity.create_organization(session, name="ООО Ромашка", actor=SYSTEM)
    billing, delivery = make_team("Billing"), make_team("Delivery")
    alice = make_customer("alice@romashka.ru", organization_id=org.id)
    boss = make_customer("boss@romashka.ru", organization_id=org.id,
                         sees_organization_tickets=True)
    bob = make_customer("bob@example.org")
    w = {
        "billing_agent": make_agent(teams=(billing,)),
        "delivery_agent": make_agent(teams=(delivery,)),
        "supervisor": make_agent(role=Role.SUPERVISOR),
        "alice": alice, "boss": boss, "bob": bob,
        "alice_ticket": make_ticket(customer=alice, team_id=billing.id,
                                    subject="Счёт alice", text="доставка счёта alice"),
        "bob_ticket": make_ticket(customer=bob, team_id=delivery.id,
                                  subject="Счёт bob", text="доставка счёта bob"),
    }
    session.commit()
    return w


def ids(response):
    assert response.status_code == 200, response.text
    return {t["id"] for t in response.json()["items"]}


def test_customer_reads_only_own_tickets(app_client, world, auth_headers):
    alice, mine, theirs = world["alice"], world["alice_ticket"], world["bob_ticket"]
    h = auth_headers(alice)
    assert app_client.get(f"/api/v1/tickets/{mine.id}", headers=h).status_code == 200
    for path in (f"/api/v1/tickets/{theirs.id}", f"/api/v1/tickets/{theirs.id}/messages",
                 f"/api/v1/tickets/{theirs.id + 1000}"):
        response = app_client.get(path, headers=h)
        assert response.status_code == 404, path
        assert response.json()["code"] == "ticket_not_found"
    assert ids(app_client.get("/api/v1/tickets", headers=h)) == {mine.id}
    assert ids(app_client.get("/api/v1/tickets", headers=h, params={"q": "доставка"})) == {mine.id}
    assert ids(app_client.get("/api/v1/tickets", headers=h,
                              params={"customer_id": world["bob"].id})) == set()


def test_customer_cannot_change_or_reply_to_others_tickets(app_client, world, auth_headers):
    h = auth_headers(world["alice"])
    theirs = world["bob_ticket"]
    assert app_client.post(f"/api/v1/tickets/{theirs.id}/messages", headers=h,
                           json={"text": "hi"}).status_code == 404
    assert app_client.patch(f"/api/v1/tickets/{theirs.id}", headers=h,
                            json={"status": "solved"}).status_code == 404
    assert app_client.post(f"/api/v1/tickets/{world['alice_ticket'].id}/merge", headers=h,
                           json={"source_id": theirs.id}).status_code == 403


def test_customer_cannot_do_staff_work_on_own_ticket(app_client, world, auth_headers):
    h = auth_headers(world["alice"])
    mine = world["alice_ticket"]
    assert app_client.patch(f"/api/v1/tickets/{mine.id}", headers=h,
                            json={"priority": "urgent"}).status_code == 403
    assert app_client.post(f"/api/v1/tickets/{mine.id}/messages", headers=h,
                           json={"text": "note", "is_internal": True}).status_code == 403
    assert app_client.get(f"/api/v1/tickets/{mine.id}/events", headers=h).status_code == 403
    assert app_client.get("/api/v1/customers/" + str(world["bob"].id),
                          headers=h).status_code == 404
    assert [c["id"] for c in app_client.get("/api/v1/customers", headers=h).json()] == [
        world["alice"].id]


def test_organisation_manager_sees_the_organisations_tickets(app_client, world, auth_headers):
    h = auth_headers(world["boss"])
    assert ids(app_client.get("/api/v1/tickets", headers=h)) == {world["alice_ticket"].id}
    assert app_client.get(f"/api/v1/tickets/{world['bob_ticket'].id}",
                          headers=h).status_code == 404


def test_agent_sees_own_teams_and_own_tickets_only(app_client, world, auth_headers, session):
    agent = world["billing_agent"]
    h = auth_headers(agent)
    theirs = world["bob_ticket"]
    assert ids(app_client.get("/api/v1/tickets", headers=h)) == {world["alice_ticket"].id}
    assert app_client.get(f"/api/v1/tickets/{theirs.id}", headers=h).status_code == 404
    assert ids(app_client.get("/api/v1/tickets", headers=h, params={"q": "bob"})) == set()
    assert app_client.patch(f"/api/v1/tickets/{theirs.id}", headers=h,
                            json={"priority": "high"}).status_code == 404
    bulk = app_client.post("/api/v1/tickets/bulk", headers=h, json={
        "ticket_ids": [theirs.id, world["alice_ticket"].id], "changes": {"priority": "high"}})
    assert [(r["ticket_id"], r["ok"]) for r in bulk.json()["results"]] == [
        (theirs.id, False), (world["alice_ticket"].id, True)]
    assert app_client.get(f"/api/v1/tickets/{theirs.id}",
                          headers=auth_headers(world["delivery_agent"])).json()["priority"] == (
        "normal")

    # Assigned personally, the agent sees the ticket even outside their teams.
    sup = identity.actor_for_user(world["supervisor"])
    from zabota.tickets import service as tickets

    tickets.assign_ticket(session, theirs.id, agent.id, actor=sup)
    session.commit()
    assert app_client.get(f"/api/v1/tickets/{theirs.id}", headers=h).status_code == 200


def test_supervisor_sees_everything(app_client, world, auth_headers):
    h = auth_headers(world["supervisor"])
    assert ids(app_client.get("/api/v1/tickets", headers=h)) == {
        world["alice_ticket"].id, world["bob_ticket"].id}


def test_agents_cannot_administer(app_client, world, auth_headers):
    h = auth_headers(world["billing_agent"])
    assert app_client.post("/api/v1/users", headers=h, json={
        "email": "x@example.com", "name": "X", "role": "admin"}).status_code == 403
    assert app_client.post("/api/v1/api-tokens", headers=h, json={
        "user_id": world["billing_agent"].id, "name": "mine"}).status_code == 403
    assert app_client.post("/api/v1/teams", headers=h, json={"name": "X"}).status_code == 403


def test_customer_sees_no_internal_notes_nor_their_attachments(app_client, world, auth_headers):
    ticket = world["alice_ticket"]
    staff = auth_headers(world["supervisor"])
    upload = app_client.post("/api/v1/attachments", headers=staff,
                             files={"file": ("secret.txt", b"internal", "text/plain")})
    note = app_client.post(f"/api/v1/tickets/{ticket.id}/messages", headers=staff,
                           json={"text": "VIP, внутренний комментарий", "is_internal": True,
                                 "attachment_ids": [upload.json()["id"]]})
    assert note.status_code == 201
    h = auth_headers(world["alice"])
    bodies = [m["body_text"] for m in
              app_client.get(f"/api/v1/tickets/{ticket.id}/messages", headers=h).json()]
    assert bodies == ["доставка счёта alice"]
    assert app_client.get(f"/api/v1/attachments/{upload.json()['id']}",
                          headers=h).status_code == 404
    assert ids(app_client.get("/api/v1/tickets", headers=h, params={"q": "внутренний"})) == set()
    assert ids(app_client.get("/api/v1/tickets", headers=staff,
                              params={"q": "внутренний"})) == {ticket.id}


def test_requests_without_a_valid_token_are_refused(app_client, world):
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
        response = app_client.get("/api/v1/tickets", headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"


def test_personal_tokens_are_issued_shown_once_and_revoked(app_client, world, auth_headers,
                                                            make_agent):
    admin = auth_headers(make_agent(role=Role.ADMIN))
    made = app_client.post("/api/v1/api-tokens", headers=admin,
                           json={"user_id": world["billing_agent"].id, "name": "CRM sync"})
    assert made.status_code == 201, made.text
    token = made.json()["token"]
    integration = {"Authorization": f"Bearer {token}"}
    assert app_client.get("/api/v1/tickets", headers=integration).status_code == 200
    listed = app_client.get("/api/v1/api-tokens", headers=admin).json()
    assert [t["name"] for t in listed] == ["CRM sync"] and "token" not in listed[0]
    assert app_client.delete(f"/api/v1/api-tokens/{made.json()['id']}",
                             headers=admin).json()["revoked_at"] is not None
    assert app_client.get("/api/v1/tickets", headers=integration).status_code == 401


def test_logout_revokes_the_token(app_client, world, auth_headers):
    h = auth_headers(world["alice"])
    assert app_client.post("/api/v1/auth/logout", headers=h).status_code == 204
    assert app_client.get("/api/v1/tickets", headers=h).status_code == 401


def test_the_last_admin_cannot_be_demoted_and_escalation_cannot_loop(session, make_agent,
                                                                      make_team):
    from zabota.core.errors import ZabotaError

    admin = make_agent(role=Role.ADMIN)
    me = identity.actor_for_user(admin)
    with pytest.raises(ZabotaError) as caught:
        identity.update_user(session, admin.id, actor=me, role=Role.AGENT)
    assert caught.value.data["errors"][0]["field"] == "role"
    make_agent(role=Role.ADMIN)
    identity.update_user(session, admin.id, actor=me, role=Role.AGENT)
    a, b = make_team("A"), make_team("B")
    identity.update_team(session, a.id, actor=SYSTEM, escalation_team_id=b.id)
    with pytest.raises(ZabotaError):
        identity.update_team(session, b.id, actor=SYSTEM, escalation_team_id=a.id)
    with pytest.raises(ZabotaError):
        identity.update_team(session, a.id, actor=SYSTEM, escalation_team_id=a.id)


def test_customers_cannot_set_staff_fields_through_the_api(app_client, world, auth_headers):
    h = auth_headers(world["alice"])
    for extra in ({"priority": "urgent"}, {"tags": ["vip"]}, {"team_id": 1},
                  {"channel": "telegram"}, {"custom_fields": {"x": 1}}):
        response = app_client.post("/api/v1/tickets", headers=h, json={
            "subject": "s", "message": {"text": "t"}, **extra})
        assert response.status_code == 403, extra
    ok = app_client.post("/api/v1/tickets", headers=h, json={"subject": "s",
                                                             "message": {"text": "t"}})
    assert ok.status_code == 201 and ok.json()["customer_id"] == world["alice"].id
