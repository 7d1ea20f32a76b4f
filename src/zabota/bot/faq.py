"""Matching a customer's message against the admins' FAQ pairs.

A pair is a question, other ways customers put it, and an answer, in one language. Its
phrasings are compared with the message in the knowledge base's normalised terms (Russian
lemmas, English stems: `zabota.kb.search.query_terms`), so "изменить адрес доставки" matches
"Как изменить адрес доставки?" in any word form. The score of a phrasing is the F1 of the two
term sets, weighted like the article search (words like "как", "the" count a fifth; a typo
within one letter, two for long words, counts 0.9):

    recall    = the share of the message's words found in the phrasing
    precision = the share of the phrasing's words found in the message
    score     = 2 · recall · precision / (recall + precision)

so a pair answers only a message that says about what its question says: "доставка" alone
does not match "Доставка в Казахстан". A pair's score is its best phrasing's. A pair scoring
at least FAQ_THRESHOLD, ahead of the next pair by the bot's MARGIN, answers before any
article (an admin wrote it for exactly this question).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import sqlalchemy as sa
from rapidfuzz.distance import OSA
from sqlalchemy.orm import Session

from zabota.bot.models import BotFaq
from zabota.kb import search
from zabota.ml.text import normalize_word

FAQ_THRESHOLD = 0.7
TYPO_FACTOR = 0.9


@dataclass(frozen=True)
class FaqMatch:
    faq_id: int
    question: str
    answer: str
    article_id: int | None
    score: float
    phrasing: str  # the phrasing that matched best


@lru_cache(maxsize=8192)
def phrase_terms(text: str) -> tuple[str, ...]:
    """The text's normalised terms; "трек-номер" as "трек номер", however it is written."""
    found: dict[str, None] = {}
    for term in search.query_terms(text):
        for part in term.split("-") if "-" in term else (term,):
            if part:
                found.setdefault(normalize_word(part), None)
    return tuple(found)


def _weight(term: str) -> float:
    return search.STOPWORD_WEIGHT if term in search.stopwords() else 1.0


def _found(term: str, others: frozenset[str]) -> float:
    if term in others:
        return 1.0
    if len(term) < 4 or not term.isalpha():
        return 0.0
    limit = 1 if len(term) < 8 else 2
    close = any(abs(len(other) - len(term)) <= limit
                and OSA.distance(term, other, score_cutoff=limit) <= limit
                for other in others)
    return TYPO_FACTOR if close else 0.0


def _share(terms: Sequence[str], others: frozenset[str]) -> float:
    total = sum(_weight(t) for t in terms)
    if total <= 0:
        return 0.0
    return sum(_weight(t) * _found(t, others) for t in terms) / total


def score(message_terms: Sequence[str], phrasing_terms: Sequence[str]) -> float:
    """How well a phrasing matches the message, 0 to 1 (see the module's docstring)."""
    if not message_terms or not phrasing_terms:
        return 0.0
    recall = _share(message_terms, frozenset(phrasing_terms))
    precision = _share(phrasing_terms, frozenset(message_terms))
    if recall + precision <= 0:
        return 0.0
    return round(2 * recall * precision / (recall + precision), 4)


def matches(session: Session, text: str, *, language: str, exclude: Sequence[int] = (),
            limit: int = 3) -> list[FaqMatch]:
    """The active pairs of the language that best match the text, best first."""
    wanted = phrase_terms(text)
    if not [t for t in wanted if t not in search.stopwords()]:
        return []
    query = sa.select(BotFaq).where(BotFaq.language == language, BotFaq.is_active.is_(True))
    if exclude:
        query = query.where(BotFaq.id.not_in(list(exclude)))
    found = []
    for pair in session.scalars(query):
        best, phrasing = max(((score(wanted, phrase_terms(p)), p) for p in pair.phrasings),
                             key=lambda item: item[0])
        if best > 0:
            found.append(FaqMatch(pair.id, pair.question, pair.answer, pair.article_id, best,
                                  phrasing))
    found.sort(key=lambda m: (-m.score, m.faq_id))
    return found[:limit]
