"""The answer bot in a conversation: it answers first, logs every turn, closes the loop when
the answer helped and hands the conversation to a person when it did not.

The bot's replies are ticket messages by `AuthorKind.BOT`, so the transcript is in the ticket
when an agent takes over; each turn is a `BotTurn` row (decision, confidence, article,
candidates, sentiment); a hand-off and a resolution are also ticket events (`bot_handoff`,
`bot_resolved`), so the ticket's history says why the bot stepped aside. See
docs/decisions/008-answer-bot.md.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import httpx
import sqlalchemy as sa
import structlog
from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError
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
from zabota.bot.errors import FaqNotFound, FlowNotFound
from zabota.bot.models import BotFaq, BotFlow, BotTurn, Decision
from zabota.bot.schemas import FaqIn
from zabota.channels import hooks
from zabota.channels.chat.responders import (
    VisitorMessage,
    chat_first_responders,
    register_first_responder,
)
from zabota.channels.inbound import Inbound, Received
from zabota.core.clock import SYSTEM_CLOCK, Clock
from zabota.core.errors import field_error
from zabota.core.i18n import N_, _, gettext, language
from zabota.core.settings import get_settings
from zabota.identity import service as identity
from zabota.identity.models import Team
from zabota.identity.permissions import SYSTEM as SYSTEM_ACTOR
from zabota.identity.permissions import Actor, Permission, require
from zabota.kb import analytics
from zabota.kb import search as kb_search
from zabota.kb import service as kb
from zabota.kb.errors import ArticleNotFound
from zabota.kb.models import Article
from zabota.ml.language import detect_language
from zabota.ml.sentiment import predict_sentiment
from zabota.tickets import service as tickets
from zabota.tickets.models import AuthorKind, Channel, Message, Status

log = structlog.get_logger()

LANGUAGE_CONFIDENCE = 0.7
REASON_FLOW_FAILED = "flow_failed"
REASON_FLOW_HANDOFF = "flow_handoff"

ANSWER = N_("I found an article that may help: «{title}»\n\n{snippet}\n\nRead more: {url}\n\n"
            "Did this help? Answer «yes» or «no».")
FAQ_ANSWER = N_("{answer}\n\nDid this help? Answer «yes» or «no».")
FAQ_ANSWER_LINKED = N_("{answer}\n\nRead more: {url}\n\nDid this help? Answer «yes» or «no».")
FLOW_NOTE = N_("The bot's flow «{flow}» handed this request to the team «{team}». "
               "The customer told it:\n{values}")
FLOW_NOTE_NO_TEAM = N_("The bot's flow «{flow}» handed this request over, but there is no "
                       "team «{team}». The customer told it:\n{values}")
RESOLVED = N_("Glad it helped! Write again if you have another question.")
HANDED_OFF = N_("I am passing the conversation to a colleague; they will answer here.")
GREETING = N_("Hello! I am the support bot. Ask your question and I will look for an "
              "answer, or write «operator» to talk to a person.")
HANDOFF_REASONS = {
    "low_confidence": N_("The bot found no article it was confident about"),
    "asked_for_human": N_("The customer asked for a person"),
    "not_helped": N_("The customer said the article did not help"),
    "negative_sentiment": N_("The customer seems upset"),
    "flow_failed": N_("The shop's system did not answer the bot"),
    "flow_handoff": N_("A guided flow handed the request to a team"),
}


# --- guided flows ---------------------------------------------------------------------------


def save_flow(session: Session, definition: dict[str, Any], *,
              actor: Actor = SYSTEM_ACTOR, clock: Clock = SYSTEM_CLOCK) -> BotFlow:
    """Validate a flow and store it as the next version of its name (the only active one).
    Raises pydantic's ValidationError with the field of every mistake, including a hand-off
    to a team that does not exist."""
    require(actor, Permission.MANAGE_BOT)
    flow = flows.FlowDefinition.model_validate(definition)
    _check_teams(session, flow)
    latest = session.scalar(sa.select(sa.func.max(BotFlow.version))
                            .where(BotFlow.name == flow.name)) or 0
    session.execute(sa.update(BotFlow).where(BotFlow.name == flow.name)
                    .values(is_active=False))
    row = BotFlow(name=flow.name, version=latest + 1, definition=flow.model_dump(mode="json"),
                  is_active=True, created_at=clock.now())
    session.add(row)
    session.flush()
    return row


def _team_named(session: Session, name: str) -> Team | None:
    wanted = name.strip().casefold()
    return next((team for team in identity.list_teams(session, actor=SYSTEM_ACTOR)
                 if team.name.casefold() == wanted), None)


def _check_teams(session: Session, flow: flows.FlowDefinition) -> None:
    missing: list[InitErrorDetails] = [
        InitErrorDetails(type=PydanticCustomError("team_unknown", "no team named {team}",
                                                  {"team": step.team}),
                         loc=("steps", number, "team"), input=step.team)
        for number, step in enumerate(flow.steps)
        if isinstance(step, flows.HandoffStep) and _team_named(session, step.team) is None]
    if missing:
        raise ValidationError.from_exception_data("FlowDefinition", missing)


@dataclass(frozen=True)
class FlowSummary:
    name: str
    active_version: int | None  # None: turned off
    latest_version: int
    versions: int
    changed_at: datetime


def list_flows(session: Session, *, actor: Actor) -> list[FlowSummary]:
    require(actor, Permission.MANAGE_BOT)
    found: dict[str, FlowSummary] = {}
    for row in session.scalars(sa.select(BotFlow).order_by(BotFlow.name, BotFlow.version)):
        seen = found.get(row.name)
        found[row.name] = FlowSummary(
            row.name, row.version if row.is_active else (seen.active_version if seen else None),
            row.version, (seen.versions if seen else 0) + 1, row.created_at)
    return list(found.values())


def flow_versions(session: Session, name: str, *, actor: Actor) -> list[BotFlow]:
    """Every version of the flow, newest first; 404 when there is none."""
    require(actor, Permission.MANAGE_BOT)
    rows = list(session.scalars(sa.select(BotFlow).where(BotFlow.name == name)
                                .order_by(BotFlow.version.desc())))
    if not rows:
        raise FlowNotFound()
    return rows


def get_flow_version(session: Session, name: str, version: int, *, actor: Actor) -> BotFlow:
    require(actor, Permission.MANAGE_BOT)
    row = session.scalar(sa.select(BotFlow).where(BotFlow.name == name,
                                                  BotFlow.version == version))
    if row is None:
        raise FlowNotFound()
    return row


def restore_flow(session: Session, name: str, version: int, *, actor: Actor,
                 clock: Clock = SYSTEM_CLOCK) -> BotFlow:
    """Save an old version's definition again, as the newest (active) version."""
    old = get_flow_version(session, name, version, actor=actor)
    return save_flow(session, dict(old.definition), actor=actor, clock=clock)


