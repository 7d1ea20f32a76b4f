"""Routing: categories, rules, triage of new tickets, corrections and the category model.

Triage runs once per ticket, from the `ticket.created` outbox event (docs/decisions/
006-triage.md): language → sentiment → rules → category model → team → priority → agent.
Every decision lands in the ticket's history as one `triaged` event whose data explains it
(rule, model version and confidence with the words behind it, sentiment score, priority
signals, why this agent) with a one-sentence summary in Russian and English.
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from zabota.core.clock import SYSTEM_CLOCK, Clock
from zabota.core.db import Database, is_sqlite, keep
from zabota.core.errors import field_error
from zabota.core.i18n import _, get_language, language, ngettext
from zabota.core.outbox import OutboxEvent, subscribe
from zabota.core.settings import get_settings
from zabota.core.site import SiteSetting, set_value
from zabota.identity import service as identity
from zabota.identity.models import Customer, Organization, Team
from zabota.identity.permissions import SYSTEM, Actor, Permission, require
from zabota.ml.artefacts import ModelIntegrityError
from zabota.ml.language import detect_language
from zabota.ml.sentiment import load_sentiment_model
from zabota.ml.text import search_text
from zabota.routing import assignment, classifier, errors
from zabota.routing.assignment import AssignmentChoice
from zabota.routing.models import (
    AssignmentMode,
    Category,
    CategoryModel,
    RoutingCorrection,
    RoutingRule,
    TeamRouting,
    TicketTriage,
)
from zabota.routing.priority import PriorityInput, Signal, higher, score_priority, signals
from zabota.routing.rules import Facts, RuleOutcome, RuleView, apply_rules
from zabota.routing.schemas import RuleActions, RuleConditions
from zabota.tickets import service as tickets
from zabota.tickets.errors import TicketNotFound
from zabota.tickets.models import Channel, Message, Priority, Status, Ticket

log = structlog.get_logger()
SETTINGS_KEY = "routing"
GENERATION = "generation"  # in the settings row: see `_changed`
SUGGESTIONS = 3
# A retrained model replaces the active one unless its held-out macro-F1 is this much worse;
# a worse model is kept in the registry for an admin to look at and activate by hand.
MAX_REGRESSION = 0.05


# --- settings -------------------------------------------------------------------------------


@dataclass
class RoutingSettings:
    confidence_threshold: float = 0.6
    repeat_days: int = 7
    min_training_rows: int = 50
    min_per_category: int = 5


def get_routing_settings(session: Session) -> RoutingSettings:
    return _settings_of(_settings_row(session))


def routing_settings_for(session: Session, *, actor: Actor) -> RoutingSettings:
    require(actor, Permission.MANAGE_ROUTING)
    return get_routing_settings(session)


def _settings_row(session: Session) -> dict[str, Any]:
    row = session.get(SiteSetting, SETTINGS_KEY)
    if row is None or not isinstance(row.value, dict):
        return {}
    return dict(keep(session, row).value)


def _settings_of(values: dict[str, Any]) -> RoutingSettings:
    known = {k: v for k, v in values.items() if k in RoutingSettings.__dataclass_fields__}
    return RoutingSettings(**known)


def _changed(session: Session, values: dict[str, Any] | None = None) -> None:
    """Every change to what triage reads (settings, categories, rules, the active model)
    gives the settings row a new generation, so no process triages with a stale copy."""
    set_value(session, SETTINGS_KEY, {**(_settings_row(session) if values is None else values),
                                      GENERATION: uuid.uuid4().hex})


# --- what triage reads, cached ---------------------------------------------------------------


@dataclass(frozen=True)
class CategoryInfo:
    key: str
    name_ru: str
    name_en: str
    team_id: int | None  # its own, or the nearest ancestor's
    skill_key: str

    def name(self, lang: str) -> str:
        return self.name_en if lang == "en" and self.name_en else self.name_ru


@dataclass(frozen=True)
class ModelInfo:
    version: str
    artefact_path: str
    artefact_sha256: str


@dataclass(frozen=True)
class Configuration:
    """The admins' set-up as triage reads it. Reading it costs one row (the settings, whose
    generation changes with every edit: `_changed`); the rules, categories and active model
    behind a generation are read once per process."""

    settings: RoutingSettings
    rules: tuple[RuleView, ...]
    categories: dict[str, CategoryInfo]
    model: ModelInfo | None


_configurations: dict[tuple[str, str], Configuration] = {}


_SETTINGS_VALUE = sa.select(SiteSetting.value).where(SiteSetting.key == SETTINGS_KEY)


_database_keys: weakref.WeakKeyDictionary[sa.Engine, str] = weakref.WeakKeyDictionary()


def _database_key(session: Session) -> str:
    engine = session.get_bind().engine
    key = _database_keys.get(engine)
    if key is None:  # rendering the URL costs more than the rest of the check
        key = _database_keys[engine] = str(engine.url)
    return key


def configuration(session: Session) -> Configuration:
    # The value only, through the connection: a third of the cost of an ORM read.
    value = session.connection().scalar(_SETTINGS_VALUE)
    values = dict(value) if isinstance(value, dict) else {}
    generation = values.get(GENERATION)
    key = (_database_key(session), str(generation))
    found = _configurations.get(key) if generation else None
    if found is None:
        found = _read_configuration(session, _settings_of(values))
        if generation:  # a database never edited has no generation: read it every time
            _configurations.clear()  # one live generation per process is all triage needs
            _configurations[key] = found
    return found


def _read_configuration(session: Session, settings: RoutingSettings) -> Configuration:
    rows = list_categories(session)
    by_id = {c.id: c for c in rows}

    def team_of(category: Category) -> int | None:
        node: Category | None = category
        seen: set[int] = set()
        while node is not None and node.id not in seen:
            if node.team_id is not None:
                return node.team_id
            seen.add(node.id)
            node = by_id.get(node.parent_id) if node.parent_id else None
        return None

    model = classifier.active_model(session)
    return Configuration(
        settings=settings, rules=tuple(_rule_views(session)),
        categories={c.key: CategoryInfo(c.key, c.name_ru, c.name_en, team_of(c), c.skill_key)
                    for c in rows},
        model=None if model is None else ModelInfo(model.version, model.artefact_path,
                                                   model.artefact_sha256))


def update_routing_settings(session: Session, *, actor: Actor,
                            **changes: float | int) -> RoutingSettings:
    """Change the settings given; the others keep their values."""
    require(actor, Permission.MANAGE_ROUTING)
    chosen = replace(get_routing_settings(session), **changes)  # type: ignore[arg-type]
    _changed(session, asdict(chosen))
    session.flush()
    return chosen


# --- categories -----------------------------------------------------------------------------


def list_categories(session: Session, *, active_only: bool = False) -> Sequence[Category]:
    query = sa.select(Category).order_by(Category.key)
    if active_only:
        query = query.where(Category.is_active.is_(True))
    return session.scalars(query).all()


def categories_for(session: Session, *, actor: Actor) -> Sequence[Category]:
    """The category tree for staff (agents pick from it); admins manage it."""
    require(actor, Permission.WORK_TICKETS)
    return list_categories(session)


def get_category(session: Session, category_id: int) -> Category:
    category = session.get(Category, category_id)
    if category is None:
        raise errors.CategoryNotFound()
    return category


def category_by_key(session: Session, key: str) -> Category | None:
    return session.scalar(sa.select(Category).where(Category.key == key))


def _check_parent(session: Session, category: Category | None, parent_id: int | None) -> None:
    if parent_id is None:
        return
    parent = session.get(Category, parent_id)
    if parent is None:
        raise field_error("parent_id", _("No category with this id"))
    seen = set()
    while parent is not None and parent.id not in seen:
        if category is not None and parent.id == category.id:
            raise field_error("parent_id", _("A category cannot be inside itself"))
        seen.add(parent.id)
        parent = session.get(Category, parent.parent_id) if parent.parent_id else None


def create_category(session: Session, *, actor: Actor, key: str, name_ru: str,
                    name_en: str = "", parent_id: int | None = None,
                    team_id: int | None = None, skill: str = "", is_active: bool = True,
                    clock: Clock = SYSTEM_CLOCK) -> Category:
    require(actor, Permission.MANAGE_ROUTING)
    if category_by_key(session, key) is not None:
        raise field_error("key", _("A category with this key exists already"))
    _check_parent(session, None, parent_id)
    if team_id is not None:
        identity.get_team(session, team_id)
    category = Category(key=key, name_ru=name_ru, name_en=name_en, parent_id=parent_id,
                        team_id=team_id, skill=skill, is_active=is_active,
                        created_at=clock.now())
    session.add(category)
    _changed(session)
    session.flush()
    log.info("routing.category_created", category_id=category.id)
    return category


def update_category(session: Session, category_id: int, *, actor: Actor,
                    **changes: Any) -> Category:
    """Change the given fields; `parent_id` / `team_id` of None clear them."""
    require(actor, Permission.MANAGE_ROUTING)
    category = get_category(session, category_id)
    if "parent_id" in changes:
        _check_parent(session, category, changes["parent_id"])
    if changes.get("team_id") is not None:
        identity.get_team(session, changes["team_id"])
    for name in ("name_ru", "name_en", "parent_id", "team_id", "skill", "is_active"):
        if name in changes:
            setattr(category, name, changes[name])
    _changed(session)
    session.flush()
    return category


def delete_category(session: Session, category_id: int, *, actor: Actor) -> None:
    """Remove a category without subcategories; tickets keep their category text."""
    require(actor, Permission.MANAGE_ROUTING)
    category = get_category(session, category_id)
    if session.scalar(sa.select(Category.id).where(Category.parent_id == category.id).limit(1)):
        raise errors.CategoryInUse()
    rules = [rule.name for rule in list_rules(session)
             if (rule.actions or {}).get("category") == category.key]
    if rules:  # they would set a category that no longer exists
        raise errors.CategoryUsedByRules(rules=rules)
    session.delete(category)
    _changed(session)
    session.flush()



def category_names(session: Session, lang: str) -> dict[str, str]:
    return {c.key: c.name(lang) for c in list_categories(session)}


# --- rules ----------------------------------------------------------------------------------


def list_rules(session: Session) -> Sequence[RoutingRule]:
    return session.scalars(sa.select(RoutingRule)
                           .order_by(RoutingRule.position, RoutingRule.id)).all()


def rules_for(session: Session, *, actor: Actor) -> Sequence[RoutingRule]:
    require(actor, Permission.MANAGE_ROUTING)
    return list_rules(session)


def get_rule(session: Session, rule_id: int) -> RoutingRule:
    rule = session.get(RoutingRule, rule_id)
    if rule is None:
        raise errors.RuleNotFound()
    return rule


def _checked_actions(session: Session, actions: RuleActions) -> dict[str, Any]:
    if actions.category is not None and category_by_key(session, actions.category) is None:
        raise field_error("actions.category", _("No category with this key"))
    if actions.team_id is not None:
        identity.get_team(session, actions.team_id)
    if actions.assignee_id is not None:
        user = identity.get_user(session, actions.assignee_id)
        if not user.is_active:
            raise field_error("actions.assignee_id", _("No active agent with this id"))
    return actions.model_dump(mode="json", exclude_defaults=True)


def _checked_conditions(conditions: RuleConditions) -> dict[str, Any]:
    """The conditions to store; a phrase must say something a request can be told by."""
    from zabota.kb.search import stopwords  # the same list the help centre's search uses

    for n, phrase in enumerate(conditions.phrases):
        words = search_text(phrase).split()
        if not words:
            raise field_error(f"conditions.phrases.{n}", _("The phrase has no words"))
        if all(word in stopwords() or len(word) < 2 for word in words):
            raise field_error(f"conditions.phrases.{n}", _(
                "The phrase has only common words (such as «и», «как»); it would match "
                "nearly every request"))
    return conditions.model_dump(mode="json", exclude_defaults=True)


def create_rule(session: Session, *, actor: Actor, name: str, conditions: RuleConditions,
                actions: RuleActions, position: int | None = None, is_enabled: bool = True,
                is_continue: bool = False, clock: Clock = SYSTEM_CLOCK) -> RoutingRule:
    """Add a rule; without a position it goes last."""
    require(actor, Permission.MANAGE_ROUTING)
    if position is None:
        last = session.scalar(sa.select(sa.func.max(RoutingRule.position)))
        position = 0 if last is None else last + 10
    now = clock.now()
    rule = RoutingRule(name=name, position=position, is_enabled=is_enabled,
                       is_continue=is_continue,
                       conditions=_checked_conditions(conditions),
                       actions=_checked_actions(session, actions), created_at=now,
                       updated_at=now)
    session.add(rule)
    _changed(session)
    session.flush()
    log.info("routing.rule_created", rule_id=rule.id)
    return rule


def update_rule(session: Session, rule_id: int, *, actor: Actor, clock: Clock = SYSTEM_CLOCK,
                **changes: Any) -> RoutingRule:
    require(actor, Permission.MANAGE_ROUTING)
    rule = get_rule(session, rule_id)
    for name in ("name", "position", "is_enabled", "is_continue"):
        if changes.get(name) is not None:
            setattr(rule, name, changes[name])
    if changes.get("conditions") is not None:
        rule.conditions = _checked_conditions(changes["conditions"])
    if changes.get("actions") is not None:
        rule.actions = _checked_actions(session, changes["actions"])
    rule.updated_at = clock.now()
    _changed(session)
    session.flush()
    return rule


def move_rule(session: Session, rule_id: int, *, actor: Actor, up: bool) -> None:
    """Swap a rule with its neighbour above or below, renumbering the list in tens."""
    require(actor, Permission.MANAGE_ROUTING)
    rules = list(list_rules(session))
    index = next((i for i, r in enumerate(rules) if r.id == rule_id), None)
    if index is None:
        raise errors.RuleNotFound()
    other = index - 1 if up else index + 1
    if 0 <= other < len(rules):
        rules[index], rules[other] = rules[other], rules[index]
    for i, rule in enumerate(rules):
        rule.position = i * 10
    _changed(session)
    session.flush()


def delete_rule(session: Session, rule_id: int, *, actor: Actor) -> None:
    require(actor, Permission.MANAGE_ROUTING)
    session.delete(get_rule(session, rule_id))
    _changed(session)
    session.flush()


def _rule_views(session: Session) -> list[RuleView]:
    return [RuleView(r.id, r.name, r.conditions, r.actions, r.is_continue)
            for r in list_rules(session) if r.is_enabled]


# --- team modes -----------------------------------------------------------------------------


def set_team_mode(session: Session, team_id: int, mode: AssignmentMode, *,
                  actor: Actor) -> TeamRouting:
    require(actor, Permission.MANAGE_ROUTING)
    identity.get_team(session, team_id)
    row = session.get(TeamRouting, team_id)
    if row is None:
        row = TeamRouting(team_id=team_id, mode=mode)
        session.add(row)
    row.mode = mode
    session.flush()
    return row


def team_modes(session: Session) -> dict[int, AssignmentMode]:
    return {row.team_id: row.mode for row in session.scalars(sa.select(TeamRouting))}


# --- the decision ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Given:
    """What the ticket already had when triage ran: triage fills in, never overrides."""

    category: str | None = None
    team_id: int | None = None
    priority: Priority = Priority.NORMAL
    assignee_id: int | None = None
    escalation_level: int = 0


@dataclass
class Decision:
    language: str
    language_confidence: float
    sentiment: str
    negative_score: float
    sentiment_version: str
    rules: RuleOutcome
    category: str | None
    category_source: str  # rule | model | given | review | none
    confidence: float | None = None
    model_version: str | None = None
    features: list[tuple[str, float]] = field(default_factory=list)
    suggestions: list[tuple[str, float]] = field(default_factory=list)
    cold_start: bool = False
    team_id: int | None = None
    team_source: str | None = None  # rule | category | given
    skill: str | None = None
    priority: Priority = Priority.NORMAL
    priority_signals: list[Signal] = field(default_factory=list)
    priority_rule: str | None = None

    @property
    def needs_review(self) -> bool:
        return self.category_source == "review"


def _sentiment(text: str) -> tuple[str, float, str]:
    """(label, P(negative), model version) of a customer's text."""
    loaded = load_sentiment_model()
    classes, proba = loaded.probabilities(text)
    best = int(np.argmax(proba))
    negative = float(proba[classes.index("negative")]) if "negative" in classes else 0.0
    return classes[best], round(negative, 4), loaded.version


