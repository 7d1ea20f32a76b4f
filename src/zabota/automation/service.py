"""Staff notifications, hung on the ticket outbox events: assigned to me, my customer answered,
I was mentioned in a note, my ticket was escalated. Handlers run in the worker and may run
twice; the unique (user, event, kind) key makes the second run a no-op."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zabota.automation.models import Notification, NotificationKind, NotificationPreference
from zabota.core import mailer
from zabota.core.clock import SYSTEM_CLOCK, Clock
from zabota.core.i18n import N_, _, language
from zabota.core.outbox import OutboxEvent, after_commit, subscribe
from zabota.identity import service as identity
from zabota.identity.models import User
from zabota.identity.permissions import SYSTEM, Actor
from zabota.tickets import service as tickets
from zabota.tickets.models import Ticket

log = structlog.get_logger()
MENTION = re.compile(r"(?<![\w.])@([\w.+-]+)")
TEXTS = {
    NotificationKind.ASSIGNED: N_("Ticket #{number} “{subject}” was assigned to you"),
    NotificationKind.CUSTOMER_REPLIED: N_("The customer answered in ticket #{number} “{subject}”"),
    NotificationKind.MENTIONED: N_("{author} mentioned you in ticket #{number} “{subject}”"),
    NotificationKind.ESCALATED: N_("Ticket #{number} “{subject}” was escalated"),
}
KIND_LABELS = {
    NotificationKind.ASSIGNED: N_("A ticket is assigned to me"),
    NotificationKind.CUSTOMER_REPLIED: N_("A customer answers my ticket"),
    NotificationKind.MENTIONED: N_("A colleague mentions me in a note"),
    NotificationKind.ESCALATED: N_("A ticket of mine is escalated"),
}


def notify(session: Session, *, user_id: int, kind: NotificationKind, ticket_id: int,
           event_id: str, author: str = "", clock: Clock = SYSTEM_CLOCK) -> Notification | None:
    """Record one notification (and queue its e-mail) unless the user switched it off."""
    user = session.get(User, user_id)
    if user is None or not user.is_active:
        return None
    prefs = preference(session, user_id, kind)
    if not (prefs.in_app or prefs.by_email):
        return None
    ticket = tickets.get_ticket_for(session, SYSTEM, ticket_id)
    with language(user.language):
        text = _(TEXTS[kind]).format(number=ticket.number, subject=ticket.subject[:120],
                                     author=author)
    row = Notification(user_id=user.id, kind=kind, ticket_id=ticket.id, event_id=event_id,
                       text=text[:500], author=author[:200], created_at=clock.now(),
                       read_at=None if prefs.in_app else clock.now())
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return None  # delivered by an earlier attempt of the same event
    if prefs.by_email:
        email = user.email
        after_commit(session, lambda: mailer.send(to=email, subject=text, text=text))
        row.emailed_at = clock.now()
    log.info("notification.created", user_id=user.id, kind=kind.value, ticket_id=ticket.id)
    return row


def preference(session: Session, user_id: int, kind: NotificationKind) -> NotificationPreference:
    row = session.get(NotificationPreference, (user_id, kind.value))
    return row or NotificationPreference(user_id=user_id, kind=kind.value, in_app=True,
                                         by_email=True)


def set_preferences(session: Session, actor: Actor,
                    choices: dict[NotificationKind, tuple[bool, bool]]) -> None:
    """A staff user's own choice per kind: (in the app, by e-mail)."""
    for kind, (in_app, by_email) in choices.items():
        row = session.get(NotificationPreference, (actor.id, kind.value))
        if row is None:
            row = NotificationPreference(user_id=actor.id, kind=kind.value)
            session.add(row)
        row.in_app, row.by_email = in_app, by_email
    session.flush()


def unread_count(session: Session, actor: Actor) -> int:
    if not actor.is_staff:
        return 0
    return session.scalar(sa.select(sa.func.count()).select_from(Notification).where(
        Notification.user_id == actor.id, Notification.read_at.is_(None))) or 0


def list_notifications(session: Session, actor: Actor, *,
                       limit: int = 50) -> Sequence[Notification]:
    return session.scalars(sa.select(Notification).where(Notification.user_id == actor.id)
                           .order_by(Notification.id.desc()).limit(limit)).all()


def notification_texts(session: Session, rows: Sequence[Notification]) -> dict[int, str]:
    """Each notification in the current language, with its ticket's subject as it is now. A
    mention recorded before authors were kept shows its stored text."""
    wanted = {row.ticket_id for row in rows if row.ticket_id is not None}
    subjects: dict[int, str] = {ticket_id: subject for ticket_id, subject in session.execute(
        sa.select(Ticket.id, Ticket.subject).where(Ticket.id.in_(wanted)))}
    texts = {}
    for row in rows:
        subject = subjects.get(row.ticket_id or 0)
        if subject is None or (row.kind == NotificationKind.MENTIONED and not row.author):
            texts[row.id] = row.text
        else:
            texts[row.id] = _(TEXTS[row.kind]).format(number=row.ticket_id,
                                                      subject=subject[:120], author=row.author)
    return texts


def mark_read(session: Session, actor: Actor, *, ids: Sequence[int] | None = None,
              clock: Clock = SYSTEM_CLOCK) -> None:
    query = sa.update(Notification).where(Notification.user_id == actor.id,
                                          Notification.read_at.is_(None))
    if ids is not None:
        query = query.where(Notification.id.in_(ids))
    session.execute(query.values(read_at=clock.now()))


# --- outbox subscribers -------------------------------------------------------------


def _at(row: OutboxEvent) -> datetime:
    return row.created_at


@subscribe("ticket.updated")
def on_ticket_updated(session: Session, row: OutboxEvent) -> None:
    changes = row.payload.get("changes", {})
    actor_id = row.payload.get("actor_id") if row.payload.get("actor_kind") == "user" else None
    ticket_id = int(row.payload["ticket_id"])
    assignee = changes.get("assignee_id")
    if assignee and assignee[1] is not None and assignee[1] != actor_id:
        notify(session, user_id=int(assignee[1]), kind=NotificationKind.ASSIGNED,
               ticket_id=ticket_id, event_id=row.event_id)
    if "escalation_level" in changes:
        # The agent who held the ticket before it went up a line hears about it.
        previous = assignee[0] if assignee else tickets.get_ticket_for(
            session, SYSTEM, ticket_id).assignee_id
        if previous is not None and previous != actor_id:
            notify(session, user_id=int(previous), kind=NotificationKind.ESCALATED,
                   ticket_id=ticket_id, event_id=row.event_id)


@subscribe("message.created")
def on_message_created(session: Session, row: OutboxEvent) -> None:
    ticket = tickets.get_ticket_for(session, SYSTEM, int(row.payload["ticket_id"]))
    author_kind = row.payload.get("author_kind")
    assignee_id = row.payload.get("assignee_id")
    if author_kind == "customer" and assignee_id is not None:
        notify(session, user_id=int(assignee_id), kind=NotificationKind.CUSTOMER_REPLIED,
               ticket_id=ticket.id, event_id=row.event_id)
        return
    if author_kind != "agent" or not row.payload.get("is_internal"):
        return
    message = tickets.get_message(session, int(row.payload["message_id"]))
    handles = MENTION.findall(message.body_text)
    author = session.get(User, message.author_user_id) if message.author_user_id else None
    for user in identity.users_by_mention(session, handles):
        if author is None or user.id != author.id:
            notify(session, user_id=user.id, kind=NotificationKind.MENTIONED,
                   ticket_id=ticket.id, event_id=row.event_id,
                   author=author.name if author else "")
