"""Raw e-mail into tickets: stored once, threaded, ignored or quarantined with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import actor_of, no_new_rows
from zabota.channels import service as channels
from zabota.channels.email.ingest import ingest_raw
from zabota.channels.email.parse import IgnoreCode, IgnoredReason
from zabota.channels.inbound import Received
from zabota.channels.models import (
    DeliveryStatus,
    OutboundDelivery,
    QuarantinedDelivery,
    QuarantineStatus,
)
from zabota.core.errors import Conflict
from zabota.identity.models import Role
from zabota.identity.permissions import SYSTEM
from zabota.tickets.models import MAX_MESSAGE_TEXT, Channel, Message, Ticket, TicketEvent

FIXTURES = Path(__file__).parent / "fixtures"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture
def mailbox(session, make_team):
    team = make_team("Поддержка")
    return channels.create_account(session, actor=SYSTEM, kind=Channel.EMAIL, name="support",
                                   address="Support <support@zabota.example>", team_id=team.id,
                                   config={})


def test_a_message_opens_a_ticket_for_the_mailbox_team(session, settings, mailbox):
    got = ingest_raw(session, fixture("r01-koi8r-plain.eml"), account_id=mailbox.id,
                     settings=settings)
    assert isinstance(got, Received) and got.created_ticket
    ticket = session.get(Ticket, got.ticket_id)
    message = session.get(Message, got.message_id)
    assert (ticket.subject, ticket.channel, ticket.team_id) == (
        "Не приходит код подтверждения", Channel.EMAIL, mailbox.team_id)
    assert message.body_text.startswith("Здравствуйте!")
    assert (message.external_id, message.account_id) == ("<r01.koi8@example.ru>", mailbox.id)
    assert message.meta["from"] == "Иван Петров <ivan.petrov@example.ru>"


def test_the_same_message_twice_is_stored_once(session, settings, mailbox):
    raw = fixture("r07-attachments-ru-names.eml")
    first = ingest_raw(session, raw, account_id=mailbox.id, settings=settings)
    with no_new_rows(session, Message):
        again = ingest_raw(session, raw.replace(b"\r\n", b"\n"), account_id=mailbox.id,
                           settings=settings)
    assert again.duplicate and again.message_id == first.message_id
    names = [a.filename for a in session.get(Message, first.message_id).attachments]
    assert names == ["attachment-1.png", "Счёт № 15.pdf", "Акт сверки.pdf", "Приложение.pdf"]


def test_a_reply_threads_by_references_and_reply_to_is_kept(session, settings, mailbox):
    first = ingest_raw(session, fixture("r11-reply-to.eml"), account_id=mailbox.id,
                       settings=settings)
    reply = (b"From: Web form <noreply@site.example>\r\nTo: support@zabota.example\r\n"
             b"Subject: Re: Contact form: refund\r\nMessage-ID: <r11.second@site.example>\r\n"
             b"In-Reply-To: <r11.replyto@site.example>\r\n\r\nAny news?\r\n")
    second = ingest_raw(session, reply, account_id=mailbox.id, settings=settings)
    assert second.ticket_id == first.ticket_id and not second.created_ticket
    assert session.get(Message, first.message_id).meta["reply_to"] == "customer@mail.example"


def test_a_letter_without_text_opens_a_ticket_and_a_blank_reply_is_kept(
        session, settings, mailbox):
    first = ingest_raw(session, b"From: a@example.org\r\nSubject: See the subject\r\n"
                       b"Message-ID: <blank1@example.org>\r\n\r\n",
                       account_id=mailbox.id, settings=settings)
    reply = ingest_raw(session, b"From: a@example.org\r\nSubject: Re: See the subject\r\n"
                       b"Message-ID: <blank2@example.org>\r\n"
                       b"In-Reply-To: <blank1@example.org>\r\n"
                       b"Content-Type: text/html\r\n\r\n<p> </p>\r\n",
                       account_id=mailbox.id, settings=settings)
    assert isinstance(first, Received) and first.created_ticket
    assert isinstance(reply, Received) and reply.ticket_id == first.ticket_id
    assert session.get(Ticket, first.ticket_id).subject == "See the subject"
    texts = [session.get(Message, got.message_id).body_text for got in (first, reply)]
    assert texts == ["(В письме нет текста)"] * 2


def test_a_text_over_the_api_limit_is_cut_with_a_note_not_refused(session, settings, mailbox):
    body = ("Строка длинного письма.\r\n" * 8000).encode()  # 200 000 characters
    raw = (b"From: a@example.org\r\nSubject: Long\r\nMessage-ID: <long@example.org>\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + body)
    got = ingest_raw(session, raw, account_id=mailbox.id, settings=settings)
    assert isinstance(got, Received) and got.created_ticket
    text = session.get(Message, got.message_id).body_text
    assert len(text) <= MAX_MESSAGE_TEXT
    assert text.startswith("Строка длинного письма.")
    assert text.endswith("… [сообщение обрезано: оно слишком длинное]")


@pytest.mark.parametrize(("name", "code"), [
    ("r08-autoreply-ru.eml", IgnoreCode.AUTO_REPLY), ("033-sisimai-lhost-mailru-01.eml",
                                                      IgnoreCode.BOUNCE),
    ("r09-precedence-bulk.eml", IgnoreCode.BULK), ("018-flanker-yahoo.eml", IgnoreCode.REPORT),
])
def test_automatic_mail_creates_no_ticket(session, settings, mailbox, name, code):
    with no_new_rows(session, Ticket), no_new_rows(session, Message):
        got = ingest_raw(session, fixture(name), account_id=mailbox.id, settings=settings)
    assert isinstance(got, IgnoredReason) and got.code == code


def test_mail_from_our_own_mailbox_and_our_own_replies_are_loops(session, settings, mailbox,
                                                                  make_ticket):
    own = (b"From: support@zabota.example\r\nSubject: hi\r\nMessage-ID: <own@x>\r\n\r\nx\r\n")
    assert ingest_raw(session, own, account_id=mailbox.id, settings=settings).code == (
        IgnoreCode.LOOP)
    ticket = make_ticket()
    message_id = session.scalar(sa.select(Message.id).where(Message.ticket_id == ticket.id))
    session.add(OutboundDelivery(message_id=message_id, ticket_id=ticket.id,
                                 channel=Channel.EMAIL, recipient="c@example.org",
                                 next_attempt_at=ticket.created_at, created_at=ticket.created_at,
                                 external_id="<reply-1@zabota.example>"))
    session.flush()
    echoed = (b"From: c@example.org\r\nSubject: Re: x\r\n"
              b"Message-ID: <reply-1@zabota.example>\r\n\r\nx\r\n")
    with no_new_rows(session, Message):
        got = ingest_raw(session, echoed, account_id=mailbox.id, settings=settings)
    assert got.code == IgnoreCode.LOOP


BOUNCE = (b"From: Mail Delivery System <MAILER-DAEMON@mx.example.org>\r\n"
          b"To: support@zabota.example\r\nSubject: Undelivered Mail Returned to Sender\r\n"
          b"Message-ID: <dsn-1@mx.example.org>\r\nMIME-Version: 1.0\r\n"
          b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n\r\n'
          b"--b\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
          b"--b\r\nContent-Type: message/delivery-status\r\n\r\n"
          b"Reporting-MTA: dns; mx.example.org\r\n\r\n"
          b"Final-Recipient: rfc822; nobody@example.org\r\nAction: failed\r\n"
          b"Status: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 User unknown\r\n\r\n"
          b"--b\r\nContent-Type: text/rfc822-headers\r\n\r\n"
          b"From: support@zabota.example\r\nTo: nobody@example.org\r\n"
          b"Subject: Re: [#1] x\r\nMessage-ID: <reply-2@zabota.example>\r\n\r\n"
          b"--b--\r\n")


def test_a_bounce_of_our_reply_marks_it_not_delivered(session, settings, mailbox,
                                                       make_ticket):
    ticket = make_ticket()
    message_id = session.scalar(sa.select(Message.id).where(Message.ticket_id == ticket.id))
    delivery = OutboundDelivery(message_id=message_id, ticket_id=ticket.id,
                                channel=Channel.EMAIL, recipient="nobody@example.org",
                                status=DeliveryStatus.SENT, next_attempt_at=ticket.created_at,
                                created_at=ticket.created_at,
                                external_id="<reply-2@zabota.example>")
    session.add(delivery)
    session.flush()

    with no_new_rows(session, Ticket), no_new_rows(session, Message):
        got = ingest_raw(session, BOUNCE, account_id=mailbox.id, settings=settings)

    assert got.code == IgnoreCode.BOUNCE and got.bounced == ("<reply-2@zabota.example>",)
    session.refresh(delivery)
    assert delivery.status == DeliveryStatus.DEAD  # listed with the undelivered replies
    assert delivery.last_error == "bounced: nobody@example.org: 5.1.1 smtp; 550 5.1.1 User unknown"
    event = session.scalar(sa.select(TicketEvent).where(TicketEvent.ticket_id == ticket.id,
                                                        TicketEvent.kind == "reply_bounced"))
    assert event is not None and event.data["recipient"] == "nobody@example.org"


def test_a_bounce_of_someone_elses_mail_changes_nothing(session, settings, mailbox):
    with no_new_rows(session, Ticket), no_new_rows(session, TicketEvent):
        got = ingest_raw(session, BOUNCE, account_id=mailbox.id, settings=settings)
    assert got.code == IgnoreCode.BOUNCE


def test_malformed_mail_is_quarantined_with_the_reason(session, settings, mailbox):
    raw = fixture("001-flanker-attached-pdf.eml")
    with no_new_rows(session, Ticket):
        got = ingest_raw(session, raw, account_id=mailbox.id, settings=settings)
    assert got.code == IgnoreCode.MALFORMED and "no sender" in got.detail
    row = session.scalar(sa.select(QuarantinedDelivery))
    assert (row.channel, row.account_id, row.status, row.payload) == (
        Channel.EMAIL, mailbox.id, QuarantineStatus.QUARANTINED, raw)
    assert "no sender" in row.reason
    again = ingest_raw(session, raw, account_id=mailbox.id, settings=settings)
    assert again.code == IgnoreCode.MALFORMED
    assert session.scalar(sa.select(sa.func.count()).select_from(QuarantinedDelivery)) == 1


def test_a_message_over_the_size_limit_is_quarantined(session, settings, mailbox):
    settings.email_max_message_bytes = 1000
    raw = fixture("r07-attachments-ru-names.eml")
    got = ingest_raw(session, raw, account_id=mailbox.id, settings=settings)
    assert got.code == IgnoreCode.MALFORMED and "ограничение" in got.detail
    assert len(session.scalar(sa.select(QuarantinedDelivery.payload))) < len(raw)


def test_a_released_message_is_taken_in_once_it_can_be(session, settings, mailbox, make_agent):
    admin = actor_of(make_agent(role=Role.ADMIN))
    raw = b"Subject: no sender yet\r\nMessage-ID: <q1@example.org>\r\n\r\nbody\r\n"
    ingest_raw(session, raw, account_id=mailbox.id, settings=settings)
    row = session.scalar(sa.select(QuarantinedDelivery))
    with pytest.raises(Conflict):
        channels.release(session, row.id, actor=admin)
    row.payload = b"From: fixed@example.org\r\n" + raw  # an admin's fix, say
    released = channels.release(session, row.id, actor=admin)
    assert released.status == QuarantineStatus.RELEASED
    assert session.scalar(sa.select(Message.id).where(Message.external_id == "<q1@example.org>"))
