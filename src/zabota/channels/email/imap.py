"""IMAP polling: every configured mailbox fetched in parallel and independently.

Each mailbox has its own connection, thread and database sessions. A message is stored in a
transaction of its own and flagged (`\\Seen`, or the account's own keyword) only after that
transaction committed, so a crash between the two re-fetches it and the Message-ID makes the
second copy a duplicate: nothing is lost and nothing is doubled. A message that fails is
counted and left for the next poll; after `MAX_INBOUND_ATTEMPTS` it is quarantined and
flagged, so one poisoned message never blocks its mailbox. A message larger than the limit
is quarantined from its header alone: its body is never downloaded.
"""

from __future__ import annotations

import contextlib
import imaplib
import re
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
import structlog
from imap_tools import BaseMailBox, MailBox, MailBoxStartTls, MailBoxUnencrypted

from zabota.channels import service as channels
from zabota.channels.email.ingest import header_block, own_addresses, store_raw, too_large
from zabota.channels.email.parse import IgnoreCode, IgnoredReason, external_id_of
from zabota.channels.models import ChannelAccount, QuarantineStatus
from zabota.core.clock import SYSTEM_CLOCK, Clock
from zabota.core.db import Database
from zabota.core.i18n import _
from zabota.core.settings import Settings
from zabota.tickets.models import Channel

log = structlog.get_logger()

SEEN = "\\Seen"
# Bodies fetched per IMAP command: few round trips, bounded memory.
BATCH_MESSAGES = 50
BATCH_BYTES = 16 * 1024 * 1024
_UID = re.compile(rb"UID (\d+)")
_SIZE = re.compile(rb"UID (\d+)|RFC822\.SIZE (\d+)")
_KEYWORD = re.compile(r"^\$?[A-Za-z][A-Za-z0-9_-]{0,40}$")


class MailboxNotConfigured(ValueError):
    """The account lacks what IMAP polling needs (server, user, password or token)."""


@dataclass(frozen=True)
class MailboxConfig:
    """What polling needs from `ChannelAccount.config` (the keys of channels/config.py)."""

    account_id: int
    host: str
    port: int
    ssl: bool
    starttls: bool
    username: str
    password: str | None
    oauth2_token: str | None
    folder: str
    mark: str  # the flag that says "taken in": \Seen or a keyword such as $Zabota

    @classmethod
    def from_account(cls, account: ChannelAccount) -> MailboxConfig:
        config: dict[str, Any] = account.config or {}
        host = str(config.get("imap_host") or "").strip()
        username = str(config.get("imap_username") or account.address or "").strip()
        password = config.get("imap_password") or None
        token = config.get("oauth2_token") or None
        if not host:
            raise MailboxNotConfigured(_("No IMAP server is set"))
        if not username or not (password or token):
            raise MailboxNotConfigured(_("Set the IMAP user name and a password or an OAuth2 "
                                         "token"))
        mark = str(config.get("imap_mark") or SEEN).strip()
        if mark != SEEN and not _KEYWORD.match(mark):
            raise MailboxNotConfigured(_("The IMAP flag must be \\Seen or a keyword like "
                                         "$Zabota"))
        ssl = bool(config.get("imap_ssl", True))
        return cls(account_id=account.id, host=host, port=int(config.get("imap_port") or (
            993 if ssl else 143)), ssl=ssl, starttls=bool(config.get("imap_starttls", False)),
            username=username, password=str(password) if password else None,
            oauth2_token=str(token) if token else None,
            folder=str(config.get("imap_folder") or "INBOX"), mark=mark)

    @property
    def unprocessed(self) -> str:
        return "UNSEEN" if self.mark == SEEN else f"UNKEYWORD {self.mark}"


@dataclass
class PollResult:
    account_id: int
    fetched: int = 0
    stored: int = 0
    duplicates: int = 0
    ignored: int = 0
    quarantined: int = 0
    failed: int = 0  # left for the next poll
    error: str | None = None
    outcomes: dict[str, int] = field(default_factory=dict)


def connect(config: MailboxConfig, settings: Settings) -> BaseMailBox:
    """A signed-in mailbox with the folder selected (password or XOAUTH2)."""
    timeout = settings.imap_timeout_seconds
    mailbox: BaseMailBox
    if config.ssl:
        mailbox = MailBox(config.host, config.port, timeout=timeout)
    elif config.starttls:
        mailbox = MailBoxStartTls(config.host, config.port, timeout=timeout)
    else:
        mailbox = MailBoxUnencrypted(config.host, config.port, timeout=timeout)
    try:
        if config.oauth2_token:
            mailbox.xoauth2(config.username, config.oauth2_token, initial_folder=config.folder)
        else:
            mailbox.login(config.username, config.password or "", initial_folder=config.folder)
    except BaseException:
        close(mailbox)
        raise
    return mailbox


