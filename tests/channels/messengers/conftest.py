"""Fixtures for the messenger and phone channels: the fake platform server, one account per
channel pointing at it, and a way to run the real delivery job on the test's database."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session
from tests.channels.messengers.fakes import (
    TELEGRAM_TOKEN,
    VK_GROUP_ID,
    VK_TOKEN,
    WA_PHONE_NUMBER_ID,
    WA_TOKEN,
    FakePlatforms,
    ServerThread,
)
from tests.conftest import TransactionalDatabase

from zabota.channels import outbound
from zabota.channels import service as channels
from zabota.channels.models import ChannelAccount, OutboundDelivery
from zabota.channels.telegram import send as telegram_send
from zabota.channels.vk import send as vk_send
from zabota.channels.whatsapp import send as whatsapp_send
from zabota.core.settings import Settings
from zabota.identity.permissions import SYSTEM
from zabota.tickets.models import Channel, Message

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(autouse=True)
def _no_bot(monkeypatch):
    """The channels themselves, without the answer bot that speaks first (tests/bot)."""
    from zabota.bot import service as bot

    monkeypatch.setattr("zabota.web.app.enable_in_messengers", lambda: None)
    bot.disable_in_messengers()
TELEGRAM_SECRET = "tg-webhook-secret_0123456789"
VK_SECRET = "vk-callback-secret"
VK_CONFIRMATION = "a1b2c3d4"
WA_APP_SECRET = "wa-app-secret"
WA_VERIFY_TOKEN = "wa-verify-token"
PHONE_KEY = "phone-connector-key-0123456789"


def payload(name: str) -> dict[str, Any]:
    """A copy of a fixture payload, by the start of its file name ("015-telegram-text")."""
    matches = sorted(FIXTURES.glob(f"{name}*.json"))
    assert len(matches) == 1, (name, matches)
    return copy.deepcopy(json.loads(matches[0].read_text()))


def cases() -> list[dict[str, Any]]:
    return [json.loads(line) for line in (FIXTURES / "cases.jsonl").read_text().splitlines()
            if line.strip()]


def wa_signature(body: bytes, secret: str = WA_APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """English installation: the texts these tests read do not change when the Russian
    catalogue is filled in."""
    settings.default_language = "en"
    return settings


@pytest.fixture(scope="session")
def platform_server() -> Iterator[FakePlatforms]:
    fake = FakePlatforms()
    server = ServerThread(fake.app)
    server.start()
    fake.base_url = server.url
    yield fake
    server.stop()


@pytest.fixture
def platforms(platform_server: FakePlatforms) -> FakePlatforms:
    platform_server.reset()
    return platform_server


@pytest.fixture(autouse=True)
def real_senders() -> Iterator[None]:
    """Our production senders, whatever another test registered for these channels."""
    saved = {c: outbound.sender_for(c) for c in (Channel.TELEGRAM, Channel.VK,
                                                 Channel.WHATSAPP)}
    outbound.register_sender(Channel.TELEGRAM)(telegram_send.send_reply)
    outbound.register_sender(Channel.VK)(vk_send.send_reply)
    outbound.register_sender(Channel.WHATSAPP)(whatsapp_send.send_reply)
    yield
    for channel, sender in saved.items():
        if sender is not None:
            outbound.register_sender(channel)(sender)


@pytest.fixture
def make_account(session: Session) -> Callable[..., ChannelAccount]:
    def make(kind: Channel, config: dict[str, Any], **kwargs: Any) -> ChannelAccount:
        account = channels.create_account(session, actor=SYSTEM, kind=kind,
                                          name=kwargs.pop("name", f"{kind.value} test"),
                                          config=config, **kwargs)
        session.commit()
        return account

    return make


@pytest.fixture
def telegram_account(make_account, platforms) -> ChannelAccount:
    return make_account(Channel.TELEGRAM, {
        "token": TELEGRAM_TOKEN, "secret_token": TELEGRAM_SECRET,
        "api_base_url": platforms.telegram_base, "greeting_ru": "Здравствуйте! Чем помочь?",
        "greeting_en": "Hello! How can we help?"}, address="@zabota_test_bot")


@pytest.fixture
def vk_account(make_account, platforms) -> ChannelAccount:
    return make_account(Channel.VK, {
        "group_id": VK_GROUP_ID, "access_token": VK_TOKEN, "confirmation": VK_CONFIRMATION,
        "secret": VK_SECRET, "api_base_url": platforms.vk_base})


@pytest.fixture
def whatsapp_account(make_account, platforms) -> ChannelAccount:
    return make_account(Channel.WHATSAPP, {
        "phone_number_id": WA_PHONE_NUMBER_ID, "access_token": WA_TOKEN,
        "app_secret": WA_APP_SECRET, "verify_token": WA_VERIFY_TOKEN,
        "api_base_url": platforms.graph_base})


@pytest.fixture
def phone_account(make_account) -> ChannelAccount:
    return make_account(Channel.PHONE, {"api_key": PHONE_KEY})


@pytest.fixture
def deliver(session: Session, connection: sa.Connection, settings: Settings,
            monkeypatch: pytest.MonkeyPatch) -> Callable[[int], OutboundDelivery]:
    """Plan the delivery of a reply and run the production job once, on this test's
    database: `zabota.jobs.channels.deliver_outbound`, which claims it, calls the sender and
    records the result."""
    from zabota.jobs import channels as job

    database = TransactionalDatabase(connection)
    monkeypatch.setattr(job, "get_database", lambda: database)
    monkeypatch.setattr(job, "get_settings", lambda: settings)

    def run(message_id: int) -> OutboundDelivery:
        message = session.get_one(Message, message_id)
        delivery = outbound.plan(session, message, settings=settings)
        assert delivery is not None, "no delivery planned"
        session.commit()
        job.deliver_outbound.call_local(delivery.id)
        session.expire_all()
        return session.get_one(OutboundDelivery, delivery.id)

    return run
