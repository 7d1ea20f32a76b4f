"""Signed, expiring values (sign-in links, CSRF, request links) with the installation's secret."""

from __future__ import annotations

from typing import Any

from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from zabota.core.clock import SYSTEM_CLOCK, Clock
from zabota.core.settings import Settings


class _ClockSigner(TimestampSigner):
    """itsdangerous' timestamp signer reading our Clock, so expiry is testable without sleep."""

    def __init__(self, *args: Any, clock: Clock = SYSTEM_CLOCK, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.clock = clock

    def get_timestamp(self) -> int:
        return int(self.clock.now().timestamp())


def serializer_for(settings: Settings, salt: str,
                   clock: Clock = SYSTEM_CLOCK) -> URLSafeTimedSerializer:
    """`salt` keeps the uses apart: a sign-in link is no CSRF token."""
    return URLSafeTimedSerializer(settings.resolved_secret_key(), salt=salt,
                                  signer=_ClockSigner, signer_kwargs={"clock": clock})