def close(mailbox: BaseMailBox) -> None:
    with contextlib.suppress(OSError, imaplib.IMAP4.error):
        mailbox.client.shutdown()


def _command(mailbox: BaseMailBox, *args: str) -> list[Any]:
    status, data = mailbox.client.uid(*args)
    if status != "OK":
        raise imaplib.IMAP4.error(f"{args[0]} failed: {data!r:.200}")
    return list(data)


def _sizes(mailbox: BaseMailBox, uids: Sequence[str]) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for start in range(0, len(uids), 500):
        for item in _command(mailbox, "FETCH", ",".join(uids[start:start + 500]),
                             "(RFC822.SIZE)"):
            line = item[0] if isinstance(item, tuple) else item
            if not isinstance(line, bytes):
                continue
            uid = size = None
            for match in _SIZE.finditer(line):
                uid = match.group(1) or uid
                size = match.group(2) or size
            if uid and size:
                sizes[uid.decode()] = int(size)
    return sizes


def _fetched(data: list[Any]) -> Iterator[tuple[str, bytes]]:
    """(uid, literal) pairs of a FETCH answer; servers put UID before or after the literal."""
    pending: bytes | None = None
    for item in data:
        if isinstance(item, tuple):
            match = _UID.search(item[0])
            if match:
                yield match.group(1).decode(), item[1]
                pending = None
            else:
                pending = item[1]
        elif isinstance(item, bytes) and pending is not None:
            match = _UID.search(item)
            if match:
                yield match.group(1).decode(), pending
            pending = None


def _batches(uids: Sequence[str], sizes: dict[str, int]) -> Iterator[list[str]]:
    batch: list[str] = []
    total = 0
    for uid in uids:
        size = sizes.get(uid, 0)
        if batch and (len(batch) >= BATCH_MESSAGES or total + size > BATCH_BYTES):
            yield batch
            batch, total = [], 0
        batch.append(uid)
        total += size
    if batch:
        yield batch


def _flag(mailbox: BaseMailBox, uids: list[str], mark: str) -> None:
    if uids:
        _command(mailbox, "STORE", ",".join(uids), "+FLAGS.SILENT", f"({mark})")


def store_message(database: Database, raw: bytes, *, account_id: int, settings: Settings,
                  clock: Clock = SYSTEM_CLOCK, own: frozenset[str] | None = None) -> str | None:
    """Take one fetched message in its own transaction; the outcome, or None when it failed
    and should be tried again at the next poll."""
    try:
        result = store_raw(database, raw, account_id=account_id, settings=settings,
                           clock=clock, own=own)
        return _outcome(result)
    except Exception as exc:  # any failure of this one message: count it, keep polling
        external_id = external_id_of(raw)
        log.warning("email.store_failed", account_id=account_id, message_id=external_id,
                    error=type(exc).__name__)
        with database.session_scope() as session:
            row = channels.record_failure(session, channel=Channel.EMAIL, payload=raw,
                                          reason=exc, account_id=account_id,
                                          external_id=external_id, clock=clock)
            given_up = row.status == QuarantineStatus.QUARANTINED
        return "quarantined" if given_up else None


def _outcome(result: object) -> str:
    if isinstance(result, IgnoredReason):
        return "quarantined" if result.code == IgnoreCode.MALFORMED else "ignored"
    return "duplicate" if getattr(result, "duplicate", False) else "stored"


def _quarantine_too_large(database: Database, mailbox: BaseMailBox, uid: str, size: int, *,
                          account_id: int, settings: Settings, clock: Clock) -> None:
    data = _command(mailbox, "FETCH", uid, "(BODY.PEEK[HEADER])")
    header = next((literal for _uid, literal in _fetched(data)), b"")
    with database.session_scope() as session:
        channels.quarantine(session, channel=Channel.EMAIL, payload=header_block(header),
                            reason=too_large(size, settings), account_id=account_id,
                            external_id=external_id_of(header), clock=clock)


