"""The public help centre over HTTP: pages, clean URLs, languages, search with its log,
"was this helpful?", and nothing internal or unpublished ever shown."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from zabota.identity.service import actor_for_user
from zabota.kb import service as kb
from zabota.kb.models import (
    ArticleFeedback,
    ArticleStatus,
    ArticleView,
    Deflection,
    SearchLog,
    Visibility,
)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert found
    return found.group(1)


@pytest.fixture
def centre(session, make_category, make_article, editor):
    orders = make_category("Заказы", name_en="Orders", slug="orders")
    delivery = make_category("Доставка", name_en="Delivery", slug="delivery",
                             parent_id=orders.id)
    ru = make_article("Сроки доставки", "Курьер привозит заказ **на следующий день**.",
                      category_id=delivery.id, tags=["курьер"])
    en = kb.create_article(session, actor=actor_for_user(editor), title="Delivery times",
                           body="A courier brings the order the next day.", language="en",
                           category_id=delivery.id, translation_of=ru.id,
                           status=ArticleStatus.PUBLISHED)
    internal = make_article("Регламент доставки для агентов", "Компенсация 500 рублей.",
                            category_id=delivery.id, visibility=Visibility.INTERNAL)
    draft = make_article("Доставка дронами", "Скоро.", category_id=delivery.id,
                         status=ArticleStatus.DRAFT)
    related = make_article("Курьер не приехал", "Если курьер не приехал, напишите нам.",
                           category_id=delivery.id)
    session.commit()
    return {"orders": orders, "delivery": delivery, "ru": ru, "en": en, "internal": internal,
            "draft": draft, "related": related}


def test_home_lists_public_articles_only_and_sets_a_visitor_cookie(app_client, centre):
    response = app_client.get("/help", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/help/ru"
    page = app_client.get("/help/ru")
    assert page.status_code == 200
    assert "Заказы" in page.text and "Доставка →" in page.text
    assert "Курьер не приехал" in page.text or "Сроки доставки" in page.text
    for hidden in ("Регламент доставки", "Доставка дронами"):
        assert hidden not in page.text
    assert "zabota_visitor" in page.cookies
    english = app_client.get("/help/en").text
    assert "Orders" in english and "Delivery times" in english
    assert app_client.get("/help/de").status_code == 404


def test_category_and_article_pages_have_breadcrumbs_and_clean_urls(app_client, centre):
    page = app_client.get("/help/ru/delivery")
    assert page.status_code == 200
    assert 'href="/help/ru/orders"' in page.text and "Сроки доставки" in page.text
    assert "Регламент" not in page.text and "дронами" not in page.text
    url = f"/help/ru/delivery/{centre['ru'].slug}"
    article = app_client.get(url)
    assert article.status_code == 200
    assert "<strong>на следующий день</strong>" in article.text
    assert f'<link rel="canonical" href="{url}">' in article.text
    # The language switch leads to the English version of this very article.
    english = f"/help/en/delivery/{centre['en'].slug}"
    assert f'href="/lang/en?next={english}"' in article.text
    assert "Курьер не приехал" in article.text  # related
    assert app_client.get(f"/help/ru/orders/{centre['ru'].slug}",
                          follow_redirects=False).status_code == 301


def test_internal_and_draft_articles_are_not_found(app_client, centre, auth_headers):
    for key in ("internal", "draft"):
        assert app_client.get(f"/help/ru/delivery/{centre[key].slug}").status_code == 404
    suggestions = app_client.get("/help/suggest", params={"q": "доставка компенсация"}).json()
    assert all("Регламент" not in r["title"] for r in suggestions["results"])


def test_views_are_counted_for_visitors_not_for_crawlers(app_client, centre, session):
    url = f"/help/ru/delivery/{centre['ru'].slug}"
    app_client.get(url)
    app_client.get(url, headers={"User-Agent": "Googlebot/2.1"})
    views = session.scalars(sa.select(ArticleView)).all()
    assert len(views) == 1 and views[0].visitor_id and views[0].source == "help"
    session.refresh(centre["ru"])
    assert centre["ru"].views == 1


def test_search_page_highlights_logs_and_records_the_click(app_client, centre, session):
    page = app_client.get("/help/ru/search", params={"q": "дотсавка курьером"})
    assert page.status_code == 200
    assert "<mark>доставки</mark>" in page.text
    assert "Показаны результаты для" in page.text or "Showing results for" in page.text
    log = session.scalars(sa.select(SearchLog)).one()
    assert log.results >= 1 and log.normalized == "дотсавка курьер" and log.source == "help"
    link = re.search(r'href="(/help/ru/delivery/[^"?]+\?s=\d+)"', page.text)
    assert link
    app_client.get(link.group(1))
    session.refresh(log)
    assert log.clicked_article_id is not None
    empty = app_client.get("/help/ru/search", params={"q": "голограмма"})
    assert empty.status_code == 200 and "голограмма" in empty.text
    assert session.scalar(sa.select(sa.func.count()).select_from(SearchLog)) == 2
    assert app_client.get("/help/ru/search", params={"q": "x" * 501}).status_code == 422


def test_was_this_helpful_yes_no_and_a_comment(app_client, centre, session):
    url = f"/help/ru/delivery/{centre['ru'].slug}"
    token = csrf_of(app_client.get(url).text)
    refused = app_client.post(f"{url}/feedback", data={"helpful": "no"})
    assert refused.status_code == 403
    missing = app_client.post(f"{url}/feedback", data={"csrf_token": token})
    assert missing.status_code == 422 and 'id="helpful-error"' in missing.text
    voted = app_client.post(f"{url}/feedback", data={"csrf_token": token, "helpful": "no"},
                            follow_redirects=False)
    assert voted.status_code == 303 and "voted=no" in voted.headers["location"]
    thanks = app_client.get(voted.headers["location"])
    assert 'id="feedback-comment"' in thanks.text
    long = app_client.post(f"{url}/feedback", data={"csrf_token": token, "helpful": "no",
                                                    "comment": "Слишком длинно. " * 200})
    assert long.status_code == 422 and "Слишком длинно." in long.text  # the text is kept
    app_client.post(f"{url}/feedback", data={"csrf_token": token, "helpful": "no",
                                             "comment": "Нет сроков для регионов"})
    row = session.scalars(sa.select(ArticleFeedback)).one()  # one vote per visitor
    assert not row.is_helpful and row.comment == "Нет сроков для регионов"
    session.refresh(centre["ru"])
    assert (centre["ru"].helpful_yes, centre["ru"].helpful_no) == (0, 1)


def test_suggestions_and_this_solved_my_problem(app_client, centre, session):
    found = app_client.get("/help/suggest", params={"q": "когда приедет курьер",
                                                    "lang": "ru"}).json()["results"]
    assert found and found[0]["url"].startswith("/help/ru/delivery/")
    token = csrf_of(app_client.get(found[0]["url"]).text)
    response = app_client.post("/help/deflect", data={
        "article_id": found[0]["id"], "query": "когда приедет курьер", "csrf_token": token},
        follow_redirects=False)
    assert response.status_code == 303 and "/solved" in response.headers["location"]
    row = session.scalars(sa.select(Deflection)).one()
    assert row.article_id == found[0]["id"] and row.visitor_id and row.source == "portal"
    assert app_client.post("/help/deflect", data={
        "article_id": centre["internal"].id, "csrf_token": token}).status_code == 404
    assert app_client.post("/help/deflect", data={
        "article_id": "x", "csrf_token": token}).status_code == 422