def _model_prediction(model: classifier.ModelRef, text: str) -> classifier.Prediction | None:
    try:
        loaded = classifier.load_pipeline(model)
    except (OSError, ModelIntegrityError) as exc:
        # A missing or altered artefact must not stop tickets: triage falls back to rules.
        log.error("routing.model_unusable", version=model.version, error=str(exc))
        return None
    return classifier.predict(loaded, text)


def decide(session: Session, *, text: str, channel: str, customer: Customer | CustomerRef | None,
           custom_fields: dict[str, Any] | None = None, given: Given = Given(),
           config: Configuration | None = None, recent: int = 0) -> Decision:
    """Everything triage concludes about a text, without changing anything (`recent`: the
    customer's other requests within the repeat window, as triage counts them)."""
    config = config or configuration(session)
    settings = config.settings
    lang, lang_confidence = detect_language(text)
    sentiment, negative, sentiment_version = _sentiment(text)
    org: Organization | None = None
    if customer is not None and customer.organization_id is not None:
        org = identity.get_organization(session, customer.organization_id, actor=SYSTEM)
    facts = Facts.of(text, channel=channel, language=lang, sentiment=sentiment,
                     is_vip=bool(org and org.is_vip), sla_tier=org.sla_tier if org else None,
                     organization_id=org.id if org else None,
                     custom_fields=custom_fields or {})
    outcome = apply_rules(config.rules, facts)
    decision = Decision(language=lang, language_confidence=lang_confidence,
                        sentiment=sentiment, negative_score=negative,
                        sentiment_version=sentiment_version, rules=outcome, category=None,
                        category_source="none")
    _decide_category(decision, text, given, config)
    _decide_team(decision, given, config)
    found = signals(PriorityInput(terms=facts.terms, negative_score=negative, channel=channel,
                                  is_vip=facts.is_vip, sla_tier=facts.sla_tier,
                                  recent_requests=recent,
                                  repeat_days=settings.repeat_days))
    decision.priority_signals = found
    if outcome.priority is not None:
        decision.priority = higher(Priority(outcome.priority), given.priority)
        decision.priority_rule = outcome.setters.get("priority")
    else:
        decision.priority = higher(score_priority(found), given.priority)
    return decision


