"""End to end in Chromium: an agent works a ticket, a customer uses the portal, live updates,
languages, a phone-sized screen, and hostile HTML that must never run."""

from __future__ import annotations

import re

import httpx
from playwright.sync_api import expect

from tests.e2e.conftest import api_token, assert_fits_a_phone, login


def test_customer_request_reaches_the_agent_live_and_the_answer_comes_back(browser, site):
    agent_ctx = browser.new_context(locale="ru-RU", viewport={"width": 1280, "height": 800})
    customer_ctx = browser.new_context(locale="ru-RU", viewport={"width": 1100, "height": 800})
    agent, customer = agent_ctx.new_page(), customer_ctx.new_page()

    login(agent, site, site.admin_email)
    agent.goto(f"{site.url}/agent?view=open")
    expect(agent.get_by_role("heading", level=1)).to_have_count(0)
    expect(agent.locator(".views a[aria-current]")).to_contain_text("Все открытые")

    login(customer, site, site.customer_email)
    expect(customer).to_have_url(re.compile(r"/portal$"))
    customer.get_by_role("link", name="Новое обращение").first.click()
    customer.get_by_role("button", name="Отправить обращение").click()  # empty: refused
    expect(customer.locator("#subject-error")).to_have_text("Обязательное поле")
    customer.get_by_label("Тема").fill("Не работает оплата картой")
    customer.get_by_label("Опишите проблему").fill("Платёж отклоняется, заказ 7781")
    customer.get_by_role("button", name="Отправить обращение").click()
    expect(customer.locator(".status-line")).to_have_text("Мы работаем над вашим обращением")
    site.screenshot(customer, "portal-request")

    # The agent's inbox shows the new request without a reload (server-sent events).
    row = agent.locator("#rows tr", has_text="Не работает оплата картой")
    expect(row).to_be_visible(timeout=10_000)
    site.screenshot(agent, "agent-inbox")
    row.get_by_role("link").click()
    agent.get_by_label("Ответ", exact=True).fill("Проверили: банк отклонил платёж, "
                                                       "попробуйте ещё раз.")
    agent.locator("#reply-status").select_option("pending")
    agent.get_by_role("button", name="Отправить").click()
    expect(agent.locator(".meta .badge")).to_have_text("ждёт ответа клиента")
    site.screenshot(agent, "agent-ticket")

    customer.reload()
    expect(customer.locator(".timeline")).to_contain_text("банк отклонил платёж")
    expect(customer.locator(".status-line")).to_have_text("Ждём вашего ответа")
    customer.get_by_label("Добавить комментарий").fill("Спасибо, прошло!")
    customer.get_by_role("button", name="Отправить").click()
    customer.get_by_role("button", name="Моя проблема решена").click()
    expect(customer.locator(".status-line")).to_have_text("Решено")
    agent_ctx.close()
    customer_ctx.close()


def test_agent_works_a_ticket_end_to_end(browser, site):
    token = api_token(site, site.admin_email)
    created = httpx.post(f"{site.url}/api/v1/tickets", headers={
        "Authorization": f"Bearer {token}"}, json={
        "subject": "Двойное списание", "team_id": site.billing_id,
        "customer": {"email": "petr@example.org", "name": "Пётр"},
        "message": {"text": "Списали деньги дважды"}}).json()
    ctx = browser.new_context(locale="ru-RU")
    page = ctx.new_page()
    login(page, site, site.agent_email)
    page.goto(f"{site.url}/agent?view=unassigned")
    page.get_by_role("link", name=re.compile("Двойное списание")).click()
    page.get_by_label("Ответ", exact=True).fill("Видим двойное списание, возвращаем.")
    page.get_by_role("button", name="Отправить").click()
    expect(page.locator(".timeline .msg.agent")).to_contain_text("возвращаем")
    page.get_by_label("Ответ", exact=True).fill("Клиент постоянный, вернуть быстро")
    page.get_by_label("Внутренняя заметка").check()
    page.get_by_role("button", name="Отправить").click()
    expect(page.locator(".timeline .msg.internal")).to_contain_text("вернуть быстро")

    page.get_by_role("button", name="Передать").click()  # no reason: refused, kept
    expect(page.locator("#reason-error")).to_be_visible()
    page.locator("#status").select_option("solved")
    page.get_by_role("button", name="Сохранить", exact=True).click()
    expect(page.locator(".meta .badge")).to_have_text("решено")
    page.locator("#team").select_option(str(site.delivery_id))
    page.locator("#reason").fill("Вопрос к доставке")
    page.get_by_role("button", name="Передать").click()
    # The agent is not in Delivery: the ticket leaves their view, they land in the inbox,
    # which says where it went.
    expect(page).to_have_url(re.compile(r"/agent\?done_ticket=\d+&done=transferred$"))
    expect(page.locator(".notice")).to_have_text(f"Обращение #{created['id']}: передано")
    history = httpx.get(f"{site.url}/api/v1/tickets/{created['id']}/events",
                        headers={"Authorization": f"Bearer {token}"}).json()
    assert [e["kind"] for e in history][-2:] == ["status_changed", "team_changed"]
    assert history[-1]["reason"] == "Вопрос к доставке"
    ctx.close()


