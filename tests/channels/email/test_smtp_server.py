"""The built-in SMTP receiver over real SMTP: aiosmtplib → aiosmtpd on a free local port."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import aiosmtplib
import pytest
import sqlalchemy as sa

from zabota.channels import service as channels
from zabota.channels.email import ingest
from zabota.channels.email.smtp_server import ReceiverController, free_port, start_smtp_receiver
from zabota.channels.models import QuarantinedDelivery
from zabota.core.db import Database
from zabota.core.errors import field_error
from zabota.core.settings import Settings
from zabota.identity import service as identity
from zabota.identity.permissions import SYSTEM
from zabota.tickets.models import Channel, Message, Ticket

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def database(committed_db_url: str) -> Iterator[Database]:
    db = Database(committed_db_url)
    yield db
    db.dispose()


@pytest.fixture
def receiver(database: Database, settings: Settings) -> Iterator[tuple[Settings, int]]:
    settings.smtp_port = free_port()
    with database.session_scope() as session:
        team = identity.create_team(session, name="Продажи", actor=SYSTEM)
        account = channels.create_account(
            session, actor=SYSTEM, kind=Channel.EMAIL, name="sales",
            address="Отдел продаж <sales@zabota.example>", team_id=team.id, config={})
        team_id = team.id
        del account
    controller = start_smtp_receiver(settings, database)
    assert isinstance(controller, ReceiverController)
    yield settings, team_id
    controller.stop()


def send(settings: Settings, raw: bytes, *, sender: str = "client@example.org",
         recipients: tuple[str, ...] = ("sales@zabota.example",)) -> object:
    return asyncio.run(aiosmtplib.send(raw, sender=sender, recipients=list(recipients),
                                       hostname=settings.smtp_host, port=settings.smtp_port,
                                       start_tls=False, use_tls=False, timeout=30))


def count(database: Database, model: type) -> int:
    with database.read_sessions() as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def test_mail_for_a_mailbox_becomes_a_ticket_of_its_team(database, receiver):
    settings, team_id = receiver
    raw = (FIXTURES / "r01-koi8r-plain.eml").read_bytes()
    errors, response = send(settings, raw, sender="ivan.petrov@example.ru")
    assert errors == {} and response.startswith("2.0.0")
    with database.read_sessions() as session:
        ticket = session.scalar(sa.select(Ticket))
        message = session.scalar(sa.select(Message))
    assert (ticket.subject, ticket.team_id, ticket.channel) == (
        "Не приходит код подтверждения", team_id, Channel.EMAIL)
    assert message.external_id == "<r01.koi8@example.ru>" and message.account_id is not None
    send(settings, raw, sender="ivan.petrov@example.ru")  # the sender's retry after a lost 250
    assert count(database, Message) == 1


def test_an_unknown_recipient_is_refused_with_550(database, receiver):
    settings, _team = receiver
    raw = (FIXTURES / "124-rbmail-basic-email.eml").read_bytes()
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
        send(settings, raw, recipients=("nobody@zabota.example",))
    assert refused.value.recipients[0].code == 550
    assert count(database, Message) == 0


def test_a_bounce_with_a_null_sender_creates_no_ticket(database, receiver):
    settings, _team = receiver
    raw = (b"From: Someone <someone@example.org>\r\nTo: sales@zabota.example\r\n"
           b"Subject: Out of the blue\r\nMessage-ID: <null-sender@example.org>\r\n\r\nx\r\n")

    async def bounce() -> None:  # MAIL FROM:<>, which aiosmtplib.send does not offer
        async with aiosmtplib.SMTP(hostname=settings.smtp_host, port=settings.smtp_port,
                                   start_tls=False) as client:
            await client.mail("")
            await client.rcpt("sales@zabota.example")
            response = await client.data(raw)
            assert response.code == 250

    asyncio.run(bounce())
    assert count(database, Ticket) == 0 and count(database, Message) == 0


def test_malformed_mail_is_accepted_into_quarantine(database, receiver):
    settings, _team = receiver
    send(settings, (FIXTURES / "001-flanker-attached-pdf.eml").read_bytes())
    assert count(database, QuarantinedDelivery) == 1 and count(database, Ticket) == 0


def test_a_letter_with_a_subject_and_no_text_becomes_a_ticket(database, receiver):
    settings, _team = receiver
    raw = (b"From: client@example.org\r\nTo: sales@zabota.example\r\n"
           b"Subject: Call me back please\r\nMessage-ID: <empty@example.org>\r\n\r\n")
    errors, response = send(settings, raw)
    assert errors == {} and response.startswith("2.0.0")
    with database.read_sessions() as session:
        ticket = session.scalar(sa.select(Ticket))
        message = session.scalar(sa.select(Message))
    assert ticket.subject == "Call me back please"
    assert message.body_text == "(В письме нет текста)"


def test_a_message_refused_for_good_is_quarantined_and_accepted(database, receiver,
                                                               monkeypatch):
    settings, _team = receiver
    real = ingest.ingest_raw

    def refused(session, raw, **kwargs):  # stored, then refused: nothing of it may remain
        real(session, raw, **kwargs)
        raise field_error("text", "refused for good")

    monkeypatch.setattr(ingest, "ingest_raw", refused)
    errors, response = send(settings, (FIXTURES / "124-rbmail-basic-email.eml").read_bytes())
    assert errors == {} and response.startswith("2.0.0")  # no 451: a retry fails the same way
    assert count(database, Ticket) == 0 and count(database, QuarantinedDelivery) == 1
    with database.read_sessions() as session:
        assert "refused for good" in session.scalar(sa.select(QuarantinedDelivery.reason))


def test_a_message_over_the_limit_is_refused_with_552(database, settings):
    settings.smtp_port = free_port()
    settings.email_max_message_bytes = 2000
    controller = start_smtp_receiver(settings, database)
    assert controller is not None
    try:
        raw = b"From: a@example.org\r\nSubject: big\r\n\r\n" + b"x" * 5000 + b"\r\n"
        with pytest.raises(aiosmtplib.SMTPResponseException) as refused:
            send(settings, raw)
        assert refused.value.code == 552
    finally:
        controller.stop()


def test_a_database_failure_answers_451_so_the_sender_retries(database, receiver):
    settings, _team = receiver
    with database.engine.begin() as conn:
        conn.execute(sa.text("DROP TABLE channel_quarantine"))  # break the store on purpose
        conn.execute(sa.text("ALTER TABLE messages RENAME TO messages_gone"))
    raw = (FIXTURES / "124-rbmail-basic-email.eml").read_bytes()
    with pytest.raises(aiosmtplib.SMTPResponseException) as deferred:
        send(settings, raw)
    assert deferred.value.code == 451


def test_any_recipient_is_taken_while_no_mailbox_is_configured(database, settings):
    settings.smtp_port = free_port()
    controller = start_smtp_receiver(settings, database)
    assert controller is not None
    try:
        errors, _response = send(settings, (FIXTURES / "124-rbmail-basic-email.eml").read_bytes(),
                                 recipients=("help@anything.example",))
    finally:
        controller.stop()
    assert errors == {} and count(database, Ticket) == 1


def test_the_receiver_can_be_switched_off(database, settings):
    settings.smtp_enabled = False
    assert start_smtp_receiver(settings, database) is None