def _decide_category(decision: Decision, text: str, given: Given,
                     config: Configuration) -> None:
    outcome = decision.rules
    model = config.model
    decision.cold_start = model is None
    if given.category is not None:
        decision.category, decision.category_source = given.category, "given"
    elif outcome.category is not None:
        decision.category, decision.category_source = outcome.category, "rule"
    if decision.category is not None:
        return
    if outcome.skip_model or model is None:
        return
    prediction = _model_prediction(model, text)
    if prediction is None:
        return
    decision.model_version = prediction.version
    decision.confidence = prediction.confidence
    decision.features = prediction.features
    decision.suggestions = prediction.ranked[:SUGGESTIONS]
    if prediction.confidence >= config.settings.confidence_threshold:
        decision.category, decision.category_source = prediction.category, "model"
    else:
        decision.category_source = "review"


def _decide_team(decision: Decision, given: Given, config: Configuration) -> None:
    category = config.categories.get(decision.category) if decision.category else None
    team_of_category = category.team_id if category is not None else None
    decision.skill = category.skill_key if category is not None else decision.category
    if given.team_id is not None:
        decision.team_id, decision.team_source = given.team_id, "given"
    elif decision.rules.team_id is not None:
        decision.team_id, decision.team_source = int(decision.rules.team_id), "rule"
    elif team_of_category is not None:
        decision.team_id, decision.team_source = team_of_category, "category"


