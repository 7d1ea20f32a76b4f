"""The product's text classifier: lemma + character TF-IDF, a linear model chosen by
cross-validation, calibrated probabilities. Also the plain baseline it is measured against.

A fitted product model is a scikit-learn `Pipeline`:

    prepare   FunctionTransformer(prepare_documents): text → [lemmas, raw text]
    features  ColumnTransformer: TF-IDF of lemma uni+bigrams  ⊕  TF-IDF of char_wb 1–5-grams
              (⊕ VADER lexicon features of the raw text, for English sentiment)
              (⊕ the sentence embedding of the raw text, for categories)
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
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import scipy.sparse as sp
import sklearn
from joblib import Parallel, delayed
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin, clone
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
from sklearn.utils.extmath import safe_sparse_dot
from sklearn.utils.validation import check_is_fitted, validate_data

from zabota.ml.embedding import SentenceEmbedding
from zabota.ml.language import cyrillic_share
from zabota.ml.lexicon import LexiconFeatures
from zabota.ml.text import lemma_texts

SEED = 20240601
SELECTION_FOLDS = 3
# Choosing among the candidates on at most this many rows bounds the cost of training on
# 100k tickets (selection time is proportional to it); the winner is then fitted on every
# row. A training fold of Banking77 (8,002 rows, 77 intents) is still used whole.
MAX_SELECTION_ROWS = 8_000
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
    """Caps on the vocabulary, to keep a shipped artefact small (None: no cap), whether the
    English sentiment lexicon's features (`lexicon.LexiconFeatures`) and the sentence
    embedding (`embedding.SentenceEmbedding`) are added, and how many random Fourier
    features of the embedding follow it."""

    max_word_features: int | None = None
    max_char_features: int | None = None
    word_min_df: int = 1
    char_min_df: int = 2
    lexicon: bool = False
    embedding: bool = False
    fourier: int = 0


# Categories (intents) gain from the embedding: +1.1 points of Banking77 accuracy, and +0.4
# more from 512 random Fourier features of it (docs/ml.md). It has negative values, so
# NB-SVM (SENTIMENT_CANDIDATES) must not read it.
CATEGORY_FEATURES = FeatureLimits(embedding=True, fourier=512)
# The Fourier features are dense: they make fitting 2.4 times slower, which 100k tickets
# cannot afford within the 2-minute retraining budget. Small data, where they help (a
# paraphrase seen once is all the model has), gets them; from this many rows, not.
FOURIER_MAX_ROWS = 20_000
UNREADABLE = "embedding__"  # feature names that explain nothing to a person


def build_features(limits: FeatureLimits = FeatureLimits(), *, n_jobs: int | None = None) -> Any:
    """TF-IDF over lemma uni+bigrams and over char_wb 1–5-grams of the lower-cased raw text,
    with `limits.lexicon` VADER's sentiment features of the raw text, and with
    `limits.embedding` the raw text's sentence embedding.

    Single characters are kept on purpose: ")", "((", "!" and emoji carry much of the
    sentiment of short messages (+1 macro-F1 point on CEDR over 2–5-grams).
    """
    words = TfidfVectorizer(analyzer="word", token_pattern=r"\S+", lowercase=False,
                            ngram_range=(1, 2), sublinear_tf=True, min_df=limits.word_min_df,
                            max_features=limits.max_word_features, dtype=np.float32)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 5), lowercase=True,
                            sublinear_tf=True, min_df=limits.char_min_df,
                            max_features=limits.max_char_features, dtype=np.float32)
    parts: list[tuple[str, Any, int]] = [("words", words, 0), ("chars", chars, 1)]
    if limits.lexicon:
        parts.append(("lexicon", LexiconFeatures(), 1))
    if limits.embedding:
        parts.append(("embedding", SentenceEmbedding(fourier=limits.fourier,
                                                     random_state=SEED), 1))
    return ColumnTransformer(parts, sparse_threshold=1.0, n_jobs=n_jobs)


def transform_one(pipeline: Any, text: str) -> Any:
    """The feature row (CSR) of one text for a fitted product pipeline.

    The same numbers as the pipeline's own transform, in half the time: ColumnTransformer's
    input checks (dataframe detection, validation) cost more than transforming one short
    text, so its transformers are called directly."""
    docs = prepare_documents([text])
    features = pipeline.named_steps["features"]
    return sp.hstack([transformer.transform(docs[:, column])
                      for name, transformer, column in features.transformers_
                      if name != "remainder"], format="csr")


def features_and_proba(pipeline: Any, text: str) -> tuple[Any, Any]:
    """The feature row and class probabilities of one text for a fitted product pipeline:
    the same numbers as `pipeline.predict_proba`, without its input checks (see
    `transform_one`), and the row, which explains the prediction."""
    row = transform_one(pipeline, text)
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        proba = pipeline.named_steps["classify"].predict_proba(row)[0]
    return row, proba


class LogCountRatioSVC(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """NB-SVM (Wang & Manning, 2012): for each label, a LinearSVC (label against the rest)
    on the features scaled by that label's log-count ratio log((p/|p|₁) / (q/|q|₁)), where p
    and q are the feature sums of the label's rows and of the others, plus `alpha`.

    Scaling is linear, so the fitted model is kept as the equivalent linear model of the
    unscaled features (coef = ratio × weights): it predicts, calibrates and explains like
    LinearSVC. Features must be non-negative (TF-IDF and `LexiconFeatures` are)."""

    def __init__(self, C: float = 0.1, *, alpha: float = 1.0,
                 class_weight: str | None = "balanced", random_state: int | None = None,
                 max_iter: int = 1000) -> None:
        self.C = C
        self.alpha = alpha
        self.class_weight = class_weight
        self.random_state = random_state
        self.max_iter = max_iter

    def fit(self, x: Any, y: Any) -> LogCountRatioSVC:
        x, y = validate_data(self, x, y, accept_sparse="csr",
                             dtype=[np.float64, np.float32])
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise ValueError("NB-SVM needs at least two labels")
        # Two labels: one model scores the second, as in every scikit-learn linear model.
        positives = self.classes_[1:] if len(self.classes_) == 2 else self.classes_
        coefs, intercepts = [], []
        for label in positives:
            is_label = np.asarray(y == label)
            ratio = self._log_count_ratio(x, is_label)
            scaled = x @ sp.diags(ratio) if sp.issparse(x) else x * ratio
            svc = LinearSVC(C=self.C, class_weight=self.class_weight,
                            random_state=self.random_state, max_iter=self.max_iter)
            svc.fit(scaled, is_label)
            coefs.append(ratio * svc.coef_[0])
            intercepts.append(svc.intercept_[0])
        self.coef_ = np.vstack(coefs)
        self.intercept_ = np.asarray(intercepts)
        return self

    def _log_count_ratio(self, x: Any, is_label: NDArray[np.bool_]) -> NDArray[np.floating[Any]]:
        p = self.alpha + np.asarray(x[is_label].sum(axis=0)).ravel()
        q = self.alpha + np.asarray(x[~is_label].sum(axis=0)).ravel()
        return np.asarray(np.log((p / p.sum()) / (q / q.sum())), dtype=x.dtype)

    def decision_function(self, x: Any) -> NDArray[np.floating[Any]]:
        check_is_fitted(self)
        x = validate_data(self, x, accept_sparse="csr", reset=False)
        scores = safe_sparse_dot(x, self.coef_.T, dense_output=True) + self.intercept_
        return np.asarray(scores.ravel() if scores.shape[1] == 1 else scores)

    def predict(self, x: Any) -> NDArray[Any]:
        scores = self.decision_function(x)
        best = (scores > 0).astype(int) if scores.ndim == 1 else scores.argmax(axis=1)
        return np.asarray(self.classes_[best])


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


def _log_count_ratio_svc(c: float) -> Candidate:
    return Candidate(f"nb_svm(C={c:g})", LogCountRatioSVC(C=c, random_state=SEED))


def _sgd(alpha: float) -> Candidate:
    return Candidate(f"sgd_log(alpha={alpha:g})",
                     SGDClassifier(loss="log_loss", alpha=alpha, class_weight="balanced",
                                   max_iter=50, tol=1e-4, random_state=SEED))


# Balanced class weights everywhere: tickets' categories are skewed and we are judged on
# macro-F1, so a rare category must not be drowned by the common ones. Logistic regression
# (saga) left the candidates (ADR 013): with the Fourier features it took 45 % of the
# selection's CPU time on Banking77 (108 of 238 s) and was never the model kept, in any
# of the ten folds of the evaluation (docs/ml.md).
CANDIDATES: tuple[Candidate, ...] = (
    _linear_svc(0.1), _linear_svc(0.3), _linear_svc(1.0),
    _sgd(1e-5), _sgd(3e-5),
)
# Sentiment (three labels, trained offline on every row) adds NB-SVM, which beats LinearSVC
# by a point of macro-F1 on GoEmotions (with the lexicon) and by 1.7 on CEDR; logistic
# regression never won for sentiment and is the slowest to fit (docs/ml.md).
SENTIMENT_CANDIDATES: tuple[Candidate, ...] = (
    _linear_svc(0.1), _linear_svc(0.3), _linear_svc(1.0),
    _log_count_ratio_svc(0.1), _log_count_ratio_svc(0.3), _log_count_ratio_svc(1.0),
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


def _build_final(candidate: Candidate, rows: int) -> Any:
    model = candidate.build()
    if isinstance(model, SGDClassifier):
        # SGD fits its one-vs-rest problems in threads (the same seeds whatever n_jobs,
        # so the same model): about half the time of the final fit on 100k tickets.
        model.set_params(n_jobs=_jobs(rows))
    return model


def _fit_calibrated(candidate: Candidate, x: Any, y: NDArray[np.str_], *,
                    holdout_rows: int | None) -> Any:
    if holdout_rows is None or len(y) < holdout_rows:
        calibrated = CalibratedClassifierCV(_build_final(candidate, len(y)),
                                            method="temperature",
                                            cv=_folds(y, SELECTION_FOLDS), ensemble=False)
        return _quietly(lambda: calibrated.fit(x, y))
    rows = np.arange(len(y))
    fit_rows, calibration_rows = train_test_split(rows, test_size=CALIBRATION_SHARE,
                                                  stratify=y, random_state=SEED)
    model = _build_final(candidate, len(fit_rows))
    _quietly(lambda: model.fit(x[fit_rows], y[fit_rows]))
    calibrated = CalibratedClassifierCV(FrozenEstimator(model), method="temperature")
    return calibrated.fit(x[calibration_rows], y[calibration_rows])


def train_text_classifier(
    texts: Sequence[str], labels: Sequence[str], *,
    candidates: Sequence[Candidate] = CANDIDATES,
    limits: FeatureLimits = CATEGORY_FEATURES,
    max_selection_rows: int = MAX_SELECTION_ROWS,
    prefer_cheaper: bool = True,
    holdout_calibration_rows: int | None = HOLDOUT_CALIBRATION_ROWS,
) -> TrainedModel:
    """Choose a linear model by cross-validated macro-F1 (see `choose`), then fit it,
    calibrated, on all rows (from `holdout_calibration_rows` rows up: on nine tenths, the
    last tenth fits the temperature; None: never, calibrate on out-of-fold predictions).

    Needs at least two labels, each with at least two rows."""
    started = time.perf_counter()
    y = np.asarray(labels, dtype=str)
    if len(set(y.tolist())) < 2 or int(np.unique(y, return_counts=True)[1].min()) < 2:
        raise ValueError("training needs at least two labels with two or more rows each")
    if len(y) >= FOURIER_MAX_ROWS:
        limits = replace(limits, fourier=0)
    docs = prepare_documents(texts)
    sample, sample_labels = _selection_sample(docs, y, max_selection_rows)
    if len(candidates) > 1:
        scores = select_candidate(sample, sample_labels, candidates=candidates, limits=limits)
    else:
        scores = [CandidateScore(candidates[0].name, float("nan"), float("nan"), 0.0)]
    best = choose(scores, prefer_cheaper=prefer_cheaper).name
    chosen = next(c for c in candidates if c.name == best)
    features = build_features(limits, n_jobs=_jobs(len(y)))
    x = features.fit_transform(docs).tocsr()
    features.set_params(n_jobs=None)
    classifier = _fit_calibrated(chosen, x, y, holdout_rows=holdout_calibration_rows)
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
    names = features.get_feature_names_out()
    # A dimension of the sentence embedding is no reason a person can read.
    readable = np.asarray([not str(names[i]).startswith(UNREADABLE) for i in row.indices],
                          dtype=bool)
    contributions = np.where(readable, row.data * weights[row.indices], 0.0)
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
