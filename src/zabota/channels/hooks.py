"""What the messenger and phone adapters share at their edge: finding and checking the account a
webhook names, comparing secrets, downloading media within limits, and taking one parsed item
in exactly once, or keeping it in quarantine with the reason.

The platforms retry a delivery we did not acknowledge, so the answer matters: an item stored,
duplicated, ignored on purpose or quarantined is acknowledged (retrying would not change it); a
temporary failure (a media download timed out) is not, so the platform tries again, until
`MAX_INBOUND_ATTEMPTS` failures put it in quarantine.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import structlog
from sqlalchemy.orm import Session

from zabota.channels import service as channels
from zabota.channels.inbound import Inbound, InboundFile, Received, receive, stored_before
from zabota.channels.models import ChannelAccount, QuarantineStatus
from zabota.channels.outbound import Outgoing, PermanentFailure
from zabota.core.clock import SYSTEM_CLOCK, Clock, as_utc
from zabota.core.errors import Forbidden, NotAuthenticated, ZabotaError
from zabota.core.i18n import N_, _
from zabota.core.settings import Settings
from zabota.tickets.models import Channel

log = structlog.get_logger()

# The platforms send small JSON bodies (a Telegram update is a few kB); media come by reference.
MAX_WEBHOOK_BYTES = 1024 * 1024
# Outbound calls and media downloads: the platform's own limits are far below these.
HTTP_TIMEOUT = httpx.Timeout(20.0, connect=5.0)
_HEALTH_EVERY = timedelta(minutes=1)


class WebhookUnauthorized(NotAuthenticated):
    code, title = "webhook_unauthorized", N_("The request does not carry this channel's secret")


class ChannelDisabled(Forbidden):
    code, title = "channel_disabled", N_("This channel is switched off")


class MalformedPayload(ZabotaError):
    code, title = "malformed_payload", N_("The request body is not a valid delivery of this "
                                          "channel")


class PayloadTooLarge(ZabotaError):
    status, code, title = 413, "payload_too_large", N_("The request is too large")


class RetryLater(ZabotaError):
    """Answered to the platform when an item failed for a passing reason: it delivers again."""

    status, code, title = 503, "retry_later", N_("The delivery could not be taken in now; "
                                                 "send it again later")


class MalformedUpdate(ValueError):
    """An authentic delivery we cannot read (a field missing or of the wrong type)."""


class TemporaryFailure(Exception):
    """The platform or the network failed us for now (a timeout, a 5xx): try again later."""


class RetryAfter(Exception):
    """A sender was told to slow down (HTTP 429): the delivery is retried, not before
    `retry_after` seconds."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(f"{message} (retry after {retry_after:g} s)")
        self.retry_after = retry_after


class FileUnavailable(Exception):
    """The platform refused a file for good (too big for its API, expired link)."""


