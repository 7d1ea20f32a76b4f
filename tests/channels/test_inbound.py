"""The channel-independent core: one customer, one history, every delivery stored once."""

from __future__ import annotations

import sqlalchemy as sa

from tests.conftest import actor_of
from zabota.channels.inbound import Inbound, InboundFile, receive, ticket_number_in
from zabota.channels.models import OutboundDelivery
from zabota.identity.models import IdentityKind, Role
from zabota.identity.permissions import SYSTEM
from zabota.tickets import service as tickets
from zabota.tickets.models import Channel, Message, Status, Ticket, TicketEvent


def telegram(text: str, message_id: int, chat: str = "5001", **kwargs) -> Inbound:
    return Inbound(channel=Channel.TELEGRAM, external_id=f"{chat}:{message_id}",
                   identities=[(IdentityKind.TELEGRAM, chat)], name="Ольга", text=text, **kwargs)


def email(text: str, message_id: str, sender: str = "olga@example.org", **kwargs) -> Inbound:
    return Inbound(channel=Channel.EMAIL, external_id=message_id,
                   identities=[(IdentityKind.EMAIL, sender)], name="Ольга Петрова", text=text,
                   **kwargs)


def test_a_first_message_opens_a_ticket_named_after_its_first_line(session, settings):
    got = receive(session, telegram("Не приходит код\nуже час жду", 1), settings=settings)
    ticket = session.get(Ticket, got.ticket_id)
    assert got.created_ticket and not got.duplicate
    assert (ticket.subject, ticket.channel, ticket.status) == (
        "Не приходит код", Channel.TELEGRAM, Status.NEW)


def test_the_same_delivery_twice_is_stored_once(session, settings):
    first = receive(session, telegram("Привет", 7), settings=settings)
    again = receive(session, telegram("Привет", 7), settings=settings)
    assert again.duplicate and again.message_id == first.message_id
    assert session.scalar(sa.select(sa.func.count()).select_from(Message)
                          .where(Message.ticket_id == first.ticket_id)) == 1


def test_a_conversation_continues_the_open_ticket_until_it_is_solved(session, settings):
    first = receive(session, telegram("Не приходит код", 1), settings=settings)
    second = receive(session, telegram("Всё ещё не пришёл", 2), settings=settings)
    assert second.ticket_id == first.ticket_id and not second.created_ticket
    tickets.update_ticket(session, first.ticket_id, {"status": Status.SOLVED}, actor=SYSTEM)
    third = receive(session, telegram("Спасибо!", 3), settings=settings)
    assert third.created_ticket and third.ticket_id != first.ticket_id


def test_an_email_reply_threads_by_references_and_reopens_a_solved_ticket(session, settings):
    first = receive(session, email("Где мой заказ?", "<a1@example.org>", subject="Заказ"),
                    settings=settings)
    tickets.update_ticket(session, first.ticket_id, {"status": Status.SOLVED}, actor=SYSTEM)
    reply = receive(session, email("Так и не пришёл", "<a2@example.org>", subject="Re: Заказ",
                                   replies_to=["<a1@example.org>"]), settings=settings)
    ticket = session.get(Ticket, first.ticket_id)
    assert reply.ticket_id == first.ticket_id
    assert (ticket.status, ticket.reopens) == (Status.OPEN, 1)


def test_an_email_threads_by_the_ticket_number_in_the_subject(session, settings):
    first = receive(session, email("Где мой заказ?", "<b1@example.org>", subject="Заказ"),
                    settings=settings)
    reply = receive(session, email("Ответ", "<b2@example.org>",
                                   subject=f"Re: [#{first.ticket_id}] Заказ"), settings=settings)
    assert reply.ticket_id == first.ticket_id


def test_a_ticket_number_of_someone_elses_ticket_opens_a_new_one(session, settings):
    first = receive(session, email("Где мой заказ?", "<c1@example.org>", subject="Заказ"),
                    settings=settings)
    other = receive(session, email("Чужой номер", "<c2@example.org>", sender="eve@evil.test",
                                   subject=f"Re: [#{first.ticket_id}]"), settings=settings)
    assert other.created_ticket and other.ticket_id != first.ticket_id


