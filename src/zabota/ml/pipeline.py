"""The product's text classifier: lemma + character TF-IDF, a linear model chosen by
cross-validation, calibrated probabilities. Also the plain baseline it is measured against.

A fitted product model is a scikit-learn `Pipeline`:

    prepare   FunctionTransformer(prepare_documents): text → [lemmas, raw text]
    features  ColumnTransformer: TF-IDF of lemma uni+bigrams  ⊕  TF-IDF of char_wb 1–5-grams
    classify  CalibratedClassifierCV(<the winning linear model>, method="temperature")

Temperature scaling divides every class score by one number, so it calibrates the
probabilities without changing which class wins: the model chosen for its macro-F1 keeps it.
The temperature is fitted on predictions for rows the model did not see: out-of-fold
predictions on small data, a held-out tenth from `HOLDOUT_CALIBRATION_ROWS` rows up (one
fit instead of four, which is what keeps 100k tickets within the training budget).
"""

from __future__ import annotations

import numbers
import time
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from numpy.typing import NDArray
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.compose import ColumnTransformer
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.frozen import FrozenEstimator
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.svm import LinearSVC

from zabota.ml.language import cyrillic_share
from zabota.ml.text import lemma_texts

SEED = 20240601
SELECTION_FOLDS = 3
# Choosing among the candidates on at most this many rows bounds the cost of training on
# 100k tickets; the winner is then fitted on every row.
MAX_SELECTION_ROWS = 10_000
HOLDOUT_CALIBRATION_ROWS = 20_000
CALIBRATION_SHARE = 0.1
# Training uses two processes (lemmatising, vectorising words beside characters, fitting
# candidates); the saved model works in-process, as one text does not pay for a pool.
TRAINING_JOBS = 2
PARALLEL_PREPARE_ROWS = 20_000
PARALLEL_ROWS = 5_000  # below this, starting worker processes costs more than it saves


def _jobs(rows: int) -> int | None:
    return TRAINING_JOBS if rows >= PARALLEL_ROWS else None


def prepare_documents(texts: Iterable[str]) -> NDArray[np.object_]:
    """Each text as the two columns the features read: its lemmas/stems, and the raw text."""
    raw = [str(text) for text in texts]
    columns = np.empty((len(raw), 2), dtype=object)
    if len(raw) >= PARALLEL_PREPARE_ROWS:
        half = (len(raw) + 1) // 2
        parts = Parallel(n_jobs=TRAINING_JOBS)(delayed(lemma_texts)(raw[i:i + half])
                                               for i in range(0, len(raw), half))
        columns[:, 0] = [lemmas for part in parts for lemmas in part]
    else:
        columns[:, 0] = lemma_texts(raw)
    columns[:, 1] = raw
    return columns


@dataclass(frozen=True)
class FeatureLimits:
    """Caps on the vocabulary, to keep a shipped artefact small (None: no cap)."""

    max_word_features: int | None = None
    max_char_features: int | None = None
    word_min_df: int = 1
    char_min_df: int = 2


def build_features(limits: FeatureLimits = FeatureLimits(), *, n_jobs: int | None = None) -> Any:
    """TF-IDF over lemma uni+bigrams and over char_wb 1–5-grams of the lower-cased raw text.

    Single characters are kept on purpose: ")", "((", "!" and emoji carry much of the
    sentiment of short messages (+1 macro-F1 point on CEDR over 2–5-grams).
    """
    words = TfidfVectorizer(analyzer="word", token_pattern=r"\S+", lowercase=False,
                            ngram_range=(1, 2), sublinear_tf=True, min_df=limits.word_min_df,
                            max_features=limits.max_word_features, dtype=np.float32)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 5), lowercase=True,
                            sublinear_tf=True, min_df=limits.char_min_df,
                            max_features=limits.max_char_features, dtype=np.float32)
    return ColumnTransformer([("words", words, 0), ("chars", chars, 1)], sparse_threshold=1.0,
                             n_jobs=n_jobs)


