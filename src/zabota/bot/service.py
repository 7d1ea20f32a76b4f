"""The answer bot in a conversation: it answers first, logs every turn, closes the loop when
the answer helped and hands the conversation to a person when it did not.

The bot's replies are ticket messages by `AuthorKind.BOT`, so the transcript is in the ticket
when an agent takes over; each turn is a `BotTurn` row (decision, confidence, article,
candidates, sentiment); a hand-off and a resolution are also ticket events (`bot_handoff`,
`bot_resolved`), so the ticket's history says why the bot stepped aside. See
docs/decisions/008-answer-bot.md.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
import structlog
from sqlalchemy.orm import Session

from zabota.bot import flows
from zabota.bot.answer import (
    THRESHOLD,
    BotDecision,
    Conversation,
    Sentiment,
    asks_for_human,
    decide,
)
from zabota.bot.models import BotFlow, BotTurn, Decision
from zabota.channels import hooks
from zabota.channels.chat.responders import (
    VisitorMessage,
    chat_first_responders,
    register_first_responder,
)
from zabota.channels.inbound import Inbound, Received
from zabota.core.clock import SYSTEM_CLOCK, Clock
from zabota.core.i18n import N_, gettext, language
from zabota.core.settings import get_settings
from zabota.identity.permissions import SYSTEM as SYSTEM_ACTOR
from zabota.kb import analytics
from zabota.ml.language import detect_language
from zabota.ml.sentiment import predict_sentiment
from zabota.tickets import service as tickets
from zabota.tickets.models import AuthorKind, Channel, Message, Status

log = structlog.get_logger()

LANGUAGE_CONFIDENCE = 0.7
REASON_FLOW_FAILED = "flow_failed"

ANSWER = N_("I found an article that may help: «{title}»\n\n{snippet}\n\nRead more: {url}\n\n"
            "Did this help? Answer «yes» or «no».")
RESOLVED = N_("Glad it helped! Write again if you have another question.")
GREETING = N_("Hello! I am the support bot. Ask your question and I will look for an "
              "answer, or write «operator» to talk to a person.")
HANDOFF_REASONS = {
    "low_confidence": N_("The bot found no article it was confident about"),
    "asked_for_human": N_("The customer asked for a person"),
    "not_helped": N_("The customer said the article did not help"),
    "negative_sentiment": N_("The customer seems upset"),
    "flow_failed": N_("The shop's system did not answer the bot"),
}


# --- guided flows ---------------------------------------------------------------------------


def save_flow(session: Session, definition: dict[str, Any], *,
              clock: Clock = SYSTEM_CLOCK) -> BotFlow:
    """Validate a flow and store it as the next version of its name (the only active one).
    Raises pydantic's ValidationError with the field of every mistake."""
    flow = flows.FlowDefinition.model_validate(definition)
    latest = session.scalar(sa.select(sa.func.max(BotFlow.version))
                            .where(BotFlow.name == flow.name)) or 0
    session.execute(sa.update(BotFlow).where(BotFlow.name == flow.name)
                    .values(is_active=False))
    row = BotFlow(name=flow.name, version=latest + 1, definition=flow.model_dump(mode="json"),
                  is_active=True, created_at=clock.now())
    session.add(row)
    session.flush()
    return row


def _active_flows(session: Session) -> list[BotFlow]:
    return list(session.scalars(sa.select(BotFlow).where(BotFlow.is_active.is_(True))
                                .order_by(BotFlow.name)))


def _flow_in_progress(session: Session, ticket_id: int) -> flows.FlowState | None:
    last = session.scalar(sa.select(BotTurn).where(BotTurn.ticket_id == ticket_id)
                          .order_by(BotTurn.id.desc()).limit(1))
    if last is None or last.decision != Decision.FLOW_STEP:
        return None
    saved = last.data.get("flow") or {}
    if saved.get("done"):
        return None
    return flows.FlowState(saved["name"], saved["version"], saved["step"],
                           dict(saved.get("values") or {}))