# --- the explanation ------------------------------------------------------------------------


def _signal_text(signal: dict[str, Any]) -> str:
    code = signal["code"]
    if code == "negative":
        return _("negative {score}").format(score=f"{signal['score']:.2f}")
    if code == "urgent_words":
        return _("urgent words {words}").format(
            words=", ".join(f"«{w}»" for w in signal["words"]))
    if code == "vip":
        return _("VIP")
    if code == "sla_tier":
        return _("SLA tier {tier}").format(tier=signal["tier"])
    if code == "repeat_contact":
        return ngettext("{count} more request in {days} days",
                        "{count} more requests in {days} days",
                        signal["count"]).format(count=signal["count"], days=signal["days"])
    if code == "channel":
        return _("channel {channel}").format(channel=signal["channel"])
    return str(code)


def _category_text(data: dict[str, Any], names: dict[str, str]) -> str | None:
    category = data.get("category") or {}
    key = category.get("key")
    name = names.get(key, key) if key else None
    source = category.get("source")
    if source == "rule":
        return _("{category}: rule “{rule}”").format(category=name, rule=category["rule"])
    if source == "model":
        return _("{category}: model {version}, confidence {confidence}").format(
            category=name, version=category["model"],
            confidence=f"{category['confidence']:.2f}")
    if source == "review":
        top = ", ".join(f"{names.get(k, k)} {p:.2f}" for k, p in category["suggestions"])
        return _("Category needs an agent (model not sure: {suggestions})").format(
            suggestions=top)
    if source == "given":
        return None
    if category.get("cold_start"):
        return _("No category: no rule matched, and there is no trained model yet")
    return _("No category: no rule matched")


def _priority_text(data: dict[str, Any]) -> str:
    priority = data["priority"]
    label = tickets.priority_label(Priority(priority["value"]))
    if priority.get("rule"):
        return _("priority {priority}: rule “{rule}”").format(priority=label,
                                                             rule=priority["rule"])
    reasons = [_signal_text(s) for s in priority.get("signals", [])]
    if not reasons:
        return _("priority {priority}").format(priority=label)
    return _("priority {priority}: {reasons}").format(priority=label, reasons=", ".join(reasons))


def _assignment_text(data: dict[str, Any], team_names: dict[int, str]) -> str | None:
    chosen = data.get("assignment")
    team = team_names.get(data.get("team", {}).get("id") or 0)
    if not chosen:
        return None
    if chosen.get("rule"):
        return _("agent {agent}: rule “{rule}”").format(agent=chosen["agent"]["name"],
                                                       rule=chosen["rule"])
    agent = chosen.get("agent")
    if agent is None:
        why = []
        excluded = chosen.get("excluded", {})
        if excluded.get("offline"):
            why.append(_("{n} offline").format(n=excluded["offline"]))
        if excluded.get("no_skill"):
            why.append(_("{n} without the skill").format(n=excluded["no_skill"]))
        if excluded.get("at_capacity"):
            why.append(_("{n} at capacity").format(n=excluded["at_capacity"]))
        return _("queue of {team}: nobody can take it now ({why})").format(
            team=team or "—", why=", ".join(why) or _("no members"))
    reason = _("level {level}, {load} of {capacity} tickets").format(
        level=agent["level"], load=agent["load"], capacity=agent["capacity"])
    if chosen.get("senior_only"):
        reason = _("most experienced, level {level}, {load} of {capacity} tickets").format(
            level=agent["level"], load=agent["load"], capacity=agent["capacity"])
    if not chosen.get("assigned"):
        return _("suggested agent {agent} ({reason}); the team assigns by hand").format(
            agent=agent["name"], reason=reason)
    if chosen.get("mode") == AssignmentMode.ROUND_ROBIN.value:
        return _("agent {agent}: next in turn ({reason})").format(agent=agent["name"],
                                                                 reason=reason)
    return _("agent {agent}: {reason}").format(agent=agent["name"], reason=reason)


