"""Training recipes: the ticket-category model and the shipped sentiment model, each saved
as a skops artefact with a manifest (hashes of artefact and data, counts, metrics, versions)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold

from zabota.core.clock import SYSTEM_CLOCK, Clock
from zabota.core.settings import get_settings
from zabota.ml.artefacts import library_versions, save_model, sha256_file
from zabota.ml.evaluation import read_labelled
from zabota.ml.pipeline import (
    SEED,
    SENTIMENT_CANDIDATES,
    FeatureLimits,
    ScriptRoutedModel,
    TrainedModel,
    script_of,
    train_text_classifier,
)
from zabota.ml.sentiment import SENTIMENT_LABELS

# The shipped sentiment model must stay small (< 5 MB): each language's vocabulary is
# capped and rare n-grams dropped (measured: no loss of macro-F1 beyond fold noise).
# English also reads VADER's lexicon (`lexicon.py`), which knows no Russian.
SENTIMENT_LIMITS = {
    "ru": FeatureLimits(max_word_features=20_000, max_char_features=40_000,
                        word_min_df=1, char_min_df=2),
    "en": FeatureLimits(max_word_features=25_000, max_char_features=50_000,
                        word_min_df=2, char_min_df=3, lexicon=True),
}
# A script with fewer training rows than this gets no model of its own: its rows join the
# largest group, whose model then also reads that script.
MIN_SCRIPT_ROWS = 200
# Sentiment is trained offline, so its candidates are compared on every row (on a 10k
# sample GoEmotions picked C=0.3, on all rows C=0.1 wins by a point of macro-F1) and the
# best one is kept even when a cheaper one is within the fold noise. Its final model is
# fitted on every row and calibrated on out-of-fold predictions: a held-out tenth (the
# shortcut for 100k tickets) cost GoEmotions 0.4 points of macro-F1.
SENTIMENT_SELECTION_ROWS = 100_000
PACKAGE_MODELS = Path(__file__).resolve().parent / "models"


def model_path(name: str) -> Path:
    """Where `zabota ml train` keeps a model trained on this installation's data."""
    return get_settings().data_dir / "models" / f"{name}.skops"


def train_category(texts: Sequence[str], labels: Sequence[str]) -> TrainedModel:
    return train_text_classifier(texts, labels)


def train_sentiment(texts: Sequence[str], labels: Sequence[str]) -> TrainedModel:
    """A sentiment model per script (Russian, English) behind one `ScriptRoutedModel`."""
    unknown = set(labels) - set(SENTIMENT_LABELS)
    if unknown:
        raise ValueError(f"sentiment labels must be {SENTIMENT_LABELS}, got {sorted(unknown)}")
    groups: dict[str, tuple[list[str], list[str]]] = {}
    for text, label in zip(texts, labels, strict=True):
        group = groups.setdefault(script_of(text), ([], []))
        group[0].append(text)
        group[1].append(label)
    largest = max(groups, key=lambda script: len(groups[script][0]))
    for script in [s for s in groups if s != largest and len(groups[s][0]) < MIN_SCRIPT_ROWS]:
        small_texts, small_labels = groups.pop(script)
        groups[largest][0].extend(small_texts)
        groups[largest][1].extend(small_labels)
    trained = {script: train_text_classifier(group_texts, group_labels,
                                             candidates=SENTIMENT_CANDIDATES,
                                             limits=SENTIMENT_LIMITS[script],
                                             max_selection_rows=SENTIMENT_SELECTION_ROWS,
                                             prefer_cheaper=False,
                                             holdout_calibration_rows=None)
               for script, (group_texts, group_labels) in sorted(groups.items())}
    return TrainedModel(
        pipeline=ScriptRoutedModel({s: m.pipeline for s, m in trained.items()}),
        chosen="; ".join(f"{s}: {m.chosen}" for s, m in trained.items()),
        scores=[replace(score, name=f"{s}: {score.name}")
                for s, m in trained.items() for score in m.scores],
        rows=sum(m.rows for m in trained.values()),
        selection_rows=sum(m.selection_rows for m in trained.values()),
        seconds=sum(m.seconds for m in trained.values()))


def _pipelines(model: Any) -> list[Any]:
    return list(model.pipelines.values()) if isinstance(model, ScriptRoutedModel) else [model]


def _linear_models(pipeline: Any) -> list[Any]:
    found = []
    for calibrated in pipeline.named_steps["classify"].calibrated_classifiers_:
        model = calibrated.estimator
        found.append(getattr(model, "estimator", model))  # inside a FrozenEstimator
    return found


def compact(model: Any) -> None:
    """Shrink a fitted pipeline (or routed model) for saving: float32 weights and IDF (same
    predictions to 1e-6), plain-int vocabulary."""
    for pipeline in _pipelines(model):
        _compact_pipeline(pipeline)


def _compact_pipeline(pipeline: Any) -> None:
    for model in _linear_models(pipeline):
        model.coef_ = np.asarray(model.coef_, dtype=np.float32)
        model.intercept_ = np.asarray(model.intercept_, dtype=np.float32)
    for _, vectorizer, _ in pipeline.named_steps["features"].transformers_:
        if hasattr(vectorizer, "idf_"):
            vectorizer.idf_ = np.asarray(vectorizer.idf_, dtype=np.float32)
        if hasattr(vectorizer, "vocabulary_"):
            # skops writes a numpy integer as a file of its own: 150k of them made 30 MB.
            vectorizer.vocabulary_ = {term: int(i) for term, i in vectorizer.vocabulary_.items()}


