"""How well the bot answers: recall@1 and recall@3 of the articles it finds, and how often it
answers wrongly at its threshold, over a labelled file of customer questions.

Each line of the file is `{"question", "language": "ru"|"en", "article": <slug> | "none"}`.
A slug names an article in either language (the pair of translations counts as one answer),
so one label serves a question in Russian and its English twin.
"""

from __future__ import annotations

import json
import random
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from zabota.bot.answer import CANDIDATES, MARGIN, THRESHOLD, candidates, decide
from zabota.bot.models import Decision
from zabota.core.clock import SYSTEM_CLOCK, FrozenClock
from zabota.core.db import Database
from zabota.core.errors import ZabotaError
from zabota.core.i18n import _
from zabota.identity.permissions import SYSTEM as SYSTEM_ACTOR
from zabota.kb.models import Article

NONE = "none"
DEFAULT_FILE = Path(__file__).with_name("eval") / "questions.jsonl"


@dataclass(frozen=True)
class Question:
    question: str
    language: str
    article: str  # a slug, or "none"


@dataclass
class Outcome:
    question: str
    language: str
    expected: str
    rank: int | None  # 1-based position of the right article among the candidates
    decision: str
    answered_slug: str | None
    confidence: float
    reason: str | None


@dataclass
class Report:
    threshold: float
    margin: float
    questions: int
    answerable: int
    unanswerable: int
    recall_at_1: float
    recall_at_3: float
    answered: int
    answered_correctly: int  # share of answerable questions: answer_rate below
    answer_rate: float
    false_answers: int  # wrong article, or an answer where none exists
    false_answer_rate: float  # false answers / answers given
    false_answer_share: float  # false answers / all questions
    handed_off: dict[str, int]
    by_language: dict[str, dict[str, float]]
    misses: list[Outcome] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


class BadEvalFile(ZabotaError):
    code = "bad_eval_file"


def read_questions(path: Path) -> list[Question]:
    """The labelled questions; a bad line is an error naming it."""
    found = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise BadEvalFile(_("The file is not UTF-8 text")) from None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise BadEvalFile(_("Line {n}: not valid JSON").format(n=number)) from None
        if not isinstance(row, dict) or not all(
                isinstance(row.get(key), str) for key in ("question", "language", "article")):
            raise BadEvalFile(_("Line {n}: expected a JSON object with the texts "
                                "\"question\", \"language\" and \"article\"").format(n=number))
        question = Question(row["question"].strip(), row["language"], row["article"].strip())
        if not question.question or question.language not in ("ru", "en"):
            raise BadEvalFile(_("Line {n}: a question and a language ru or en are needed")
                              .format(n=number))
        found.append(question)
    return found


def subset(questions: Sequence[Question], which: str | None) -> list[Question]:
    """The "odd"- or "even"-numbered questions (1-based, in file order), or all of them:
    tune on one half, confirm on the other."""
    if which is None:
        return list(questions)
    return list(questions[0 if which == "odd" else 1::2])


def _groups(session: Session) -> tuple[dict[str, str], dict[int, tuple[str, str]]]:
    """slug → translation group, and article id → (group, slug in English if any)."""
    rows = session.execute(sa.select(Article.id, Article.slug, Article.language,
                                     Article.translation_group)).all()
    english = {group: slug for _i, slug, lang, group in rows if lang == "en"}
    by_slug = {slug: group for _i, slug, _l, group in rows}
    by_id = {i: (group, english.get(group, slug)) for i, slug, _l, group in rows}
    return by_slug, by_id


def evaluate(session: Session, questions: Sequence[Question], *,
             threshold: float = THRESHOLD, margin: float = MARGIN) -> Report:
    by_slug, by_id = _groups(session)
    unknown = sorted({q.article for q in questions if q.article != NONE
                      and q.article not in by_slug})
    if unknown:
        raise BadEvalFile(_("No article has the slug: {slugs}").format(
            slugs=", ".join(unknown[:10])))
    outcomes = []
    for q in questions:
        hits = candidates(session, q.question, language=q.language, limit=CANDIDATES)
        groups = [by_id[h.article_id][0] for h in hits]
        expected = by_slug.get(q.article)
        rank = groups.index(expected) + 1 if expected in groups else None
        decision = decide(session, q.question, language=q.language, threshold=threshold,
                          margin=margin)
        answered = (by_id[decision.article_id][1]
                    if decision.decision == Decision.ANSWERED and decision.article_id else None)
        outcomes.append(Outcome(q.question, q.language, q.article, rank,
                                decision.decision.value, answered, decision.confidence,
                                decision.reason))
    return _report(outcomes, threshold, margin, by_slug)


def _report(outcomes: list[Outcome], threshold: float, margin: float,
            by_slug: dict[str, str]) -> Report:
    def correct(o: Outcome) -> bool:
        return o.answered_slug is not None and by_slug.get(o.answered_slug) == by_slug.get(
            o.expected)

    answerable = [o for o in outcomes if o.expected != NONE]
    answered = [o for o in outcomes if o.answered_slug is not None]
    false = [o for o in answered if o.expected == NONE or not correct(o)]
    handed: dict[str, int] = {}
    for o in outcomes:
        if o.decision == Decision.HANDED_OFF:
            handed[o.reason or ""] = handed.get(o.reason or "", 0) + 1
    by_language = {}
    for lang in ("ru", "en"):
        mine = [o for o in answerable if o.language == lang]
        given = [o for o in answered if o.language == lang]
        by_language[lang] = {
            "questions": float(len([o for o in outcomes if o.language == lang])),
            "recall_at_1": _share([o for o in mine if o.rank == 1], mine),
            "recall_at_3": _share([o for o in mine if o.rank is not None], mine),
            "false_answer_rate": _share([o for o in given if o in false], given)}
    misses = [o for o in outcomes if o in false or (o.expected != NONE and not correct(o))]
    return Report(
        threshold=threshold, margin=margin, questions=len(outcomes), answerable=len(answerable),
        unanswerable=len(outcomes) - len(answerable),
        recall_at_1=_share([o for o in answerable if o.rank == 1], answerable),
        recall_at_3=_share([o for o in answerable if o.rank is not None], answerable),
        answered=len(answered), answered_correctly=len([o for o in answered if correct(o)]),
        answer_rate=_share([o for o in answerable if correct(o)], answerable),
        false_answers=len(false), false_answer_rate=_share(false, answered),
        false_answer_share=_share(false, outcomes), handed_off=handed,
        by_language=by_language, misses=misses)


def _share(part: Sequence[object], whole: Sequence[object]) -> float:
    return round(len(part) / len(whole), 4) if whole else 0.0


@contextmanager
def demo_knowledge_base() -> Iterator[Session]:
    """A throw-away SQLite database holding the demo help centre."""
    from zabota.core.migrate import upgrade
    from zabota.kb.demo import load_demo_kb

    with tempfile.TemporaryDirectory(prefix="zabota-bot-eval-") as directory:
        url = f"sqlite:///{Path(directory) / 'eval.db'}"
        upgrade(url)
        database = Database(url)
        try:
            with database.session_scope() as session:
                load_demo_kb(session, actor=SYSTEM_ACTOR, clock=FrozenClock(SYSTEM_CLOCK.now()),
                             rng=random.Random(1), searches=0)
            with database.session_scope() as session:
                yield session
        finally:
            database.dispose()
