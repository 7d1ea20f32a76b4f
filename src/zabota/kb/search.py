"""Article search for the help centre, the bot and the agents' suggestions.

One interface over two indexes that hold the same normalised terms (Russian lemmas via
pymorphy3, English stems, see `zabota.ml.text`): FTS5 on SQLite, a weighted tsvector with GIN
on PostgreSQL. The index only finds candidates (any query term, best BM25 / ts_rank first);
the score is computed here, in Python, the same way on both databases:

    score = 0.5 · coverage + 0.5 · title coverage (+ up to 0.05 for words side by side)

where coverage is the weighted share of the query's terms the article contains (title, tags
or body) and title coverage the share found in its title or tags. Rare terms weigh up to
twice a common one, words like "как", "the" a fifth, a term no article has 1.5. A word is
also found as an indexed word of its family ("доставите" → "доставка", "delivered" → "delivery",
"email" → "e-mail") at 0.8; a term no article holds otherwise is corrected to the nearest
indexed term (OSA distance 1, or 2 for words of eight letters and more) at 0.9; an admin's
synonym phrase found in the query is satisfied by any phrase of its group at 0.95. Another
word never counts for more than the query's own would, nor for more than its own rarity
earns. When the query's neighbouring words are neighbours in the article too, up to 0.05
is added (at most 1.0): it breaks ties between articles holding the same words. So 1.0
means every query term is in the title; 0.5 every term in the text, none in the title; a
query that shares only one of three equal terms with an article's text scores about 0.17.
The help centre shows results from 0.3; the bot answers from a higher threshold
(`zabota.bot.answer.THRESHOLD`, measured with its evaluation set).
"""

from __future__ import annotations

import enum
import html
import itertools
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol

import sqlalchemy as sa
from rapidfuzz import process
from rapidfuzz.distance import OSA
from sqlalchemy.orm import Session

from zabota.core.db import is_sqlite
from zabota.kb.models import (
    Article,
    ArticleStatus,
    KbCategory,
    SynonymGroup,
    Visibility,
    VocabularyTerm,
)
from zabota.ml.text import normalize_word, search_text, terms

MAX_QUERY_TERMS = 12
RETRIEVAL_BUDGET = 800  # matches the index ranks for "any of the words"
MIN_SCORE = 0.3  # two thirds of the query in the text only, or a third in the title
TYPO_PENALTY = 0.9
SYNONYM_FACTOR = 0.95
RELATIVE_FACTOR = 0.8
TEXT_SHARE = 0.5  # of the score a word found only in the text earns
PROXIMITY_BONUS = 0.05
MAX_RELATIVES = 4
STEM = 5  # letters a word shares with its relatives ("доставка", "доставить")
UNKNOWN_WEIGHT = 1.5
STOPWORD_WEIGHT = 0.2
SNIPPET_WORDS = 30
_WORD = re.compile(r"\w+(?:-\w+)*")

# Words that carry no topic; they still count a little, so "как оплатить" prefers the
# article that says "как", but never decide alone what matches.
_STOPWORDS = (
    "и в во не что он на я с со как а то все она так его но да ты к у же вы за бы по только "
    "ее мне было вот от меня еще нет о из ему теперь когда даже ну вдруг ли если уже или ни "
    "быть был него до вас нибудь опять уж вам ведь там потом себя ничего ей может они тут где "
    "есть надо ней для мы тебя их чем была сам чтоб без будто чего раз тоже себе под будет ж "
    "тогда кто этот того потому этого какой совсем ним здесь этом один почти мой тем чтобы нее "
    "сейчас были куда зачем всех никогда можно при наконец об другой хоть после над больше "
    "тот через эти нас про всего них какая много разве эту моя впрочем хорошо свою этой "
    "перед иногда лучше чуть том нельзя такой им более всегда конечно всю между пожалуйста "
    "здравствуйте спасибо подскажите скажите хочу очень нужный нужно "
    "a an the and or but if of at by for with about to from in on is are was were be been "
    "being have has had do does did i me my we our you your he she it its they them their "
    "what which who whom this that these those am not no can could would should will how "
    "where when why please hello hi thanks thank there here so than too very just want "
    # what the tokenizer leaves of "didn't", "can't", "I'm", "it's", "you're", "we've"
    "didn doesn don isn wasn weren aren haven hasn hadn won wouldn shouldn couldn t s m re "
    "ve ll d")


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    return frozenset(search_text(_STOPWORDS).split())