def test_a_reply_to_a_closed_ticket_starts_a_linked_follow_up(session, settings):
    first = receive(session, email("Где мой заказ?", "<d1@example.org>", subject="Заказ"),
                    settings=settings)
    tickets.update_ticket(session, first.ticket_id, {"status": Status.SOLVED}, actor=SYSTEM)
    tickets.update_ticket(session, first.ticket_id, {"status": Status.CLOSED}, actor=SYSTEM)
    again = receive(session, email("Опять не пришёл", "<d2@example.org>", subject="Re: Заказ",
                                   replies_to=["<d1@example.org>"]), settings=settings)
    assert again.created_ticket and again.follow_up_of == first.ticket_id
    links = session.scalars(sa.select(TicketEvent.data).where(TicketEvent.kind == "follow_up")
                            .order_by(TicketEvent.ticket_id)).all()
    assert {"follows": first.ticket_id} in links and {"followed_by": again.ticket_id} in links


def test_one_person_across_channels_is_one_customer(session, settings, make_customer):
    customer = make_customer("olga@example.org")
    tickets_of = receive(session, email("Письмо", "<e1@example.org>"), settings=settings)
    linked = Inbound(channel=Channel.TELEGRAM, external_id="77:1",
                     identities=[(IdentityKind.TELEGRAM, "77"), (IdentityKind.EMAIL,
                                                                 "OLGA@example.org")],
                     text="А это из телеграма")
    by_telegram = receive(session, linked, settings=settings)
    owners = {session.get(Ticket, t).customer_id for t in (tickets_of.ticket_id,
                                                           by_telegram.ticket_id)}
    assert owners == {customer.id}


def test_a_refused_attachment_is_named_and_the_rest_is_kept(session, settings):
    settings.max_attachment_bytes = 10
    got = receive(session, telegram("Вот скриншоты", 9, files=[
        InboundFile("ok.png", b"\x89PNG12", "image/png"),
        InboundFile("huge.png", b"x" * 100, "image/png"),
    ]), settings=settings)
    message = session.get(Message, got.message_id)
    assert [a.filename for a in message.attachments] == ["ok.png"]
    assert "huge.png" in message.body_text and message.body_text.startswith("Вот скриншоты")


def test_ticket_numbers_are_read_from_subjects():
    assert ticket_number_in("Re: [#1042] Заказ") == 1042
    assert ticket_number_in("Вопрос по #77") == 77
    assert ticket_number_in("Заказ 123") is None


def test_the_answer_goes_back_on_the_channel_the_customer_wrote_on(session, settings,
                                                                    make_agent, monkeypatch):
    from zabota.channels import outbound

    monkeypatch.setitem(outbound._senders, Channel.TELEGRAM, lambda job, _s: "42")
    got = receive(session, telegram("Не приходит код", 1, chat="9001"), settings=settings)
    agent = make_agent(role=Role.ADMIN)
    reply = tickets.add_message(session, got.ticket_id, tickets.NewMessage(text="Отправили"),
                                actor=actor_of(agent))
    assert reply.channel == Channel.TELEGRAM
    delivery = outbound.plan(session, reply, settings=settings)
    assert (delivery.channel, delivery.recipient) == (Channel.TELEGRAM, "9001")
    job = outbound.outgoing(session, delivery.id, settings)
    assert (job.text, job.ticket_id) == ("Отправили", got.ticket_id)
    failed = outbound.record_result(session, delivery.id, error=TimeoutError("slow"))
    assert (failed.status.value, failed.attempts) == ("pending", 1)
    sent = outbound.record_result(session, delivery.id, external_id="9001:55")
    assert (sent.status.value, sent.external_id) == ("sent", "9001:55")
    assert session.scalar(sa.select(sa.func.count()).select_from(OutboundDelivery)) == 1
