"""IMAP polling against a real Dovecot: stored once, flagged after commit, never blocked."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.channels.email.dovecot import Dovecot
from zabota.channels import service as channels
from zabota.channels.email import connection, imap, ingest
from zabota.channels.models import ChannelAccount, QuarantinedDelivery, QuarantineStatus
from zabota.core.db import Database
from zabota.core.errors import field_error
from zabota.identity import service as identity
from zabota.identity.permissions import SYSTEM
from zabota.tickets.models import Channel, Message, Ticket

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def letter(n: int, *, sender: str = "client@example.org", body: str = "Нужна помощь") -> bytes:
    return (f"From: Клиент {n} <{sender}>\r\nTo: support@zabota.example\r\n"
            f"Subject: Вопрос {n}\r\nMessage-ID: <imap-{n}@example.org>\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            f"{body} {n}\r\n").encode()


@pytest.fixture
def database(committed_db_url: str) -> Iterator[Database]:
    db = Database(committed_db_url)
    yield db
    db.dispose()


def make_mailbox(database: Database, dovecot: Dovecot, *, name: str = "support",
                 password: str | None = None, **config: object) -> tuple[int, str, str]:
    user, secret = dovecot.new_mailbox()
    with database.session_scope() as session:
        team = identity.create_team(session, name=f"Команда {name}", actor=SYSTEM)
        account = channels.create_account(
            session, actor=SYSTEM, kind=Channel.EMAIL, name=name, team_id=team.id,
            address=f"{name}@zabota.example",
            config={"imap_host": dovecot.host, "imap_port": dovecot.port, "imap_ssl": False,
                    "imap_username": user, "imap_password": password or secret, **config})
        account_id = account.id
    return account_id, user, secret


def count(database: Database, model: type, *where: object) -> int:
    with database.read_sessions() as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))
                   or 0)


def test_a_mailbox_is_taken_in_once_and_flagged_after_commit(database, dovecot, settings):
    account_id, user, secret = make_mailbox(database, dovecot)
    dovecot.append(user, secret, [letter(1), letter(2), fixture("r08-autoreply-ru.eml"),
                                  fixture("r05-gmail-ru-reply.eml")])

    result = imap.poll_account(database, account_id, settings)

    assert (result.fetched, result.stored, result.ignored, result.failed) == (4, 3, 1, 0)
    assert all("\\Seen" in flags for flags in dovecot.flags(user, secret))
    assert count(database, Message) == 3
    with database.read_sessions() as session:
        teams = set(session.scalars(sa.select(Ticket.team_id)))
        accounts = set(session.scalars(sa.select(Message.account_id)))
    assert accounts == {account_id} and len(teams) == 1
    again = imap.poll_account(database, account_id, settings)
    assert again.fetched == 0


def test_a_refetch_after_a_crash_before_flagging_is_a_duplicate(database, dovecot, settings):
    account_id, user, secret = make_mailbox(database, dovecot, imap_mark="$Zabota")
    dovecot.append(user, secret, [letter(10), letter(11)], flags=("\\Seen",))
    first = imap.poll_account(database, account_id, settings)
    assert first.stored == 2  # read by a person already: the keyword decides, not \Seen
    with imap.connect(imap.MailboxConfig.from_account(_account(database, account_id)),
                      settings) as mailbox:
        mailbox.client.uid("STORE", "1:*", "-FLAGS", "($Zabota)")  # as if we died before it
    second = imap.poll_account(database, account_id, settings)
    assert (second.fetched, second.duplicates, second.stored) == (2, 2, 0)
    assert count(database, Message) == 2


def test_a_poisoned_message_is_retried_then_quarantined_and_never_blocks(
        database, dovecot, settings, monkeypatch):
    account_id, user, secret = make_mailbox(database, dovecot)
    dovecot.append(user, secret, [letter(20), letter(21), letter(22)])
    real = ingest.ingest_raw

    def failing_on_21(session, raw, **kwargs):  # a bug or a bad row, for this message only
        if b"<imap-21@" in raw:
            raise RuntimeError("cannot store this one")
        return real(session, raw, **kwargs)

    monkeypatch.setattr(ingest, "ingest_raw", failing_on_21)
    results = [imap.poll_account(database, account_id, settings) for _ in range(3)]
    assert [(r.stored, r.failed, r.quarantined) for r in results] == [
        (2, 1, 0), (0, 1, 0), (0, 0, 1)]
    assert imap.poll_account(database, account_id, settings).fetched == 0
    with database.read_sessions() as session:
        row = session.scalar(sa.select(QuarantinedDelivery))
    assert (row.status, row.attempts, row.external_id) == (
        QuarantineStatus.QUARANTINED, 3, "<imap-21@example.org>")
    assert "cannot store this one" in row.reason and b"<imap-21@" in row.payload


def test_a_huge_message_is_quarantined_from_its_header_alone(database, dovecot, settings):
    account_id, user, secret = make_mailbox(database, dovecot)
    huge = letter(30, body="x" * 50_000)
    dovecot.append(user, secret, [huge, letter(31)])
    settings.email_max_message_bytes = 20_000

    result = imap.poll_account(database, account_id, settings)

    assert (result.stored, result.quarantined, result.fetched) == (1, 1, 1)
    with database.read_sessions() as session:
        row = session.scalar(sa.select(QuarantinedDelivery))
    assert row.external_id == "<imap-30@example.org>" and b"xxxx" not in row.payload
    assert "ограничение" in row.reason
    assert all("\\Seen" in flags for flags in dovecot.flags(user, secret))


def test_mailboxes_are_polled_in_parallel_and_independently(database, dovecot, settings):
    good_id, user, secret = make_mailbox(database, dovecot, name="good")
    token_id, token_user, token = make_mailbox(database, dovecot, name="oauth")
    bad_id, _user, _secret = make_mailbox(database, dovecot, name="bad", password="wrong")
    with database.session_scope() as session:
        account = session.get(ChannelAccount, token_id)
        account.config = {**account.config, "imap_password": None, "oauth2_token": token}
    dovecot.append(user, secret, [letter(40)])
    dovecot.append(token_user, token, [letter(41, sender="other@example.org")])

    results = {r.account_id: r for r in imap.poll_all(database, settings)}

    assert results[good_id].stored == 1 and results[token_id].stored == 1  # XOAUTH2
    assert results[bad_id].error and "uthentication" in results[bad_id].error
    with database.read_sessions() as session:
        bad = session.get(ChannelAccount, bad_id)
        good = session.get(ChannelAccount, good_id)
    assert bad.last_error and bad.last_error_at and good.last_success_at


def test_the_connection_test_signs_in_or_says_why_not(database, dovecot, settings):
    account_id, user, secret = make_mailbox(database, dovecot)
    dovecot.append(user, secret, [letter(50)])
    test = channels.connection_test_for(Channel.EMAIL)
    assert test is connection.check_connection
    message = test(_account(database, account_id))
    assert dovecot.host in message and "1" in message
    bad_id, _u, _s = make_mailbox(database, dovecot, name="bad", password="wrong")
    with pytest.raises(Exception, match="uthentication"):
        test(_account(database, bad_id))
    with database.session_scope() as session:
        empty = channels.create_account(session, actor=SYSTEM, kind=Channel.EMAIL,
                                        name="smtp-only", config={})
        session.expunge(empty)
    assert test(empty)


def _account(database: Database, account_id: int) -> ChannelAccount:
    with database.read_sessions() as session:
        account = session.get_one(ChannelAccount, account_id)
        session.expunge(account)
    return account


def test_an_account_without_imap_settings_is_not_polled(database, settings):
    with database.session_scope() as session:
        channels.create_account(session, actor=SYSTEM, kind=Channel.EMAIL, name="smtp-only",
                                address="help@zabota.example", config={})
    assert imap.poll_all(database, settings) == []


def test_a_message_the_ticket_service_refuses_is_quarantined_at_once(
        database, settings, monkeypatch):
    with database.session_scope() as session:
        account_id = channels.create_account(session, actor=SYSTEM, kind=Channel.EMAIL,
                                             name="support", config={}).id
    real = ingest.ingest_raw

    def refused(session, raw, **kwargs):  # stored, then refused: nothing of it may remain
        real(session, raw, **kwargs)
        raise field_error("text", "refused for good")

    monkeypatch.setattr(ingest, "ingest_raw", refused)
    outcome = imap.store_message(database, letter(30), account_id=account_id,
                                 settings=settings)
    assert outcome == "quarantined" and count(database, Ticket) == 0
    with database.read_sessions() as session:
        row = session.scalar(sa.select(QuarantinedDelivery))
    assert (row.status, row.attempts, row.external_id) == (
        QuarantineStatus.QUARANTINED, 1, "<imap-30@example.org>")
    assert "refused for good" in row.reason