class Audience(enum.StrEnum):
    PUBLIC = "public"  # customers, visitors, the bot: published public articles
    STAFF = "staff"  # agents: published public and internal articles


@dataclass(frozen=True)
class Hit:
    article_id: int
    title: str
    score: float
    snippet: str
    url: str
    language: str = ""
    category_id: int | None = None
    is_internal: bool = False
    title_html: str = ""  # escaped, matched words in <mark>
    snippet_html: str = ""


@dataclass
class SearchOutcome:
    hits: list[Hit]
    terms: list[str]  # the query's normalised terms after corrections
    corrections: dict[str, str] = field(default_factory=dict)  # typed word → indexed term


@dataclass(frozen=True)
class IndexedText:
    """An article's normalised terms, space-separated, as the index holds them."""

    title: str
    tags: str
    body: str

    def terms(self) -> set[str]:
        return set(self.title.split()) | set(self.tags.split()) | set(self.body.split())

    def title_terms(self) -> set[str]:
        return set(self.title.split()) | set(self.tags.split())


class ArticleIndex(Protocol):
    def read(self, session: Session, ids: Sequence[int]) -> dict[int, IndexedText]: ...

    def write(self, session: Session, article_id: int, text: IndexedText) -> None: ...

    def delete(self, session: Session, article_id: int) -> None: ...

    def top(self, session: Session, terms: Sequence[str], *, match_all: bool,
            limit: int) -> list[int]:
        """Ids of articles holding every (or any) of the terms, best first, unfiltered."""

    def candidates(self, session: Session, terms: Sequence[str],
                   where: Sequence[sa.ColumnElement[bool]], limit: int) -> list[int]:
        """Ids of readable articles holding any of the terms, best first."""


class SqliteIndex:
    def read(self, session: Session, ids: Sequence[int]) -> dict[int, IndexedText]:
        if not ids:
            return {}
        rows = session.execute(
            sa.text("SELECT rowid, title, tags, body FROM kb_fts WHERE rowid IN :ids")
            .bindparams(sa.bindparam("ids", expanding=True)), {"ids": list(ids)})
        return {row[0]: IndexedText(row[1], row[2], row[3]) for row in rows}

    def write(self, session: Session, article_id: int, text: IndexedText) -> None:
        self.delete(session, article_id)
        session.execute(sa.text("INSERT INTO kb_fts(rowid, title, tags, body) "
                                "VALUES (:id, :title, :tags, :body)"),
                        {"id": article_id, "title": text.title, "tags": text.tags,
                         "body": text.body})

    def delete(self, session: Session, article_id: int) -> None:
        session.execute(sa.text("DELETE FROM kb_fts WHERE rowid = :id"), {"id": article_id})

    def top(self, session: Session, terms: Sequence[str], *, match_all: bool,
            limit: int) -> list[int]:
        # The index alone: joined to kb_articles, SQLite ranks every match through the join,
        # three to four times slower on 10,000 articles.
        expression = (" AND " if match_all else " OR ").join(f'"{term}"' for term in terms)
        return [row[0] for row in session.execute(
            sa.text("SELECT rowid FROM kb_fts WHERE kb_fts MATCH :q "
                    "ORDER BY bm25(kb_fts, 8.0, 4.0, 1.0) LIMIT :n"),
            {"q": expression, "n": limit})]

    def candidates(self, session: Session, terms: Sequence[str],
                   where: Sequence[sa.ColumnElement[bool]], limit: int) -> list[int]:
        expression = " OR ".join(f'"{term}"' for term in terms)
        fts = sa.table("kb_fts", sa.column("rowid", sa.Integer))
        query = (sa.select(fts.c.rowid).join(Article, Article.id == fts.c.rowid)
                 .where(sa.text("kb_fts MATCH :kb_q").bindparams(kb_q=expression), *where)
                 # Title weighs most, then tags, then the body (FTS5's BM25, lower is better).
                 .order_by(sa.text("bm25(kb_fts, 8.0, 4.0, 1.0)")).limit(limit))
        return list(session.scalars(query))


