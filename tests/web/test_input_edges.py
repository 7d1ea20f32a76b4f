"""Input found wanting in an exploratory test of a running instance: each case is refused with
a field-level problem in the user's language, or stored cleanly, never a 500 or a silent
change."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from tests.conftest import TransactionalDatabase
from zabota.identity import service as identity
from zabota.identity.models import Organization, Role, User
from zabota.identity.permissions import SYSTEM
from zabota.tickets.models import FieldType, Ticket
from zabota.tickets.service import create_field_def
from zabota.web.app import create_app

PASSWORD = "old-password-1"


@pytest.fixture
def admin(session, make_agent, auth_headers):
    user = make_agent(role=Role.ADMIN, language="en")
    session.commit()
    return auth_headers(user)


def _field_errors(response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    return {e["field"]: e["message"] for e in response.json()["errors"]}


@pytest.mark.parametrize(("path", "body"), [
    ("users/{user}", {"password": None}),
    ("users/{user}", {"email": None}),
    ("users/{user}", {"name": None}),
    ("users/{user}", {"capacity": None}),
    ("users/{user}", {"timezone": None}),
    ("teams/{team}", {"name": None}),
    ("teams/{team}", {"description": None}),
    ("organizations/{org}", {"is_vip": None}),
    ("organizations/{org}", {"notes": None}),
    ("customers/{customer}", {"name": None}),
    ("customers/{customer}", {"sees_organization_tickets": None}),
    ("tickets/{ticket}", {"tags": None}),
    ("tickets/{ticket}", {"custom_fields": None}),
])
def test_null_for_a_field_that_cannot_be_empty_is_refused(
        app_client, admin, session, make_agent, make_team, make_ticket, path, body):
    agent = make_agent(password=PASSWORD)
    team = make_team("Доставка")
    org = identity.create_organization(session, name="ООО Ромашка", actor=SYSTEM)
    ticket = make_ticket()
    session.commit()
    url = "/api/v1/" + path.format(user=agent.id, team=team.id, org=org.id,
                                   customer=ticket.customer_id, ticket=ticket.id)
    response = app_client.patch(url, headers={**admin, "Accept-Language": "ru"}, json=body)
    assert _field_errors(response) == {next(iter(body)): "Поле не может быть пустым"}
    session.expire_all()
    stored = session.get(User, agent.id)
    assert identity.verify_password(stored.password_hash, PASSWORD)  # unchanged
    assert (stored.name, stored.email, stored.capacity) == (agent.name, agent.email, agent.capacity)


def test_null_still_clears_what_may_be_empty(app_client, admin, session, make_team):
    team = make_team("Оплата")
    team.email = "pay@zabota.local"
    session.commit()
    response = app_client.patch(f"/api/v1/teams/{team.id}", headers=admin, json={"email": None})
    assert response.status_code == 200, response.text
    assert response.json()["email"] is None


def test_addresses_on_a_local_network_domain_are_accepted(app_client, admin, session,
                                                         make_agent):
    agent = make_agent()
    session.commit()
    response = app_client.patch(f"/api/v1/users/{agent.id}", headers=admin,
                                json={"email": "a.smirnova@zabota.local"})
    assert response.status_code == 200, response.text
    assert response.json()["email"] == "a.smirnova@zabota.local"


def test_an_unknown_time_zone_is_refused(app_client, admin, session, make_agent):
    agent = make_agent()
    session.commit()
    response = app_client.patch(f"/api/v1/users/{agent.id}", headers=admin,
                                json={"timezone": "Mars/Olympus"})
    assert _field_errors(response) == {"timezone": "Choose a time zone from the list"}
    session.expire_all()
    assert session.get(User, agent.id).timezone == "Europe/Moscow"
    fine = app_client.patch(f"/api/v1/users/{agent.id}", headers=admin,
                            json={"timezone": "Asia/Vladivostok"})
    assert fine.status_code == 200 and fine.json()["timezone"] == "Asia/Vladivostok"


@pytest.mark.parametrize("number", [10**30, 2**53 + 1, float("inf"), float("nan")])
def test_a_number_field_takes_only_numbers_json_readers_read_exactly(
        app_client, admin, session, make_ticket, number):
    create_field_def(session, key="order_total", label="Сумма заказа", type=FieldType.NUMBER,
                 actor=SYSTEM)
    ticket = make_ticket()
    session.commit()
    body = json.dumps({"custom_fields": {"order_total": number}})  # Infinity, NaN as JS has
    response = app_client.patch(f"/api/v1/tickets/{ticket.id}", content=body,
                                headers={**admin, "Content-Type": "application/json"})
    assert _field_errors(response) == {"custom_fields.order_total": "Enter a number"}
    session.expire_all()
    assert session.get(Ticket, ticket.id).custom_fields == {}
    fine = app_client.patch(f"/api/v1/tickets/{ticket.id}", headers=admin,
                            json={"custom_fields": {"order_total": 1999.5}})
    assert fine.status_code == 200 and fine.json()["custom_fields"] == {"order_total": 1999.5}


def test_nul_characters_are_dropped_from_what_is_stored_and_searched(
        app_client, admin, session):
    response = app_client.post("/api/v1/tickets", headers=admin, json={
        "subject": "Возврат\u0000 заказа", "customer": {"email": "nul@example.org",
                                                     "name": "Ольга\u0000"},
        "message": {"text": "Верните деньги\u0000 за доставку"}})
    assert response.status_code == 201, response.text
    assert response.json()["subject"] == "Возврат заказа"
    found = app_client.get("/api/v1/tickets", headers=admin,
                           params={"q": "доставка\u0000"})
    assert found.status_code == 200, found.text
    assert [t["id"] for t in found.json()["items"]] == [response.json()["id"]]
    messages = app_client.get(f"/api/v1/tickets/{response.json()['id']}/messages",
                              headers=admin).json()
    assert messages[0]["body_text"] == "Верните деньги за доставку"


@pytest.mark.parametrize(("given", "stored"), [
    ("пример.рф", "пример.рф"),
    ("xn--e1afmkfd.xn--p1ai", "пример.рф"),
    ("Company.RU", "company.ru"),
])
def test_organisation_domains_may_be_international(app_client, admin, given, stored):
    response = app_client.post("/api/v1/organizations", headers=admin,
                               json={"name": f"Организация {given}", "domain": given})
    assert response.status_code == 201, response.text
    assert response.json()["domain"] == stored


def test_a_domain_belongs_to_one_organisation(app_client, admin, session):
    first = app_client.post("/api/v1/organizations", headers=admin,
                            json={"name": "Первая", "domain": "romashka.ru"})
    assert first.status_code == 201
    again = app_client.post("/api/v1/organizations", headers=admin,
                            json={"name": "Вторая", "domain": "ROMASHKA.ru"})
    assert again.status_code == 409
    assert again.json()["errors"] == [
        {"field": "domain", "message": "Another organisation already has this domain"}]
    assert session.query(Organization).filter_by(name="Вторая").count() == 0
    bad = app_client.post("/api/v1/organizations", headers=admin,
                          json={"name": "Третья", "domain": "not a domain"})
    assert _field_errors(bad) == {"domain": "Enter a domain such as example.ru"}


def test_a_customer_writing_from_a_punycode_address_joins_the_organisation(
        app_client, admin, session):
    identity.create_organization(session, name="Пример", domain="пример.рф", actor=SYSTEM)
    session.commit()
    response = app_client.post("/api/v1/customers", headers=admin,
                               json={"email": "olga@xn--e1afmkfd.xn--p1ai"})
    assert response.status_code == 201, response.text
    assert response.json()["email"] == "olga@пример.рф"
    assert response.json()["organization_id"] is not None


def test_an_unexpected_error_is_a_problem_in_the_users_language(
        connection, settings, admin, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr("zabota.tickets.service.list_tickets", broken)
    app = create_app(settings, TransactionalDatabase(connection))
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/api/v1/tickets", headers={**admin, "Accept-Language": "ru"})
        page = client.get("/api/v1/tickets", headers={**admin, "Accept-Language": "en"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "У нас что-то пошло не так"
    assert "a bug" not in response.text
    assert page.json()["title"] == "Something went wrong on our side"


@pytest.mark.parametrize(("body", "message"), [
    ({"type": "select", "options": ["да", "да"]}, "Each option can be listed once"),
    ({"type": "text", "options": ["a"]}, "Only a list field has options"),
])
def test_custom_field_options_make_sense(app_client, admin, body, message):
    response = app_client.post("/api/v1/custom-fields", headers=admin,
                               json={"key": "delivery_kind", "label": "Способ доставки", **body})
    assert _field_errors(response) == {"options": message}


def _cursor(value: object) -> str:
    import base64

    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(("params", "field"), [
    ({"cursor": _cursor(["2026-01-01T00:00:00+00:00", 10**23])}, "cursor"),
    ({"cursor": _cursor(["2026-01-01T00:00:00+00:00", 5]), "sort": "id"}, "cursor"),
    ({"cursor": _cursor([5, 5]), "sort": "-updated_at"}, "cursor"),
    ({"cursor": _cursor([True, 5]), "sort": "id"}, "cursor"),
])
def test_a_cursor_that_is_not_ours_is_refused(app_client, admin, make_ticket, session,
                                              params, field):
    make_ticket()
    session.commit()
    response = app_client.get("/api/v1/tickets", headers=admin, params=params)
    assert _field_errors(response) == {
        field: "The cursor is not valid; start from the first page"}


@pytest.mark.parametrize("cursor", ["99999999999999999999999", " 12", "1_000", "١٢", "-1"])
def test_an_export_cursor_that_is_not_ours_is_refused(app_client, admin, cursor):
    response = app_client.get("/api/v1/tickets/export", headers=admin,
                              params={"since_cursor": cursor})
    assert _field_errors(response) == {"since_cursor": "The cursor is not valid"}


def test_true_is_no_team_number(app_client, admin, make_ticket, make_team, session):
    make_team("Первая линия")
    ticket = make_ticket()
    session.commit()
    response = app_client.patch(f"/api/v1/tickets/{ticket.id}", headers=admin,
                                json={"team_id": True})
    assert _field_errors(response) == {"team_id": "Enter a whole number"}
    session.expire_all()
    assert session.get(Ticket, ticket.id).team_id is None


def test_errors_name_the_parameter_that_was_sent(app_client, admin, make_ticket, session):
    ticket = make_ticket()
    session.commit()
    assign = app_client.post(f"/api/v1/tickets/{ticket.id}/assign", headers=admin,
                             json={"agent_id": 999_999})
    assert [e["field"] for e in assign.json()["errors"]] == ["agent_id"], assign.text
    team = app_client.post("/api/v1/teams", headers=admin,
                           json={"name": "Вторая линия", "escalation_team_id": 999_999})
    assert [e["field"] for e in team.json()["errors"]] == ["escalation_team_id"], team.text


def test_a_custom_field_can_be_renamed_given_options_and_switched_off(
        app_client, admin, make_ticket, session):
    created = app_client.post("/api/v1/custom-fields", headers=admin, json={
        "key": "delivery_kind", "label": "Доставка", "type": "select",
        "options": ["курьер", "почта"]}).json()
    ticket = make_ticket()
    session.commit()
    url = f"/api/v1/custom-fields/{created['id']}"
    renamed = app_client.patch(url, headers=admin, json={
        "label": "Способ доставки", "label_en": "Delivery", "options": ["курьер", "пункт выдачи"]})
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["options"] == ["курьер", "пункт выдачи"]
    assert renamed.json()["key"] == "delivery_kind"
    assert _field_errors(app_client.patch(url, headers=admin, json={"type": "text"})) == {
        "type": "Unknown field"}
    assert _field_errors(app_client.patch(url, headers=admin, json={"options": []})) == {
        "options": "A list field needs at least one option"}
    off = app_client.patch(url, headers=admin, json={"is_active": False})
    assert off.json()["is_active"] is False
    refused = app_client.patch(f"/api/v1/tickets/{ticket.id}", headers=admin,
                               json={"custom_fields": {"delivery_kind": "курьер"}})
    assert refused.status_code == 422  # a field switched off takes no new values
    missing = app_client.patch("/api/v1/custom-fields/999999", headers=admin,
                               json={"label": "x"})
    assert missing.status_code == 404


def test_a_customer_asking_for_the_staff_record_is_told_where_to_look(
        app_client, make_customer, auth_headers, session):
    olga = make_customer()
    session.commit()
    response = app_client.get("/api/v1/users/me",
                              headers={**auth_headers(olga), "Accept-Language": "en"})
    assert response.status_code == 403
    assert response.json()["detail"] == (
        f"This is the staff's own record; a customer reads /api/v1/customers/{olga.id}")


def test_an_external_id_names_a_repeat_only_of_the_same_authors_message_on_the_ticket(
        app_client, admin, make_customer, make_ticket, make_agent, make_team, auth_headers,
        session):
    olga = make_customer()
    ticket = make_ticket(customer=olga)
    other_ticket = make_ticket()
    session.commit()
    note = app_client.post(f"/api/v1/tickets/{ticket.id}/messages", headers=admin, json={
        "text": "Подозрение на мошенничество", "is_internal": True, "external_id": "crm-77"})
    assert note.status_code == 201
    customer = {**auth_headers(olga), "Accept-Language": "en"}
    # A customer reusing the note's id gets neither the note nor a lost message silently.
    taken = app_client.post(f"/api/v1/tickets/{ticket.id}/messages", headers=customer,
                            json={"text": "Здравствуйте", "external_id": "crm-77"})
    assert taken.status_code == 409, taken.text
    assert "мошенничество" not in taken.text
    assert taken.json()["errors"] == [{"field": "external_id", "message": (
        "This external_id belongs to another message; use an id of your own for each message")}]
    # Staff reusing it on another ticket: refused too, nothing of the note shown.
    elsewhere = app_client.post(f"/api/v1/tickets/{other_ticket.id}/messages", headers=admin,
                                json={"text": "Ответ", "external_id": "crm-77"})
    assert elsewhere.status_code == 409 and "мошенничество" not in elsewhere.text
    # The same author retrying on the same ticket gets the stored message back.
    again = app_client.post(f"/api/v1/tickets/{ticket.id}/messages", headers=admin, json={
        "text": "Подозрение на мошенничество", "is_internal": True, "external_id": "crm-77"})
    assert again.status_code == 201 and again.json()["id"] == note.json()["id"]
    # A customer may not post an internal note, whatever the id.
    internal = app_client.post(f"/api/v1/tickets/{ticket.id}/messages", headers=customer,
                               json={"text": "x", "is_internal": True, "external_id": "crm-77"})
    assert internal.status_code == 403


HUGE_ID = 18446744073709551616  # 2**64


@pytest.mark.parametrize(("method", "path", "body", "field"), [
    ("POST", "/api/v1/routing/categories", {"key": "qa", "name_ru": "QA", "team_id": HUGE_ID},
     "team_id"),
    ("POST", "/api/v1/routing/categories", {"key": "qa", "name_ru": "QA", "parent_id": HUGE_ID},
     "parent_id"),
    ("POST", "/api/v1/routing/rules", {"name": "r", "actions": {"team_id": HUGE_ID}},
     "actions.team_id"),
    ("POST", "/api/v1/routing/rules", {"name": "r", "actions": {"assignee_id": HUGE_ID}},
     "actions.assignee_id"),
    ("POST", "/api/v1/routing/rules", {"name": "r", "conditions": {
        "organization_ids": [HUGE_ID]}, "actions": {"priority": "high"}},
     "conditions.organization_ids.0"),
    ("POST", "/api/v1/triage/preview", {"text": "x", "customer_id": HUGE_ID}, "customer_id"),
    ("POST", "/api/v1/api-tokens", {"user_id": HUGE_ID, "name": "n"}, "user_id"),
    ("POST", "/api/v1/teams", {"name": "t", "member_ids": [HUGE_ID]}, "member_ids.0"),
    ("POST", "/api/v1/customers", {"email": "x@example.org", "organization_id": HUGE_ID},
     "organization_id"),
])
def test_ids_in_a_body_beyond_their_column_are_named(app_client, admin, make_customer, session,
                                                     method, path, body, field):
    response = app_client.request(method, path, headers=admin, json=body)
    assert _field_errors(response) == {field: "The number is out of range"}


def test_a_merge_source_beyond_any_customer_is_named(app_client, admin, make_customer, session):
    olga = make_customer()
    session.commit()
    response = app_client.post(f"/api/v1/customers/{olga.id}/merge", headers=admin,
                               json={"source_id": HUGE_ID})
    assert _field_errors(response) == {"source_id": "The number is out of range"}


def test_a_help_centre_section_address_fits_its_column(app_client, admin):
    long_name = app_client.post("/api/v1/kb/categories", headers=admin,
                                json={"name_ru": "Я" * 200, "name_en": "section " * 25})
    assert long_name.status_code == 201, long_name.text
    slug = long_name.json()["slug"]
    assert len(slug) <= 100 and not slug.endswith("-")
    too_long = app_client.post("/api/v1/kb/categories", headers=admin,
                               json={"name_ru": "Раздел", "slug": "a" * 120})
    assert _field_errors(too_long) == {"slug": "Enter at most 100 characters"}


def test_a_category_that_rules_set_is_not_deleted(app_client, admin, session):
    category = app_client.post("/api/v1/routing/categories", headers=admin,
                               json={"key": "billing", "name_ru": "Оплата"}).json()
    rule = app_client.post("/api/v1/routing/rules", headers=admin, json={
        "name": "Двойное списание", "conditions": {"phrases": ["списали дважды"]},
        "actions": {"category": "billing"}})
    assert rule.status_code == 201, rule.text
    refused = app_client.delete(f"/api/v1/routing/categories/{category['id']}", headers=admin)
    assert refused.status_code == 409
    assert refused.json()["rules"] == ["Двойное списание"]
    app_client.delete(f"/api/v1/routing/rules/{rule.json()['id']}", headers=admin)
    assert app_client.delete(f"/api/v1/routing/categories/{category['id']}",
                             headers=admin).status_code == 204


@pytest.mark.parametrize(("name", "kind", "data", "message"), [
    ("setup.exe", "image/png", b"MZ\x90\x00", "Programs and scripts are not accepted"),
    ("setup.png", "image/png", b"MZ\x90\x00", "Programs and scripts are not accepted"),
    ("tool", "application/octet-stream", b"\x7fELF\x02", "Programs and scripts are not accepted"),
    ("run.sh", "text/plain", b"echo hi", "Programs and scripts are not accepted"),
    ("photo.jpg", "image/jpeg", b"<html><script>alert(1)</script>",
     "The file is not what its type (image/jpeg) says"),
    ("scan.pdf", "application/pdf", b"<html>",
     "The file is not what its type (application/pdf) says"),
])
def test_programs_and_disguised_files_are_refused(app_client, admin, name, kind, data, message):
    response = app_client.post("/api/v1/attachments", headers=admin,
                               files={"file": (name, data, kind)})
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == [{"field": "file", "message": message}]


def test_a_name_cannot_hide_its_extension_behind_bidi_controls(app_client, admin):
    response = app_client.post("/api/v1/attachments", headers=admin,
                               files={"file": ("invoice\u202etxt.zip", b"PK\x03\x04",
                                               "application/zip")})
    assert response.status_code == 201, response.text
    assert response.json()["filename"] == "invoicetxt.zip"


def test_routing_settings_can_be_read_and_changed_one_at_a_time(app_client, admin):
    first = app_client.put("/api/v1/routing/settings", headers=admin, json={"repeat_days": 30})
    assert first.status_code == 200 and first.json()["repeat_days"] == 30
    second = app_client.put("/api/v1/routing/settings", headers=admin,
                            json={"confidence_threshold": 0.7})
    assert second.json()["repeat_days"] == 30  # left out: kept
    read = app_client.get("/api/v1/routing/settings", headers=admin)
    assert read.status_code == 200
    assert (read.json()["repeat_days"], read.json()["confidence_threshold"]) == (30, 0.7)


def test_a_body_far_beyond_the_file_limit_is_refused_before_it_is_read(
        connection, settings, admin):
    settings.max_attachment_bytes = 1000  # the body limit is 4 files of it and 1 MiB
    app = create_app(settings, TransactionalDatabase(connection))
    with TestClient(app) as client:
        response = client.post("/api/v1/attachments",
                               headers={**admin, "Accept-Language": "ru"},
                               files={"file": ("big.zip", b"PK" + b"\0" * (1024 * 1024 + 5000),
                                               "application/zip")})
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["title"] == "Слишком большой запрос"
        small = client.post("/api/v1/attachments", headers=admin,
                            files={"file": ("a.zip", b"PK\x03\x04", "application/zip")})
        assert small.status_code == 201


@pytest.mark.parametrize(("phrase", "message"), [
    ("и", "The phrase has only common words (such as «и», «как»); it would match nearly "
          "every request"),
    ("!!!", "The phrase has no words"),
])
def test_a_rule_phrase_must_say_something(app_client, admin, phrase, message):
    response = app_client.post("/api/v1/routing/rules", headers=admin, json={
        "name": "r", "conditions": {"phrases": ["двойное списание", phrase]},
        "actions": {"priority": "high"}})
    assert _field_errors(response) == {"conditions.phrases.1": message}