@dataclass(frozen=True)
class Candidate:
    """One linear model the cross-validation may choose (an unfitted estimator)."""

    name: str
    estimator: Any

    def build(self) -> Any:
        return clone(self.estimator)


def _linear_svc(c: float) -> Candidate:
    return Candidate(f"linear_svc(C={c:g})",
                     LinearSVC(C=c, class_weight="balanced", random_state=SEED))


def _logistic(c: float) -> Candidate:
    return Candidate(f"logistic_regression(C={c:g})",
                     LogisticRegression(C=c, class_weight="balanced", solver="saga",
                                        max_iter=100, tol=1e-3, random_state=SEED))


def _sgd(alpha: float) -> Candidate:
    return Candidate(f"sgd_log(alpha={alpha:g})",
                     SGDClassifier(loss="log_loss", alpha=alpha, class_weight="balanced",
                                   max_iter=50, tol=1e-4, random_state=SEED))


# Balanced class weights everywhere: tickets' categories are skewed and we are judged on
# macro-F1, so a rare category must not be drowned by the common ones.
CANDIDATES: tuple[Candidate, ...] = (
    _linear_svc(0.1), _linear_svc(0.3), _linear_svc(1.0),
    _logistic(4.0), _logistic(16.0),
    _sgd(1e-5), _sgd(3e-5),
)


@dataclass(frozen=True)
class CandidateScore:
    name: str
    macro_f1: float
    std: float
    seconds: float


@dataclass
class TrainedModel:
    """A fitted product pipeline and how it was chosen."""

    pipeline: Any
    chosen: str
    scores: list[CandidateScore] = field(default_factory=list)
    rows: int = 0
    selection_rows: int = 0
    seconds: float = 0.0


def _quietly(fit: Callable[[], Any]) -> Any:
    # saga and SGD stop at max_iter on large data: the cross-validated score judges the
    # result, and an extra thousand iterations would blow the training budget.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fit()


def _selection_sample(docs: NDArray[np.object_], labels: NDArray[np.str_],
                      limit: int) -> tuple[NDArray[np.object_], NDArray[np.str_]]:
    counts = np.unique(labels, return_counts=True)[1]
    if len(labels) - limit < len(counts):  # too few left over to stratify: use them all
        return docs, labels
    stratify = labels if counts.min() >= 2 else None
    sample, _, sample_labels, _ = train_test_split(docs, labels, train_size=limit,
                                                   stratify=stratify, random_state=SEED)
    return sample, sample_labels


def _folds(labels: NDArray[np.str_], folds: int) -> int:
    smallest = int(np.unique(labels, return_counts=True)[1].min())
    return max(2, min(folds, smallest))


def _fit_and_score(candidate: Candidate, x_train: Any, y_train: NDArray[np.str_],
                   x_test: Any, y_test: NDArray[np.str_]) -> tuple[float, float]:
    started = time.perf_counter()
    model = candidate.build()
    _quietly(lambda: model.fit(x_train, y_train))
    f1 = f1_score(y_test, model.predict(x_test), average="macro", zero_division=0)
    return float(f1), time.perf_counter() - started