class PostgresIndex:
    _table = sa.table("kb_article_search", sa.column("article_id", sa.BigInteger),
                      sa.column("title", sa.Text), sa.column("tags", sa.Text),
                      sa.column("body", sa.Text))

    def read(self, session: Session, ids: Sequence[int]) -> dict[int, IndexedText]:
        if not ids:
            return {}
        t = self._table
        rows = session.execute(sa.select(t.c.article_id, t.c.title, t.c.tags, t.c.body)
                               .where(t.c.article_id.in_(list(ids))))
        return {row[0]: IndexedText(row[1], row[2], row[3]) for row in rows}

    def write(self, session: Session, article_id: int, text: IndexedText) -> None:
        session.execute(
            sa.text("INSERT INTO kb_article_search(article_id, title, tags, body) "
                    "VALUES (:id, :title, :tags, :body) ON CONFLICT (article_id) DO UPDATE "
                    "SET title = excluded.title, tags = excluded.tags, body = excluded.body"),
            {"id": article_id, "title": text.title, "tags": text.tags, "body": text.body})

    def delete(self, session: Session, article_id: int) -> None:
        session.execute(sa.text("DELETE FROM kb_article_search WHERE article_id = :id"),
                        {"id": article_id})

    @staticmethod
    def _tsquery(terms: Sequence[str], *, match_all: bool) -> sa.ColumnElement[str]:
        simple: sa.ColumnElement[str] = sa.literal_column("'simple'::regconfig")
        tsquery: sa.ColumnElement[str] = sa.func.plainto_tsquery(simple, terms[0])
        for term in terms[1:]:  # `&&` / `||` of two tsqueries: their AND / OR
            tsquery = tsquery.op("&&" if match_all else "||")(
                sa.func.plainto_tsquery(simple, term))
        return tsquery

    def top(self, session: Session, terms: Sequence[str], *, match_all: bool,
            limit: int) -> list[int]:
        tsquery = self._tsquery(terms, match_all=match_all)
        tsv: sa.ColumnElement[str] = sa.literal_column("kb_article_search.tsv")
        # Ranked by the small title-and-tags vector: ranking by the whole one unpacks every
        # match's body vector (70 ms for 6,000 matches); the GIN index still finds body words.
        title: sa.ColumnElement[str] = sa.literal_column("kb_article_search.title_tsv")
        t = self._table
        query = (sa.select(t.c.article_id).where(tsv.op("@@")(tsquery))
                 .order_by(sa.func.ts_rank(title, tsquery).desc(), t.c.article_id.desc())
                 .limit(limit))
        return list(session.scalars(query))

    def candidates(self, session: Session, terms: Sequence[str],
                   where: Sequence[sa.ColumnElement[bool]], limit: int) -> list[int]:
        tsquery = self._tsquery(terms, match_all=False)
        tsv: sa.ColumnElement[str] = sa.literal_column("kb_article_search.tsv")
        t = self._table
        query = (sa.select(t.c.article_id).join(Article, Article.id == t.c.article_id)
                 .where(tsv.op("@@")(tsquery), *where)
                 .order_by(sa.func.ts_rank(tsv, tsquery).desc()).limit(limit))
        return list(session.scalars(query))


_SQLITE, _POSTGRES = SqliteIndex(), PostgresIndex()


def index_for(session: Session) -> ArticleIndex:
    return _SQLITE if is_sqlite(session) else _POSTGRES


# --- indexing ---------------------------------------------------------------------------


def indexed_text(article: Article) -> IndexedText:
    return IndexedText(title=search_text(article.title),
                       tags=search_text(" , ".join(article.tags)),
                       body=search_text(article.body_text))


def index_article(session: Session, article: Article) -> None:
    """Put the article's current text in the index and the vocabulary. The caller flushed
    the article (it has an id)."""
    index = index_for(session)
    old = index.read(session, [article.id]).get(article.id)
    new = indexed_text(article)
    index.write(session, article.id, new)
    _count_terms(session, article.language, old.terms() if old else set(), new.terms())


def unindex_article(session: Session, article_id: int, language: str) -> None:
    index = index_for(session)
    old = index.read(session, [article_id]).get(article_id)
    index.delete(session, article_id)
    if old is not None:
        _count_terms(session, language, old.terms(), set())


