"""Channel accounts (what an admin configures), their health, and the quarantine of inbound
input that could not be taken in."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zabota.channels.models import ChannelAccount, QuarantinedDelivery, QuarantineStatus
from zabota.core.clock import SYSTEM_CLOCK, Clock
from zabota.core.errors import Conflict, NotFound, ZabotaError, field_error
from zabota.core.i18n import N_, _
from zabota.identity import service as identity
from zabota.identity.permissions import Actor, Permission, require
from zabota.tickets.models import Channel

log = structlog.get_logger()

MAX_ID = 2**31 - 1
# An inbound item that failed this many times is quarantined instead of tried again.
MAX_INBOUND_ATTEMPTS = 3


class AccountNotFound(NotFound):
    code, title = "channel_account_not_found", N_("Channel not found")


class AccountNameTaken(Conflict):
    code, title = "channel_account_name_taken", N_("A channel of this kind with this name exists")


class QuarantineNotFound(NotFound):
    code, title = "quarantine_item_not_found", N_("Quarantined item not found")


# --- accounts ------------------------------------------------------------------------------


def create_account(session: Session, *, actor: Actor, kind: Channel, name: str,
                   config: dict[str, Any], address: str | None = None,
                   team_id: int | None = None, enabled: bool = True,
                   clock: Clock = SYSTEM_CLOCK) -> ChannelAccount:
    require(actor, Permission.MANAGE_SETTINGS)
    name = name.strip()
    if not name:
        raise field_error("name", _("This field is required"))
    if team_id is not None:
        identity.get_team(session, team_id)
    now = clock.now()
    account = ChannelAccount(kind=kind, name=name, address=(address or "").strip() or None,
                             team_id=team_id, config=dict(config), enabled=enabled,
                             created_at=now, updated_at=now)
    try:
        with session.begin_nested():
            session.add(account)
            session.flush()
    except IntegrityError:
        raise AccountNameTaken() from None
    return account


def update_account(session: Session, account_id: int, *, actor: Actor,
                   clock: Clock = SYSTEM_CLOCK, **changes: Any) -> ChannelAccount:
    require(actor, Permission.MANAGE_SETTINGS)
    account = get_account(session, account_id)
    if "team_id" in changes and changes["team_id"] is not None:
        identity.get_team(session, changes["team_id"])
    for key in ("name", "address", "team_id", "enabled", "config"):
        if key in changes:
            setattr(account, key, changes[key])
    account.updated_at = clock.now()
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise AccountNameTaken() from None
    return account


def delete_account(session: Session, account_id: int, *, actor: Actor) -> None:
    """Accounts with history are switched off rather than deleted (messages point at them)."""
    require(actor, Permission.MANAGE_SETTINGS)
    account = get_account(session, account_id)
    account.enabled = False
    session.flush()


def get_account(session: Session, account_id: int) -> ChannelAccount:
    if not 0 < account_id <= MAX_ID:  # PostgreSQL refuses to compare an integer beyond it
        raise AccountNotFound()
    account = session.get(ChannelAccount, account_id)
    if account is None:
        raise AccountNotFound()
    return account


def list_accounts(session: Session, kind: Channel | None = None, *,
                  enabled_only: bool = False) -> Sequence[ChannelAccount]:
    query = sa.select(ChannelAccount).order_by(ChannelAccount.kind, ChannelAccount.name)
    if kind is not None:
        query = query.where(ChannelAccount.kind == kind)
    if enabled_only:
        query = query.where(ChannelAccount.enabled.is_(True))
    return session.scalars(query).all()


def mark_success(session: Session, account_id: int, *, clock: Clock = SYSTEM_CLOCK) -> None:
    session.execute(sa.update(ChannelAccount).where(ChannelAccount.id == account_id)
                    .values(last_success_at=clock.now()))


def mark_error(session: Session, account_id: int, error: BaseException | str, *,
               clock: Clock = SYSTEM_CLOCK) -> None:
    text = error if isinstance(error, str) else "".join(
        traceback.format_exception_only(error)).strip()
    session.execute(sa.update(ChannelAccount).where(ChannelAccount.id == account_id)
                    .values(last_error=text[-2000:], last_error_at=clock.now()))


# "Test connection": each channel registers a check that raises with a readable reason.
ConnectionTest = Callable[[ChannelAccount], str]
_tests: dict[Channel, ConnectionTest] = {}


def register_connection_test(kind: Channel) -> Callable[[ConnectionTest], ConnectionTest]:
    def register(test: ConnectionTest) -> ConnectionTest:
        _tests[kind] = test
        return test

    return register


def connection_test_for(kind: Channel) -> ConnectionTest | None:
    return _tests.get(kind)


# --- quarantine ----------------------------------------------------------------------------


def _reason(error: BaseException | str) -> str:
    """Why an item was kept, for an admin: our own refusals in words, anything unexpected
    with its exception class (it is a bug to report)."""
    if isinstance(error, str):
        return error
    if isinstance(error, ZabotaError):
        return (error.detail or _(error.title))[:2000]
    if type(error) is not ValueError and isinstance(error, ValueError) and (
            type(error).__module__.startswith("zabota.")):
        return str(error)[:2000]  # an unreadable delivery (MalformedUpdate and the like)
    return "".join(traceback.format_exception_only(error)).strip()[-2000:]


def _same_item(channel: Channel, external_id: str,
               account_id: int | None) -> tuple[sa.ColumnElement[bool], ...]:
    """The quarantine row of one inbound item (NULL account ids compare with IS NULL)."""
    account = (QuarantinedDelivery.account_id.is_(None) if account_id is None
               else QuarantinedDelivery.account_id == account_id)
    return (QuarantinedDelivery.channel == channel,
            QuarantinedDelivery.external_id == external_id, account)


def quarantine(session: Session, *, channel: Channel, payload: bytes, reason: BaseException | str,
               account_id: int | None = None, external_id: str | None = None,
               clock: Clock = SYSTEM_CLOCK) -> QuarantinedDelivery:
    """Keep input we will not take (malformed, poisoned) with the reason, for an admin."""
    return record_failure(session, channel=channel, payload=payload, reason=reason,
                          account_id=account_id, external_id=external_id, clock=clock,
                          max_attempts=1)


def record_failure(session: Session, *, channel: Channel, payload: bytes,
                   reason: BaseException | str, account_id: int | None = None,
                   external_id: str | None = None, max_attempts: int = MAX_INBOUND_ATTEMPTS,
                   clock: Clock = SYSTEM_CLOCK) -> QuarantinedDelivery:
    """Count one more failure of an inbound item; after `max_attempts` it is quarantined.

    Call it in a transaction of its own (the one that failed was rolled back)."""
    now = clock.now()
    row = None
    if external_id is not None:
        row = session.scalar(sa.select(QuarantinedDelivery).where(
            *_same_item(channel, external_id, account_id)))
    if row is None:
        row = QuarantinedDelivery(channel=channel, account_id=account_id,
                                  external_id=external_id, payload=payload, attempts=0,
                                  first_seen_at=now)
        session.add(row)
    row.attempts += 1
    row.reason = _reason(reason)
    row.last_seen_at = now
    row.status = (QuarantineStatus.QUARANTINED if row.attempts >= max_attempts
                  else QuarantineStatus.RETRYING)
    session.flush()
    if row.status == QuarantineStatus.QUARANTINED:
        log.warning("channels.quarantined", channel=channel.value, external_id=external_id,
                    reason=row.reason[:200])
    return row


def is_quarantined(session: Session, *, channel: Channel, external_id: str,
                   account_id: int | None = None) -> bool:
    """True if the item was given up on (or dismissed): skip it rather than fail again."""
    return session.scalar(sa.select(QuarantinedDelivery.id).where(
        *_same_item(channel, external_id, account_id),
        QuarantinedDelivery.status.in_([QuarantineStatus.QUARANTINED,
                                        QuarantineStatus.DISMISSED]))) is not None


def resolve_failure(session: Session, *, channel: Channel, external_id: str,
                    account_id: int | None = None) -> None:
    """The item went in after earlier failures: forget them."""
    session.execute(sa.delete(QuarantinedDelivery).where(
        *_same_item(channel, external_id, account_id),
        QuarantinedDelivery.status == QuarantineStatus.RETRYING))


def list_quarantine(session: Session, *, include_done: bool = False,
                    limit: int = 200) -> Sequence[QuarantinedDelivery]:
    query = sa.select(QuarantinedDelivery).order_by(QuarantinedDelivery.id.desc()).limit(limit)
    if not include_done:
        query = query.where(QuarantinedDelivery.status == QuarantineStatus.QUARANTINED)
    return session.scalars(query).all()


def get_quarantined(session: Session, item_id: int) -> QuarantinedDelivery:
    row = session.get(QuarantinedDelivery, item_id)
    if row is None:
        raise QuarantineNotFound()
    return row


# Re-ingestion of a released item: each channel registers how to read its stored payload.
Reingest = Callable[[Session, QuarantinedDelivery], object]
_reingest: dict[Channel, Reingest] = {}


def register_reingest(channel: Channel) -> Callable[[Reingest], Reingest]:
    def register(handler: Reingest) -> Reingest:
        _reingest[channel] = handler
        return handler

    return register


def release(session: Session, item_id: int, *, actor: Actor) -> QuarantinedDelivery:
    """Try a quarantined item again now (after a fix); it stays quarantined if it fails."""
    require(actor, Permission.MANAGE_SETTINGS)
    row = get_quarantined(session, item_id)
    handler = _reingest.get(row.channel)
    if handler is None:
        raise Conflict(_("This channel cannot take the item in again"))
    try:
        with session.begin_nested():
            handler(session, row)
    except Exception as exc:
        row.reason = _reason(exc)
        row.attempts += 1
        session.flush()
        raise Conflict(_("It failed again: {reason}").format(reason=row.reason[:300])) from exc
    row.status = QuarantineStatus.RELEASED
    session.flush()
    return row


def dismiss(session: Session, item_id: int, *, actor: Actor) -> QuarantinedDelivery:
    require(actor, Permission.MANAGE_SETTINGS)
    row = get_quarantined(session, item_id)
    row.status = QuarantineStatus.DISMISSED
    session.flush()
    return row
