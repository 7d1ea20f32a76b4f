"""Answer-bot fixtures: a small help centre made through the real knowledge-base service."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.kb.conftest import editor, make_article, make_category  # noqa: F401
from zabota.bot import service as bot
from zabota.kb.models import Article, Visibility


@dataclass
class HelpCentre:
    tracking: Article
    returns: Article
    tracking_en: Article
    internal: Article


@pytest.fixture
def help_centre(make_article) -> HelpCentre:  # noqa: F811 - the imported fixture
    tracking = make_article(
        "Где мой заказ? Как отследить заказ",
        "Статус заказа и трек-номер посылки показаны в личном кабинете в разделе «Заказы». "
        "Отследить посылку можно по трек-номеру на сайте службы доставки.",
        tags=["отслеживание", "трек-номер"])
    returns = make_article(
        "Как вернуть товар",
        "Вернуть товар надлежащего качества можно в течение 14 дней. Оформите возврат в "
        "личном кабинете и отнесите товар в пункт выдачи.", tags=["возврат"])
    tracking_en = make_article(
        "Where is my order? Tracking an order",
        "Your order status and the parcel's tracking number are in your account under "
        "Orders.", language="en", tags=["tracking"])
    internal = make_article(
        "Регламент: компенсация за задержку доставки",
        "Агент может начислить компенсацию бонусами за задержку доставки заказа курьером.",
        visibility=Visibility.INTERNAL)
    return HelpCentre(tracking, returns, tracking_en, internal)


@pytest.fixture
def chat_bot() -> Iterator[None]:
    """The bot answers web chats for this test only."""
    bot.enable_in_chat()
    try:
        yield
    finally:
        bot.disable_in_chat()