_INSERT_TRIAGE = sa.insert(TicketTriage)
# The ticket, and whether it was triaged before (a redelivered event), in one statement.
_TICKET = (sa.select(Ticket, TicketTriage.ticket_id.label("triaged"))
           .outerjoin(TicketTriage, TicketTriage.ticket_id == Ticket.id)
           .where(Ticket.id == sa.bindparam("id")))
_TICKET_LOCKED = _TICKET.with_for_update(of=Ticket)  # SQLite: the write lock is held already
_FIRST_MESSAGE = tickets.first_customer_message_query(Message.body_text,
                                                     Message.meta).subquery()
# The customer's organisation, the first message and the customer's recent requests.
_OPENING = (sa.select(Customer.organization_id, _FIRST_MESSAGE.c.body_text,
                      _FIRST_MESSAGE.c.meta,
                      tickets.RECENT_REQUESTS.scalar_subquery().label("recent"))
            .outerjoin(_FIRST_MESSAGE, sa.true())
            .where(Customer.id == sa.bindparam("customer_id")))


@dataclass(frozen=True)
class CustomerRef:
    """What triage needs to know of a customer (a `Customer` row has both too)."""

    id: int
    organization_id: int | None


_TEAM_NAME = sa.select(Team.name).where(Team.id == sa.bindparam("id"))


def summarize(session: Session, data: dict[str, Any], *, team_name: str | None = None,
              config: Configuration | None = None) -> dict[str, str]:
    """The explanation as one sentence in each language (`team_name`: the team's name when
    the caller has just read it)."""
    team_id = data.get("team", {}).get("id")
    name = team_name
    if name is None and team_id:
        name = session.connection().scalar(_TEAM_NAME, {"id": team_id})
    teams = {team_id: name} if name is not None else {}
    categories = (config or configuration(session)).categories.values()
    out = {}
    for lang in ("ru", "en"):
        with language(lang):
            names = {c.key: c.name(lang) for c in categories}
            parts = [_category_text(data, names), _priority_text(data),
                     _assignment_text(data, teams)]
            out[lang] = "; ".join(p for p in parts if p)
    return out


def explanation(decision: Decision) -> dict[str, Any]:
    data: dict[str, Any] = {
        "language": {"code": decision.language, "confidence": decision.language_confidence},
        "sentiment": {"label": decision.sentiment, "negative": decision.negative_score,
                      "model": decision.sentiment_version},
        "rules": decision.rules.fired,
        "category": {"key": decision.category, "source": decision.category_source,
                     "rule": decision.rules.setters.get("category"),
                     "phrase": next((f["phrase"] for f in decision.rules.fired
                                     if f["rule"] == decision.rules.setters.get("category")),
                                    None),
                     "model": decision.model_version, "confidence": decision.confidence,
                     "features": [list(f) for f in decision.features],
                     "suggestions": [list(s) for s in decision.suggestions],
                     "cold_start": decision.cold_start},
        "team": {"id": decision.team_id, "source": decision.team_source},
        "priority": {"value": decision.priority.value, "rule": decision.priority_rule,
                     "signals": [s.as_dict() for s in decision.priority_signals]},
    }
    if decision.rules.tags:
        data["tags"] = decision.rules.tags
    return data


# --- triage of a ticket ---------------------------------------------------------------------


def get_triage(session: Session, ticket_id: int) -> TicketTriage | None:
    return session.get(TicketTriage, ticket_id)


def classifier_is_cold(session: Session) -> bool:
    """No active category model: routing by rules only."""
    return classifier.active_model(session) is None


@dataclass(frozen=True)
class TriageView:
    """What the ticket page shows of triage, in the viewer's language."""

    summary: str | None
    sentiment: str | None
    negative_score: float | None
    needs_review: bool
    suggestions: list[tuple[str, str, float]]  # key, name, probability
    categories: list[tuple[str, str]]  # every active category: key, name
    cold_start: bool


def triage_view(session: Session, ticket: Ticket, *, lang: str) -> TriageView:
    row = session.get(TicketTriage, ticket.id)
    names = category_names(session, lang)
    categories = [(c.key, c.name(lang)) for c in list_categories(session, active_only=True)]
    if row is None:
        return TriageView(None, None, None, False, [], categories, classifier_is_cold(session))
    summary = row.explanation.get("summary", {})
    return TriageView(
        summary=summary.get(lang) or summary.get("ru"), sentiment=row.sentiment,
        negative_score=row.negative_score,
        needs_review=row.needs_review and ticket.category is None,
        suggestions=[(str(k), names.get(str(k), str(k)), float(p)) for k, p in row.suggestions],
        categories=categories, cold_start=classifier_is_cold(session))


def tickets_to_triage(session: Session, *, actor: Actor,
                      limit: int = 50) -> list[tuple[Ticket, TicketTriage]]:
    """Tickets the model was not sure of and nobody has categorised yet, newest first."""
    require(actor, Permission.WORK_TICKETS)
    rows = session.scalars(sa.select(TicketTriage).where(TicketTriage.needs_review.is_(True))
                           .order_by(TicketTriage.at.desc()).limit(limit * 4)).all()
    found = []
    for row in rows:
        if not tickets.visible_ticket_exists(session, actor, row.ticket_id):
            continue
        ticket = tickets.get_ticket_for(session, actor, row.ticket_id)
        if ticket.category is None and ticket.status not in (Status.SOLVED, Status.CLOSED):
            found.append((ticket, row))
        if len(found) == limit:
            break
    return found


