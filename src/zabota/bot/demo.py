"""The demo's bot: the order-status flow ("где мой заказ 12345?" asks the demo shop's order
endpoint, `/chat/demo/orders/{number}` of this server, and answers with the status), the
return-request flow (order number and reason → the Returns team) and two FAQ pairs."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from zabota.bot import service as bot
from zabota.bot.models import BotFaq
from zabota.bot.schemas import FaqIn
from zabota.core.clock import SYSTEM_CLOCK, Clock
from zabota.core.settings import get_settings
from zabota.identity import service as identity
from zabota.identity.permissions import SYSTEM

RETURNS_TEAM = "Возвраты"  # zabota.demo.TEAMS

RETURN_REQUEST = {
    "name": "return_request",
    "triggers": {"ru": ["хочу вернуть товар", "хочу оформить возврат", "оформить возврат",
                        "заявка на возврат", "хочу сдать товар"],
                 "en": ["i want to return", "start a return", "request a return"]},
    "steps": [
        {"kind": "ask", "slot": "order", "pattern": r"\b(\d{4,10})\b",
         "prompt": {"ru": "Оформим возврат. Напишите номер заказа — он есть в письме о покупке.",
                    "en": "Let us start a return. What is the order number? It is in the "
                          "purchase e-mail."}},
        {"kind": "ask", "slot": "reason", "pattern": r"(?s)(\S.{2,})",
         "prompt": {"ru": "Что случилось с товаром? Коротко опишите причину возврата.",
                    "en": "What is wrong with the item? Tell us the reason in a few words."}},
        {"kind": "handoff", "team": RETURNS_TEAM, "category": "returns",
         "text": {"ru": "Спасибо! Заявку на возврат по заказу {order} передали в отдел "
                        "возвратов, специалист ответит вам здесь.",
                  "en": "Thank you! Your return request for order {order} is with our "
                        "returns team; a specialist will answer you here."}},
    ],
}

FAQS = (
    FaqIn(language="ru", question="Вы работаете в выходные?",
          alternatives=["Работает ли поддержка в субботу и воскресенье",
                        "Какой у поддержки график работы", "Часы работы поддержки"],
          answer="Да: чат и почта поддержки работают каждый день с 8:00 до 22:00 по "
                 "московскому времени, в праздники тоже."),
    FaqIn(language="en", question="Do you work on weekends?",
          alternatives=["Is support open on Saturday and Sunday", "Support opening hours",
                        "What are your support hours"],
          answer="Yes: the chat and e-mail support work every day from 8:00 to 22:00 "
                 "Moscow time, holidays included."),
)


def seed_flows(session: Session, *, clock: Clock = SYSTEM_CLOCK) -> None:
    """The demo's flows and FAQ pairs; the return flow only where its team exists."""
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
    if any(t.name == RETURNS_TEAM for t in identity.list_teams(session, actor=SYSTEM)):
        bot.save_flow(session, RETURN_REQUEST, clock=clock)
    if session.scalar(sa.select(sa.func.count()).select_from(BotFaq)) == 0:
        for pair in FAQS:
            bot.save_faq(session, pair, actor=SYSTEM, clock=clock)