def test_language_switch_and_phone_screen(browser, site):
    ctx = browser.new_context(locale="ru-RU", viewport={"width": 375, "height": 740},
                              is_mobile=True)
    page = ctx.new_page()
    login(page, site, site.admin_email)
    expect(page.get_by_role("link", name="Входящие")).to_be_visible()
    page.get_by_role("link", name="EN").click()
    expect(page.get_by_role("link", name="Inbox")).to_be_visible()
    expect(page.locator(".views a[aria-current]")).to_contain_text("My open")
    page.goto(f"{site.url}/agent?view=open")
    assert_fits_a_phone(page)
    site.screenshot(page, "agent-inbox-mobile-en")
    page.get_by_role("link", name="RU").click()
    expect(page.get_by_role("link", name="Входящие")).to_be_visible()
    ctx.close()


def test_hostile_html_never_runs_in_the_agents_browser(browser, site):
    payloads = ['<script>window.__xss=1</script>', '<img src=x onerror="window.__xss=2">',
                '<a href="javascript:window.__xss=3">click</a>',
                '<svg onload="window.__xss=4"></svg>']
    customer_token = api_token(site, site.customer_email)
    admin_token = api_token(site, site.admin_email)
    ticket = httpx.post(f"{site.url}/api/v1/tickets",
                        headers={"Authorization": f"Bearer {customer_token}"},
                        json={"subject": payloads[0], "message": {"html": "".join(payloads)}})
    assert ticket.status_code == 201, ticket.text
    tid = ticket.json()["id"]
    for text in payloads:  # as plain text through the portal's comment field too
        httpx.post(f"{site.url}/api/v1/tickets/{tid}/messages",
                   headers={"Authorization": f"Bearer {customer_token}"}, json={"text": text})
    httpx.patch(f"{site.url}/api/v1/customers/{ticket.json()['customer_id']}",
                headers={"Authorization": f"Bearer {admin_token}"},
                json={"name": '<img src=x onerror="window.__xss=5">'})
    ctx = browser.new_context(locale="ru-RU")
    page = ctx.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    login(page, site, site.admin_email)
    page.goto(f"{site.url}/agent?view=open")
    page.goto(f"{site.url}/agent/tickets/{tid}")
    expect(page.locator(".timeline .msg")).to_have_count(1 + len(payloads))
    for link in page.locator(".timeline a").all():
        href = link.get_attribute("href") or ""
        assert not href.lower().startswith("javascript:")
    assert page.evaluate("window.__xss") is None
    assert dialogs == []
    ctx.close()


def test_hostile_input_through_every_form_stays_text(browser, site):
    payload = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
    customer_ctx = browser.new_context(locale="ru-RU")
    customer = customer_ctx.new_page()
    login(customer, site, site.customer_email)
    customer.goto(f"{site.url}/portal/new")
    customer.get_by_label("Тема").fill("XSS " + payload)
    customer.get_by_label("Опишите проблему").fill(payload)
    customer.get_by_role("button", name="Отправить обращение").click()
    customer.get_by_label("Добавить комментарий").fill(payload)
    customer.get_by_role("button", name="Отправить").click()
    tid = customer.url.rstrip("/").rsplit("/", 1)[1]
    assert customer.evaluate("window.__xss") is None

    agent_ctx = browser.new_context(locale="ru-RU")
    agent = agent_ctx.new_page()
    dialogs: list[str] = []
    agent.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    login(agent, site, site.admin_email)
    agent.goto(f"{site.url}/agent/tickets/{tid}")
    agent.get_by_label("Ответ", exact=True).fill(payload)
    agent.get_by_label("Внутренняя заметка").check()
    agent.get_by_role("button", name="Отправить").click()
    agent.get_by_label("Теги").fill(payload)
    agent.get_by_role("button", name="Сохранить").first.click()
    agent.get_by_label("Заметки о клиенте").fill(payload)
    agent.get_by_role("button", name="Сохранить заметки").click()
    agent.goto(f"{site.url}/agent?view=open&q=XSS")
    agent.goto(f"{site.url}/agent/tickets/{tid}")
    expect(agent.locator(".timeline .msg")).to_have_count(3)
    expect(agent.locator("h1")).to_contain_text("<img src=x")  # shown as text
    assert agent.evaluate("window.__xss") is None and dialogs == []
    customer.reload()
    assert customer.evaluate("window.__xss") is None
    agent_ctx.close()
    customer_ctx.close()
