"""Calls reported by a PBX connector become messages of the caller's customer: an answered call
joins the customer's unfinished phone request (or opens one, given to the agent who took it),
a missed or abandoned call asks for a call-back in a ticket of its own, unless one is already
waiting.

The call id is the external id, so a connector that reports the same call twice (a retry after
a lost answer) stores it once.
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
import structlog
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.orm import Session

from zabota.channels import hooks
from zabota.channels import service as channels
from zabota.channels.hooks import Outcome
from zabota.channels.inbound import Inbound
from zabota.channels.models import ChannelAccount, QuarantinedDelivery
from zabota.core.clock import SYSTEM_CLOCK, Clock
from zabota.core.errors import InvalidInput, field_error
from zabota.core.i18n import _, language
from zabota.core.settings import Settings, get_settings
from zabota.identity import service as identity
from zabota.identity.models import IdentityKind, User
from zabota.identity.permissions import SYSTEM
from zabota.tickets import service as tickets
from zabota.tickets.models import Channel, Status, Ticket, TicketTag

log = structlog.get_logger()

CALLBACK_TAG = "callback"


class CallIn(BaseModel):
    """One finished call, as the connector reports it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    call_id: str = Field(min_length=1, max_length=200)
    direction: Literal["inbound", "outbound"] = "inbound"
    status: Literal["answered", "missed", "abandoned"]
    started_at: AwareDatetime
    waiting_seconds: int = Field(default=0, ge=0, le=86_400)
    talk_seconds: int = Field(default=0, ge=0, le=86_400)
    # The customer's number: who called us, or whom we called.
    caller_number: str = Field(min_length=1, max_length=64)
    agent_email: str | None = Field(default=None, max_length=254)
    recording_url: str | None = Field(default=None, max_length=2000, pattern=r"^https?://\S+$")
    queue: str | None = Field(default=None, max_length=100)


def account_for_key(session: Session, key: str | None) -> ChannelAccount:
    """The phone account whose connector key this is (compared in constant time)."""
    found = None
    for account in channels.list_accounts(session, Channel.PHONE):
        # Compare with every account, so the time taken does not tell how many there are
        # before the match.
        if hooks.secrets_equal(key, hooks.config_str(account, "api_key")):
            found = account
    if found is None:
        raise hooks.WebhookUnauthorized(_("Send the connector key of a phone channel in the "
                                          "X-Zabota-Key header"))
    hooks.require_enabled(found)
    return found


def keep_invalid(session: Session, account: ChannelAccount, payload: bytes,
                 error: ValidationError, *, clock: Clock = SYSTEM_CLOCK) -> None:
    """A report the connector got wrong: kept for an admin, while the connector gets a 422."""
    reason = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
                       for e in error.errors(include_url=False))
    channels.record_failure(session, channel=Channel.PHONE, payload=payload, reason=reason,
                            account_id=account.id, external_id=hooks.digest_id(payload),
                            max_attempts=1, clock=clock)