def _assignment(session: Session, decision: Decision, ticket: Ticket,
                given: Given) -> AssignmentChoice | dict[str, Any] | None:
    """How the agent was chosen (a rule's choice as the explanation's dict)."""
    if given.assignee_id is not None:
        return None
    rule_assignee = decision.rules.assignee_id
    if rule_assignee is not None:
        user = identity.get_user(session, int(rule_assignee))
        if user.is_active:
            return {"rule": decision.rules.setters["assignee_id"], "assigned": True,
                    "agent": {"id": user.id, "name": user.name}}
    if decision.team_id is None:
        return None
    prefer_senior = decision.sentiment == "negative" or ticket.escalation_level > 0
    return assignment.choose_agent(session, decision.team_id, skill=decision.skill,
                                   language=decision.language, prefer_senior=prefer_senior)


def triage_ticket(session: Session, ticket_id: int, *,
                  clock: Clock = SYSTEM_CLOCK) -> bool:
    """Decide and apply language, category, team, priority and agent for a new ticket, with
    the explanation in its history (`get_triage` then reads it). Runs once per ticket; the
    caller commits. False: nothing to do (triaged before, merged, solved or closed)."""
    found = session.execute(_TICKET if is_sqlite(session) else _TICKET_LOCKED,
                            {"id": ticket_id}).first()
    if found is None:
        raise TicketNotFound()
    ticket = found[0]
    if found.triaged is not None:
        return False  # a redelivered event
    if ticket.merged_into_id is not None or ticket.status in (Status.SOLVED, Status.CLOSED):
        return False
    config = configuration(session)
    # All that triage reads of the customer and the first message, in one statement.
    opening = session.connection().execute(_OPENING, {
        "ticket_id": ticket_id, "customer_id": ticket.customer_id,
        "since": ticket.created_at - timedelta(days=config.settings.repeat_days),
        "before": ticket.created_at, "exclude_id": ticket_id}).one()
    text = f"{ticket.subject}\n{opening.body_text or ''}".strip()
    customer = CustomerRef(ticket.customer_id, opening.organization_id)
    # A team that came with the channel (the mailbox's, the bot's) is a default: routing may
    # choose better, and the ticket keeps it when routing finds none.
    channel_default = bool(opening.meta and opening.meta.get("team_from_channel"))
    given = Given(category=ticket.category,
                  team_id=None if channel_default else ticket.team_id,
                  priority=ticket.priority,
                  assignee_id=ticket.assignee_id, escalation_level=ticket.escalation_level)
    decision = decide(session, text=text, channel=ticket.channel.value, customer=customer,
                      custom_fields=ticket.custom_fields, given=given, config=config,
                      recent=opening.recent)
    data = explanation(decision)
    choice = _assignment(session, decision, ticket, given)
    roster: AssignmentChoice | None = None  # an agent chosen from the team's roster
    chosen: dict[str, Any] | None = None  # the explanation's account of the choice
    if isinstance(choice, AssignmentChoice):
        roster, chosen = choice, choice.as_dict()
    else:
        chosen = choice
    if chosen is not None:
        data["assignment"] = chosen
    team_name = roster.team_name if roster is not None else None
    data["summary"] = summary = summarize(session, data, team_name=team_name, config=config)
    default_language = get_settings().default_language
    reason = summary.get(default_language, summary["ru"])
    changes = _changes(ticket, decision, chosen)
    with tickets.one_write(session):  # the changes and their history: one UPDATE, one INSERT
        if changes:
            # Field changes name their cause; the `triaged` event after them says why.
            with language(default_language):
                cause = _("Automatic triage")
            # Ids read in this transaction (the team with its roster, the chosen agent)
            # need no second look-up.
            checked = {"assignee_id"} if chosen else set()
            if team_name is not None:
                checked.add("team_id")
            tickets.update_ticket(session, ticket.id, changes, actor=SYSTEM, reason=cause,
                                  clock=clock, checked=checked, routing=True)
        assignee_id = ticket.assignee_id
        if chosen and chosen.get("assigned") and decision.team_id is not None and assignee_id:
            assignment.record_assignment(session, decision.team_id, assignee_id,
                                         at=clock.now(),
                                         team_row=roster is None or roster.team_row)
        tickets.record_decision(session, ticket.id, "triaged", data=data, reason=reason,
                                clock=clock)
    row = dict(
        ticket_id=ticket.id, at=clock.now(), language=decision.language,
        language_confidence=decision.language_confidence, sentiment=decision.sentiment,
        negative_score=decision.negative_score, category=decision.category,
        category_source=decision.category_source, confidence=decision.confidence,
        model_version=decision.model_version,
        rule_ids=[f["rule_id"] for f in decision.rules.fired],
        suggestions=[list(s) for s in decision.suggestions],
        needs_review=decision.needs_review, team_id=decision.team_id,
        priority=decision.priority.value, assignee_id=assignee_id, explanation=data)
    session.connection().execute(_INSERT_TRIAGE, [row])
    session.flush()
    log.info("routing.triaged", ticket_id=ticket.id, category_source=decision.category_source,
             team_id=decision.team_id, assignee_id=assignee_id)
    return True


def _changes(ticket: Ticket, decision: Decision,
             chosen: dict[str, Any] | None) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if decision.language in ("ru", "en") and ticket.language != decision.language:
        changes["language"] = decision.language
    if ticket.category is None and decision.category is not None:
        changes["category"] = decision.category
    if decision.team_id is not None and decision.team_id != ticket.team_id and (
            ticket.team_id is None or decision.team_source in ("rule", "category")):
        changes["team_id"] = decision.team_id
    if decision.priority != ticket.priority:
        changes["priority"] = decision.priority
    if decision.rules.tags:
        tags = sorted(set(ticket.tags) | set(decision.rules.tags))
        if tags != ticket.tags:
            changes["tags"] = tags
    if chosen and chosen.get("assigned") and ticket.assignee_id is None:
        changes["assignee_id"] = chosen["agent"]["id"]
    return changes


