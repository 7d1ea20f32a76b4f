"""Replies by e-mail over real SMTP (a local aiosmtpd capturing what arrives), and the round
trip: mail in → ticket → agent reply → mail out → the customer's answer → the same ticket."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib
import pytest
from aiosmtpd.controller import Controller

from tests.conftest import actor_of
from zabota.channels import outbound
from zabota.channels import service as channels
from zabota.channels.email.ingest import ingest_raw
from zabota.channels.email.send import reply_subject, send_email
from zabota.channels.email.smtp_server import free_port
from zabota.channels.models import DeliveryStatus
from zabota.channels.outbound import PermanentFailure
from zabota.identity.models import IdentityKind, Role
from zabota.identity.permissions import SYSTEM
from zabota.tickets import service as tickets
from zabota.tickets.attachments import store_attachment
from zabota.tickets.models import Channel, Message

FIXTURES = Path(__file__).parent / "fixtures"


@dataclass
class Capture:
    """An SMTP server that keeps what it is sent, or refuses recipients with `rcpt_reply`."""

    messages: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)
    rcpt_reply: str = "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if not self.rcpt_reply.startswith("250"):
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        parsed = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 2.0.0 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Capture, int]]:
    capture = Capture()
    port = free_port()
    controller = Controller(capture, hostname="127.0.0.1", port=port)
    controller.start()
    yield capture, port
    controller.stop()


@pytest.fixture
def mailbox(session, make_team, smtp):
    _capture, port = smtp
    team = make_team("Поддержка")
    return channels.create_account(
        session, actor=SYSTEM, kind=Channel.EMAIL, name="Служба поддержки",
        address="support@zabota.example", team_id=team.id,
        config={"smtp_host": "127.0.0.1", "smtp_port": port, "smtp_starttls": False})


def reply_by_agent(session, make_agent, ticket_id: int, text: str, **kwargs) -> Message:
    agent = make_agent(role=Role.ADMIN)
    return tickets.add_message(session, ticket_id, tickets.NewMessage(text=text, **kwargs),
                               actor=actor_of(agent))


def send_planned(session, settings, message: Message) -> tuple[str | None, int]:
    delivery = outbound.plan(session, message, settings=settings)
    assert delivery is not None
    job = outbound.outgoing(session, delivery.id, settings)
    external_id = send_email(job, settings)
    outbound.record_result(session, delivery.id, external_id=external_id)
    return external_id, delivery.id


def test_the_round_trip_keeps_one_ticket(session, settings, mailbox, smtp, make_agent):
    capture, _port = smtp
    first = ingest_raw(session, (FIXTURES / "r01-koi8r-plain.eml").read_bytes(),
                       account_id=mailbox.id, settings=settings)
    reply = reply_by_agent(session, make_agent, first.ticket_id, "Отправили код повторно.")

    sent_id, delivery_id = send_planned(session, settings, reply)

    (sender, recipients, out), = capture.messages
    assert recipients == ["ivan.petrov@example.ru"] and sender == "support@zabota.example"
    assert out["Message-ID"] == sent_id and sent_id.endswith("@zabota.example>")
    assert out["In-Reply-To"] == "<r01.koi8@example.ru>"
    assert out["References"] == "<r01.koi8@example.ru>"
    assert out["Subject"] == f"Re: [#{first.ticket_id}] Не приходит код подтверждения"
    assert out["From"].addresses[0].addr_spec == "support@zabota.example"
    assert out["From"].addresses[0].display_name == "Служба поддержки"
    assert out["Auto-Submitted"] is None
    assert out.get_body(("plain",)).get_content().strip() == "Отправили код повторно."
    assert "Отправили код повторно." in out.get_body(("html",)).get_content()
    assert outbound.list_deliveries(session)[0].status == DeliveryStatus.SENT

    answer = (f"From: ivan.petrov@example.ru\r\nTo: support@zabota.example\r\n"
              f"Subject: {out['Subject']}\r\nMessage-ID: <r01.answer@example.ru>\r\n"
              f"In-Reply-To: {sent_id}\r\nReferences: <r01.koi8@example.ru> {sent_id}\r\n"
              "\r\nПришёл, спасибо!\r\n\r\n> Отправили код повторно.\r\n").encode()
    # An unrelated subject and a new sender address would not thread; the references do.
    again = ingest_raw(session, answer.replace(out["Subject"].encode(), b"Re: ?"),
                       account_id=mailbox.id, settings=settings)
    assert again.ticket_id == first.ticket_id and not again.created_ticket
    assert session.get(Message, again.message_id).body_text == "Пришёл, спасибо!"
    del delivery_id


def test_the_next_reply_references_the_whole_thread(session, settings, mailbox, smtp,
                                                    make_agent):
    capture, _port = smtp
    first = ingest_raw(session, (FIXTURES / "r01-koi8r-plain.eml").read_bytes(),
                       account_id=mailbox.id, settings=settings)
    one, _d = send_planned(session, settings,
                           reply_by_agent(session, make_agent, first.ticket_id, "Раз"))
    two, _d = send_planned(session, settings,
                           reply_by_agent(session, make_agent, first.ticket_id, "Два"))
    last = capture.messages[-1][2]
    assert last["References"].split() == ["<r01.koi8@example.ru>", one]
    assert last["In-Reply-To"] == one and last["Message-ID"] == two


def test_replies_go_to_reply_to_with_files(session, settings, mailbox, smtp, make_agent):
    capture, _port = smtp
    got = ingest_raw(session, (FIXTURES / "r11-reply-to.eml").read_bytes(),
                     account_id=mailbox.id, settings=settings)
    agent = make_agent(role=Role.ADMIN)
    file = store_attachment(session, actor=actor_of(agent), filename="Инструкция.pdf",
                            content_type="application/pdf", data=b"%PDF-1.4 test",
                            settings=settings)
    reply = tickets.add_message(session, got.ticket_id, tickets.NewMessage(
        text="Инструкция во вложении", attachment_ids=[file.id]), actor=actor_of(agent))
    send_planned(session, settings, reply)
    (_sender, recipients, out), = capture.messages
    assert recipients == ["customer@mail.example"]
    attachment, = out.iter_attachments()
    assert attachment.get_filename() == "Инструкция.pdf"
    assert attachment.get_content() == b"%PDF-1.4 test"


def test_a_portal_request_is_told_of_the_answer_and_the_answer_to_that_threads(
        session, settings, mailbox, smtp, make_agent, make_customer):
    capture, _port = smtp
    settings.public_url = "https://help.example.org"
    customer = make_customer("portal@example.org", name="Пётр")
    ticket = tickets.create_ticket(session, actor=SYSTEM, subject="Не работает VPN",
                                   message=tickets.NewMessage(text="Не подключается"),
                                   channel=Channel.PORTAL, customer_id=customer.id)
    reply = reply_by_agent(session, make_agent, ticket.id, "Перезагрузите роутер.")
    assert reply.channel == Channel.PORTAL

    sent_id, _delivery = send_planned(session, settings, reply)

    (_sender, recipients, out), = capture.messages
    body = out.get_body(("plain",)).get_content()
    assert recipients == ["portal@example.org"]
    assert "Перезагрузите роутер." in body
    assert "https://help.example.org/portal/open/" in body  # the signed link to the request
    assert f"[#{ticket.id}]" in out["Subject"]
    answer = (f"From: portal@example.org\r\nSubject: Re\r\nMessage-ID: <p1@example.org>\r\n"
              f"In-Reply-To: {sent_id}\r\n\r\nПомогло!\r\n").encode()
    got = ingest_raw(session, answer, account_id=mailbox.id, settings=settings)
    assert got.ticket_id == ticket.id


def test_a_refused_address_is_a_permanent_failure(session, settings, mailbox, smtp,
                                                  make_agent):
    capture, _port = smtp
    got = ingest_raw(session, (FIXTURES / "r01-koi8r-plain.eml").read_bytes(),
                     account_id=mailbox.id, settings=settings)
    delivery = outbound.plan(session, reply_by_agent(session, make_agent, got.ticket_id, "x"),
                             settings=settings)
    job = outbound.outgoing(session, delivery.id, settings)
    capture.rcpt_reply = "550 5.1.1 No such user"
    with pytest.raises(PermanentFailure, match="550"):
        send_email(job, settings)
    capture.rcpt_reply = "451 4.7.1 Greylisted, try later"
    with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as later:
        send_email(job, settings)
    assert not isinstance(later.value, PermanentFailure)


def test_an_unreachable_server_is_retried(session, settings, mailbox, make_agent):
    mailbox.config = {**mailbox.config, "smtp_port": free_port()}
    session.flush()
    got = ingest_raw(session, (FIXTURES / "r01-koi8r-plain.eml").read_bytes(),
                     account_id=mailbox.id, settings=settings)
    delivery = outbound.plan(session, reply_by_agent(session, make_agent, got.ticket_id, "x"),
                             settings=settings)
    job = outbound.outgoing(session, delivery.id, settings)
    with pytest.raises(aiosmtplib.SMTPConnectError):
        send_email(job, settings)


def test_without_any_mail_server_the_reply_is_kept_as_a_file(session, settings, make_agent):
    got = ingest_raw(session, (FIXTURES / "r01-koi8r-plain.eml").read_bytes(),
                     account_id=None, settings=settings)
    reply = reply_by_agent(session, make_agent, got.ticket_id, "Ответ без почтового сервера")
    sent_id, _delivery = send_planned(session, settings, reply)
    saved, = settings.mail_dir.glob("*.eml")
    out = email.message_from_bytes(saved.read_bytes(), policy=email.policy.default)
    assert out["Message-ID"] == sent_id and out["To"].addresses[0].addr_spec == (
        "ivan.petrov@example.ru")
    assert out["From"] == settings.mail_from


@pytest.mark.parametrize(("subject", "expected"), [
    ("Заказ", "Re: [#5] Заказ"), ("RE: Re: [#5] Заказ", "Re: [#5] Заказ"),
    ("Fwd: Ответ: [#9] x", "Re: [#5] x"), ("", "Re: [#5]"),
])
def test_reply_subjects_carry_one_ticket_number(subject, expected):
    assert reply_subject(5, subject) == expected


def test_an_identity_only_customer_gets_the_reply_at_that_address(session, settings, mailbox,
                                                                   smtp, make_agent):
    from zabota.identity import service as identity

    customer = identity.find_or_create_customer(
        session, identities=[(IdentityKind.EMAIL, "only@example.org")], name="Only")
    ticket = tickets.create_ticket(session, actor=SYSTEM, subject="x",
                                   message=tickets.NewMessage(text="y"), channel=Channel.EMAIL,
                                   customer_id=customer.id)
    send_planned(session, settings, reply_by_agent(session, make_agent, ticket.id, "z"))
    assert smtp[0].messages[0][1] == ["only@example.org"]
