"""Sentiment of a customer's text (negative / neutral / positive), Russian and English,
from the model shipped in `zabota/ml/models/` (trained by scripts/train_sentiment.py)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal, cast

import numpy as np
from numpy.typing import NDArray

from zabota.ml.artefacts import ModelIntegrityError, load_model_bytes
from zabota.ml.inference import CompiledPipeline, compiled_or_none
from zabota.ml.pipeline import ScriptRoutedModel, features_and_proba

SentimentLabel = Literal["negative", "neutral", "positive"]
SENTIMENT_LABELS: tuple[SentimentLabel, ...] = ("negative", "neutral", "positive")
ARTEFACT = "sentiment.skops"
MANIFEST = "sentiment.json"


@dataclass(frozen=True)
class SentimentModel:
    model: ScriptRoutedModel
    version: str
    manifest: dict[str, object]
    compiled: dict[int, CompiledPipeline | None]  # by id() of each script's pipeline

    def probabilities(self, text: str) -> tuple[list[str], NDArray[Any]]:
        """The classes and their probabilities for one text."""
        pipeline = self.model.pipeline_for(text)
        compiled = self.compiled.get(id(pipeline))
        if compiled is not None:
            return list(compiled.classes), compiled.predict_proba(text)
        _row, proba = features_and_proba(pipeline, text)
        return [str(c) for c in pipeline.classes_], proba


_model: SentimentModel | None = None
_lock = threading.Lock()


def read_shipped_manifest() -> dict[str, object]:
    text = resources.files("zabota.ml").joinpath("models", MANIFEST).read_text(encoding="utf-8")
    manifest = json.loads(text)
    if not isinstance(manifest, dict):
        raise ModelIntegrityError(f"{MANIFEST} is not a JSON object")
    return manifest


def routed_model(saved: object) -> ScriptRoutedModel:
    """The model from a sentiment artefact, which holds one pipeline per script."""
    if not isinstance(saved, dict) or not saved:
        raise ModelIntegrityError("a sentiment artefact holds a dict of pipelines by script")
    return ScriptRoutedModel(saved)


def load_sentiment_model() -> SentimentModel:
    """The shipped model, loaded once per process after checking its SHA-256."""
    global _model
    with _lock:
        if _model is None:
            manifest = read_shipped_manifest()
            data = resources.files("zabota.ml").joinpath("models", ARTEFACT).read_bytes()
            model = routed_model(load_model_bytes(data, manifest))
            _model = SentimentModel(model, str(manifest["model_version"]), manifest,
                                    {id(p): compiled_or_none(p)
                                     for p in model.pipelines.values()})
        return _model


def predict_sentiment(text: str) -> tuple[SentimentLabel, float, str]:
    """(label, probability of that label, model version) for one text."""
    loaded = load_sentiment_model()
    classes, probabilities = loaded.probabilities(text)
    best = int(np.argmax(probabilities))
    return cast(SentimentLabel, classes[best]), round(float(probabilities[best]), 4), \
        loaded.version
