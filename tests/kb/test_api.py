"""/api/v1/kb: articles, categories and search; anonymous readers see only published public
articles; bad input is problem+json naming the field."""

from __future__ import annotations

import pytest

from zabota.identity.models import Role
from zabota.kb.models import Visibility


@pytest.fixture
def api(app_client, make_agent, make_customer, auth_headers, make_category, make_article,
        session):
    category = make_category("Доставка", name_en="Delivery", slug="delivery")
    public = make_article("Сроки доставки", "Курьер привозит на следующий день.",
                          category_id=category.id)
    internal = make_article("Доставка: регламент", "Компенсация при задержке доставки.",
                            category_id=category.id, visibility=Visibility.INTERNAL)
    session.commit()
    return {"category": category, "public": public, "internal": internal,
            "lead": auth_headers(make_agent(role=Role.SUPERVISOR)),
            "agent": auth_headers(make_agent()),
            "customer": auth_headers(make_customer())}


def test_reading_without_a_token_sees_public_articles_only(app_client, api):
    listed = app_client.get("/api/v1/kb/articles").json()
    assert [a["id"] for a in listed["items"]] == [api["public"].id]
    assert listed["items"][0]["body_source"] is None
    assert listed["items"][0]["url"] == f"/help/ru/delivery/{api['public'].slug}"
    assert app_client.get(f"/api/v1/kb/articles/{api['internal'].id}").status_code == 404
    staff = app_client.get("/api/v1/kb/articles", headers=api["agent"]).json()
    assert {a["id"] for a in staff["items"]} == {api["public"].id, api["internal"].id}
    assert all(a["body_source"] for a in staff["items"])
    customer = app_client.get("/api/v1/kb/articles", headers=api["customer"]).json()
    assert len(customer["items"]) == 1
    categories = app_client.get("/api/v1/kb/categories").json()
    assert categories[0]["slug"] == "delivery" and categories[0]["articles"] == 1
    bad_token = app_client.get("/api/v1/kb/articles", headers={"Authorization": "Bearer x"})
    assert bad_token.status_code == 401


def test_search_scores_and_visibility(app_client, api):
    anonymous = app_client.get("/api/v1/kb/search", params={"q": "доставка"}).json()
    assert [r["article_id"] for r in anonymous["results"]] == [api["public"].id]
    assert 0 < anonymous["results"][0]["score"] <= 1
    staff = app_client.get("/api/v1/kb/search", params={"q": "задержка доставки"},
                           headers=api["agent"]).json()
    assert api["internal"].id in [r["article_id"] for r in staff["results"]]
    typo = app_client.get("/api/v1/kb/search", params={"q": "дотсавка", "language": "ru"})
    assert typo.json()["corrections"] == {"дотсавка": "доставка"}
    empty = app_client.get("/api/v1/kb/search", params={"q": ""})
    assert empty.status_code == 422
    assert empty.headers["content-type"] == "application/problem+json"
    assert empty.json()["errors"][0]["field"] == "q"


def test_create_update_publish_and_restore(app_client, api):
    created = app_client.post("/api/v1/kb/articles", headers=api["agent"], json={
        "title": "Самовывоз", "body": "Заберите заказ в **пункте выдачи**.", "language": "ru",
        "category_id": api["category"].id, "tags": ["пвз"]})
    assert created.status_code == 201, created.text
    article = created.json()
    assert article["status"] == "draft" and "<strong>пункте выдачи</strong>" in article["body_html"]
    article_id = article["id"]
    refused = app_client.patch(f"/api/v1/kb/articles/{article_id}", headers=api["agent"],
                               json={"status": "published"})
    assert refused.status_code == 403
    updated = app_client.patch(f"/api/v1/kb/articles/{article_id}", headers=api["agent"],
                               json={"body": "Заберите заказ за 7 дней.", "expected_version": 1,
                                     "status": "review"})
    assert updated.status_code == 200 and updated.json()["version"] == 2
    stale = app_client.patch(f"/api/v1/kb/articles/{article_id}", headers=api["agent"],
                             json={"body": "Старая правка", "expected_version": 1})
    assert stale.status_code == 409 and stale.json()["code"] == "article_edit_conflict"
    published = app_client.patch(f"/api/v1/kb/articles/{article_id}", headers=api["lead"],
                                 json={"status": "published"})
    assert published.json()["status"] == "published"
    assert app_client.get(f"/api/v1/kb/articles/{article_id}").status_code == 200
    versions = app_client.get(f"/api/v1/kb/articles/{article_id}/versions",
                              headers=api["agent"]).json()
    assert [v["number"] for v in versions] == [2, 1]
    restored = app_client.post(f"/api/v1/kb/articles/{article_id}/versions/1/restore",
                               headers=api["lead"]).json()
    assert restored["version"] == 3 and "пункте выдачи" in restored["body_html"]


@pytest.mark.parametrize(("body", "field"), [
    ({"title": "", "body": "x", "language": "ru"}, "title"),
    ({"title": "x", "body": "x", "language": "de"}, "language"),
    ({"title": "x", "body": "x", "language": "ru", "slug": "Плохой"}, "slug"),
    ({"title": "x", "body": "x", "language": "ru", "tags": ["a" * 41]}, "tags.0"),
    ({"title": "x", "body": "x", "language": "ru", "category_id": 999}, "category_id"),
    ({"title": "x", "body": "x", "language": "ru", "colour": "red"}, "colour"),
])
def test_bad_article_input_is_a_field_error(app_client, api, body, field):
    response = app_client.post("/api/v1/kb/articles", headers=api["agent"], json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == field


def test_categories_through_the_api(app_client, api):
    refused = app_client.post("/api/v1/kb/categories", headers=api["agent"],
                              json={"name_ru": "Оплата"})
    assert refused.status_code == 403
    created = app_client.post("/api/v1/kb/categories", headers=api["lead"], json={
        "name_ru": "Курьеры", "name_en": "Couriers", "parent_id": api["category"].id})
    assert created.status_code == 201 and created.json()["slug"] == "couriers"
    cycle = app_client.patch(f"/api/v1/kb/categories/{api['category'].id}",
                             headers=api["lead"], json={"parent_id": created.json()["id"]})
    assert cycle.status_code == 422 and cycle.json()["errors"][0]["field"] == "parent_id"
    assert app_client.post("/api/v1/kb/articles", json={
        "title": "x", "body": "y", "language": "ru"}).status_code == 401