def duration(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return _("{hours} h {minutes} min").format(hours=hours, minutes=minutes)
    if minutes:
        return _("{minutes} min {seconds} s").format(minutes=minutes, seconds=secs)
    return _("{seconds} s").format(seconds=secs)


def call_text(call: CallIn, number: str) -> str:
    """What the agent reads on the timeline, in the installation's language."""
    talk, wait = duration(call.talk_seconds), duration(call.waiting_seconds)
    if call.direction == "outbound":
        headline = (_("Outgoing call to {number}, talk {talk}").format(number=number, talk=talk)
                    if call.status == "answered"
                    else _("Outgoing call to {number}, not answered").format(number=number))
    elif call.status == "answered":
        headline = _("Incoming call, talk {talk}, waiting {wait}").format(talk=talk, wait=wait)
    elif call.status == "missed":
        headline = _("Missed incoming call, waiting {wait}").format(wait=wait)
    else:
        headline = _("Incoming call abandoned in the queue after waiting {wait}").format(
            wait=wait)
    lines = [headline]
    if call.agent_email:
        lines.append(_("Agent: {agent}").format(agent=call.agent_email))
    if call.recording_url:
        lines.append(_("Recording: {url}").format(url=call.recording_url))
    return "\n".join(lines)


def record_call(session: Session, account: ChannelAccount, call: CallIn, payload: bytes, *,
                settings: Settings, clock: Clock = SYSTEM_CLOCK,
                strict: bool = False) -> Outcome:
    """Store one call once (by its id). The text, subject and history reasons are in the
    installation's language; a refusal is in the connector's."""
    try:
        number = identity.normalize_phone(call.caller_number)
    except InvalidInput:
        error = field_error("caller_number", _("A phone number has 7 to 15 digits"))
        if strict:
            raise error from None
        channels.record_failure(session, channel=Channel.PHONE, payload=payload,
                                reason=error.detail or "", account_id=account.id,
                                external_id=delivery_id(account, call), max_attempts=1,
                                clock=clock)
        return Outcome(hooks.Result.REJECTED, reason=error.detail, rejection=error)
    with language(settings.default_language):
        return _record(session, account, call, number, payload, settings=settings,
                       clock=clock, strict=strict)


def delivery_id(account: ChannelAccount, call: CallIn) -> str:
    """A call's id is its PBX's (Asterisk's `Uniqueid` repeats across servers): two
    connectors reporting the same id are two calls."""
    return f"{account.id}:{call.call_id}"


def _record(session: Session, account: ChannelAccount, call: CallIn, number: str,
            payload: bytes, *, settings: Settings, clock: Clock, strict: bool) -> Outcome:
    missed = call.status != "answered" and call.direction == "inbound"
    text = call_text(call, number)
    subject = (_("Call back {number}").format(number=number) if missed
               else _("Phone call from {number}").format(number=number))
    callback = _waiting_callback(session, number) if missed else None
    if callback is not None:
        subject = f"[#{callback.id}] {subject}"  # threads into the waiting call-back
    meta: dict[str, Any] = {
        "call_id": call.call_id, "direction": call.direction, "call_status": call.status,
        "started_at": call.started_at.isoformat(), "waiting_seconds": call.waiting_seconds,
        "talk_seconds": call.talk_seconds, "caller_number": number}
    for key in ("agent_email", "recording_url", "queue"):
        if getattr(call, key):
            meta[key] = getattr(call, key)
    inbound = Inbound(channel=Channel.PHONE, external_id=delivery_id(account, call),
                      identities=[(IdentityKind.PHONE, number)], text=text, subject=subject,
                      account_id=account.id, meta=meta, received_at=call.started_at,
                      new_ticket=missed and callback is None)
    outcome = hooks.take_in(session, account=account, external_id=delivery_id(account, call),
                            payload=payload, settings=settings, clock=clock, strict=strict,
                            build=lambda: inbound)
    if outcome.result == hooks.Result.STORED and outcome.ticket_id is not None:
        _follow_up(session, outcome.ticket_id, call, missed=missed, clock=clock)
    return outcome


def _waiting_callback(session: Session, number: str) -> Ticket | None:
    customer = identity.find_customer_by_identity(session, IdentityKind.PHONE, number)
    if customer is None:
        return None
    return session.scalar(
        sa.select(Ticket).join(TicketTag, TicketTag.ticket_id == Ticket.id)
        .where(Ticket.customer_id == customer.id, Ticket.channel == Channel.PHONE,
               TicketTag.tag == CALLBACK_TAG, Ticket.merged_into_id.is_(None),
               Ticket.status.not_in([Status.SOLVED, Status.CLOSED]))
        .order_by(Ticket.id.desc()).limit(1))


def _follow_up(session: Session, ticket_id: int, call: CallIn, *, missed: bool,
               clock: Clock) -> None:
    """Mark a new call-back ticket as one; give a ticket to the agent who answered."""
    ticket = session.get_one(Ticket, ticket_id)
    if missed and CALLBACK_TAG not in ticket.tags:
        tickets.update_ticket(session, ticket_id, {"tags": [*ticket.tags, CALLBACK_TAG]},
                              actor=SYSTEM, reason=_("Missed call: call the customer back"),
                              clock=clock)
    if call.status == "answered" and call.agent_email and ticket.assignee_id is None:
        agent = session.scalar(sa.select(User).where(
            User.email == identity.normalize_email(call.agent_email), User.is_active))
        if agent is None:
            log.info("phone.agent_unknown", ticket_id=ticket_id)
            return
        tickets.assign_ticket(session, ticket_id, agent.id, actor=SYSTEM,
                              reason=_("Answered the phone call"), clock=clock)


def parse_call(payload: bytes) -> CallIn:
    return CallIn.model_validate_json(payload)


@channels.register_reingest(Channel.PHONE)
def reingest(session: Session, row: QuarantinedDelivery) -> None:
    if row.account_id is None:
        raise hooks.MalformedPayload(_("The item names no channel account"))
    account = hooks.account_of(session, Channel.PHONE, row.account_id)
    record_call(session, account, parse_call(row.payload), row.payload,
                settings=get_settings(), strict=True)


@channels.register_connection_test(Channel.PHONE)
def check_connection(account: ChannelAccount) -> str:
    """There is nothing to dial: the check says whether the connector can authenticate."""
    if len(hooks.config_str(account, "api_key")) < 16:
        raise ValueError(_("Set a connector key of at least 16 characters"))
    return _("Ready: the PBX connector posts calls to /api/v1/channels/phone/calls with the "
             "X-Zabota-Key header")

