"""Sentiment of a customer's text (negative / neutral / positive), Russian and English,
from the model shipped in `zabota/ml/models/` (trained by scripts/train_sentiment.py)."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from importlib import resources
from typing import Literal, cast

import numpy as np

from zabota.ml.artefacts import ModelIntegrityError, load_model_bytes
from zabota.ml.pipeline import ScriptRoutedModel, transform_one

SentimentLabel = Literal["negative", "neutral", "positive"]
SENTIMENT_LABELS: tuple[SentimentLabel, ...] = ("negative", "neutral", "positive")
ARTEFACT = "sentiment.skops"
MANIFEST = "sentiment.json"


@dataclass(frozen=True)
class SentimentModel:
    model: ScriptRoutedModel
    version: str
    manifest: dict[str, object]


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
            _model = SentimentModel(routed_model(load_model_bytes(data, manifest)),
                                    str(manifest["model_version"]), manifest)
        return _model


def predict_sentiment(text: str) -> tuple[SentimentLabel, float, str]:
    """(label, probability of that label, model version) for one text."""
    loaded = load_sentiment_model()
    pipeline = loaded.model.pipeline_for(text)
    probabilities = pipeline.named_steps["classify"].predict_proba(transform_one(pipeline, text))[0]
    best = int(np.argmax(probabilities))
    label = cast(SentimentLabel, str(pipeline.classes_[best]))
    return label, round(float(probabilities[best]), 4), loaded.version
