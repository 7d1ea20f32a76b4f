"""One text through a fitted product pipeline without scikit-learn's per-call machinery.

Triage asks two models about one short text. Through scikit-learn each answer costs about
2.5 ms, most of it input checks, sparse-matrix construction and dispatch rather than
arithmetic. `compile_pipeline` reads the fitted numbers out of a product pipeline once (each
TF-IDF's analyzer, vocabulary and idf; the linear model's coefficients; the temperature of
its calibration) and `CompiledPipeline` computes the same probabilities with one dictionary
lookup per n-gram and one gather of coefficient rows.

Only the shapes the product trains are compiled (`ml.pipeline`: TF-IDF and dense column
transformers, linear models, temperature calibration); anything else raises `Unsupported`
and the caller keeps using the pipeline itself. tests/ml/test_inference.py checks that both
give the same numbers.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import repeat
from typing import Any

import numpy as np
import structlog
from numpy.typing import NDArray
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model._base import LinearClassifierMixin

from zabota.ml.embedding import SentenceEmbedding
from zabota.ml.lexicon import FEATURE_NAMES, LexiconFeatures, lexicon_features
from zabota.ml.pipeline import LogCountRatioSVC, prepare_documents
from zabota.ml.text import lemma_texts

log = structlog.get_logger()
LINEAR_MODELS = (LinearClassifierMixin, LogCountRatioSVC)


class Unsupported(ValueError):
    """The pipeline has a part this module does not reproduce exactly."""


@lru_cache(maxsize=256)
def lemma_text(text: str) -> str:
    """The lemma column of `ml.pipeline.prepare_documents` for one text, kept for the next
    model that reads the same text (triage asks two models and the rules about one text)."""
    return lemma_texts([text])[0]


def _word_char_grams(word: str, min_n: int, max_n: int) -> list[str]:
    """scikit-learn's char_wb n-grams of one word: padded with a space on each side; a word
    no longer than n gives itself once, and the longer n are skipped."""
    padded = f" {word} "
    size = len(padded)
    grams: list[str] = []
    for n in range(min_n, max_n + 1):
        if size <= n:
            grams.append(padded)
            break
        grams.extend(padded[i:i + n] for i in range(size - n + 1))
    return grams


def _plain_char_wb(vectorizer: TfidfVectorizer) -> bool:
    return (vectorizer.analyzer == "char_wb" and vectorizer.preprocessor is None
            and vectorizer.strip_accents is None and vectorizer.input == "content")


_NO_COLUMNS = np.zeros(0, dtype=np.intp)
_NO_VALUES = np.zeros(0, dtype=np.float64)
MAX_CACHED_WORDS = 50_000  # per vectorizer: at most ~12 MB of tuples


@dataclass(frozen=True)
class _Tfidf:
    column: int
    offset: int
    analyze: Callable[[str], list[str]]
    vocabulary: dict[str, int]
    idf: NDArray[np.float64] | None
    sublinear: bool
    binary: bool
    norm: str | None
    # char_wb with default preprocessing: (min_n, max_n, lowercase), and the columns of
    # each word's n-grams, kept for the next text (words repeat; their n-grams do not change)
    char_wb: tuple[int, int, bool] | None = None
    word_columns: dict[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def width(self) -> int:
        return len(self.vocabulary)

    def _char_wb_counts(self, document: str) -> Counter[int]:
        assert self.char_wb is not None
        min_n, max_n, lower = self.char_wb
        cache, vocabulary = self.word_columns, self.vocabulary
        columns: list[int] = []
        for word in (document.lower() if lower else document).split():
            found = cache.get(word)
            if found is None:
                if len(cache) >= MAX_CACHED_WORDS:
                    cache.clear()
                found = cache[word] = tuple(
                    column for gram in _word_char_grams(word, min_n, max_n)
                    if (column := vocabulary.get(gram)) is not None)
            columns.extend(found)
        return Counter(columns)

    def add(self, document: str, indices: list[NDArray[np.intp]],
            values: list[NDArray[np.float64]]) -> None:
        if self.char_wb is not None:
            by_column = self._char_wb_counts(document)
            n = len(by_column)
            if not n:
                return
            columns = np.fromiter(by_column, np.intp, n)
            counts = np.fromiter(by_column.values(), np.float64, n)
        else:
            by_gram = Counter(self.analyze(document))
            n = len(by_gram)
            # Column of every distinct n-gram (-1: not in the vocabulary), at C speed.
            found = np.fromiter(map(self.vocabulary.get, by_gram, repeat(-1, n)), np.intp, n)
            known = found >= 0
            if not known.any():
                return
            columns = found[known]
            counts = np.fromiter(by_gram.values(), np.float64, n)[known]
        tf = np.ones(len(columns)) if self.binary else counts
        if self.sublinear:
            tf = np.log(tf) + 1.0
        weights = tf if self.idf is None else tf * self.idf[columns]
        if self.norm == "l2":
            weights /= math.sqrt(float(weights @ weights)) or 1.0
        elif self.norm == "l1":
            weights /= float(np.abs(weights).sum()) or 1.0
        indices.append(columns + self.offset)
        values.append(weights)


@dataclass(frozen=True)
class _Dense:
    """The lexicon features (`ml.lexicon`) or the sentence embedding (`ml.embedding`):
    nothing learnt from texts, so computed straight from the text by the fitted transformer."""

    column: int
    offset: int
    width: int
    compute: Callable[[str], Any]  # one text → its dense row

    def add(self, document: str, indices: list[NDArray[np.intp]],
            values: list[NDArray[np.float64]]) -> None:
        dense = np.asarray(self.compute(document), dtype=np.float64)
        nonzero = np.flatnonzero(dense)
        indices.append(self.offset + nonzero)
        values.append(dense[nonzero])


@dataclass(frozen=True)
class _Linear:
    coef: NDArray[np.floating[Any]]  # (features, scores), a view of the model's weights
    intercept: NDArray[np.float64]
    beta: float

    def proba(self, indices: NDArray[np.intp], values: NDArray[np.float64]) -> NDArray[Any]:
        scores = values @ self.coef[indices].astype(np.float64) + self.intercept
        if scores.shape[0] == 1:
            logits = np.asarray([-scores[0], scores[0]])
        elif np.all((scores >= 0) & (scores <= 1)) and math.isclose(
                float(scores.sum()), 1.0, rel_tol=1e-5, abs_tol=1e-8):
            # scikit-learn reads scores that look like probabilities as probabilities
            logits = np.log(scores + 1e-12)
        else:
            logits = scores
        z = self.beta * logits
        z = np.exp(z - z.max())
        return np.asarray(z / z.sum())


@dataclass(frozen=True)
class CompiledPipeline:
    classes: tuple[str, ...]
    parts: tuple[_Tfidf | _Dense, ...]
    linear: tuple[_Linear, ...]  # one per calibrated classifier; their mean is the answer

    def features(self, text: str) -> tuple[NDArray[np.intp], NDArray[np.float64]]:
        """The non-zero features of one text: column numbers and values (the row that
        `ml.pipeline.transform_one` returns, as two arrays)."""
        columns = (lemma_text(text), text)  # prepare_documents: [lemmas, raw text]
        # arrays, not Python lists: 640 dense columns as lists are 1,280 objects a text,
        # enough to set off the garbage collector over the models' vocabularies
        indices: list[NDArray[np.intp]] = [_NO_COLUMNS]
        values: list[NDArray[np.float64]] = [_NO_VALUES]
        for part in self.parts:
            part.add(columns[part.column], indices, values)
        return (np.concatenate(indices).astype(np.intp, copy=False),
                np.concatenate(values).astype(np.float64, copy=False))

    def proba(self, indices: NDArray[np.intp], values: NDArray[np.float64]) -> NDArray[Any]:
        if len(self.linear) == 1:
            return self.linear[0].proba(indices, values)
        return np.asarray(np.mean([m.proba(indices, values) for m in self.linear], axis=0))

    def predict_proba(self, text: str) -> NDArray[Any]:
        return self.proba(*self.features(text))


def _linear(calibrated: Any) -> _Linear:
    if calibrated.method != "temperature":
        raise Unsupported(f"calibration {calibrated.method!r}")
    estimator = calibrated.estimator
    if isinstance(estimator, FrozenEstimator):
        estimator = estimator.estimator
    if not isinstance(estimator, LINEAR_MODELS):
        raise Unsupported(f"model {type(estimator).__name__}")
    # A view, not a copy: a model's weights can take a hundred megabytes.
    return _Linear(np.asarray(estimator.coef_).T,
                   np.asarray(estimator.intercept_, dtype=np.float64).ravel(),
                   float(np.asarray(calibrated.calibrators[0].beta_)))


def _part(name: str, transformer: Any, column: Any, offset: int) -> _Tfidf | _Dense:
    if not isinstance(column, int | np.integer):
        raise Unsupported(f"column {column!r} of {name}")
    if isinstance(transformer, TfidfVectorizer):
        idf = transformer.idf_.astype(np.float64) if transformer.use_idf else None
        char_wb = ((*transformer.ngram_range, bool(transformer.lowercase))
                   if _plain_char_wb(transformer) else None)
        return _Tfidf(int(column), offset, transformer.build_analyzer(),
                      transformer.vocabulary_, idf, bool(transformer.sublinear_tf),
                      bool(transformer.binary), transformer.norm, char_wb)
    if isinstance(transformer, SentenceEmbedding):
        return _Dense(int(column), offset, transformer.width, transformer.transform_one)
    if isinstance(transformer, LexiconFeatures):
        return _Dense(int(column), offset, len(FEATURE_NAMES), lexicon_features)
    raise Unsupported(f"transformer {type(transformer).__name__}")


def compiled_or_none(pipeline: Any) -> CompiledPipeline | None:
    """`compile_pipeline`, or None (with a log line) where the caller must keep the pipeline."""
    try:
        return compile_pipeline(pipeline)
    except Unsupported as exc:
        log.warning("ml.not_compiled", reason=str(exc))
        return None


def compile_pipeline(pipeline: Any) -> CompiledPipeline:
    """The fitted numbers of a product pipeline (`ml.pipeline.train_text_classifier`)."""
    steps = pipeline.named_steps
    if set(steps) != {"prepare", "features", "classify"}:
        raise Unsupported(f"steps {sorted(steps)}")
    if getattr(steps["prepare"], "func", None) is not prepare_documents:
        raise Unsupported("a text preparation other than prepare_documents")
    classify = steps["classify"]
    if not isinstance(classify, CalibratedClassifierCV):
        raise Unsupported(f"classifier {type(classify).__name__}")
    parts: list[_Tfidf | _Dense] = []
    offset = 0
    for name, transformer, column in steps["features"].transformers_:
        if name == "remainder":
            if transformer != "drop":
                raise Unsupported("a passed-through remainder")
            continue
        part = _part(name, transformer, column, offset)
        parts.append(part)
        offset += part.width
    linear = tuple(_linear(c) for c in classify.calibrated_classifiers_)
    if any(m.coef.shape[0] != offset for m in linear):
        raise Unsupported("the model's width is not the features'")
    return CompiledPipeline(tuple(str(c) for c in classify.classes_), tuple(parts), linear)
