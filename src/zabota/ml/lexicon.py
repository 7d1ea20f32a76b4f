"""English sentiment-lexicon features (VADER) for the English sentiment model.

TF-IDF only knows the words of its training data; VADER's 7,500 rated words, emoticons and
emoji (MIT, shipped inside the `vaderSentiment` wheel, read from the installed package, never
fetched) also rate the words a training set saw too rarely to weigh, and its rules handle
negation ("not good"), boosters ("very"), capitals and "but". On GoEmotions these 14 numbers
beside the TF-IDF add about half a point of macro-F1 (docs/ml.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, TransformerMixin
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

# Word valences run from -4 to +4 (beyond, a little, after boosters and capitals).
STRONG_VALENCE = 2.0
MAX_VALENCE = 4.0

FEATURE_NAMES = (
    "compound_positive", "compound_negative", "share_positive", "share_negative",
    "share_neutral", "exclamation", "question", "strong_negative_words", "negative_words",
    "positive_words", "strong_positive_words", "most_positive_word", "most_negative_word",
    "no_rated_word",
)


class _Analyzer(SentimentIntensityAnalyzer):  # type: ignore[misc]  # vaderSentiment is untyped
    """VADER that also returns the valence of each word after its rules (negation, "but",
    boosters), which `polarity_scores` sums up and then discards."""

    def score_valence(self, sentiments: list[float], text: str) -> dict[str, Any]:
        scores: dict[str, Any] = super().score_valence(sentiments, text)
        scores["valences"] = list(sentiments)
        return scores


@lru_cache(maxsize=1)
def _analyzer() -> _Analyzer:
    return _Analyzer()  # reads the two lexicon files of the installed package, once


def lexicon_features(text: str) -> list[float]:
    """The `FEATURE_NAMES` of one text, every one ≥ 0 (the log-count-ratio model needs that)."""
    scores = _analyzer().polarity_scores(text)
    valences = np.asarray(scores["valences"] or [0.0], dtype=np.float64)
    compound = float(scores["compound"])
    strong_negative = np.count_nonzero(valences <= -STRONG_VALENCE)
    negative = np.count_nonzero(valences < 0) - strong_negative
    strong_positive = np.count_nonzero(valences >= STRONG_VALENCE)
    positive = np.count_nonzero(valences > 0) - strong_positive
    return [
        max(compound, 0.0), max(-compound, 0.0),
        float(scores["pos"]), float(scores["neg"]), float(scores["neu"]),
        float("!" in text), float("?" in text),
        *(float(np.log1p(n)) for n in (strong_negative, negative, positive, strong_positive)),
        max(float(valences.max()), 0.0) / MAX_VALENCE,
        max(-float(valences.min()), 0.0) / MAX_VALENCE,
        float(not valences.any()),
    ]


class LexiconFeatures(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Texts (one column of raw text) → a sparse row of `FEATURE_NAMES` per text.

    Stateless: nothing is learnt, so fitting does nothing and the saved model holds no
    lexicon; it is read from the installed `vaderSentiment` on first use."""

    def fit(self, texts: Iterable[str], y: object = None) -> LexiconFeatures:
        return self

    def transform(self, texts: Iterable[str]) -> sp.csr_matrix:
        rows = [lexicon_features(str(text)) for text in texts]
        return sp.csr_matrix(np.asarray(rows, dtype=np.float32).reshape(-1, len(FEATURE_NAMES)))

    def get_feature_names_out(self, input_features: object = None) -> NDArray[np.object_]:
        return np.asarray(FEATURE_NAMES, dtype=object)

    def __sklearn_is_fitted__(self) -> bool:
        return True
