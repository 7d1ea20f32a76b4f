"""Priority from signals, each with its points and its reason.

| signal | points |
| --- | --- |
| negative sentiment: P(negative) ≥ 0.75 / ≥ 0.5 | 2 / 1 |
| an urgency word ("срочно", "авария", "urgent", "asap" … compared by lemma) | 2 |
| VIP organisation | 1 |
| premium or enterprise SLA tier | 1 |
| the same customer wrote another request within the last N days | 1 |
| a real-time channel (phone, chat) | 1 |

Total ≥ 4 → urgent, ≥ 2 → high, otherwise normal. Triage only ever raises a priority: a
ticket created as high stays at least high.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from zabota.ml.text import normalize_word
from zabota.tickets.models import Priority

URGENCY_WORDS = ("срочно", "срочный", "немедленно", "авария", "горит", "urgent", "urgently",
                 "asap", "immediately", "emergency", "outage")
PREMIUM_TIERS = frozenset({"premium", "enterprise", "vip", "gold", "platinum"})
REALTIME_CHANNELS = frozenset({"phone", "chat"})
URGENT_AT, HIGH_AT = 4, 2
ORDER = (Priority.LOW, Priority.NORMAL, Priority.HIGH, Priority.URGENT)


@lru_cache(maxsize=1)
def urgency_terms() -> frozenset[str]:
    return frozenset(normalize_word(word) for word in URGENCY_WORDS)


@dataclass(frozen=True)
class Signal:
    code: str  # negative | urgent_words | vip | sla_tier | repeat_contact | channel | rule
    points: int
    detail: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"code": self.code, "points": self.points, **self.detail}


@dataclass(frozen=True)
class PriorityInput:
    terms: Sequence[str]
    negative_score: float
    channel: str = "api"
    is_vip: bool = False
    sla_tier: str | None = None
    recent_requests: int = 0
    repeat_days: int = 7


def signals(facts: PriorityInput) -> list[Signal]:
    found: list[Signal] = []
    if facts.negative_score >= 0.5:
        found.append(Signal("negative", 2 if facts.negative_score >= 0.75 else 1,
                            {"score": round(facts.negative_score, 2)}))
    words = sorted({term for term in facts.terms if term in urgency_terms()})
    if words:
        found.append(Signal("urgent_words", 2, {"words": words}))
    if facts.is_vip:
        found.append(Signal("vip", 1))
    if facts.sla_tier and facts.sla_tier.lower() in PREMIUM_TIERS:
        found.append(Signal("sla_tier", 1, {"tier": facts.sla_tier}))
    if facts.recent_requests:
        found.append(Signal("repeat_contact", 1, {"count": facts.recent_requests,
                                                  "days": facts.repeat_days}))
    if facts.channel in REALTIME_CHANNELS:
        found.append(Signal("channel", 1, {"channel": facts.channel}))
    return found


def score_priority(found: Sequence[Signal]) -> Priority:
    total = sum(s.points for s in found)
    if total >= URGENT_AT:
        return Priority.URGENT
    if total >= HIGH_AT:
        return Priority.HIGH
    return Priority.NORMAL


def higher(a: Priority, b: Priority) -> Priority:
    return a if ORDER.index(a) >= ORDER.index(b) else b
