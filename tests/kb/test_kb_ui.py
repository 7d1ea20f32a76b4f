"""The staff side of the knowledge base over HTTP: the editor and its workflow, history,
categories, synonyms, canned responses, the report, and the agent's assist panel. Refused
forms come back with a translated message and everything that was typed."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from zabota.identity.models import Role
from zabota.identity.service import actor_for_user
from zabota.kb import service as kb
from zabota.kb.models import Article, ArticleStatus, CannedResponse, SynonymGroup, Visibility
from zabota.tickets import service as tickets

PASSWORD = "kb-password"


def login(client, email):
    response = client.post("/login", data={"email": email, "password": PASSWORD},
                           follow_redirects=False)
    assert response.status_code == 303, response.text
    return client


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert found
    return found.group(1)


@pytest.fixture
def staff(session, make_agent, make_category):
    agent = make_agent(role=Role.AGENT, password=PASSWORD)
    lead = make_agent(role=Role.SUPERVISOR, password=PASSWORD)
    category = make_category("Оплата", name_en="Payment", slug="payment")
    session.commit()
    return {"agent": agent, "lead": lead, "category": category}


def _article_form(token, **fields):
    return {"csrf_token": token, "title": "", "body": "", "body_format": "markdown",
            "language": "ru", "category_id": "", "slug": "", "tags": "",
            "visibility": "public", "position": "0", "action": "save", **fields}


def test_writing_reviewing_and_publishing_an_article(app_client, staff, session):
    login(app_client, staff["agent"].email)
    page = app_client.get("/agent/kb/articles/new")
    assert page.status_code == 200 and "Save and publish" not in page.text  # agent
    token = csrf_of(page.text)
    refused = app_client.post("/agent/kb/articles/new", data=_article_form(
        token, title="   ", body="Текст, который нельзя потерять"))
    assert refused.status_code == 422
    assert 'id="title-error"' in refused.text
    assert "Текст, который нельзя потерять" in refused.text
    preview = app_client.post("/agent/kb/articles/new", data=_article_form(
        token, title="Оплата частями", body="## Как\n\nВыберите **Сплит**", action="preview"))
    assert preview.status_code == 200 and "<strong>Сплит</strong>" in preview.text
    assert session.scalar(sa.select(sa.func.count()).select_from(Article)) == 0
    created = app_client.post("/agent/kb/articles/new", data=_article_form(
        token, title="Оплата частями", body="## Как\n\nВыберите **Сплит**",
        category_id=str(staff["category"].id), tags="сплит, рассрочка", action="review"),
        follow_redirects=False)
    assert created.status_code == 303
    article = session.scalars(sa.select(Article)).one()
    assert article.status == ArticleStatus.REVIEW and article.tags == ["сплит", "рассрочка"]
    view = app_client.get(created.headers["location"]).text
    assert "Сплит" in view and 'value="published"' not in view
    forbidden = app_client.post(f"/agent/kb/articles/{article.id}/status",
                                data={"csrf_token": token, "status": "published"})
    assert forbidden.status_code == 403 and "Оплата частями" in forbidden.text

    login(app_client, staff["lead"].email)
    lead_token = csrf_of(app_client.get(f"/agent/kb/articles/{article.id}").text)
    app_client.post(f"/agent/kb/articles/{article.id}/status",
                    data={"csrf_token": lead_token, "status": "published"})
    session.refresh(article)
    assert article.status == ArticleStatus.PUBLISHED
    assert app_client.get(f"/help/ru/payment/{article.slug}").status_code == 200
    bad = app_client.post(f"/agent/kb/articles/{article.id}/status",
                          data={"csrf_token": lead_token, "status": "archived"})
    assert bad.status_code == 422


def test_a_stale_editor_is_refused_and_keeps_the_text(app_client, staff, session):
    article = kb.create_article(session, actor=actor_for_user(staff["agent"]),
                                title="Чеки", body="Чек приходит на почту", language="ru")
    session.commit()
    login(app_client, staff["agent"].email)
    page = app_client.get(f"/agent/kb/articles/{article.id}/edit")
    token = csrf_of(page.text)
    assert 'name="expected_version" value="1"' in page.text
    form = _article_form(token, title="Чеки", body="Моя правка", expected_version="1")
    assert app_client.post(f"/agent/kb/articles/{article.id}/edit", data=form,
                           follow_redirects=False).status_code == 303
    stale = app_client.post(f"/agent/kb/articles/{article.id}/edit",
                            data={**form, "body": "Правка с устаревшей страницы"})
    assert stale.status_code == 409 and "Правка с устаревшей страницы" in stale.text
    history = app_client.get(f"/agent/kb/articles/{article.id}/history")
    assert history.status_code == 200
    assert '<div class="add">Моя правка</div>' in history.text
    assert '<div class="remove">Чек приходит на почту</div>' in history.text
    app_client.post(f"/agent/kb/articles/{article.id}/versions/1/restore",
                    data={"csrf_token": token})
    session.refresh(article)
    assert article.body_source == "Чек приходит на почту" and article.version == 3


def test_categories_synonyms_and_canned_responses_forms(app_client, staff, session):
    login(app_client, staff["lead"].email)
    token = csrf_of(app_client.get("/agent/kb/categories").text)
    bad = app_client.post("/agent/kb/categories", data={
        "csrf_token": token, "name_ru": "Доставка", "slug": "Доставка!", "position": "1"})
    assert bad.status_code == 422 and 'value="Доставка!"' in bad.text
    reserved = app_client.post("/agent/kb/categories", data={
        "csrf_token": token, "name_ru": "Поиск", "slug": "search"})
    assert reserved.status_code == 422
    app_client.post("/agent/kb/categories", data={
        "csrf_token": token, "name_ru": "Доставка", "name_en": "Delivery",
        "parent_id": str(staff["category"].id)})
    assert "Доставка" in app_client.get("/agent/kb/categories").text

    one = app_client.post("/agent/kb/synonyms", data={
        "csrf_token": token, "language": "ru", "phrases": "возврат"})
    assert one.status_code == 422 and "возврат" in one.text
    app_client.post("/agent/kb/synonyms", data={
        "csrf_token": token, "language": "ru", "phrases": "возврат\nвернуть деньги"})
    assert session.scalars(sa.select(SynonymGroup)).one().phrases == ["возврат",
                                                                      "вернуть деньги"]

    unknown = app_client.post("/agent/kb/canned", data={
        "csrf_token": token, "title": "Привет", "body": "Привет, {{customer.age}}!",
        "language": "ru", "tone": "friendly"})
    assert unknown.status_code == 422 and "{{customer.age}}" in unknown.text
    assert "Привет, {{customer.age}}!" in unknown.text
    app_client.post("/agent/kb/canned", data={
        "csrf_token": token, "title": "Привет", "body": "Привет, {{customer.first_name}}!",
        "language": "ru", "tone": "friendly"})
    assert session.scalars(sa.select(CannedResponse)).one().tone.value == "friendly"

    login(app_client, staff["agent"].email)
    agent_token = csrf_of(app_client.get("/agent/kb/categories").text)
    assert app_client.post("/agent/kb/synonyms", data={
        "csrf_token": agent_token, "language": "ru",
        "phrases": "a b\nc d"}).status_code == 403
    assert app_client.get("/agent/kb/report").status_code == 403


def test_customers_are_kept_out_of_the_staff_area(app_client, session, make_customer):
    customer = make_customer(password=PASSWORD)
    session.commit()
    login(app_client, customer.email)
    assert app_client.get("/agent/kb").status_code == 403
    assert app_client.get("/agent/kb/suggest", params={"q": "x"}).status_code == 403


def test_the_assist_panel_suggests_and_fills_placeholders(app_client, staff, session,
                                                          make_customer, make_article):
    lead = actor_for_user(staff["lead"])
    public = make_article("Не проходит оплата картой", "Проверьте лимиты карты.",
                          category_id=staff["category"].id)
    make_article("Оплата: внутренний регламент", "Оплата картой: возврат через 3 дня.",
                 category_id=staff["category"].id, visibility=Visibility.INTERNAL)
    kb.create_canned(session, actor=lead, title="Приветствие", language="ru",
                     body="Здравствуйте, {{customer.first_name}}! Обращение #{{ticket.number}}.")
    customer = make_customer(name="Ольга Смирнова")
    ticket = tickets.create_ticket(session, actor=lead, subject="Не проходит оплата",
                                   message=tickets.NewMessage(text="Карта не проходит"),
                                   customer_id=customer.id, language="ru")
    answer = tickets.add_message(session, ticket.id, tickets.NewMessage(
        text="Проверьте лимиты в приложении банка."), actor=lead)
    session.commit()
    login(app_client, staff["lead"].email)
    page = app_client.get(f"/agent/tickets/{ticket.id}")
    assert 'id="kb-assist"' in page.text and "Создать статью" in page.text
    panel = app_client.get(f"/agent/kb/assist/{ticket.id}", params={"fragment": "1"}).text
    assert "Не проходит оплата картой" in panel and "внутренний регламент" in panel
    link = f"http://testserver/help/ru/payment/{public.slug}"
    assert f'data-insert="Не проходит оплата картой: {link}"' in panel
    assert panel.count("Вставить ссылку") == 1  # the internal article is not for customers
    assert f"Здравствуйте, Ольга! Обращение #{ticket.number}." in panel
    searched = app_client.get(f"/agent/kb/assist/{ticket.id}", params={"q": "лимиты"}).text
    assert "<!doctype html>" in searched and "Не проходит оплата картой" in searched

    token = csrf_of(page.text)
    made = app_client.post(f"/agent/tickets/{ticket.id}/messages/{answer.id}/article",
                           data={"csrf_token": token}, follow_redirects=False)
    assert made.status_code == 303 and made.headers["location"].endswith("/edit")
    draft = session.scalars(sa.select(Article).where(Article.title == "Не проходит оплата")).one()
    assert draft.status == ArticleStatus.DRAFT and "лимиты в приложении" in draft.body_text


def test_the_portal_form_offers_articles(app_client, session, make_customer):
    customer = make_customer(password=PASSWORD)
    session.commit()
    login(app_client, customer.email)
    page = app_client.get("/portal/new").text
    assert 'id="kb-suggestions"' in page and 'id="kb-deflect"' in page


def test_images_of_an_article_are_public_with_it(app_client, staff, session, make_article):
    article = make_article("Схема проезда", "Схема ниже.", status=ArticleStatus.DRAFT,
                           category_id=staff["category"].id)
    session.commit()
    login(app_client, staff["lead"].email)
    token = csrf_of(app_client.get(f"/agent/kb/articles/{article.id}/edit").text)
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 64
    refused = app_client.post(f"/agent/kb/articles/{article.id}/files",
                              data={"csrf_token": token},
                              files={"file": ("virus.exe", b"MZ", "application/x-msdownload")})
    assert refused.status_code == 422 and 'id="kb-file-error"' in refused.text
    uploaded = app_client.post(f"/agent/kb/articles/{article.id}/files",
                               data={"csrf_token": token},
                               files={"file": ("scheme.png", png, "image/png")},
                               follow_redirects=False)
    assert uploaded.status_code == 303
    editor = app_client.get(f"/agent/kb/articles/{article.id}/edit").text
    link = re.search(r"!\[scheme.png\]\((/help/files/\d+/scheme.png)\)", editor)
    assert link
    assert app_client.get(link.group(1)).content == png  # staff see a draft's files
    app_client.cookies.clear()
    assert app_client.get(link.group(1)).status_code == 404
    kb.set_status(session, article.id, ArticleStatus.PUBLISHED,
                  actor=actor_for_user(staff["lead"]))
    session.commit()
    public = app_client.get(link.group(1))
    assert public.status_code == 200 and public.headers["content-type"] == "image/png"
    assert public.headers["x-content-type-options"] == "nosniff"