def _count_terms(session: Session, language: str, old: set[str], new: set[str]) -> None:
    added = [t[:100] for t in new - old]
    removed = [t[:100] for t in old - new]
    if added:
        # The same statement on both databases; concurrent indexers add up instead of racing.
        session.execute(
            sa.text("INSERT INTO kb_vocabulary(language, term, doc_count) VALUES (:l, :t, 1) "
                    "ON CONFLICT (language, term) "
                    "DO UPDATE SET doc_count = kb_vocabulary.doc_count + 1"),
            [{"l": language, "t": term} for term in added])
    if removed:
        condition = sa.and_(VocabularyTerm.language == language,
                            VocabularyTerm.term.in_(removed))
        session.execute(sa.update(VocabularyTerm).where(condition)
                        .values(doc_count=VocabularyTerm.doc_count - 1))
        session.execute(sa.delete(VocabularyTerm).where(condition,
                                                        VocabularyTerm.doc_count <= 0))


# --- the query ---------------------------------------------------------------------------


@dataclass
class _Slot:
    """One thing the query asks for: a term, or a synonym phrase with its alternatives."""

    alternatives: list[tuple[tuple[str, ...], float]]
    weight: float


@dataclass
class _Plan:
    slots: list[_Slot]
    terms: list[str]
    corrections: dict[str, str]
    counts: dict[str, int] = field(default_factory=dict)  # articles holding each term
    pairs: list[tuple[frozenset[str], frozenset[str]]] = field(default_factory=list)
    kin: set[str] = field(default_factory=set)  # relatives of words articles hold too

    def all_of(self) -> list[str]:
        """The query's own topical words, all of which the best articles hold."""
        return sorted({t for t in self.terms if t not in stopwords()} or set(self.terms))

    def any_of(self) -> list[str]:
        """Words of which an article should hold at least one: the rarest first, as many
        as keep the matches within RETRIEVAL_BUDGET. An article holding only the commonest
        words ("заказ") cannot score high when the query has rarer ones, and matching it
        would make the index rank half of a large knowledge base."""
        # Words no article holds match nothing, and the relatives of a word that articles
        # hold only rescore what the word itself finds: neither is worth a longer index query.
        wanted = {t for t in self.highlight_terms() - self.kin if self.counts.get(t, 0)}
        terms = sorted(wanted or self.highlight_terms() or self.all_terms(),
                       key=lambda t: (self.counts.get(t, 0), t))
        chosen: list[str] = []
        matched = 0
        for term in terms:
            if chosen and matched + self.counts.get(term, 0) > RETRIEVAL_BUDGET:
                break
            chosen.append(term)
            matched += self.counts.get(term, 0)
        return chosen

    def all_terms(self) -> set[str]:
        return {t for slot in self.slots for alt, _f in slot.alternatives for t in alt}

    def highlight_terms(self) -> set[str]:
        return {t for t in self.all_terms() if t not in stopwords()}


def _languages(language: str | None) -> list[str]:
    return [language] if language else ["ru", "en"]


def _article_count(session: Session, language: str | None) -> int:
    return session.scalar(sa.select(sa.func.count()).select_from(Article)
                          .where(Article.language.in_(_languages(language)))) or 0


@dataclass(frozen=True)
class _Stamps:
    """What the cached vocabulary and synonyms were read at: any change to the articles
    (their number, the latest edit) or to the synonym groups changes these."""

    articles: tuple[int, str]
    synonyms: tuple[int, str]


# Both stamps in one round trip: a search reads them first, every time.
_ARTICLES_STAMP = sa.select(sa.func.count(Article.id),
                            sa.func.max(Article.updated_at)).subquery()
_SYNONYMS_STAMP = sa.select(sa.func.count(SynonymGroup.id), sa.func.max(SynonymGroup.updated_at),
                            sa.func.max(SynonymGroup.id)).subquery()
_STAMPS = sa.select(_ARTICLES_STAMP, _SYNONYMS_STAMP).select_from(
    _ARTICLES_STAMP.join(_SYNONYMS_STAMP, sa.true()))  # one row each: joined, one row


def _stamps(session: Session) -> _Stamps:
    row = session.execute(_STAMPS).one()
    return _Stamps((int(row[0] or 0), str(row[1])), (int(row[2] or 0), f"{row[3]}/{row[4]}"))


@dataclass
class _Vocabulary:
    stamp: tuple[int, str]
    counts: dict[str, int]
    articles: int  # in the vocabulary's languages: the rarity of a term is relative to it
    by_length: dict[int, list[str]]  # a misspelling is within two letters of its word
    by_stem: dict[str, list[str]]  # words by their first STEM letters, hyphens dropped
    corrected: dict[str, str | None] = field(default_factory=dict)
    related: dict[str, list[tuple[str, int]]] = field(default_factory=dict)


