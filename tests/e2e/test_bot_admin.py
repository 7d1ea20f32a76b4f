"""The bot's flow editor in Chromium: an admin writes a flow with a mistake, sees where it
is, fixes it, saves and tries it against the shop's endpoint (a local server here)."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import assert_fits_a_phone, login


class Shop(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps({"status": "передан в доставку"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def shop() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Shop)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _flow(shop: str, pattern: str) -> str:
    return json.dumps({
        "name": "e2e_order_status",
        "triggers": {"ru": ["где мой заказ"], "en": ["where is my order"]},
        "steps": [
            {"kind": "ask", "slot": "order", "pattern": pattern,
             "prompt": {"ru": "Напишите номер заказа", "en": "What is the order number?"}},
            {"kind": "http", "url": shop + "/orders/{order}", "timeout": 3},
            {"kind": "answer", "text": {"ru": "Заказ {order}: {response.status}",
                                        "en": "Order {order}: {response.status}"}},
        ],
    }, ensure_ascii=False, indent=2)


def test_an_admin_fixes_saves_and_tries_a_flow(browser, site, shop):
    ctx = browser.new_context(locale="ru-RU", viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    login(page, site, site.admin_email)
    page.goto(f"{site.url}/admin/bot/flows/new")

    broken = _flow(shop, "(\\d{4,10}")
    line = next(n for n, text in enumerate(broken.splitlines(), 1) if '"pattern"' in text)
    page.locator("#definition").fill(broken)
    page.locator("#flow-form button[type=submit]").click()
    errors = page.locator("#definition-error")
    expect(errors).to_be_visible()
    expect(errors).to_contain_text("pattern")
    expect(errors).to_contain_text(f"{line} · ")  # the line of "pattern" in the text
    expect(page.locator("#definition")).to_have_attribute("aria-invalid", "true")

    page.locator("#definition").fill(_flow(shop, "\\b(\\d{4,10})\\b"))
    page.locator("#flow-form button[type=submit]").click()
    expect(page).to_have_url(re.compile(r"/admin/bot/flows/e2e_order_status\?saved=1$"))
    expect(page.get_by_role("status")).to_have_text("Сохранено")

    page.locator("#test-messages").fill("где мой заказ?\n12345")
    page.locator("#test-form button[type=submit]").click()
    result = page.locator("#test-result")
    expect(result).to_contain_text("Напишите номер заказа")
    expect(result).to_contain_text("Заказ 12345: передан в доставку")
    site.screenshot(page, "admin-bot-flow")

    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(f"{site.url}/admin/bot/faq/new")
    assert_fits_a_phone(page)
    ctx.close()