def select_candidate(docs: NDArray[np.object_], labels: NDArray[np.str_], *,
                     candidates: Sequence[Candidate] = CANDIDATES,
                     folds: int = SELECTION_FOLDS,
                     limits: FeatureLimits = FeatureLimits()) -> list[CandidateScore]:
    """Mean macro-F1 of each candidate over stratified folds, best first.

    Features are fitted inside each fold (no vocabulary leaks from the held-out part) and
    shared by all candidates of that fold, which are fitted in parallel."""
    splitter = StratifiedKFold(_folds(labels, folds), shuffle=True, random_state=SEED)
    results: dict[str, list[tuple[float, float]]] = {c.name: [] for c in candidates}
    jobs = _jobs(len(labels))
    with Parallel(n_jobs=jobs) as parallel:
        for train, held_out in splitter.split(docs, labels):
            features = build_features(limits, n_jobs=jobs)
            x_train = features.fit_transform(docs[train])
            x_held_out = features.transform(docs[held_out])
            fold = parallel(delayed(_fit_and_score)(c, x_train, labels[train],
                                                    x_held_out, labels[held_out])
                            for c in candidates)
            for candidate, result in zip(candidates, fold, strict=True):
                results[candidate.name].append(result)
    scores = [CandidateScore(name, float(np.mean([f1 for f1, _ in runs])),
                             float(np.std([f1 for f1, _ in runs])),
                             sum(seconds for _, seconds in runs))
              for name, runs in results.items()]
    return sorted(scores, key=lambda s: -s.macro_f1)


def choose(scores: Sequence[CandidateScore], *, prefer_cheaper: bool = True) -> CandidateScore:
    """The best candidate or, preferring cheaper, the fastest whose macro-F1 is within one
    standard deviation (over the folds) of the best: a difference inside the fold noise does
    not pay for a model ten times slower to fit (logistic regression on 77 intents)."""
    best = max(scores, key=lambda s: s.macro_f1)
    if not prefer_cheaper or np.isnan(best.std):
        return best
    close = [s for s in scores if s.macro_f1 >= best.macro_f1 - best.std]
    return min(close, key=lambda s: s.seconds)


def _fit_calibrated(candidate: Candidate, x: Any, y: NDArray[np.str_]) -> Any:
    if len(y) < HOLDOUT_CALIBRATION_ROWS:
        calibrated = CalibratedClassifierCV(candidate.build(), method="temperature",
                                            cv=_folds(y, SELECTION_FOLDS), ensemble=False)
        return _quietly(lambda: calibrated.fit(x, y))
    rows = np.arange(len(y))
    fit_rows, calibration_rows = train_test_split(rows, test_size=CALIBRATION_SHARE,
                                                  stratify=y, random_state=SEED)
    model = candidate.build()
    _quietly(lambda: model.fit(x[fit_rows], y[fit_rows]))
    calibrated = CalibratedClassifierCV(FrozenEstimator(model), method="temperature")
    return calibrated.fit(x[calibration_rows], y[calibration_rows])


def train_text_classifier(
    texts: Sequence[str], labels: Sequence[str], *,
    candidates: Sequence[Candidate] = CANDIDATES,
    limits: FeatureLimits = FeatureLimits(),
    max_selection_rows: int = MAX_SELECTION_ROWS,
    prefer_cheaper: bool = True,
) -> TrainedModel:
    """Choose a linear model by cross-validated macro-F1 (see `choose`), then fit it,
    calibrated, on all rows.

    Needs at least two labels, each with at least two rows."""
    started = time.perf_counter()
    y = np.asarray(labels, dtype=str)
    if len(set(y.tolist())) < 2 or int(np.unique(y, return_counts=True)[1].min()) < 2:
        raise ValueError("training needs at least two labels with two or more rows each")
    docs = prepare_documents(texts)
    sample, sample_labels = _selection_sample(docs, y, max_selection_rows)
    if len(candidates) > 1:
        scores = select_candidate(sample, sample_labels, candidates=candidates, limits=limits)
    else:
        scores = [CandidateScore(candidates[0].name, float("nan"), float("nan"), 0.0)]
    chosen = next(c for c in candidates
                  if c.name == choose(scores, prefer_cheaper=prefer_cheaper).name)
    features = build_features(limits, n_jobs=_jobs(len(y)))
    x = features.fit_transform(docs).tocsr()
    features.set_params(n_jobs=None)
    classifier = _fit_calibrated(chosen, x, y)
    pipeline = Pipeline([
        ("prepare", FunctionTransformer(prepare_documents)),
        ("features", features),
        ("classify", classifier),
    ])
    seconds = time.perf_counter() - started
    return TrainedModel(pipeline=pipeline, chosen=chosen.name, scores=scores, rows=len(y),
                        selection_rows=len(sample_labels), seconds=seconds)