_vocabulary_cache: dict[tuple[str, str], _Vocabulary] = {}


def _vocabulary(session: Session, language: str | None,
                stamps: _Stamps | None = None) -> _Vocabulary:
    """All indexed terms with their counts, cached while the vocabulary is unchanged."""
    key = (str(session.get_bind().engine.url), language or "")
    # Every change of the vocabulary changes an article (updated_at) or their number; both
    # are read from indexes, where counting the vocabulary itself is a scan.
    stamp = (stamps or _stamps(session)).articles
    cached = _vocabulary_cache.get(key)
    if cached is not None and cached.stamp == stamp:
        return cached
    counts: dict[str, int] = {}
    for term, count in session.execute(
            sa.select(VocabularyTerm.term, VocabularyTerm.doc_count)
            .where(VocabularyTerm.language.in_(_languages(language)))):
        counts[term] = counts.get(term, 0) + count
    by_length: dict[int, list[str]] = {}
    by_stem: dict[str, list[str]] = {}
    for term in counts:
        by_length.setdefault(len(term), []).append(term)
        spelling = _unhyphenated(term)
        if len(spelling) >= STEM and spelling.isalpha():
            by_stem.setdefault(spelling[:STEM], []).append(term)
    vocabulary = _Vocabulary(stamp, counts, _article_count(session, language), by_length,
                             by_stem)
    _vocabulary_cache[key] = vocabulary
    return vocabulary


def _unhyphenated(term: str) -> str:
    return term.replace("-", "")


def _shared_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _relatives(vocabulary: _Vocabulary, term: str) -> list[tuple[str, int]]:
    """Indexed words of the term's family, with the letters they share with it, longest
    first: another part of speech ("доставить", "доставка"; "delivered" → "deliv",
    "deliveri"), a reflexive verb ("открыть", "открыться"), or the same word spelt with or
    without a hyphen ("email", "e-mail"). A relative shares at least STEM letters with the
    term and differs from the shorter of the two in at most its last three letters: the
    lemmatiser and the stemmer end a word there, not where a word family does."""
    key = _unhyphenated(term)
    if len(key) < STEM or not key.isalpha():
        return []
    known = vocabulary.related.get(term)
    if known is not None:
        return known
    found = []
    for other in vocabulary.by_stem.get(key[:STEM], ()):
        other_key = _unhyphenated(other)
        if other == term or other in stopwords():
            continue
        shared = _shared_prefix(key, other_key)
        if shared >= min(len(key), len(other_key)) - 3:
            found.append((other, shared, vocabulary.counts.get(other, 0)))
    found.sort(key=lambda item: (-item[1], -item[2], item[0]))
    relatives = [(other, shared) for other, shared, _n in found[:MAX_RELATIVES]]
    if len(vocabulary.related) < 10_000:
        vocabulary.related[term] = relatives
    return relatives


def _correct(vocabulary: _Vocabulary, term: str) -> str | None:
    """The indexed term closest to a term no article has; None when nothing is close."""
    if len(term) < 4 or not term.isalpha():
        return None
    if term in vocabulary.corrected:
        return vocabulary.corrected[term]
    limit = 1 if len(term) < 8 else 2
    # Never a stopword: a topical word misspelt is not "для".
    words = [w for n in range(len(term) - limit, len(term) + limit + 1)
             for w in vocabulary.by_length.get(n, ()) if w not in stopwords()]
    found = process.extract(term, words, scorer=OSA.distance, score_cutoff=limit, limit=10)
    best = str(min(found, key=lambda item: (item[1], -vocabulary.counts.get(item[0], 0),
                                            item[0]))[0]) if found else None
    if len(vocabulary.corrected) < 10_000:
        vocabulary.corrected[term] = best
    return best


_synonym_cache: dict[tuple[str, str], tuple[tuple[int, str], list[list[tuple[str, ...]]]]] = {}


def _synonym_groups(session: Session, language: str | None,
                    stamps: _Stamps | None = None) -> list[list[tuple[str, ...]]]:
    """Each admin-defined group as the normalised terms of its phrases."""
    key = (str(session.get_bind().engine.url), language or "")
    languages = _languages(language)
    stamp = (stamps or _stamps(session)).synonyms
    cached = _synonym_cache.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    groups = []
    for phrases in session.scalars(sa.select(SynonymGroup.phrases)
                                   .where(SynonymGroup.language.in_(languages))):
        normalised = [tuple(terms(phrase)) for phrase in phrases]
        groups.append([p for p in normalised if p])
    _synonym_cache[key] = (stamp, groups)
    return groups