def turn_off_flow(session: Session, name: str, *, actor: Actor) -> None:
    """No version of the flow starts any more; conversations in it finish. Saving or
    restoring a version turns it on again."""
    flow_versions(session, name, actor=actor)
    session.execute(sa.update(BotFlow).where(BotFlow.name == name).values(is_active=False))
    session.flush()


def dry_run_flow(session: Session, name: str, version: int, messages: list[str], *,
              language: str, actor: Actor, client: httpx.Client | None = None) -> flows.DryRun:
    """The version's replies to the messages, as a dry run: its HTTP steps are called,
    nothing is stored."""
    row = get_flow_version(session, name, version, actor=actor)
    definition = flows.FlowDefinition.model_validate(row.definition)
    return flows.dry_run(definition, messages, language=language, client=client)


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
    if reply.handoff is not None:
        decision = BotDecision(Decision.HANDED_OFF, reason=REASON_FLOW_HANDOFF, language=lang)
        # Told or not, the customer waits for a person of the team, in the team's queue and,
        # for a chat, among the live chats (the reply is marked as a hand-off).
        told = (_post(session, ticket_id, reply.text, decision, channel=channel, clock=clock)
                if reply.text else None)
        _log_turn(session, ticket_id, message_id, told, decision, channel=channel, data=saved,
                  clock=clock)
        handed = _hand_to_team(session, ticket_id, state.name, reply, clock=clock)
        _hand_off(session, ticket_id, decision, clock=clock, extra=handed)
        return decision
    decision = BotDecision(Decision.FLOW_STEP, confidence=1.0, language=lang)
    posted = _post(session, ticket_id, reply.text, decision, channel=channel, clock=clock)
    _log_turn(session, ticket_id, message_id, posted, decision, channel=channel, data=saved,
              clock=clock)
    return decision


