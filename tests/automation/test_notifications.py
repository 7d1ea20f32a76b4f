"""Notifications come from the outbox: assigned, customer answered, mentioned, escalated."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.conftest import actor_of
from zabota.automation import service as automation
from zabota.automation.models import Notification, NotificationKind
from zabota.core import outbox
from zabota.identity.models import Role
from zabota.jobs.huey_app import huey
from zabota.tickets import service as tickets


def deliver(session) -> None:
    assert outbox.dispatch_pending(session) > 0


def kinds(session, user) -> list[tuple[str, str]]:
    rows = session.scalars(sa.select(Notification).where(Notification.user_id == user.id)
                           .order_by(Notification.id)).all()
    return [(n.kind.value, n.text) for n in rows]


@pytest.fixture
def crew(session, make_team, make_agent, make_customer, make_ticket):
    first, second = make_team("1-я линия"), make_team("2-я линия")
    first.escalation_team_id = second.id
    lead = make_agent(role=Role.SUPERVISOR)
    agent = make_agent(teams=(first,), language="ru")
    colleague = make_agent(teams=(first,), language="en")
    customer = make_customer()
    ticket = make_ticket(customer=customer, team_id=first.id, subject="Нет доставки")
    deliver(session)  # the creation events: nobody is notified of them
    return {"lead": lead, "agent": agent, "colleague": colleague, "customer": customer,
            "ticket": ticket}


def test_assignment_customer_reply_mention_and_escalation(session, crew):
    lead, agent = actor_of(crew["lead"]), actor_of(crew["agent"])
    ticket = crew["ticket"]
    tickets.assign_ticket(session, ticket.id, agent.id, actor=lead)
    tickets.add_message(session, ticket.id, tickets.NewMessage(text="Где мой заказ?"),
                        actor=actor_of(crew["customer"]))
    handle = crew["colleague"].email.split("@")[0]
    tickets.add_message(session, ticket.id, tickets.NewMessage(
        text=f"@{handle} посмотри, пожалуйста; @nobody тоже", is_internal=True), actor=agent)
    tickets.escalate_ticket(session, ticket.id, reason="сложно", actor=lead)
    deliver(session)
    number = ticket.number
    assert kinds(session, crew["agent"]) == [
        ("assigned", f"Обращение #{number} «Нет доставки» назначено вам"),
        ("customer_replied", f"Клиент ответил в обращении #{number} «Нет доставки»"),
        ("escalated", f"Обращение #{number} «Нет доставки» эскалировано"),
    ]
    assert kinds(session, crew["colleague"]) == [
        ("mentioned", f"{crew['agent'].name} mentioned you in ticket #{number} “Нет доставки”")]
    assert automation.unread_count(session, agent) == 3


def test_redelivery_does_not_notify_twice(session, crew):
    lead = actor_of(crew["lead"])
    tickets.assign_ticket(session, crew["ticket"].id, crew["agent"].id, actor=lead)
    deliver(session)
    session.execute(sa.update(outbox.OutboxEvent).values(delivered_at=None))
    deliver(session)
    assert len(kinds(session, crew["agent"])) == 1


def test_preferences_switch_the_app_and_the_mail(session, crew):
    agent = actor_of(crew["agent"])
    automation.set_preferences(session, agent, {
        NotificationKind.ASSIGNED: (False, True), NotificationKind.CUSTOMER_REPLIED: (True, False)})
    huey.flush()
    tickets.assign_ticket(session, crew["ticket"].id, agent.id, actor=actor_of(crew["lead"]))
    tickets.add_message(session, crew["ticket"].id, tickets.NewMessage(text="Ау"),
                        actor=actor_of(crew["customer"]))
    deliver(session)
    session.commit()  # e-mails leave only after the notification is stored
    rows = session.scalars(sa.select(Notification).where(
        Notification.user_id == agent.id).order_by(Notification.id)).all()
    assert [(n.kind.value, n.read_at is not None, n.emailed_at is not None) for n in rows] == [
        ("assigned", True, True), ("customer_replied", False, False)]
    queued = [task.kwargs["to"] for task in huey.pending() if task.name.endswith("send_mail")]
    assert queued == [crew["agent"].email]
    assert automation.unread_count(session, agent) == 1
    huey.flush()


def test_the_bell_shows_unread_count(app_client, session, crew):
    from zabota.identity import service as identity

    identity.update_user(session, crew["agent"].id, actor=actor_of(crew["agent"]),
                         password="agent-pass-1")
    tickets.assign_ticket(session, crew["ticket"].id, crew["agent"].id,
                          actor=actor_of(crew["lead"]))
    deliver(session)
    session.commit()
    app_client.post("/login", data={"email": crew["agent"].email, "password": "agent-pass-1"})
    page = app_client.get("/agent/notifications").text
    assert 'class="unread"' in page and "назначено вам" in page


def test_the_page_says_a_notification_in_its_own_language(session, crew):
    from zabota.core.i18n import language

    lead = actor_of(crew["lead"])
    handle = crew["colleague"].email.split("@")[0]  # the colleague's profile says English
    tickets.add_message(session, crew["ticket"].id, tickets.NewMessage(
        text=f"@{handle} глянь", is_internal=True), actor=actor_of(crew["agent"]))
    tickets.assign_ticket(session, crew["ticket"].id, crew["colleague"].id, actor=lead)
    deliver(session)
    rows = automation.list_notifications(session, actor_of(crew["colleague"]))
    number, author = crew["ticket"].number, crew["agent"].name

    with language("ru"):  # the page is in Russian this time
        shown = automation.notification_texts(session, rows)

    assert sorted(shown.values()) == sorted([
        f"{author} упомянул(а) вас в обращении #{number} «Нет доставки»",
        f"Обращение #{number} «Нет доставки» назначено вам"])
    assert {row.text for row in rows} == {  # the e-mail's, in the profile's language
        f"{author} mentioned you in ticket #{number} “Нет доставки”",
        f"Ticket #{number} “Нет доставки” was assigned to you"}