def _flow_turn(session: Session, ticket_id: int, message_id: int, text: str, *,
               channel: Channel, lang: str, clock: Clock) -> BotDecision | None:
    """The next step of the flow this conversation is in, or of one the text starts."""
    state = _flow_in_progress(session, ticket_id)
    definition = None
    if state is not None:
        row = session.scalar(sa.select(BotFlow).where(BotFlow.name == state.name,
                                                      BotFlow.version == state.version))
        definition = flows.FlowDefinition.model_validate(row.definition) if row else None
    else:
        for row in _active_flows(session):
            candidate = flows.FlowDefinition.model_validate(row.definition)
            if flows.triggered(candidate, text, lang):
                definition, state = candidate, flows.FlowState(row.name, row.version)
                break
    if definition is None or state is None:
        return None
    reply = flows.advance(definition, state, text, language=lang)
    saved = {"flow": {"name": reply.state.name, "version": reply.state.version,
                      "step": reply.state.step, "values": reply.state.values,
                      "done": reply.is_done}}
    if reply.is_failed:
        decision = BotDecision(Decision.HANDED_OFF, reason=REASON_FLOW_FAILED, language=lang)
        _log_turn(session, ticket_id, message_id, None, decision, channel=channel,
                  data=saved, clock=clock)
        _hand_off(session, ticket_id, decision, clock=clock)
        return decision
    decision = BotDecision(Decision.FLOW_STEP, confidence=1.0, language=lang)
    posted = _post(session, ticket_id, reply.text, decision, channel=channel, clock=clock)
    _log_turn(session, ticket_id, message_id, posted, decision, channel=channel, data=saved,
              clock=clock)
    return decision


def _post(session: Session, ticket_id: int, text: str, decision: BotDecision, *,
          channel: Channel, clock: Clock) -> int:
    reply = tickets.add_message(
        session, ticket_id, tickets.NewMessage(text=text, meta={"bot": {
            "decision": decision.decision.value, "article_id": decision.article_id,
            "confidence": decision.confidence}}),
        actor=SYSTEM_ACTOR, channel=channel, author_kind=AuthorKind.BOT, clock=clock)
    return reply.id


def _log_turn(session: Session, ticket_id: int, message_id: int, reply_id: int | None,
              decision: BotDecision, *, channel: Channel, data: dict[str, Any],
              clock: Clock) -> None:
    session.add(BotTurn(ticket_id=ticket_id, channel=channel.value, message_id=message_id,
                        reply_message_id=reply_id, decision=decision.decision.value,
                        reason=decision.reason, language=decision.language,
                        confidence=decision.confidence, article_id=decision.article_id,
                        data=data, at=clock.now()))
    session.flush()


# --- conversations ----------------------------------------------------------------------------


def conversation(session: Session, ticket_id: int) -> Conversation:
    """The bot's memory of a conversation, rebuilt from its turns."""
    rows = session.execute(sa.select(BotTurn.decision, BotTurn.article_id)
                           .where(BotTurn.ticket_id == ticket_id).order_by(BotTurn.id)).all()
    tried = tuple(a for d, a in rows if d == Decision.ANSWERED and a is not None)
    last = rows[-1] if rows else None
    awaiting = last[1] if last is not None and last[0] == Decision.ANSWERED else None
    return Conversation(awaiting_feedback=awaiting, tried_article_ids=tried,
                        handed_off=any(d == Decision.HANDED_OFF for d, _a in rows))


def turns(session: Session, ticket_id: int) -> list[BotTurn]:
    return list(session.scalars(sa.select(BotTurn).where(BotTurn.ticket_id == ticket_id)
                                .order_by(BotTurn.id)))


def reply_language(text: str, fallback: str) -> str:
    """The language of the customer's text when it is clear, otherwise the channel's."""
    code, confidence = detect_language(text)
    if code != "unknown" and confidence >= LANGUAGE_CONFIDENCE:
        return code
    return fallback if fallback in ("ru", "en") else "ru"


def respond(
    session: Session, ticket_id: int, message_id: int, text: str, *, channel: Channel,
    language_hint: str, visitor_id: str | None = None, threshold: float = THRESHOLD,
    sentiment: Sentiment | None = predict_sentiment, clock: Clock = SYSTEM_CLOCK,
) -> BotDecision | None:
    """Take the bot's turn on a customer message; None when the bot has stepped aside for
    this conversation. Posts the reply (except on a hand-off) and logs the turn; the caller
    commits."""
    state = conversation(session, ticket_id)
    if state.handed_off or not text.strip():  # a file alone is for a person to look at
        return None
    lang = reply_language(text, language_hint)
    if not asks_for_human(text):
        in_flow = _flow_turn(session, ticket_id, message_id, text, channel=channel, lang=lang,
                             clock=clock)
        if in_flow is not None:
            return in_flow
    decision = decide(session, text, language=lang, conversation=state, threshold=threshold,
                      sentiment=sentiment)
    reply_id = None
    if decision.decision != Decision.HANDED_OFF:
        reply_id = _post(session, ticket_id, _reply_text(decision), decision, channel=channel,
                         clock=clock)
    _log_turn(session, ticket_id, message_id, reply_id, decision, channel=channel,
              data=decision.explanation(), clock=clock)
    if decision.decision == Decision.RESOLVED:
        _resolve(session, ticket_id, decision, visitor_id=visitor_id, clock=clock)
    elif decision.decision == Decision.HANDED_OFF:
        _hand_off(session, ticket_id, decision, clock=clock)
    log.info("bot.turn", ticket_id=ticket_id, decision=decision.decision.value,
             reason=decision.reason, article_id=decision.article_id,
             confidence=decision.confidence)
    return decision