@dataclass(frozen=True)
class TrainingFile:
    """One JSON Lines file of a training set, named as the manifest will show it."""

    path: Path
    name: str


def _describe(file: TrainingFile, labels: Sequence[str]) -> dict[str, object]:
    return {"file": file.name, "sha256": sha256_file(file.path), "rows": len(labels),
            "labels": dict(sorted(Counter(labels).items()))}


def _model_manifest(model: TrainedModel) -> dict[str, object]:
    return {"chosen": model.chosen, "rows": model.rows, "selection_rows": model.selection_rows,
            "train_seconds": round(model.seconds, 1),
            "selection": [{"candidate": s.name, "macro_f1": round(s.macro_f1, 4),
                           "std": round(s.std, 4)} for s in model.scores]}


def cross_validate_by_file(files: Sequence[tuple[str, list[str], list[str]]], *,
                           folds: int = 5) -> dict[str, dict[str, object]]:
    """Macro-F1 and accuracy of the sentiment recipe on each file's held-out rows, with the
    model trained on the other folds of all files together (as the shipped model is)."""
    texts = [t for _, file_texts, _ in files for t in file_texts]
    labels = [y for _, _, file_labels in files for y in file_labels]
    source = [name for name, file_texts, _ in files for _ in file_texts]
    strata = [f"{s}/{y}" for s, y in zip(source, labels, strict=True)]
    splitter = StratifiedKFold(folds, shuffle=True, random_state=SEED)
    predicted = [""] * len(texts)
    fold_scores: dict[str, list[float]] = {name: [] for name, _, _ in files}
    for train, held_out in splitter.split(np.zeros(len(texts)), strata):
        model = train_sentiment([texts[i] for i in train], [labels[i] for i in train])
        guesses = model.pipeline.predict([texts[i] for i in held_out])
        for i, guess in zip(held_out, guesses, strict=True):
            predicted[i] = str(guess)
        for name in fold_scores:
            rows = [i for i in held_out if source[i] == name]
            fold_scores[name].append(float(f1_score(
                [labels[i] for i in rows], [predicted[i] for i in rows], average="macro")))
    metrics: dict[str, dict[str, object]] = {}
    for name, f1s in fold_scores.items():
        rows = [i for i, s in enumerate(source) if s == name]
        truth, guess = [labels[i] for i in rows], [predicted[i] for i in rows]
        metrics[name] = {"macro_f1": round(float(f1_score(truth, guess, average="macro")), 4),
                         "macro_f1_std": round(float(np.std(f1s)), 4),
                         "accuracy": round(float(accuracy_score(truth, guess)), 4),
                         "folds": folds, "rows": len(rows)}
    return metrics


def train_and_save_sentiment(files: Sequence[TrainingFile], artefact: Path, *,
                             folds: int = 5, clock: Clock = SYSTEM_CLOCK) -> dict[str, object]:
    """Cross-validate the sentiment recipe per file (folds=0 skips it), train on all rows,
    save the artefact and its manifest; returns the manifest."""
    loaded = [(file, *read_labelled(file.path)) for file in files]
    started = clock.now()
    metrics = (cross_validate_by_file([(f.name, t, y) for f, t, y in loaded], folds=folds)
               if folds else {})
    texts = [t for _, file_texts, _ in loaded for t in file_texts]
    labels = [y for _, _, file_labels in loaded for y in file_labels]
    model = train_sentiment(texts, labels)
    compact(model.pipeline)
    manifest: dict[str, object] = {
        "name": "sentiment",
        "trained_at": started.isoformat(timespec="seconds"),
        "task": "sentiment: negative / neutral / positive (ru, en)",
        "routing": "a model per script: 'ru' reads texts whose letters are at least half "
                   "Cyrillic, 'en' the rest",
        "training_files": [_describe(file, y) for file, _, y in loaded],
        "rows": len(labels),
        "labels": dict(sorted(Counter(labels).items())),
        "metrics": {"cross_validated": metrics},
        "model": _model_manifest(model),
        "libraries": library_versions(),
    }
    return save_model(model.pipeline.pipelines, artefact, manifest)


def train_and_save_category(file: TrainingFile, artefact: Path, *,
                            clock: Clock = SYSTEM_CLOCK) -> dict[str, object]:
    """Train the category model on one JSON Lines file and save it with its manifest."""
    texts, labels = read_labelled(file.path)
    started = clock.now()
    model = train_category(texts, labels)
    compact(model.pipeline)
    manifest: dict[str, object] = {
        "name": "category",
        "trained_at": started.isoformat(timespec="seconds"),
        "task": "ticket category",
        "training_files": [_describe(file, labels)],
        "rows": len(labels),
        "labels": dict(sorted(Counter(labels).items())),
        "model": _model_manifest(model),
        "libraries": library_versions(),
    }
    return save_model(model.pipeline, artefact, manifest)
