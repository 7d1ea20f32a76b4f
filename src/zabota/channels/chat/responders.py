"""The hook where a bot answers a chat before a person does.

`chat_first_responders` is a list of callables, empty until something (the bot) registers one
with `@register_first_responder`. For every message a visitor sends to a chat that no agent
has accepted yet, after the message is stored and in the same transaction, each responder is
called in registration order with the session and a `VisitorMessage`:

- A responder that answered posts its reply itself, as the bot
  (`tickets.add_message(..., author_kind=AuthorKind.BOT)`; the reply then reaches the visitor
  live like an agent's), and returns True. The remaining responders are not called and agents
  are not told of the message: the newest public message is the bot's, so the chat is not
  waiting in any agent's list.
- A responder that does not answer, or hands the visitor over to a person, returns False
  without posting; the chat then waits for an agent as usual.

Each call runs in a savepoint: a responder that raises is logged and undone, and the visitor's
message still reaches the agents. Responders must be quick (they delay the visitor's
acknowledgement) and must not commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import structlog
from sqlalchemy.orm import Session

log = structlog.get_logger()


@dataclass(frozen=True)
class VisitorMessage:
    ticket_id: int
    message_id: int
    visitor_id: str
    customer_id: int
    text: str
    language: str
    team_id: int | None
    created_ticket: bool  # the first message of a new chat


FirstResponder = Callable[[Session, VisitorMessage], bool]
chat_first_responders: list[FirstResponder] = []


def register_first_responder(responder: FirstResponder) -> FirstResponder:
    if responder not in chat_first_responders:
        chat_first_responders.append(responder)
    return responder


def offer_to_first_responders(session: Session, message: VisitorMessage) -> bool:
    """True when a responder answered the message (agents need not be told)."""
    for responder in list(chat_first_responders):
        try:
            with session.begin_nested():
                if responder(session, message):
                    return True
        except Exception as exc:  # a broken bot must never cost the visitor their message
            log.error("chat.first_responder_failed", ticket_id=message.ticket_id,
                      responder=getattr(responder, "__qualname__", repr(responder)),
                      error=type(exc).__name__)
    return False