def absolute_url(path: str | None) -> str:
    """The article's address as the customer can open it from a messenger or another site."""
    if not path or "://" in path:
        return path or ""
    base = get_settings().public_url or "http://127.0.0.1:8000"
    return f"{base.rstrip('/')}{path}"


def _reply_text(decision: BotDecision) -> str:
    with language(decision.language):
        if decision.decision == Decision.ANSWERED:
            return gettext(ANSWER).format(title=decision.title, snippet=decision.snippet,
                                          url=absolute_url(decision.url))
        if decision.decision == Decision.RESOLVED:
            return gettext(RESOLVED)
        return gettext(GREETING)


def _questions(session: Session, ticket_id: int) -> list[str]:
    """What the customer asked the bot, oldest first."""
    ids = [m for m in session.scalars(sa.select(BotTurn.message_id).where(
        BotTurn.ticket_id == ticket_id, BotTurn.decision.in_(
            [Decision.ANSWERED, Decision.HANDED_OFF]))) if m is not None]
    if not ids:
        return []
    return [t[:500] for t in session.scalars(sa.select(Message.body_text)
                                             .where(Message.id.in_(ids)).order_by(Message.id))]


def _hand_off(session: Session, ticket_id: int, decision: BotDecision, *, clock: Clock) -> None:
    tried = list(decision.tried_article_ids)
    intent = decision.candidates[0].title if decision.candidates else None
    data: dict[str, Any] = {
        "reason": decision.reason, "confidence": decision.confidence, "intent": intent,
        "articles_tried": tried, "questions": _questions(session, ticket_id),
        **decision.explanation()}
    with language("en"):  # the history stores the source text; the page translates it
        reason = HANDOFF_REASONS.get(decision.reason or "", decision.reason or "")
    tickets.record_decision(session, ticket_id, "bot_handoff", data=data, reason=reason,
                            clock=clock)


def _resolve(session: Session, ticket_id: int, decision: BotDecision, *,
             visitor_id: str | None, clock: Clock) -> None:
    questions = _questions(session, ticket_id)
    analytics.record_deflection(session, article_id=decision.article_id,
                                query=questions[-1] if questions else "", source="bot",
                                actor=None, visitor_id=visitor_id, clock=clock)
    tickets.record_decision(session, ticket_id, "bot_resolved",
                            data={"article_id": decision.article_id},
                            reason="The customer said the bot's answer helped", clock=clock)
    tickets.update_ticket(session, ticket_id, {"status": Status.SOLVED}, actor=SYSTEM_ACTOR,
                          reason="bot", clock=clock)


# --- the web chat -------------------------------------------------------------------------


def answer_chat(session: Session, message: VisitorMessage) -> bool:
    """The chat's first responder: True when the bot answered (agents need not be told)."""
    decision = respond(session, message.ticket_id, message.message_id, message.text,
                       channel=Channel.CHAT, language_hint=message.language,
                       visitor_id=message.visitor_id)
    return decision is not None and decision.decision != Decision.HANDED_OFF


def enable_in_chat() -> None:
    """Let the bot answer web chats first. The web app calls it at start."""
    register_first_responder(answer_chat)


def disable_in_chat() -> None:
    if answer_chat in chat_first_responders:
        chat_first_responders.remove(answer_chat)


# --- messengers ---------------------------------------------------------------------------

# The channels on which the bot answers first (besides the web chat).
MESSENGERS = frozenset({Channel.TELEGRAM})


def answer_messenger(session: Session, got: Received, inbound: Inbound) -> None:
    """A messenger's first responder: the bot answers until it hands off, or until a person
    has the ticket (an agent answered, or triage assigned someone)."""
    if inbound.channel not in MESSENGERS:
        return
    ticket = tickets.get_ticket_for(session, SYSTEM_ACTOR, got.ticket_id)
    agent_spoke = session.scalar(sa.select(Message.id).where(
        Message.ticket_id == ticket.id, Message.author_kind == AuthorKind.AGENT).limit(1))
    if ticket.assignee_id is not None or agent_spoke is not None:
        return
    respond(session, got.ticket_id, got.message_id, inbound.text, channel=inbound.channel,
            language_hint=inbound.language or get_settings().default_language)


def enable_in_messengers() -> None:
    """Let the bot answer Telegram first. The web app calls it at start."""
    if answer_messenger not in hooks.first_responders:
        hooks.first_responders.append(answer_messenger)


def disable_in_messengers() -> None:
    if answer_messenger in hooks.first_responders:
        hooks.first_responders.remove(answer_messenger)
