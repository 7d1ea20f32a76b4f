"""Routing rules in memory: conditions on a ticket's facts, phrases matched by lemmas.

A phrase matches when its lemma sequence occurs, contiguously and in order, in the lemma
sequence of the text: "сбой транзакции" → [сбой, транзакция] matches "сбоем транзакций"
and "Сбой транзакции!" but not "транзакция без сбоя". English words compare by their
Snowball stems ("payment failed" matches "payments failing"). Lemmas come from the shared
text pipeline (`zabota.ml.text`), the same one search and the models use.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from zabota.ml.text import model_terms


def phrase_terms(phrase: str) -> tuple[str, ...]:
    return tuple(model_terms(phrase))


def find_phrase(terms: Sequence[str], phrase: Sequence[str]) -> bool:
    """Whether `phrase` occurs in `terms` as a contiguous run."""
    size = len(phrase)
    if size == 0 or size > len(terms):
        return False
    first, wanted, last_start = phrase[0], tuple(phrase), len(terms) - size + 1
    start = 0
    while True:  # jump from one occurrence of the first word to the next, at C speed
        try:
            start = terms.index(first, start, last_start)
        except ValueError:
            return False
        if tuple(terms[start:start + size]) == wanted:
            return True
        start += 1


@dataclass(frozen=True)
class Facts:
    """What rules may look at, gathered once per ticket."""

    text: str
    terms: tuple[str, ...]
    channel: str = "api"
    language: str = "unknown"
    sentiment: str = "neutral"
    is_vip: bool = False
    sla_tier: str | None = None
    organization_id: int | None = None
    custom_fields: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, text: str, **facts: Any) -> Facts:
        return cls(text=text, terms=tuple(model_terms(text)), **facts)


def _listed(value: object, allowed: object) -> bool:
    return not allowed or (isinstance(allowed, list) and value in allowed)


def matched_phrase(conditions: Mapping[str, Any], facts: Facts) -> str | bool | None:
    """The first listed phrase found in the text; True when the rule lists no phrases;
    None when it lists some and none is found."""
    phrases: list[str] = conditions.get("phrases") or []
    if not phrases:
        return True
    for phrase in phrases:
        if find_phrase(facts.terms, phrase_terms(phrase)):
            return phrase
    return None


def matches(conditions: Mapping[str, Any], facts: Facts) -> tuple[bool, str | None]:
    """Whether every condition holds, and the phrase that matched (if the rule has phrases)."""
    checks = (
        _listed(facts.channel, conditions.get("channels")),
        _listed(facts.language, conditions.get("languages")),
        _listed(facts.sentiment, conditions.get("sentiments")),
        _listed(facts.sla_tier, conditions.get("sla_tiers")),
        _listed(facts.organization_id, conditions.get("organization_ids")),
        conditions.get("vip") is None or bool(conditions["vip"]) == facts.is_vip,
        all(facts.custom_fields.get(key) == value
            for key, value in (conditions.get("custom_fields") or {}).items()),
    )
    if not all(checks):
        return False, None
    phrase = matched_phrase(conditions, facts)
    if phrase is None:
        return False, None
    return True, phrase if isinstance(phrase, str) else None


@dataclass(frozen=True)
class RuleView:
    """A rule as triage reads it (detached from the session)."""

    id: int
    name: str
    conditions: Mapping[str, Any]
    actions: Mapping[str, Any]
    is_continue: bool


@dataclass
class RuleOutcome:
    """What the matching rules set, each field by the first rule that set it."""

    fired: list[dict[str, Any]] = field(default_factory=list)
    category: str | None = None
    team_id: int | None = None
    priority: str | None = None
    assignee_id: int | None = None
    tags: list[str] = field(default_factory=list)
    skip_model: bool = False
    setters: dict[str, str] = field(default_factory=dict)  # field → rule name


def apply_rules(rules: Iterable[RuleView], facts: Facts) -> RuleOutcome:
    """Run the rules in order; the first match wins unless it says continue."""
    outcome = RuleOutcome()
    for rule in rules:
        hit, phrase = matches(rule.conditions, facts)
        if not hit:
            continue
        outcome.fired.append({"rule_id": rule.id, "rule": rule.name, "phrase": phrase})
        actions = rule.actions
        for name in ("category", "team_id", "priority", "assignee_id"):
            if actions.get(name) is not None and getattr(outcome, name) is None:
                setattr(outcome, name, actions[name])
                outcome.setters[name] = rule.name
        for tag in actions.get("tags") or []:
            if tag not in outcome.tags:
                outcome.tags.append(tag)
        outcome.skip_model = outcome.skip_model or bool(actions.get("skip_model"))
        if not rule.is_continue:
            break
    return outcome