def _weight(term: str, df: int, total: int) -> float:
    if term in stopwords():
        return STOPWORD_WEIGHT
    if df == 0:
        return UNKNOWN_WEIGHT
    idf = math.log(1 + (total - df + 0.5) / (df + 0.5))
    ceiling = math.log(1 + (total + 0.5) / 0.5)
    return 1.0 + max(0.0, idf) / ceiling


def query_terms(query: str) -> list[str]:
    """The distinct normalised terms of a query, in order."""
    seen: dict[str, None] = {}
    for term in terms(query):
        cleaned = term.replace('"', "")
        if cleaned:
            seen.setdefault(cleaned[:100], None)
    return list(seen)[:MAX_QUERY_TERMS]


def _plan(session: Session, query: str, language: str | None) -> _Plan:
    words = {normalize_word(w): w for w in _WORD.findall(query)}
    wanted = query_terms(query)
    stamps = _stamps(session)
    vocabulary = _vocabulary(session, language, stamps)
    counts = vocabulary.counts  # read only: the cache's own dictionary
    groups = _synonym_groups(session, language, stamps)
    # An admin's synonym is a word, not a typo, even when no article holds it ("долями").
    listed = {t for group in groups for phrase in group for t in phrase}
    corrections: dict[str, str] = {}
    factors: dict[str, float] = {}
    families: dict[str, list[tuple[str, float]]] = {}
    planned: list[str] = []
    for term in wanted:
        family = [] if term in stopwords() else _relatives(vocabulary, term)
        fixed = None if counts.get(term) or term in listed else _correct(vocabulary, term)
        # A correction that keeps less of the word than its family does is the worse guess:
        # "доставите" is "доставка"'s relative, not a misspelt "оставить".
        if fixed is not None and family and _shared_prefix(
                _unhyphenated(term), _unhyphenated(fixed)) < family[0][1]:
            fixed = None
        if fixed is not None and fixed not in planned:
            corrections[words.get(term, term)] = fixed
            factors[fixed] = TYPO_PENALTY
            planned.append(fixed)
        elif term not in planned:
            planned.append(term)
            families[term] = [
                (other, 1.0 if _unhyphenated(other) == _unhyphenated(term) else RELATIVE_FACTOR)
                for other, _shared in family]
    total = max(vocabulary.articles, 1)

    def weight(phrase: Sequence[str]) -> float:
        return sum(_weight(t, counts.get(t, 0), total) for t in phrase) / len(phrase)

    def slot(alternatives: Sequence[tuple[tuple[str, ...], float]], own: float) -> _Slot:
        # Another word for the query's word counts at most as much as the word itself, and
        # no more than a word as common as it is: "покупка" found as "товар" is weak proof.
        return _Slot([(alt, factor * min(1.0, weight(alt) / own))
                      for alt, factor in alternatives], own)

    slots: list[_Slot] = []
    left = list(planned)
    # The longest phrase first, so "вернуть деньги" wins over a group holding "деньги".
    matches = sorted(((phrase, group) for group in groups for phrase in group),
                     key=lambda item: -len(item[0]))
    for phrase, group in matches:
        if not set(phrase) <= set(left):
            continue
        left = [t for t in left if t not in phrase]
        factor = min(factors.get(t, 1.0) for t in phrase)
        slots.append(slot([(p, factor if p == phrase else factor * SYNONYM_FACTOR)
                           for p in group], weight(phrase)))
    for term in left:
        factor = factors.get(term, 1.0)
        kin = families.get(term, [])
        # A word no article holds weighs as its closest relative does, not as a rare word.
        own = weight((term,) if counts.get(term) or not kin else (kin[0][0],))
        slots.append(slot([((term,), factor)] + [((other,), factor * relative)
                                                 for other, relative in kin], own))
    rescoring = {other for term, relatives in families.items() if counts.get(term)
                 for other, _relative in relatives}
    return _Plan(slots, planned, corrections, counts, _pairs(slots, planned), rescoring)


