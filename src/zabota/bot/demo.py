"""The demo's guided flow: "где мой заказ 12345?" asks the demo shop's order endpoint
(`/chat/demo/orders/{number}` of this server) and answers with the status."""

from __future__ import annotations

from sqlalchemy.orm import Session

from zabota.bot import service as bot
from zabota.core.clock import SYSTEM_CLOCK, Clock
from zabota.core.settings import get_settings


def seed_flows(session: Session, *, clock: Clock = SYSTEM_CLOCK) -> None:
    base = (get_settings().public_url or "http://127.0.0.1:8000").rstrip("/")
    bot.save_flow(session, {
        "name": "order_status",
        "triggers": {"ru": ["где мой заказ", "где заказ", "статус заказа"],
                     "en": ["where is my order", "order status"]},
        "steps": [
            {"kind": "ask", "slot": "order", "pattern": r"\b(\d{4,10})\b",
             "prompt": {"ru": "Подскажите номер заказа — он есть в письме о покупке.",
                        "en": "What is the order number? It is in the purchase e-mail."}},
            {"kind": "http", "url": base + "/chat/demo/orders/{order}", "timeout": 3},
            {"kind": "answer", "text": {"ru": "Заказ {order}: {response.status}.",
                                        "en": "Order {order}: {response.status_en}."}},
        ],
    }, clock=clock)