def _hand_to_team(session: Session, ticket_id: int, flow: str, reply: flows.FlowReply, *,
                  clock: Clock) -> dict[str, Any]:
    """Move the ticket to the hand-off step's team (and category) with the collected slots in
    an internal note; what was done, for the ticket's history."""
    step = reply.handoff
    assert step is not None
    values = flows.slots(reply.state)
    team = _team_named(session, step.team)
    listed = "\n".join(f"{key}: {value}" for key, value in values.items()) or "—"
    with language(get_settings().default_language):  # agents read it; one language for all
        note = gettext(FLOW_NOTE if team is not None else FLOW_NOTE_NO_TEAM).format(
            flow=flow, team=step.team, values=listed)
    tickets.add_message(session, ticket_id, tickets.NewMessage(
        text=note, is_internal=True, meta={"bot": {"flow": flow, "values": values}}),
        actor=SYSTEM_ACTOR, author_kind=AuthorKind.BOT, clock=clock)
    changes: dict[str, Any] = {}
    if team is not None:
        changes["team_id"] = team.id
    else:
        log.warning("bot.flow_team_missing", ticket_id=ticket_id, flow=flow)
    if step.category:
        changes["category"] = step.category
    if changes:
        tickets.update_ticket(session, ticket_id, changes, actor=SYSTEM_ACTOR,
                              reason=f"bot flow {flow}", clock=clock, routing=True)
    return {"flow": flow, "team": step.team, "team_id": team.id if team else None,
            "category": step.category, "values": values}


def _post(session: Session, ticket_id: int, text: str, decision: BotDecision, *,
          channel: Channel, clock: Clock) -> int:
    reply = tickets.add_message(
        session, ticket_id, tickets.NewMessage(text=text, meta={"bot": {
            "decision": decision.decision.value, "article_id": decision.article_id,
            "faq_id": decision.faq_id, "confidence": decision.confidence}}),
        actor=SYSTEM_ACTOR, channel=channel, author_kind=AuthorKind.BOT, clock=clock)
    return reply.id


def _log_turn(session: Session, ticket_id: int, message_id: int, reply_id: int | None,
              decision: BotDecision, *, channel: Channel, data: dict[str, Any],
              clock: Clock) -> None:
    session.add(BotTurn(ticket_id=ticket_id, channel=channel.value, message_id=message_id,
                        reply_message_id=reply_id, decision=decision.decision.value,
                        reason=decision.reason, language=decision.language,
                        confidence=decision.confidence, article_id=decision.article_id,
                        faq_id=decision.faq_id, data=data, at=clock.now()))
    session.flush()


# --- conversations ----------------------------------------------------------------------------