def _pairs(slots: Sequence[_Slot],
           planned: Sequence[str]) -> list[tuple[frozenset[str], frozenset[str]]]:
    """Neighbouring topical words of the query, each as the words that stand for it."""
    words = []
    for term in planned:
        if term in stopwords():
            continue
        slot = next((s for s in slots if any(term in alt for alt, _f in s.alternatives)), None)
        if slot is not None:
            words.append(frozenset(t for alt, _f in slot.alternatives for t in alt))
    return [(a, b) for a, b in itertools.pairwise(words) if a != b]


def _proximity(pairs: Sequence[tuple[frozenset[str], frozenset[str]]],
               text: IndexedText) -> float:
    """The share of the query's neighbouring words that are neighbours (in either order,
    stopwords aside) in the article's title or text too: "return item" is nearer
    "return an item" than "items that cannot be returned"."""
    if not pairs:
        return 0.0
    near: set[tuple[str, str]] = set()
    for field_text in (text.title, text.body):
        words = [w for w in field_text.split() if w not in stopwords()]
        near.update(itertools.pairwise(words))
    found = sum(1 for a, b in pairs
                if any((x, y) in near or (y, x) in near for x in a for y in b))
    return found / len(pairs)


def _coverage(slots: Sequence[_Slot], present: set[str]) -> float:
    total = sum(slot.weight for slot in slots)
    if total <= 0:
        return 0.0
    got = 0.0
    for slot in slots:
        best = max((factor for alt, factor in slot.alternatives if set(alt) <= present),
                   default=0.0)
        got += slot.weight * best
    return got / total


def score(plan_slots: Sequence[_Slot], text: IndexedText, proximity: float = 0.0) -> float:
    """The article's score for the query (see the module's docstring); `proximity` is the
    share of the query's neighbouring words that are neighbours in the article."""
    everywhere = _coverage(plan_slots, text.terms())
    in_title = _coverage(plan_slots, text.title_terms())
    # A word in the title or tags names the article's subject; the same word in the text
    # may be a passing mention ("отключите VPN" in an article about payments), so it
    # earns half as much.
    value = TEXT_SHARE * everywhere + (1 - TEXT_SHARE) * in_title
    return round(min(1.0, value + PROXIMITY_BONUS * proximity), 4)


def visible_articles(audience: Audience) -> list[sa.ColumnElement[bool]]:
    """The one filter on what a search may return: published, and public unless staff."""
    where = [Article.status == ArticleStatus.PUBLISHED]
    if audience != Audience.STAFF:
        where.append(Article.visibility == Visibility.PUBLIC)
    return where


def run_search(
    session: Session, query: str, *, language: str | None, audience: Audience,
    limit: int = 10, min_score: float = MIN_SCORE, category_id: int | None = None,
    exclude_ids: Sequence[int] = (),
) -> SearchOutcome:
    """Search with corrections reported, for pages that say "showing results for …"."""
    plan = _plan(session, query, language)
    if not plan.highlight_terms():
        return SearchOutcome([], plan.terms, plan.corrections)  # nothing but "how", "где"
    where = visible_articles(audience)
    if language:
        where.append(Article.language == language)
    if category_id is not None:
        where.append(Article.category_id == category_id)
    if exclude_ids:
        where.append(Article.id.not_in(list(exclude_ids)))
    index = index_for(session)
    ranked = _candidates(session, index, plan, where, max(30, limit * 3))
    texts = index.read(session, ranked)
    asked = plan.all_terms()
    # Equal scores (1.0 is a ceiling) go to the words side by side as in the query, then to
    # the title closest to it ("Delivery times" before "Choosing the delivery date and
    # time"), then to the index's own rank: the same order on both databases wherever it
    # matters.
    near = {i: _proximity(plan.pairs, texts[i]) for i in ranked if i in texts}
    ranking = sorted(((score(plan.slots, texts[i], near[i]), near[i],
                       _title_precision(asked, texts[i]), -position, i)
                      for position, i in enumerate(ranked) if i in texts), reverse=True)
    scored = [(value, i) for value, _n, _p, _r, i in ranking if value >= min_score][:limit]
    return SearchOutcome(_hits(session, scored, plan.highlight_terms()), plan.terms,
                         plan.corrections)


