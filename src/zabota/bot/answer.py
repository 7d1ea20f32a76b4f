"""What the answer bot says to one customer message: an article above a confidence threshold,
or a hand-off to a person.

`decide` is a function of the database (the admins' FAQ pairs, which answer first when one
matches well — see `zabota.bot.faq` — and the published public articles), the text, its
language and the conversation so far; it writes nothing, so the chat, Telegram and
`zabota bot eval` share it. The confidence is the knowledge-base search score (see
`zabota.kb.search`: 1.0 means every word of the question is in an article's title); the
threshold was chosen on `bot/eval/questions.jsonl` (docs/performance.md, "Answer bot").
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

from sqlalchemy.orm import Session

from zabota.bot import faq
from zabota.bot.models import Decision
from zabota.kb import search
from zabota.kb.search import Audience, Hit
from zabota.ml.sentiment import SentimentLabel, predict_sentiment

THRESHOLD = 0.6
# Two articles scoring alike mean the question is ambiguous ("бонусы": how the programme
# works, or points that did not arrive); guessing one of them is the commonest wrong answer.
MARGIN = 0.05
# Only a clearly negative message goes to a person on its mood alone: "списали дважды" is
# unhappy but answerable, so the bar is high (the model's probability of "negative").
NEGATIVE_SENTIMENT = 0.8
CANDIDATES = 3
MAX_WORDS_FOR_REPLY = 6  # "да, спасибо" is feedback; a long message is a new question

REASON_LOW_CONFIDENCE = "low_confidence"
REASON_ASKED_FOR_HUMAN = "asked_for_human"
REASON_NOT_HELPED = "not_helped"
REASON_NEGATIVE = "negative_sentiment"

_WORDS = re.compile(r"[\w-]+")

# Normalised (lower case, ё → е) words and phrases; a phrase matches on word boundaries.
_HUMAN = (
    "оператор", "оператора", "оператору", "оператором", "живой человек",
    "живого человека", "позовите человека", "с человеком", "позовите", "позови", "соедините",
    "сотрудник", "сотрудника", "специалист", "специалиста", "менеджер", "менеджера",
    "консультант", "консультанта", "поддержка", "техподдержка",
    "human", "agent", "operator", "real person", "representative", "live chat",
    "talk to someone", "speak to someone", "support team",
)
_YES = (
    "да", "ага", "угу", "помогло", "помог", "помогла", "спасибо", "спс", "отлично", "супер",
    "понятно", "ясно", "ок", "окей", "хорошо", "разобрался", "разобралась", "то что нужно",
    "yes", "yep", "yeah", "yup", "ok", "okay", "thanks", "thank you", "thx", "great",
    "perfect", "it helped", "that helped", "helpful", "got it", "solved",
)
_NO = (
    "нет", "неа", "не помогло", "не помог", "не то", "не совсем", "бесполезно", "не понятно",
    "непонятно", "не подходит", "no", "nope", "not really", "didn't help", "did not help",
    "doesn't help", "not helpful", "not what i", "useless", "wrong",
)


@dataclass(frozen=True)
class Conversation:
    """What the bot needs to remember of the conversation so far."""

    awaiting_feedback: int | None = None  # the article it showed and asked about
    tried_article_ids: tuple[int, ...] = ()
    handed_off: bool = False
    awaiting_faq: int | None = None  # the FAQ pair it answered with and asked about
    tried_faq_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class Candidate:
    article_id: int
    title: str
    score: float


@dataclass(frozen=True)
class FaqCandidate:
    faq_id: int
    question: str
    score: float


@dataclass(frozen=True)
class BotDecision:
    decision: Decision
    reason: str | None = None
    confidence: float = 0.0
    article_id: int | None = None
    title: str = ""
    url: str = ""
    snippet: str = ""
    language: str = "ru"
    candidates: tuple[Candidate, ...] = ()
    sentiment: tuple[str, float, str] | None = None  # label, probability, model version
    tried_article_ids: tuple[int, ...] = field(default_factory=tuple)
    faq_id: int | None = None  # the FAQ pair answered with (its answer is `snippet`)
    faq_candidates: tuple[FaqCandidate, ...] = ()
    tried_faq_ids: tuple[int, ...] = field(default_factory=tuple)

    def explanation(self) -> dict[str, object]:
        """The decision as data for the turn log and the ticket's history."""
        out: dict[str, object] = {
            "candidates": [{"article_id": c.article_id, "title": c.title, "score": c.score}
                           for c in self.candidates],
            "tried_article_ids": list(self.tried_article_ids),
        }
        if self.faq_candidates:
            out["faq_candidates"] = [{"faq_id": c.faq_id, "question": c.question,
                                      "score": c.score} for c in self.faq_candidates]
        if self.faq_id is not None:
            out["faq"] = {"faq_id": self.faq_id, "question": self.title}
        if self.sentiment is not None:
            out["sentiment"] = {"label": self.sentiment[0], "score": self.sentiment[1],
                                "model_version": self.sentiment[2]}
        return out


Sentiment = Callable[[str], tuple[SentimentLabel, float, str]]


def normalise(text: str) -> str:
    return " ".join(_WORDS.findall(text.lower().replace("ё", "е")))


