"""One person across channels is one customer; merging moves tickets and identities."""

import pytest

from tests.conftest import actor_of
from zabota.core.errors import ZabotaError
from zabota.identity import errors
from zabota.identity import service as identity
from zabota.identity.models import IdentityKind, Role
from zabota.identity.permissions import SYSTEM
from zabota.tickets import service as tickets


def test_identities_find_the_same_customer(session):
    first = identity.find_or_create_customer(
        session, identities=[(IdentityKind.EMAIL, " Anna@Example.ORG ")], name="Анна")
    again = identity.find_or_create_customer(
        session, identities=[(IdentityKind.PHONE, "8 (916) 123-45-67"),
                             (IdentityKind.EMAIL, "anna@example.org")])
    assert again.id == first.id
    by_phone = identity.find_customer_by_identity(session, IdentityKind.PHONE, "+79161234567")
    assert by_phone.id == first.id
    with pytest.raises(ZabotaError):
        identity.normalize_phone("12")


def test_customer_joins_organisation_by_domain(session):
    org = identity.create_organization(session, name="Romashka", domain="romashka.ru",
                                       actor=SYSTEM)
    customer = identity.find_or_create_customer(
        session, identities=[(IdentityKind.EMAIL, "ivan@romashka.ru")])
    assert customer.organization_id == org.id


def test_merge_moves_tickets_identities_and_logins(session, make_customer, make_ticket,
                                                    make_agent):
    lead = actor_of(make_agent(role=Role.SUPERVISOR))
    keep = make_customer("keep@example.org")
    dup = identity.find_or_create_customer(
        session, identities=[(IdentityKind.TELEGRAM, "123456")], name="tg user")
    ticket = make_ticket(customer=dup)
    identity.merge_customers(session, dup.id, keep.id, actor=lead)
    session.refresh(keep)
    assert {(i.kind, i.value) for i in keep.identities} == {
        (IdentityKind.EMAIL, "keep@example.org"), (IdentityKind.TELEGRAM, "123456")}
    assert ticket.customer_id == keep.id
    assert dup.merged_into_id == keep.id
    found = identity.find_customer_by_identity(session, IdentityKind.TELEGRAM, "123456")
    assert found.id == keep.id
    history = tickets.list_events(session, ticket.id, actor=lead)
    assert history[-1].field == "customer_id"
    with pytest.raises(errors.CannotMergeIntoItself):
        identity.merge_customers(session, keep.id, keep.id, actor=lead)
    agent = actor_of(make_agent())
    with pytest.raises(ZabotaError):
        identity.merge_customers(session, keep.id, make_customer().id, actor=agent)


def test_customer_api_create_conflict_and_merge(app_client, make_agent, auth_headers):
    h = auth_headers(make_agent(role=Role.ADMIN))
    made = app_client.post("/api/v1/customers", headers=h,
                           json={"name": "Пётр", "email": "petr@example.org",
                                 "phone": "+7 916 000-00-01"})
    assert made.status_code == 201, made.text
    clash = app_client.post("/api/v1/customers", headers={**h, "Accept-Language": "en"},
                            json={"email": "PETR@example.org"})
    assert clash.status_code == 409
    assert clash.json()["errors"][0]["field"] == "email"
    other = app_client.post("/api/v1/customers", headers=h, json={"email": "p2@example.org"})
    merged = app_client.post(f"/api/v1/customers/{made.json()['id']}/merge", headers=h,
                             json={"source_id": other.json()["id"]})
    assert merged.status_code == 200
    assert {i["value"] for i in merged.json()["identities"]} == {
        "petr@example.org", "+79160000001", "p2@example.org"}
    again = app_client.post(f"/api/v1/customers/{made.json()['id']}/merge",
                            headers={**h, "Accept-Language": "en"},
                            json={"source_id": other.json()["id"]})
    assert again.status_code == 409
    assert again.json()["merged_into_id"] == made.json()["id"]
    assert again.json()["errors"] == [{"field": "source_id", "message": (
        "This customer was merged into another one already; merge with that one")}]


def test_customer_search_folds_cyrillic_case_and_escapes_wildcards(session, make_customer):
    olga = make_customer("olga@example.org", name="Ольга Петрова")
    make_customer("x@example.org", name="100% Иван_Иванов")
    found = identity.list_customers(session, actor=SYSTEM, q="ольга")
    assert [c.id for c in found] == [olga.id]
    assert [c.name for c in identity.list_customers(session, actor=SYSTEM, q="%")] == [
        "100% Иван_Иванов"]
    assert identity.list_customers(session, actor=SYSTEM, q="в_н") == []  # "_" is literal