def conversation(session: Session, ticket_id: int) -> Conversation:
    """The bot's memory of a conversation, rebuilt from its turns."""
    rows = session.execute(sa.select(BotTurn.decision, BotTurn.article_id, BotTurn.faq_id)
                           .where(BotTurn.ticket_id == ticket_id).order_by(BotTurn.id)).all()
    tried = tuple(a for d, a, _f in rows if d == Decision.ANSWERED and a is not None)
    tried_faqs = tuple(f for d, _a, f in rows if d == Decision.ANSWERED and f is not None)
    last = rows[-1] if rows else None
    answered = last is not None and last[0] == Decision.ANSWERED
    return Conversation(awaiting_feedback=last[1] if answered and last else None,
                        tried_article_ids=tried,
                        handed_off=any(d == Decision.HANDED_OFF for d, _a, _f in rows),
                        awaiting_faq=last[2] if answered and last else None,
                        tried_faq_ids=tried_faqs)


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
    this conversation. Posts the reply (on a hand-off, that a person comes) and logs the
    turn; the caller commits."""
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
    if decision.decision == Decision.ANSWERED and decision.faq_id is not None:
        decision = replace(decision, url=_public_article_path(session, decision.article_id))
    # On a hand-off too: the customer is told a person comes, not left in silence.
    reply_id = _post(session, ticket_id, _reply_text(decision), decision, channel=channel,
                     clock=clock)
    _log_turn(session, ticket_id, message_id, reply_id, decision, channel=channel,
              data=decision.explanation(), clock=clock)
    if decision.decision == Decision.RESOLVED:
        _resolve(session, ticket_id, decision, visitor_id=visitor_id, clock=clock)
    elif decision.decision == Decision.HANDED_OFF:
        _hand_off(session, ticket_id, decision, clock=clock)
    log.info("bot.turn", ticket_id=ticket_id, decision=decision.decision.value,
             reason=decision.reason, article_id=decision.article_id, faq_id=decision.faq_id,
             confidence=decision.confidence)
    return decision


def absolute_url(path: str | None) -> str:
    """The article's address as the customer can open it from a messenger or another site."""
    if not path or "://" in path:
        return path or ""
    base = get_settings().public_url or "http://127.0.0.1:8000"
    return f"{base.rstrip('/')}{path}"


def _public_article_path(session: Session, article_id: int | None) -> str:
    """The help centre's address of a FAQ pair's article, if customers may read it."""
    if article_id is None:
        return ""
    try:
        article = kb.get_article_for(session, None, article_id)
    except ArticleNotFound:
        return ""  # unpublished or internal since the pair was written: answer without it
    category = kb.get_category(session, article.category_id) if article.category_id else None
    return kb_search.article_url(article, category.slug if category else None)


def _reply_text(decision: BotDecision) -> str:
    with language(decision.language):
        if decision.decision == Decision.ANSWERED and decision.faq_id is not None:
            if decision.url:
                return gettext(FAQ_ANSWER_LINKED).format(answer=decision.snippet,
                                                         url=absolute_url(decision.url))
            return gettext(FAQ_ANSWER).format(answer=decision.snippet)
        if decision.decision == Decision.ANSWERED:
            return gettext(ANSWER).format(title=decision.title, snippet=decision.snippet,
                                          url=absolute_url(decision.url))
        if decision.decision == Decision.RESOLVED:
            return gettext(RESOLVED)
        if decision.decision == Decision.HANDED_OFF:
            return gettext(HANDED_OFF)
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


def _hand_off(session: Session, ticket_id: int, decision: BotDecision, *, clock: Clock,
              extra: dict[str, Any] | None = None) -> None:
    tried = list(decision.tried_article_ids)
    intent = decision.candidates[0].title if decision.candidates else (
        decision.faq_candidates[0].question if decision.faq_candidates else None)
    data: dict[str, Any] = {
        "reason": decision.reason, "confidence": decision.confidence, "intent": intent,
        "articles_tried": tried, "questions": _questions(session, ticket_id),
        **decision.explanation(), **(extra or {})}
    if decision.tried_faq_ids:
        data["faqs_tried"] = list(decision.tried_faq_ids)
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
                            data={"article_id": decision.article_id,
                                  "faq_id": decision.faq_id},
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


# --- FAQ pairs ------------------------------------------------------------------------------


def list_faqs(session: Session, *, actor: Actor, language: str | None = None) -> list[BotFaq]:
    require(actor, Permission.MANAGE_BOT)
    query = sa.select(BotFaq).order_by(BotFaq.language, BotFaq.question, BotFaq.id)
    if language:
        query = query.where(BotFaq.language == language)
    return list(session.scalars(query))


def get_faq(session: Session, faq_id: int, *, actor: Actor) -> BotFaq:
    require(actor, Permission.MANAGE_BOT)
    row = session.get(BotFaq, faq_id) if 0 < faq_id < 2**31 else None
    if row is None:
        raise FaqNotFound()
    return row