@subscribe("ticket.created")
def on_ticket_created(session: Session, row: OutboxEvent) -> None:
    triage_ticket(session, int(row.payload["ticket_id"]))


# --- preview --------------------------------------------------------------------------------


def preview(session: Session, *, actor: Actor, text: str, subject: str = "",
            channel: Channel = Channel.API, customer_id: int | None = None) -> dict[str, Any]:
    """What triage would decide for a text, without a ticket (API, `zabota ml explain`)."""
    require(actor, Permission.WORK_TICKETS)
    customer = (identity.get_customer(session, customer_id, actor=actor)
                if customer_id is not None else None)
    full = f"{subject}\n{text}".strip()
    decision = decide(session, text=full, channel=channel.value, customer=customer)
    data = explanation(decision)
    data["team"]["id"] = decision.team_id
    names = category_names(session, "en")
    lang_summary = summarize(session, data)
    return {
        "language": decision.language, "language_confidence": decision.language_confidence,
        "category": decision.category, "category_source": decision.category_source,
        "confidence": decision.confidence, "needs_review": decision.needs_review,
        "suggestions": [{"category": k, "name": names.get(k, k), "probability": p}
                        for k, p in decision.suggestions],
        "team_id": decision.team_id, "sentiment": decision.sentiment,
        "negative_score": decision.negative_score, "priority": decision.priority,
        "reasons": data["priority"]["signals"], "rules": decision.rules.fired,
        "model_version": decision.model_version, "cold_start": decision.cold_start,
        "summary": lang_summary.get(get_language(), lang_summary["ru"]),
        "features": data["category"]["features"],
    }


# --- corrections ----------------------------------------------------------------------------


def _predicted(triage: TicketTriage, field_name: str) -> tuple[str | None, str] | None:
    """What triage decided for a field, and what made the decision; None if it decided
    nothing there (a category given at creation is not triage's to be corrected)."""
    if field_name == "category":
        if triage.category_source in ("rule", "model"):
            return triage.category, triage.category_source
        if triage.category_source == "review" and triage.suggestions:
            return str(triage.suggestions[0][0]), "suggestion"
        return None
    team = triage.explanation.get("team", {})
    if team.get("source") in ("rule", "category") and triage.team_id is not None:
        return str(triage.team_id), str(team["source"])
    return None


def record_corrections(session: Session, *, event_id: str, ticket_id: int,
                       changes: dict[str, Any], by_user_id: int | None,
                       at: datetime) -> list[RoutingCorrection]:
    """Record an agent's change of what triage decided. Idempotent per event."""
    triage = session.get(TicketTriage, ticket_id)
    if triage is None:
        return []
    recorded = []
    for field_name in ("category", "team_id"):
        if field_name not in changes:
            continue
        predicted = _predicted(triage, field_name)
        if predicted is None:
            continue
        new = changes[field_name][1]
        row = RoutingCorrection(event_id=event_id, ticket_id=ticket_id, field=field_name,
                                predicted=predicted[0],
                                confirmed=None if new is None else str(new),
                                source=predicted[1], model_version=triage.model_version,
                                by_user_id=by_user_id, at=at)
        try:
            with session.begin_nested():
                session.add(row)
                session.flush()
        except IntegrityError:
            continue  # recorded by an earlier delivery of the same event
        recorded.append(row)
    return recorded


@subscribe("ticket.updated")
def on_ticket_updated(session: Session, row: OutboxEvent) -> None:
    payload = row.payload
    if payload.get("actor_kind") != "user":
        return  # triage's own changes, channels and jobs are not corrections
    changes = payload.get("changes") or {}
    if "category" in changes or "team_id" in changes:
        record_corrections(session, event_id=row.event_id, ticket_id=int(payload["ticket_id"]),
                           changes=changes, by_user_id=payload.get("actor_id"),
                           at=row.created_at)


def list_corrections(session: Session, *, limit: int = 100) -> Sequence[RoutingCorrection]:
    return session.scalars(sa.select(RoutingCorrection)
                           .order_by(RoutingCorrection.id.desc()).limit(limit)).all()


def routing_accuracy(session: Session, *, since: datetime | None = None,
                     until: datetime | None = None) -> dict[str, Any]:
    """Tickets whose category triage set by itself, and the share agents did not correct."""
    automatic = sa.select(sa.func.count()).select_from(TicketTriage).where(
        TicketTriage.category_source.in_(("rule", "model")))
    corrected = sa.select(sa.func.count(sa.distinct(RoutingCorrection.ticket_id))).where(
        RoutingCorrection.field == "category",
        RoutingCorrection.source.in_(("rule", "model")),
        RoutingCorrection.predicted != sa.func.coalesce(RoutingCorrection.confirmed, ""))
    if since is not None:
        automatic = automatic.where(TicketTriage.at >= since)
        corrected = corrected.where(RoutingCorrection.at >= since)
    if until is not None:
        automatic = automatic.where(TicketTriage.at < until)
        corrected = corrected.where(RoutingCorrection.at < until)
    total = session.scalar(automatic) or 0
    wrong = session.scalar(corrected) or 0
    return {"automatic": total, "corrected": wrong,
            "accuracy": round(1 - wrong / total, 4) if total else None}


# --- the category model ---------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingData:
    texts: list[str]
    labels: list[str]
    settings: RoutingSettings

    @property
    def is_enough(self) -> bool:
        return (len(self.labels) >= self.settings.min_training_rows
                and len(set(self.labels)) >= 2)