def _has(text: str, phrases: tuple[str, ...]) -> bool:
    padded = f" {text} "
    return any(f" {phrase} " in padded for phrase in phrases)


def asks_for_human(text: str) -> bool:
    return _has(normalise(text), _HUMAN)


def feedback(text: str) -> bool | None:
    """True for "yes, it helped", False for "no", None when it is neither (a new question)."""
    words = normalise(text)
    if not words or len(words.split()) > MAX_WORDS_FOR_REPLY:
        return None
    if _has(words, _NO):  # before "yes": "нет, спасибо" did not help
        return False
    if _has(words, _YES):
        return True
    return None


def is_greeting_only(text: str) -> bool:
    """A message with no words that could name a topic ("Здравствуйте!", "hi there")."""
    return not [term for term in search.query_terms(text)
                if term not in search.stopwords() and term not in _greeting_terms()]


@lru_cache(maxsize=1)
def _greeting_terms() -> frozenset[str]:
    return frozenset(search.query_terms(
        "привет добрый день утро вечер доброе здравствуй алло hello hi hey good morning "
        "afternoon evening there"))


def topic_text(text: str) -> str:
    """The text without order numbers, phones, codes and addresses: words no article holds,
    which would only lower the confidence ("где мой заказ 12345?")."""
    return _NOT_TOPIC.sub(" ", text)


_NOT_TOPIC = re.compile(r"\S*@\S+|https?://\S+|\S*\d\S*")


def candidates(session: Session, text: str, *, language: str,
               limit: int = CANDIDATES) -> list[Hit]:
    """The public published articles that best answer the text, best first."""
    # Every candidate, however weak: the threshold, not the help centre's cut-off, decides
    # whether the bot answers, and a weak second candidate still tells a near tie.
    return search.run_search(session, topic_text(text), language=language,
                             audience=Audience.PUBLIC, limit=limit, min_score=0.0).hits


def decide(session: Session, text: str, *, language: str,
           conversation: Conversation = Conversation(), threshold: float = THRESHOLD,
           margin: float = MARGIN, sentiment: Sentiment | None = predict_sentiment) -> BotDecision:
    """The bot's next move for one customer message. Reads, never writes."""
    tried = conversation.tried_article_ids
    base = BotDecision(Decision.HANDED_OFF, language=language, tried_article_ids=tried,
                       tried_faq_ids=conversation.tried_faq_ids)
    if conversation.awaiting_feedback is not None or conversation.awaiting_faq is not None:
        said = feedback(text)
        if said is True:
            return _with(base, decision=Decision.RESOLVED,
                         article_id=conversation.awaiting_feedback,
                         faq_id=conversation.awaiting_faq)
        if said is False:
            return _with(base, reason=REASON_NOT_HELPED,
                         article_id=conversation.awaiting_feedback,
                         faq_id=conversation.awaiting_faq)
    if asks_for_human(text):
        return _with(base, reason=REASON_ASKED_FOR_HUMAN)
    if (not conversation.tried_article_ids and not conversation.tried_faq_ids
            and is_greeting_only(text)):
        return _with(base, decision=Decision.GREETED)
    mood = sentiment(text) if sentiment is not None else None
    base = _with(base, sentiment=mood)
    if mood is not None and mood[0] == "negative" and mood[1] >= NEGATIVE_SENTIMENT:
        return _with(base, reason=REASON_NEGATIVE)
    pairs = faq.matches(session, topic_text(text), language=language,
                        exclude=conversation.tried_faq_ids)
    base = _with(base, faq_candidates=tuple(FaqCandidate(m.faq_id, m.question, m.score)
                                            for m in pairs))
    if pairs and pairs[0].score >= faq.FAQ_THRESHOLD and (
            len(pairs) < 2 or pairs[0].score - pairs[1].score >= margin):
        best_pair = pairs[0]
        tried_articles = tried if best_pair.article_id is None else (*tried,
                                                                      best_pair.article_id)
        return _with(base, decision=Decision.ANSWERED, confidence=best_pair.score,
                     faq_id=best_pair.faq_id, article_id=best_pair.article_id,
                     title=best_pair.question, snippet=best_pair.answer,
                     tried_article_ids=tried_articles,
                     tried_faq_ids=(*conversation.tried_faq_ids, best_pair.faq_id))
    hits = candidates(session, text, language=language)
    found = tuple(Candidate(h.article_id, h.title, h.score) for h in hits)
    base = _with(base, candidates=found)
    fresh = [h for h in hits if h.article_id not in tried]
    runner_up = fresh[1].score if len(fresh) > 1 else 0.0
    if not fresh or fresh[0].score < threshold or fresh[0].score - runner_up < margin:
        return _with(base, reason=REASON_LOW_CONFIDENCE,
                     confidence=fresh[0].score if fresh else 0.0)
    best = fresh[0]
    return _with(base, decision=Decision.ANSWERED, confidence=best.score,
                 article_id=best.article_id, title=best.title, url=best.url,
                 snippet=best.snippet, tried_article_ids=(*tried, best.article_id))


def _with(current: BotDecision, **changes: Any) -> BotDecision:
    return replace(current, **changes)