def build_baseline_pipeline() -> Any:
    """The plain baseline: TF-IDF word 1–2 + char_wb 2–5 on the raw text, logistic regression."""
    return Pipeline([
        ("features", FeatureUnion([
            ("words", TfidfVectorizer(ngram_range=(1, 2))),
            ("chars", TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5))),
        ])),
        ("classify", LogisticRegression(max_iter=1000)),
    ])


def fit_quietly(pipeline: Any, texts: Sequence[str], labels: Sequence[str]) -> Any:
    """`pipeline.fit` without convergence warnings (see `_quietly`)."""
    return _quietly(lambda: pipeline.fit(list(texts), list(labels)))


def top_features(pipeline: Any, text: str, label: str, *,
                 limit: int = 5) -> list[tuple[str, float]]:
    """The features of `text` that pushed a fitted product pipeline most towards `label`."""
    features = pipeline.named_steps["features"]
    classifier = pipeline.named_steps["classify"]
    linear = classifier.calibrated_classifiers_[0].estimator
    # Calibrating with cross-validation fits the estimator on label indices; a frozen,
    # already fitted estimator keeps the label names.
    classes = [str(classifier.classes_[c]) if isinstance(c, numbers.Integral) else str(c)
               for c in linear.classes_]
    coef = np.asarray(linear.coef_)
    if coef.shape[0] == 1:  # a binary model scores only the second class
        weights = coef[0] if label == classes[1] else -coef[0]
    else:
        weights = coef[classes.index(label)]
    row = features.transform(prepare_documents([text])).tocsr()
    contributions = row.data * weights[row.indices]
    names = features.get_feature_names_out()
    order = np.argsort(-contributions)[:limit]
    return [(str(names[row.indices[i]]), round(float(contributions[i]), 4))
            for i in order if contributions[i] > 0]


def script_of(text: str) -> str:
    """"ru" when at least half of the letters are Cyrillic, otherwise "en"."""
    return "ru" if cyrillic_share(text) >= 0.5 else "en"


class ScriptRoutedModel:
    """One fitted pipeline per script ("ru": Cyrillic, "en": the rest) behind the
    `predict` / `predict_proba` / `classes_` of one classifier.

    Separate models let each language pick its own regularisation and keep its own
    vocabulary under a size cap (a joint vocabulary was 85% English n-grams)."""

    def __init__(self, pipelines: Mapping[str, Any]) -> None:
        if not pipelines:
            raise ValueError("a routed model needs at least one pipeline")
        self.pipelines = dict(pipelines)
        self.classes_ = np.asarray(sorted({str(c) for p in self.pipelines.values()
                                           for c in p.classes_}))

    def pipeline_for(self, text: str) -> Any:
        """The pipeline that reads `text` (the only one, when only one was trained)."""
        return self.pipelines.get(script_of(text)) or next(iter(self.pipelines.values()))

    def predict_proba(self, texts: Sequence[str]) -> NDArray[np.float64]:
        texts = list(texts)
        proba = np.zeros((len(texts), len(self.classes_)))
        routes: dict[int, list[int]] = {}
        for i, text in enumerate(texts):
            routes.setdefault(id(self.pipeline_for(text)), []).append(i)
        by_id = {id(p): p for p in self.pipelines.values()}
        for key, rows in routes.items():
            pipeline = by_id[key]
            columns = [int(np.searchsorted(self.classes_, str(c))) for c in pipeline.classes_]
            proba[np.ix_(rows, columns)] = pipeline.predict_proba([texts[i] for i in rows])
        return proba

    def predict(self, texts: Sequence[str]) -> NDArray[np.str_]:
        return np.asarray(self.classes_[self.predict_proba(texts).argmax(axis=1)])
