"""The knowledge base in Chromium: a visitor finds an answer on a phone, a customer is offered
articles while writing a request, an agent inserts an article and a canned response, an
editor writes and publishes an article."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import api_token, assert_fits_a_phone, login
from zabota.core.clock import FrozenClock
from zabota.identity.permissions import SYSTEM
from zabota.kb.demo import load_demo_kb


@pytest.fixture(scope="module")
def help_centre(site):
    with site.database.session_scope() as session:
        load_demo_kb(session, actor=SYSTEM, clock=FrozenClock(datetime.now(UTC)),
                     rng=random.Random(3), searches=30)
    return site


def test_a_visitor_finds_an_answer_on_a_phone(browser, help_centre):
    site = help_centre
    ctx = browser.new_context(locale="ru-RU", viewport={"width": 375, "height": 740},
                              device_scale_factor=2)
    page = ctx.new_page()
    page.goto(f"{site.url}/help")
    expect(page).to_have_url(re.compile(r"/help/ru$"))
    expect(page.locator(".help-categories > li").first).to_be_visible()
    assert_fits_a_phone(page)
    site.screenshot(page, "help-home-mobile")

    page.locator("#help-q").fill("дотсавка курьером")
    page.locator(".help-search button").click()
    expect(page.locator("#corrected")).to_contain_text("доставка")
    expect(page.locator(".help-results mark").first).to_be_visible()
    assert_fits_a_phone(page)
    site.screenshot(page, "help-search-mobile")

    page.locator(".help-results h2 a").first.click()
    expect(page.locator(".breadcrumbs li")).to_have_count(2)
    expect(page.locator("article.help-article h1")).to_be_visible()
    page.locator("#feedback button[value=no]").click()
    expect(page.locator("#feedback [role=status]")).to_be_visible()
    page.locator("#feedback-comment").fill("Нет сроков для Калининграда")
    page.locator("#feedback button[type=submit]").click()
    expect(page.locator("#feedback-comment")).to_have_count(0)
    assert_fits_a_phone(page)
    site.screenshot(page, "help-article-mobile")

    ru_url = page.url
    page.locator(".langs a[hreflang=en]").click()
    expect(page).to_have_url(re.compile(r"/help/en/"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    assert page.url != ru_url
    ctx.close()


def test_a_customer_is_offered_articles_and_leaves_without_a_ticket(browser, help_centre):
    site = help_centre
    ctx = browser.new_context(locale="ru-RU", viewport={"width": 1100, "height": 900})
    page = ctx.new_page()
    login(page, site, site.customer_email)
    page.goto(f"{site.url}/portal/new")
    page.locator("#subject").fill("Курьер не приехал")
    page.locator("#description").fill("Ждала весь день, курьер так и не приехал")
    box = page.locator("#kb-suggestions")
    expect(box).to_be_visible(timeout=10_000)
    expect(box.locator("li a").first).to_contain_text("Курьер")
    site.screenshot(page, "portal-suggested-articles")
    box.locator("li button").first.click()
    expect(page).to_have_url(re.compile(r"/help/ru/solved"))
    page.goto(f"{site.url}/portal")
    expect(page.get_by_text("Курьер не приехал")).to_have_count(0)  # no request was sent
    ctx.close()


def test_an_agent_inserts_an_article_and_a_canned_response(browser, help_centre):
    site = help_centre
    token = api_token(site, site.admin_email)
    created = httpx.post(f"{site.url}/api/v1/tickets", headers={
        "Authorization": f"Bearer {token}"}, json={
        "subject": "Не проходит оплата картой", "team_id": site.billing_id, "language": "ru",
        "customer": {"email": "kb-e2e@example.org", "name": "Вера Оплатина"},
        "message": {"text": "Банк отклоняет платёж, что делать?"}}).json()
    ctx = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    login(page, site, site.agent_email)
    page.goto(f"{site.url}/agent/tickets/{created['id']}")
    panel = page.locator("#kb-assist")
    expect(panel.locator("li a").first).to_contain_text("оплата картой", timeout=10_000)
    panel.get_by_role("button", name="Insert link").first.click()
    expect(page.locator("#reply-text")).to_have_value(re.compile(r"/help/ru/payment/"))
    panel.locator("#kb-canned").select_option(label="Приветствие — Friendly (RU)")
    panel.get_by_role("button", name="Insert response").click()
    expect(page.locator("#reply-text")).to_have_value(re.compile("Вера, привет!"))
    site.screenshot(page, "agent-suggested-articles")
    ctx.close()


def test_an_editor_writes_previews_and_publishes(browser, help_centre):
    site = help_centre
    ctx = browser.new_context(locale="en-GB", viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    login(page, site, site.admin_email)
    page.goto(f"{site.url}/agent/kb/articles/new")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("#title-error")).to_be_visible()
    page.locator("#title").fill("Самовывоз со склада")
    page.locator("#category-id").select_option(label="Delivery")
    page.locator("#body").fill("## Где\n\nСклад на **ул. Лесной, 5**, с 10 до 20.")
    page.get_by_role("button", name="Preview").click()
    expect(page.locator("#preview strong")).to_have_text("ул. Лесной, 5")
    site.screenshot(page, "kb-editor")
    page.get_by_role("button", name="Save and publish").click()
    expect(page.locator(".badge.published")).to_be_visible()
    page.goto(f"{site.url}/agent/kb/report")
    expect(page.locator("#gaps")).to_be_visible()
    site.screenshot(page, "kb-report")
    page.goto(f"{site.url}/help/ru/search?q=самовывоз склад")
    expect(page.locator(".help-results li").first).to_contain_text("Самовывоз со склада")
    ctx.close()