def poll_account(database: Database, account_id: int, settings: Settings, *,
                 clock: Clock = SYSTEM_CLOCK, max_messages: int | None = None) -> PollResult:
    """Fetch and store the mailbox's unprocessed messages; never raises for one message."""
    result = PollResult(account_id)
    with database.read_sessions() as session:
        account = channels.get_account(session, account_id)
        config = MailboxConfig.from_account(account)
    mailbox = connect(config, settings)
    try:
        uids = mailbox.uids(config.unprocessed)
        if max_messages is not None:
            uids = uids[:max_messages]
        sizes = _sizes(mailbox, uids) if uids else {}
        for batch in _batches(uids, sizes):
            _take_batch(database, mailbox, batch, sizes, config, settings, clock, result)
        mailbox.logout()
    finally:
        close(mailbox)
    log.info("email.polled", account_id=account_id, fetched=result.fetched,
             stored=result.stored, duplicates=result.duplicates, ignored=result.ignored,
             quarantined=result.quarantined, failed=result.failed)
    return result


def _take_batch(database: Database, mailbox: BaseMailBox, batch: list[str],
                sizes: dict[str, int], config: MailboxConfig, settings: Settings,
                clock: Clock, result: PollResult) -> None:
    done: list[str] = []
    small = []
    for uid in batch:
        if sizes.get(uid, 0) > settings.email_max_message_bytes:
            _quarantine_too_large(database, mailbox, uid, sizes[uid], account_id=config.account_id,
                                  settings=settings, clock=clock)
            result.quarantined += 1
            done.append(uid)
        else:
            small.append(uid)
    if small:
        data = _command(mailbox, "FETCH", ",".join(small), "(UID BODY.PEEK[])")
        with database.read_sessions() as session:  # read once per batch, not per message
            own = own_addresses(session, settings)
        for uid, raw in _fetched(data):
            result.fetched += 1
            outcome = store_message(database, raw, account_id=config.account_id,
                                    settings=settings, clock=clock, own=own)
            if outcome is None:
                result.failed += 1
                continue
            result.outcomes[outcome] = result.outcomes.get(outcome, 0) + 1
            if outcome == "stored":
                result.stored += 1
            elif outcome == "duplicate":
                result.duplicates += 1
            elif outcome == "ignored":
                result.ignored += 1
            else:
                result.quarantined += 1
            done.append(uid)
    # Only now, after every transaction above committed: a crash before this line makes
    # the next poll fetch these again, and their Message-IDs make them duplicates.
    _flag(mailbox, done, config.mark)


# --- all mailboxes -------------------------------------------------------------------------

_busy: dict[int, threading.Lock] = {}
_busy_guard = threading.Lock()


def _lock_for(account_id: int) -> threading.Lock:
    with _busy_guard:
        return _busy.setdefault(account_id, threading.Lock())


def polled_accounts(database: Database) -> list[int]:
    with database.read_sessions() as session:
        rows = session.execute(sa.select(ChannelAccount.id, ChannelAccount.config).where(
            ChannelAccount.kind == Channel.EMAIL, ChannelAccount.enabled.is_(True))
            .order_by(ChannelAccount.id)).all()
    return [int(row.id) for row in rows if (row.config or {}).get("imap_host")]


def poll_guarded(database: Database, account_id: int, settings: Settings, *,
                 clock: Clock = SYSTEM_CLOCK, max_messages: int | None = None) -> PollResult:
    """Poll one mailbox unless this process polls it already; record its health."""
    lock = _lock_for(account_id)
    if not lock.acquire(blocking=False):
        return PollResult(account_id, error="busy")
    try:
        try:
            result = poll_account(database, account_id, settings, clock=clock,
                                  max_messages=max_messages)
        except Exception as exc:  # this mailbox is down or misconfigured: not the others
            log.warning("email.poll_failed", account_id=account_id, error=type(exc).__name__)
            with database.session_scope() as session:
                channels.mark_error(session, account_id, exc, clock=clock)
            return PollResult(account_id, error=str(exc) or type(exc).__name__)
        with database.session_scope() as session:
            channels.mark_success(session, account_id, clock=clock)
        return result
    finally:
        lock.release()


def poll_all(database: Database, settings: Settings, *, clock: Clock = SYSTEM_CLOCK,
             max_messages: int | None = None) -> list[PollResult]:
    """Every enabled mailbox with an IMAP server, in parallel; one mailbox failing or being
    slow does not hold up the others."""
    account_ids = polled_accounts(database)
    if not account_ids:
        return []
    workers = min(settings.imap_parallel_mailboxes, len(account_ids))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="imap") as pool:
        return list(pool.map(lambda account_id: poll_guarded(
            database, account_id, settings, clock=clock, max_messages=max_messages),
            account_ids))


def main() -> None:
    """`python -m zabota.channels.email.imap`: poll every mailbox once (the kill test and
    operators use it; the worker polls every minute)."""
    from zabota.core.db import get_database
    from zabota.core.settings import get_settings

    for result in poll_all(get_database(), get_settings()):
        print(result)


if __name__ == "__main__":
    main()