def _faq_article(session: Session, language: str, slug: str | None) -> int | None:
    if not slug:
        return None
    try:
        return kb.get_article_by_slug(session, None, language, slug).id
    except ArticleNotFound:
        raise field_error("article_slug", _(
            "No published public article in this language has this address")) from None


def save_faq(session: Session, body: FaqIn, *, actor: Actor, faq_id: int | None = None,
             clock: Clock = SYSTEM_CLOCK) -> BotFaq:
    """Create a FAQ pair, or change one (`faq_id`). Its article, if named by slug, must be
    one the bot may show: published, public, in the pair's language."""
    require(actor, Permission.MANAGE_BOT)
    article_id = _faq_article(session, body.language, body.article_slug)
    alternatives = list(dict.fromkeys(a for a in body.alternatives if a != body.question))
    now = clock.now()
    row = get_faq(session, faq_id, actor=actor) if faq_id is not None else BotFaq(
        created_at=now)
    row.language, row.question, row.alternatives = body.language, body.question, alternatives
    row.answer, row.article_id, row.is_active = body.answer, article_id, body.is_active
    row.updated_at = now
    session.add(row)
    session.flush()
    log.info("bot.faq_saved", faq_id=row.id, actor_id=actor.id)
    return row


def delete_faq(session: Session, faq_id: int, *, actor: Actor) -> None:
    """Turns that used the pair keep their log, without the link (and the question in data)."""
    row = get_faq(session, faq_id, actor=actor)
    session.delete(row)
    session.flush()
    log.info("bot.faq_deleted", faq_id=faq_id, actor_id=actor.id)


def faq_article_slugs(session: Session, faqs: list[BotFaq]) -> dict[int, str]:
    """The slug of each pair's article, for the form."""
    ids = {f.article_id for f in faqs if f.article_id is not None}
    if not ids:
        return {}
    slugs = dict(session.execute(sa.select(Article.id, Article.slug)
                                 .where(Article.id.in_(ids))).tuples().all())
    return {f.id: slugs[f.article_id] for f in faqs
            if f.article_id is not None and f.article_id in slugs}


# --- the review of turns --------------------------------------------------------------------

TURNS_PER_PAGE = 50


@dataclass(frozen=True)
class TurnRow:
    turn: BotTurn
    message: str  # what the customer wrote
    article_title: str | None
    faq_question: str | None


def review_turns(session: Session, *, actor: Actor, decision: str | None = None,
                 before_id: int | None = None,
                 limit: int = TURNS_PER_PAGE) -> list[TurnRow]:
    """The newest turns (older than `before_id`), optionally of one decision, with what the
    customer wrote and the article or FAQ pair used, for supervisors improving the bot."""
    require(actor, Permission.MANAGE_BOT)
    query = sa.select(BotTurn).order_by(BotTurn.id.desc()).limit(limit)
    if decision:
        query = query.where(BotTurn.decision == decision)
    if before_id is not None:
        query = query.where(BotTurn.id < before_id)
    rows = list(session.scalars(query))
    message_ids = {t.message_id for t in rows if t.message_id is not None}
    article_ids = {t.article_id for t in rows if t.article_id is not None}
    faq_ids = {t.faq_id for t in rows if t.faq_id is not None}
    texts = dict(session.execute(sa.select(Message.id, Message.body_text)
                                 .where(Message.id.in_(message_ids))).tuples().all()
                 ) if message_ids else {}
    titles = dict(session.execute(sa.select(Article.id, Article.title)
                                  .where(Article.id.in_(article_ids))).tuples().all()
                  ) if article_ids else {}
    questions = dict(session.execute(sa.select(BotFaq.id, BotFaq.question)
                                     .where(BotFaq.id.in_(faq_ids))).tuples().all()
                     ) if faq_ids else {}
    return [TurnRow(t, texts.get(t.message_id or 0, "")[:500],
                    titles.get(t.article_id) if t.article_id is not None else None,
                    questions.get(t.faq_id) if t.faq_id is not None else (
                        (t.data.get("faq") or {}).get("question")))
            for t in rows]