def _candidates(session: Session, index: ArticleIndex, plan: _Plan,
                where: Sequence[sa.ColumnElement[bool]], want: int) -> list[int]:
    """The best `want` readable articles: those holding all the query's words first, then
    any of its rarer words. The index ranks on its own and the few ids it returns are
    filtered; only when hidden or other-language articles crowd them out is the filtered
    ranking asked for (see benchmarks/kb_search.py and docs/decisions/007)."""
    top = max(100, want * 4)
    found: list[int] = []
    truncated = False
    every, some = plan.all_of(), plan.any_of()
    for words, match_all in ((every, True), (some, False)):
        if match_all and len(words) < 2:
            continue
        ids = [i for i in index.top(session, words, match_all=match_all, limit=top)
               if i not in found]
        truncated = truncated or len(ids) >= top
        allowed = set(session.scalars(sa.select(Article.id).where(Article.id.in_(ids),
                                                                  *where))) if ids else set()
        found.extend(i for i in ids if i in allowed)
        if len(found) >= want:
            return found[:want]
    if truncated:
        return index.candidates(session, some, where, want)
    return found


def _title_precision(asked: set[str], text: IndexedText) -> float:
    title = set(text.title.split())
    return len(title & asked) / len(title) if title else 0.0


def search(session: Session, query: str, *, language: str | None, audience: Audience,
           limit: int = 10) -> list[Hit]:
    """Published articles answering the query, best first, each with a score in [0, 1]."""
    return run_search(session, query, language=language, audience=audience,
                      limit=limit).hits


def _hits(session: Session, scored: Sequence[tuple[float, int]],
          marks: set[str]) -> list[Hit]:
    if not scored:
        return []
    ids = [article_id for _s, article_id in scored]
    # Only the columns a hit needs: whole articles carry their HTML and source twice over.
    rows = session.execute(
        sa.select(Article.id, Article.title, Article.body_text, Article.slug, Article.language,
                  Article.category_id, Article.visibility, KbCategory.slug)
        .outerjoin(KbCategory, KbCategory.id == Article.category_id)
        .where(Article.id.in_(ids)))
    found = {row[0]: row for row in rows}
    hits = []
    for value, article_id in scored:
        _id, title, body_text, slug, language, category_id, visibility, category_slug = (
            found[article_id])
        plain, marked = snippet(body_text, marks)
        internal = visibility == Visibility.INTERNAL
        hits.append(Hit(
            article_id=article_id, title=title, score=value, snippet=plain,
            url=_url(article_id, language, slug, category_slug, internal=internal),
            language=language, category_id=category_id, is_internal=internal,
            title_html=highlight(title, marks), snippet_html=marked))
    return hits


def article_url(article: Article, category_slug: str | None) -> str:
    """Where a reader opens the article: the help centre, or the agents' area if internal."""
    return _url(article.id, article.language, article.slug, category_slug,
                internal=article.visibility == Visibility.INTERNAL)


def _url(article_id: int, language: str, slug: str, category_slug: str | None, *,
         internal: bool) -> str:
    if internal or category_slug is None:
        return f"/agent/kb/articles/{article_id}"
    return f"/help/{language}/{category_slug}/{slug}"


# --- snippets ---------------------------------------------------------------------------


def highlight(text: str, marks: set[str]) -> str:
    """The text escaped for HTML, the words whose terms were searched for in <mark>."""
    out, last = [], 0
    for match in _WORD.finditer(text):
        if normalize_word(match.group()) in marks:
            out.append(html.escape(text[last:match.start()]))
            out.append(f"<mark>{html.escape(match.group())}</mark>")
            last = match.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


def snippet(text: str, marks: set[str], words: int = SNIPPET_WORDS) -> tuple[str, str]:
    """The passage of about `words` words with the most distinct searched terms: plain text
    and HTML with the terms marked."""
    tokens = list(_WORD.finditer(text[:20_000]))
    if not tokens:
        return "", ""
    found = [(i, normalize_word(m.group())) for i, m in enumerate(tokens)]
    found = [(i, term) for i, term in found if term in marks]
    start, best, ahead = 0, 0, 0
    window: Counter[str] = Counter()
    for position, term in found:  # a sliding window over the matches
        while ahead < len(found) and found[ahead][0] < position + words:
            window[found[ahead][1]] += 1
            ahead += 1
        if len(window) > best:
            best, start = len(window), max(0, position - 3)
        window[term] -= 1
        if not window[term]:
            del window[term]
    end = min(len(tokens), start + words) - 1
    begin_at, end_at = tokens[start].start(), tokens[end].end()
    passage = " ".join(text[begin_at:end_at].split())
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(tokens) - 1 else ""
    return prefix + passage + suffix, prefix + highlight(passage, marks) + suffix
