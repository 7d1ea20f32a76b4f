"""The category model: trained from the installation's solved tickets, kept in the registry
(`routing_models`) with its skops artefact under the data directory, loaded once per process
and version after a hash check, and asked for a category with its reasons."""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import sqlalchemy as sa
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support
from sklearn.model_selection import train_test_split
from sqlalchemy.orm import Session

from zabota.ml.artefacts import (
    ModelIntegrityError,
    library_versions,
    load_model,
    manifest_path,
    save_model,
)
from zabota.ml.inference import CompiledPipeline, compiled_or_none
from zabota.ml.pipeline import SEED, UNREADABLE, features_and_proba, train_text_classifier
from zabota.ml.training import compact
from zabota.routing.models import CategoryModel

HOLDOUT_SHARE = 0.2
TOP_FEATURES = 5


@dataclass(frozen=True)
class Prediction:
    version: str
    ranked: list[tuple[str, float]]  # every category, most probable first
    features: list[tuple[str, float]]  # what pushed the text towards the top category

    @property
    def category(self) -> str:
        return self.ranked[0][0]

    @property
    def confidence(self) -> float:
        return self.ranked[0][1]


@dataclass(frozen=True)
class LoadedModel:
    version: str
    pipeline: Any
    feature_names: Any  # computed once: get_feature_names_out() costs ~20 ms per call
    compiled: CompiledPipeline | None  # the same numbers, five times faster (ml.inference)

    @cached_property
    def readable(self) -> Any:
        """Which features may explain a prediction: not the sentence embedding's dimensions,
        which are no reason a person can read."""
        return ~np.char.startswith(np.asarray(self.feature_names, dtype=str), UNREADABLE)


_cache: dict[str, LoadedModel] = {}
_lock = threading.Lock()


class ModelRef(Protocol):
    """What loading needs of a registry row (`CategoryModel`, or a cached copy of it)."""

    @property
    def version(self) -> str: ...
    @property
    def artefact_path(self) -> str: ...
    @property
    def artefact_sha256(self) -> str: ...


def load_pipeline(model: ModelRef) -> LoadedModel:
    """The fitted pipeline of a registry row, hash-checked, cached per version."""
    with _lock:
        loaded = _cache.get(model.version)
        if loaded is None:
            pipeline, manifest = load_model(Path(model.artefact_path))
            if manifest.get("sha256") != model.artefact_sha256:
                raise ModelIntegrityError(
                    f"{model.artefact_path} is not the artefact registered as {model.version}")
            names = pipeline.named_steps["features"].get_feature_names_out()
            loaded = _cache[model.version] = LoadedModel(model.version, pipeline, names,
                                                         compiled_or_none(pipeline))
        return loaded


def active_model(session: Session) -> CategoryModel | None:
    return session.scalar(sa.select(CategoryModel).where(CategoryModel.is_active.is_(True))
                          .order_by(CategoryModel.id.desc()).limit(1))


def _coefficients(pipeline: Any) -> Any:
    """The linear model's weights as (features, scores), the layout of `ml.inference`."""
    linear = pipeline.named_steps["classify"].calibrated_classifiers_[0].estimator
    linear = getattr(linear, "estimator", linear)  # inside a FrozenEstimator
    return np.asarray(linear.coef_).T


def _feature_weights(coef: Any, classes: list[str], names: Any, readable: Any, indices: Any,
                     values: Any, label: str) -> list[tuple[str, float]]:
    # `ml.pipeline.top_features` transforms the text again; here the row of the prediction
    # is reused, which halves the cost of an explained prediction.
    if coef.shape[1] == 1:
        weights = coef[indices, 0] if label == classes[1] else -coef[indices, 0]
    else:
        weights = coef[indices, classes.index(label)]
    contributions = values * weights
    contributions = np.where(readable[indices], contributions, 0.0)
    order = np.argsort(-contributions)[:TOP_FEATURES]
    return [(_readable(str(names[indices[i]])), round(float(contributions[i]), 3))
            for i in order if contributions[i] > 0]


