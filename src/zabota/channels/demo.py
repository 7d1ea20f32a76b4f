"""Demo channel accounts: the shop's support mailbox (reached through the built-in SMTP
receiver), a Telegram bot and a phone connector, so a newcomer can try each way in."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session

from zabota.channels import service as channels
from zabota.core.clock import SYSTEM_CLOCK, Clock
from zabota.identity.permissions import SYSTEM
from zabota.tickets.models import Channel

DEMO_MAILBOX = "support@lukoshko.example"
# Secrets of the demo only (documented in the README): a real bot needs its own.
DEMO_TELEGRAM_SECRET = "demo-webhook-secret"
DEMO_PHONE_KEY = "demo-pbx-connector-key"
DEMO_WIDGET_KEY = "lukoshko-site"  # data-zabota-team of the widget on /chat/demo


def seed_channels(session: Session, team_ids: Mapping[str, int], *,
                  clock: Clock = SYSTEM_CLOCK) -> None:
    first_line = team_ids.get("delivery")
    channels.create_account(session, actor=SYSTEM, kind=Channel.EMAIL, name="Поддержка",
                            address=DEMO_MAILBOX, team_id=first_line, config={}, clock=clock)
    channels.create_account(
        session, actor=SYSTEM, kind=Channel.TELEGRAM, name="Бот Лукошко", address="@lukoshko_bot",
        team_id=first_line, clock=clock,
        config={"token": "0:demo-token-replace-with-yours",
                "secret_token": DEMO_TELEGRAM_SECRET})
    channels.create_account(session, actor=SYSTEM, kind=Channel.PHONE, name="АТС офиса",
                            address="+7 495 000-00-00", team_id=first_line,
                            config={"api_key": DEMO_PHONE_KEY}, clock=clock)
    channels.create_account(session, actor=SYSTEM, kind=Channel.CHAT, name="Чат на сайте",
                            address=DEMO_WIDGET_KEY, team_id=first_line, config={},
                            clock=clock)