class Result(enum.StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    QUARANTINED = "quarantined"
    RETRY = "retry"
    REJECTED = "rejected"


@dataclass(frozen=True)
class Outcome:
    """What became of one delivered item. A rejection is raised by the web edge after the
    commit that keeps its quarantine row."""

    result: Result
    reason: str | None = None
    ticket_id: int | None = None
    message_id: int | None = None
    created_ticket: bool = False
    rejection: ZabotaError | None = None
    answer: str | None = None  # a text the platform expects back (VK's confirmation code)

    @property
    def acknowledged(self) -> bool:
        return self.result not in (Result.RETRY, Result.REJECTED)


def ignored(reason: str, **data: Any) -> Outcome:
    log.info("channels.ignored", reason=reason, **data)
    return Outcome(Result.IGNORED, reason=reason)


# --- the account a webhook names -----------------------------------------------------------


def account_of(session: Session, kind: Channel, account_id: int) -> ChannelAccount:
    """The account, 404 if there is none of this kind (an id of another kind does not leak)."""
    account = channels.get_account(session, account_id)
    if account.kind != kind:
        raise channels.AccountNotFound()
    return account


def require_enabled(account: ChannelAccount) -> None:
    if not account.enabled:
        raise ChannelDisabled()


def secrets_equal(given: str | bytes | None, expected: str | None) -> bool:
    """Constant-time comparison; an unset secret never matches, so a forgotten setting fails
    closed instead of accepting everyone."""
    if not given or not expected:
        return False
    if isinstance(given, str):
        given = given.encode()
    return hmac.compare_digest(given, expected.encode())


def config_str(account: ChannelAccount, key: str) -> str:
    value = (account.config or {}).get(key)
    return "" if value is None else str(value).strip()


def api_base(account: ChannelAccount, default: str) -> str:
    return (config_str(account, "api_base_url") or default).rstrip("/")


def digest_id(payload: bytes) -> str:
    """A stable id for a delivery we cannot read, so its retries are counted on one row."""
    return "sha256:" + hashlib.sha256(payload).hexdigest()[:40]


def obj(value: object) -> dict[str, Any]:
    """A JSON object, or an empty one for anything else: optional parts of a payload."""
    return value if isinstance(value, dict) else {}


def json_object(payload: bytes) -> dict[str, Any]:
    try:
        data = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedPayload(_("The request body is not valid JSON")) from exc
    if not isinstance(data, dict):
        raise MalformedPayload(_("Expected a JSON object"))
    return data


def reject_malformed(session: Session, account: ChannelAccount, payload: bytes,
                     error: ZabotaError, *, clock: Clock = SYSTEM_CLOCK) -> Outcome:
    """An authentic body we cannot read at all: kept for an admin, answered with a 4xx."""
    channels.record_failure(session, channel=account.kind, payload=payload,
                            reason=error.detail or _(error.title), account_id=account.id,
                            external_id=digest_id(payload), max_attempts=1, clock=clock)
    return Outcome(Result.REJECTED, reason=error.detail, rejection=error)


def keep_unreadable(session: Session, account: ChannelAccount, payload: bytes,
                    error: Exception, *, external_id: str | None = None,
                    clock: Clock = SYSTEM_CLOCK) -> Outcome:
    """An authentic item we cannot make sense of: quarantined with the reason and
    acknowledged, so the platform does not send it again and again."""
    channels.quarantine(session, channel=account.kind, payload=payload, reason=str(error),
                        account_id=account.id, external_id=external_id or digest_id(payload),
                        clock=clock)
    return Outcome(Result.QUARANTINED, reason=str(error))


def http_client() -> httpx.Client:
    return httpx.Client(timeout=HTTP_TIMEOUT, follow_redirects=True)


# --- media ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileRef:
    """A file the platform holds for us: `locator` is what its API needs to hand it over."""

    filename: str
    content_type: str | None
    size: int | None
    locator: str


def download(client: httpx.Client, url: str, *, limit: int,
             headers: dict[str, str] | None = None) -> tuple[bytes, str | None]:
    """The body of `url` and its content type, read no further than `limit` bytes."""
    try:
        with client.stream("GET", url, headers=headers) as response:
            if response.status_code >= 500 or response.status_code == 429:
                raise TemporaryFailure(f"download failed: HTTP {response.status_code}")
            if response.status_code >= 400:
                raise FileUnavailable(f"HTTP {response.status_code}")
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > limit:
                raise FileUnavailable(too_large(limit))
            chunks: list[bytes] = []
            total = 0
            for chunk in response.iter_bytes():
                total += len(chunk)
                if total > limit:
                    raise FileUnavailable(too_large(limit))
                chunks.append(chunk)
            return b"".join(chunks), response.headers.get("content-type")
    except httpx.HTTPError as exc:
        raise TemporaryFailure(f"download failed: {type(exc).__name__}") from exc


def too_large(limit: int) -> str:
    return _("The file is larger than {limit} MB").format(limit=limit // (1024 * 1024))


def not_kept(name: str, reason: str) -> str:
    return "[" + _("Attachment “{name}” was not kept: {reason}").format(name=name,
                                                                       reason=reason) + "]"


def fetch_files(refs: Iterable[FileRef], fetch: Callable[[FileRef], bytes], *,
                settings: Settings) -> tuple[list[InboundFile], list[str]]:
    """The files we may keep, and a line for each one we may not: too large or of a refused
    type (checked before downloading), or refused by the platform. Passing failures raise
    `TemporaryFailure`, so the whole delivery is tried again."""
    files: list[InboundFile] = []
    notes: list[str] = []
    for ref in refs:
        kind = (ref.content_type or "").split(";")[0].strip().lower()
        if ref.size is not None and ref.size > settings.max_attachment_bytes:
            notes.append(not_kept(ref.filename, too_large(settings.max_attachment_bytes)))
            continue
        if kind and kind not in settings.allowed_attachment_types:
            notes.append(not_kept(ref.filename, _("Files of type {type} are not accepted")
                                  .format(type=kind)))
            continue
        try:
            data = fetch(ref)
        except FileUnavailable as exc:
            notes.append(not_kept(ref.filename, str(exc)))
            continue
        files.append(InboundFile(ref.filename, data, kind or None))
    return files, notes


def join_text(*parts: str | None) -> str:
    return "\n\n".join(part.strip() for part in parts if part and part.strip())


# --- replies -------------------------------------------------------------------------------


def split_text(text: str, limit: int) -> list[str]:
    """Pieces of at most `limit` characters, cut at a paragraph, a line or a space if one is
    near the end."""
    text = text.strip()
    pieces: list[str] = []
    while len(text) > limit:
        cut = max(text.rfind(sep, 0, limit) for sep in ("\n\n", "\n", " "))
        if cut < limit // 2:
            cut = limit
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text:
        pieces.append(text)
    return pieces


def send_in_order(job: Outgoing, parts: Sequence[Callable[[], str | None]]) -> str | None:
    """Send a reply's parts (text pieces, then files) in order, skipping those an earlier
    attempt got accepted; returns the first part's id. Each accepted part of a reply with
    several is recorded at once (`Outgoing.on_part_sent`), so when a later part fails the
    retry resumes after it and the customer never gets the same text twice."""
    first = job.external_id if job.parts_sent else None
    for index, send in enumerate(parts):
        if index < job.parts_sent:
            continue
        sent = send()
        first = first or sent
        if len(parts) > 1 and job.on_part_sent is not None:
            job.on_part_sent(index + 1, first)
    return first


def usable_account(job: Outgoing, kind_name: str) -> ChannelAccount:
    if job.account is None:
        raise PermanentFailure(_("No {channel} account is configured for this reply")
                               .format(channel=kind_name))
    if not job.account.enabled:
        raise PermanentFailure(_("The {channel} account “{name}” is switched off")
                               .format(channel=kind_name, name=job.account.name))
    return job.account


# --- taking one item in --------------------------------------------------------------------


# Who may answer a stored messenger message before a person does: the answer bot registers
# itself for the channels it serves. A responder's failure never costs the message.
FirstResponder = Callable[[Session, Received, Inbound], None]
first_responders: list[FirstResponder] = []


def offer_to_first_responders(session: Session, got: Received, inbound: Inbound) -> None:
    for responder in first_responders:
        try:
            with session.begin_nested():
                responder(session, got, inbound)
        except Exception:
            log.exception("channels.first_responder_failed", ticket_id=got.ticket_id)


def take_in(session: Session, *, account: ChannelAccount, external_id: str, payload: bytes,
            build: Callable[[], Inbound | None], settings: Settings,
            clock: Clock = SYSTEM_CLOCK, strict: bool = False) -> Outcome:
    """Store one parsed item once. `build` finishes it (downloads media) and may decide to
    ignore it (None). The caller commits, whatever the outcome.

    `strict` is for an admin releasing a quarantined item: failures are raised to them
    instead of being recorded."""
    channel = account.kind
    existing = stored_before(session, channel, external_id)
    if existing is not None:
        return Outcome(Result.DUPLICATE, ticket_id=existing.ticket_id,
                       message_id=existing.message_id)
    if strict:
        inbound = build()
        if inbound is None:
            return Outcome(Result.IGNORED)
        got = receive(session, inbound, settings=settings, clock=clock)
        return Outcome(Result.STORED, ticket_id=got.ticket_id, message_id=got.message_id,
                       created_ticket=got.created_ticket)
    if channels.is_quarantined(session, channel=channel, external_id=external_id,
                               account_id=account.id):
        return Outcome(Result.QUARANTINED, reason="quarantined earlier")
    try:
        inbound = build()
        if inbound is None:
            return Outcome(Result.IGNORED)
        with session.begin_nested():
            got = receive(session, inbound, settings=settings, clock=clock)
        if not got.duplicate:
            offer_to_first_responders(session, got, inbound)
    except (MalformedUpdate, ZabotaError) as exc:
        # The item itself is wrong (an empty message, a number that is no number): another
        # delivery of the same bytes fails the same way.
        reason = str(exc) if isinstance(exc, MalformedUpdate) else (exc.detail or _(exc.title))
        channels.quarantine(session, channel=channel, payload=payload, reason=reason,
                            account_id=account.id, external_id=external_id, clock=clock)
        return Outcome(Result.QUARANTINED, reason=reason)
    except Exception as exc:  # a timeout, or a bug of ours: counted, retried, then quarantined
        if not isinstance(exc, TemporaryFailure):
            log.exception("channels.intake_failed", channel=channel.value,
                          account_id=account.id, external_id=external_id)
        row = channels.record_failure(session, channel=channel, payload=payload, reason=exc,
                                      account_id=account.id, external_id=external_id,
                                      clock=clock)
        if row.status == QuarantineStatus.QUARANTINED:
            return Outcome(Result.QUARANTINED, reason=row.reason)
        return Outcome(Result.RETRY, reason=row.reason, rejection=RetryLater())
    channels.resolve_failure(session, channel=channel, external_id=external_id,
                             account_id=account.id)
    _mark_healthy(session, account, clock)
    return Outcome(Result.DUPLICATE if got.duplicate else Result.STORED, ticket_id=got.ticket_id,
                   message_id=got.message_id, created_ticket=got.created_ticket)


def _mark_healthy(session: Session, account: ChannelAccount, clock: Clock) -> None:
    # Once a minute is enough for the admin's status light, and spares a row lock per message.
    last = account.last_success_at
    if last is None or as_utc(last) < clock.now() - _HEALTH_EVERY:
        channels.mark_success(session, account.id, clock=clock)


def combine(outcomes: Sequence[Outcome]) -> Outcome:
    """One answer for a delivery carrying several items (WhatsApp batches them): retried as a
    whole when one item must be retried (the others are duplicates then)."""
    for outcome in outcomes:
        if not outcome.acknowledged:
            return outcome
    stored = [o for o in outcomes if o.result == Result.STORED]
    if stored:
        return stored[0]
    return outcomes[0] if outcomes else Outcome(Result.IGNORED, reason="empty")

