"""End to end in Chromium: a visitor chats through the widget on the demo shop page, an agent
accepts the chat in the workspace and answers, and the visitor sees the answer."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.e2e.conftest import assert_fits_a_phone, login


def test_a_visitor_chats_from_the_shop_and_an_agent_answers_live(browser, site):
    agent_ctx = browser.new_context(locale="ru-RU", viewport={"width": 1280, "height": 860})
    visitor_ctx = browser.new_context(locale="ru-RU", viewport={"width": 1100, "height": 760})
    agent, visitor = agent_ctx.new_page(), visitor_ctx.new_page()

    login(agent, site, site.agent_email)
    agent.goto(f"{site.url}/agent/chats")
    expect(agent.locator("#waiting-title")).to_be_visible()

    visitor.goto(f"{site.url}/chat/demo?team={site.billing_id}")
    widget = visitor.locator("#zabota-chat")
    widget.locator(".launch").click()
    message = widget.locator(".row textarea")
    expect(message).to_be_focused()
    expect(widget.locator(".head b")).not_to_have_text("Чат поддержки")  # the server's strings
    message.fill("Здравствуйте! Где мой заказ 5521?")
    message.press("Enter")
    expect(widget.locator(".m.visitor")).to_have_text("Здравствуйте! Где мой заказ 5521?")
    expect(widget.locator(".m.sending")).to_have_count(0)  # acknowledged, stored

    waiting = agent.locator(".waiting-chat", has_text="5521")
    expect(waiting).to_be_visible(timeout=10_000)  # no reload: the live channel told the page
    expect(waiting.locator(".waited")).to_have_text(re.compile(r"^\d+:\d\d$"))
    waiting.locator("button[type=submit]").click()
    panel = agent.locator(".chat-panel", has_text="5521")
    # Generous: the first ticket of a fresh server also loads the routing models.
    expect(panel).to_be_visible(timeout=20_000)
    expect(agent.locator(".waiting-chat")).to_have_count(0)
    expect(widget.locator(".sys")).to_contain_text("Ирина Агентова")
    expect(panel.locator(".visitor-state")).to_have_attribute("data-state", "online")

    message.press_sequentially("Жду")
    expect(panel.locator(".chat-typing")).to_be_visible()
    answer = panel.locator("textarea")
    answer.press_sequentially("Добрый день")
    expect(widget.locator(".typing")).to_contain_text("Ирина Агентова")
    answer.fill("Добрый день! Заказ 5521 у курьера, привезём завтра до 18:00.")
    answer.press("Enter")
    expect(panel.locator(".cmsg.agent")).to_contain_text("привезём завтра", timeout=15_000)
    reply = widget.locator(".m.agent")
    expect(reply).to_contain_text("Заказ 5521 у курьера, привезём завтра до 18:00.")
    expect(reply).to_contain_text("Ирина Агентова")
    site.screenshot(visitor, "chat-widget")
    site.screenshot(agent, "agent-chats")

    # A reload of the shop page keeps the conversation (the visitor id is kept).
    visitor.reload()
    widget.locator(".launch").click()
    expect(widget.locator(".m.agent")).to_contain_text("привезём завтра")
    expect(widget.locator(".m.visitor")).to_have_count(1)

    visitor.set_viewport_size({"width": 375, "height": 700})
    assert_fits_a_phone(visitor)
    agent_ctx.close()
    visitor_ctx.close()
