"""The link to one request in the e-mail that tells a customer of an answer: it signs them in
to that request for two weeks, until they sign in by another link (which bumps the nonce)."""

from __future__ import annotations

from zabota.core.settings import Settings
from zabota.core.signing import serializer_for
from zabota.identity.models import Customer

REQUEST_LINK_SALT = "zabota.request-link"
REQUEST_LINK_DAYS = 14


def link_to_request(settings: Settings, customer: Customer, ticket_id: int, *,
                    base_url: str | None = None) -> str:
    token = serializer_for(settings, REQUEST_LINK_SALT).dumps(
        {"c": customer.id, "n": customer.login_nonce, "t": ticket_id})
    base = base_url or settings.public_url or "http://127.0.0.1:8000"
    return f"{base.rstrip('/')}/portal/open/{token}"