def _readable(feature: str) -> str:
    kind, _sep, value = feature.partition("__")
    return f"«{value.strip()}»" if kind == "words" else f"‹{value}›"


def predict(loaded: LoadedModel, text: str) -> Prediction:
    compiled = loaded.compiled
    if compiled is None:
        pipeline = loaded.pipeline
        row, proba = features_and_proba(pipeline, text)
        classes = [str(c) for c in pipeline.classes_]
        indices, values = row.indices, row.data
        coef = _coefficients(pipeline)
    else:
        indices, values = compiled.features(text)
        proba = compiled.proba(indices, values)
        classes, coef = list(compiled.classes), compiled.linear[0].coef
    order = np.argsort(-proba)
    ranked = [(classes[i], round(float(proba[i]), 4)) for i in order]
    features = _feature_weights(coef, classes, loaded.feature_names, loaded.readable, indices,
                                values, ranked[0][0])
    return Prediction(loaded.version, ranked, features)


# --- training -------------------------------------------------------------------------------


def usable_rows(texts: list[str], labels: list[str], *,
                min_per_category: int) -> tuple[list[str], list[str]]:
    """Drop the categories with too few examples to learn or to test."""
    counts = Counter(labels)
    keep = [i for i, label in enumerate(labels) if counts[label] >= min_per_category]
    return [texts[i] for i in keep], [labels[i] for i in keep]


def _metrics(truth: Sequence[str], guess: Sequence[str], labels: list[str]) -> dict[str, Any]:
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, guess, labels=labels, zero_division=0)
    return {
        "accuracy": round(float(accuracy_score(truth, guess)), 4),
        "macro_f1": round(float(f1_score(truth, guess, labels=labels, average="macro",
                                         zero_division=0)), 4),
        "held_out_rows": len(truth),
        "per_class": {label: {"precision": round(float(p), 4), "recall": round(float(r), 4),
                              "f1": round(float(f), 4), "support": int(s)}
                      for label, p, r, f, s in zip(labels, precision, recall, f1, support,
                                                   strict=True)},
    }


@dataclass(frozen=True)
class TrainedArtefact:
    manifest: dict[str, object]
    path: Path
    metrics: dict[str, Any]
    rows: int
    labels: dict[str, int]
    chosen: str


def train_and_save(texts: list[str], labels: list[str], directory: Path, *,
                   trained_at: str) -> TrainedArtefact:
    """Hold out a stratified fifth for the registry's metrics, train on the rest (the product
    recipe: `ml.pipeline.train_text_classifier`), save the artefact with its manifest."""
    categories = sorted(set(labels))
    test_size = max(len(categories), round(len(labels) * HOLDOUT_SHARE))
    train_x, test_x, train_y, test_y = train_test_split(
        texts, labels, test_size=test_size, stratify=labels, random_state=SEED)
    model = train_text_classifier(train_x, train_y)
    guess = [str(g) for g in model.pipeline.predict(test_x)]
    metrics = {**_metrics(test_y, guess, categories),
               "train_seconds": round(model.seconds, 1)}
    compact(model.pipeline)
    counts = dict(sorted(Counter(labels).items()))
    # Written under a temporary name, then named after its version (its hash), so two
    # trainings never overwrite each other's artefact.
    draft = directory / f"category-draft-{uuid.uuid4().hex}.skops"
    manifest = save_model(model.pipeline, draft, {
        "name": "category", "trained_at": trained_at, "task": "ticket category",
        "rows": len(train_y), "held_out_rows": len(test_y), "labels": counts,
        "metrics": metrics, "model": {"chosen": model.chosen},
        "libraries": library_versions()})
    path = directory / f"{manifest['model_version']}.skops"
    manifest["artefact"] = path.name
    manifest_path(path).write_text(json.dumps(manifest, ensure_ascii=False, indent=2) + "\n",
                                   encoding="utf-8")
    manifest_path(draft).unlink()
    draft.replace(path)
    return TrainedArtefact(manifest, path, metrics, len(train_y), counts, model.chosen)