def training_data(session: Session) -> TrainingData:
    """Solved tickets' confirmed categories, without categories too rare to learn."""
    settings = get_routing_settings(session)
    keys = [c.key for c in list_categories(session, active_only=True)]
    texts, labels = tickets.solved_ticket_texts(session, keys)
    texts, labels = classifier.usable_rows(texts, labels,
                                           min_per_category=settings.min_per_category)
    return TrainingData(texts, labels, settings)


def list_models(session: Session) -> Sequence[CategoryModel]:
    return session.scalars(sa.select(CategoryModel).order_by(CategoryModel.id.desc())).all()


def models_for(session: Session, *, actor: Actor) -> Sequence[CategoryModel]:
    require(actor, Permission.MANAGE_ROUTING)
    return list_models(session)


def get_model(session: Session, version: str) -> CategoryModel:
    model = session.scalar(sa.select(CategoryModel).where(CategoryModel.version == version))
    if model is None:
        raise errors.ModelNotFound()
    return model


def _activate(session: Session, model: CategoryModel | None, *, at: datetime) -> None:
    session.execute(sa.update(CategoryModel).where(CategoryModel.is_active.is_(True))
                    .values(is_active=False))
    if model is not None:
        model.is_active = True
        model.activated_at = at
    _changed(session)
    session.flush()


def train_category_model(session: Session, *, actor: Actor, directory: Path | None = None,
                         activate: bool = True, clock: Clock = SYSTEM_CLOCK) -> CategoryModel:
    """Train on the solved tickets, register the model, and activate it unless it is clearly
    worse than the active one. Raises NotEnoughTrainingData on a cold start.

    All in the caller's transaction: for tests and small data. Jobs use `train_in`, which
    holds no transaction while the model learns."""
    require(actor, Permission.MANAGE_ROUTING)
    data = training_data(session)
    _check_enough(data)
    trained = classifier.train_and_save(
        data.texts, data.labels, directory or get_settings().data_dir / "models",
        trained_at=clock.now().isoformat(timespec="seconds"))
    return _register(session, trained, activate=activate, clock=clock)


def train_in(database: Database, *, actor: Actor, directory: Path | None = None,
             activate: bool = True, clock: Clock = SYSTEM_CLOCK) -> CategoryModel:
    """The same in three steps: read the data, learn outside any transaction (minutes on a
    large history: on SQLite a write transaction would lock every writer out meanwhile),
    register the model in a short transaction of its own."""
    require(actor, Permission.MANAGE_ROUTING)
    with database.read_sessions() as session:
        data = training_data(session)
    _check_enough(data)
    trained = classifier.train_and_save(
        data.texts, data.labels, directory or get_settings().data_dir / "models",
        trained_at=clock.now().isoformat(timespec="seconds"))
    with database.sessions() as session:
        model = _register(session, trained, activate=activate, clock=clock)
        session.commit()
        return model


def _check_enough(data: TrainingData) -> None:
    if not data.is_enough:
        raise errors.NotEnoughTrainingData(
            _("{rows} solved tickets with a category in {categories} categories; a model "
              "needs at least {needed} in two or more categories").format(
                rows=len(data.labels), categories=len(set(data.labels)),
                needed=data.settings.min_training_rows),
            rows=len(data.labels), needed=data.settings.min_training_rows)


def _register(session: Session, trained: classifier.TrainedArtefact, *, activate: bool,
              clock: Clock) -> CategoryModel:
    now = clock.now()
    version = str(trained.manifest["model_version"])
    model = session.scalar(sa.select(CategoryModel).where(CategoryModel.version == version))
    if model is None:
        model = CategoryModel(version=version, trained_at=now, rows=trained.rows,
                              labels=trained.labels, metrics=trained.metrics,
                              chosen=trained.chosen,
                              artefact_sha256=str(trained.manifest["sha256"]),
                              artefact_path=str(trained.path), is_active=False)
        session.add(model)
        session.flush()
    current = classifier.active_model(session)
    worse = current is not None and current.id != model.id and (
        trained.metrics["macro_f1"]
        < float(current.metrics.get("macro_f1", 0.0)) - MAX_REGRESSION)
    if activate and not worse:
        _activate(session, model, at=now)
    log.info("routing.model_trained", version=version, rows=trained.rows,
             macro_f1=trained.metrics["macro_f1"], active=model.is_active)
    return model


def request_training(session: Session, *, actor: Actor) -> None:
    """Queue a retraining job, after checking there is enough to learn from."""
    require(actor, Permission.MANAGE_ROUTING)
    data = training_data(session)
    if not data.is_enough:
        raise errors.NotEnoughTrainingData(rows=len(data.labels),
                                           needed=data.settings.min_training_rows)
    from zabota.routing.tasks import retrain_category_model  # the job imports this module

    retrain_category_model()


def activate_model(session: Session, version: str, *, actor: Actor,
                   clock: Clock = SYSTEM_CLOCK) -> CategoryModel:
    require(actor, Permission.MANAGE_ROUTING)
    model = get_model(session, version)
    if not model.is_active:
        _activate(session, model, at=clock.now())
    return model


def rollback_model(session: Session, *, actor: Actor,
                   clock: Clock = SYSTEM_CLOCK) -> CategoryModel | None:
    """Activate the model trained before the active one; with none before it, routing goes
    back to rules only. Returns the model now active."""
    require(actor, Permission.MANAGE_ROUTING)
    current = classifier.active_model(session)
    if current is None:
        return None
    previous = session.scalar(sa.select(CategoryModel).where(CategoryModel.id < current.id)
                              .order_by(CategoryModel.id.desc()).limit(1))
    _activate(session, previous, at=clock.now())
    log.info("routing.model_rolled_back", version=current.version,
             to=previous.version if previous else None)
    return previous


def deactivate_models(session: Session, *, actor: Actor) -> None:
    """Rules only, until a model is activated again."""
    require(actor, Permission.MANAGE_ROUTING)
    _activate(session, None, at=SYSTEM_CLOCK.now())
