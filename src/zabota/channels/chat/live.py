"""Agents' and the bot's chat replies reach the visitor the moment they are committed.

Whatever stores a public reply in a chat (the chats page, the ticket page, the API, the bot)
commits a `Message` on the chat channel; a session hook notes it at flush and publishes it to
the visitor's connections after the commit. The outbound sender (`sender.py`) runs later from
the job queue: it does nothing more for a reply that was heard live, and otherwise tries
again or answers by e-mail. So a reply is never lost, and the widget drops the second copy of
one it already shows (frames carry the message id).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from zabota.channels.chat.hub import MEMORY_HUB, ChatHub, Frame, RedisHub
from zabota.core.outbox import OutboxEvent, after_commit, subscribe
from zabota.core.settings import Settings, get_settings
from zabota.tickets.models import AuthorKind, Channel, Message, Ticket

log = structlog.get_logger()

_NOTED = "zabota.chat.replies"
_configured: tuple[ChatHub, Settings] | None = None
_default_redis: dict[str, RedisHub] = {}


def configure(hub: ChatHub | None, settings: Settings | None = None) -> None:
    """The server's hub and settings (set at start-up); jobs without a server use the
    environment's."""
    global _configured
    _configured = None if hub is None or settings is None else (hub, settings)


def current() -> tuple[ChatHub, Settings]:
    if _configured is not None:
        return _configured
    settings = get_settings()
    if not settings.redis_url:
        return MEMORY_HUB, settings
    hub = _default_redis.get(settings.redis_url)
    if hub is None:
        hub = _default_redis[settings.redis_url] = RedisHub(settings.redis_url)
    return hub, settings


def publish_to_visitor(hub: ChatHub, visitor_id: str, frame: Frame) -> int:
    return hub.publish(f"visitor:{visitor_id}", frame)


@sa_event.listens_for(Session, "after_flush")
def _note_replies(session: Session, _context: Any) -> None:
    for obj in session.new:
        if (isinstance(obj, Message) and obj.channel == Channel.CHAT and not obj.is_internal
                and obj.author_kind in (AuthorKind.AGENT, AuthorKind.BOT)):
            session.info.setdefault(_NOTED, []).append(obj.id)


@sa_event.listens_for(Session, "after_rollback")
def _forget_replies(session: Session) -> None:
    session.info.pop(_NOTED, None)


@sa_event.listens_for(Session, "after_commit")
def _publish_replies(session: Session) -> None:
    ids = session.info.pop(_NOTED, None)
    bind = session.bind
    if not ids or bind is None:
        return
    if isinstance(bind, sa.Engine) and bind.dialect.name == "sqlite":
        bind = bind.execution_options(sqlite_begin="DEFERRED")  # a read: no write lock
    try:
        with Session(bind=bind, join_transaction_mode="create_savepoint") as reader:
            publish_replies(reader, ids)
    except Exception as exc:  # the outbound sender delivers it anyway, a moment later
        log.warning("chat.live_publish_failed", error=type(exc).__name__)


def publish_replies(session: Session, message_ids: list[int]) -> None:
    from zabota.channels.chat import service

    hub, settings = current()
    for message in session.scalars(sa.select(Message).where(Message.id.in_(message_ids))):
        frames = service.message_frames(session, [message], visitor_id=None, settings=settings)
        hub.publish(f"ticket:{message.ticket_id}",
                    {"type": "message", "ticket": message.ticket_id, "message": frames[0]})
        visitor = service.visitor_of_ticket(session, message.ticket_id)
        if visitor is None:
            continue
        shown = service.message_frames(session, [message], visitor_id=visitor,
                                       settings=settings)[0]
        if publish_to_visitor(hub, visitor, {"type": "message", "message": shown}):
            hub.mark_live(message.id)


@subscribe("ticket.updated")
def announce_chat_changes(session: Session, row: OutboxEvent) -> None:
    """A chat given to an agent, moved to another team or finished anywhere (routing, the
    ticket page, the API): the chats pages of both teams look again."""
    changes = row.payload.get("changes") or {}
    if not {"assignee_id", "team_id", "status"} & set(changes):
        return
    ticket = session.get(Ticket, row.payload.get("ticket_id"))
    if ticket is None or ticket.channel != Channel.CHAT:
        return
    from zabota.channels.chat import service

    teams = {ticket.team_id, *(changes.get("team_id") or [])}
    topics = {topic for team_id in teams for topic in service.desk_topics_of(team_id)}
    frame = {"type": "desk", "event": "changed", "ticket": ticket.id}

    def announce() -> None:
        hub, _settings = current()
        for topic in sorted(topics):
            hub.publish(topic, frame)

    after_commit(session, announce)
