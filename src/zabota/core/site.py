"""The installation's own settings an admin edits in the UI: company name, logo, languages,
time zone. Environment settings (core.settings) are the defaults until an admin saves."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any
from zoneinfo import available_timezones

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from zabota.core.db import Base
from zabota.core.errors import field_error
from zabota.core.i18n import LANGUAGES, _
from zabota.core.settings import Settings
from zabota.identity.permissions import Actor, Permission, require


class SiteSetting(Base):
    __tablename__ = "site_settings"

    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    value: Mapped[Any] = mapped_column(sa.JSON)


@dataclass
class Site:
    company_name: str = "Забота"
    logo_url: str = ""
    languages: list[str] = field(default_factory=lambda: list(LANGUAGES))
    timezone: str = "Europe/Moscow"


def set_value(session: Session, key: str, value: Any) -> None:
    """Create or replace one site setting (in the session's transaction)."""
    row = session.get(SiteSetting, key)
    if row is None:
        session.add(SiteSetting(key=key, value=value))
    else:
        row.value = value


def get_site(session: Session, settings: Settings) -> Site:
    site = Site(timezone=settings.timezone)
    for row in session.scalars(sa.select(SiteSetting)):
        if hasattr(site, row.key):
            setattr(site, row.key, row.value)
    return site


def update_site(session: Session, settings: Settings, *, actor: Actor, company_name: str,
                logo_url: str, languages: list[str], timezone: str) -> Site:
    require(actor, Permission.MANAGE_SETTINGS)
    company_name = company_name.strip()
    if not 1 <= len(company_name) <= 120:
        raise field_error("company_name", _("Enter 1 to 120 characters"))
    logo_url = logo_url.strip()
    if logo_url and not logo_url.startswith(("https://", "http://", "/")):
        raise field_error("logo_url", _("Enter an address starting with https://"))
    chosen = [code for code in LANGUAGES if code in languages]
    if not chosen:
        raise field_error("languages", _("Keep at least one language"))
    if timezone not in available_timezones():
        raise field_error("timezone", _("Choose a time zone from the list"))
    site = Site(company_name=company_name, logo_url=logo_url[:500], languages=chosen,
                timezone=timezone)
    for key, value in asdict(site).items():
        set_value(session, key, value)
    session.flush()
    return site
