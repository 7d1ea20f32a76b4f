"""The shipped sentiment model: it is the file its manifest describes, loads without a
network, and reads obvious Russian and English sentiment right."""

from __future__ import annotations

import hashlib
import socket
from importlib import resources

import pytest

from zabota.ml.artefacts import ModelIntegrityError, load_model_bytes
from zabota.ml.sentiment import ARTEFACT, predict_sentiment, read_shipped_manifest, routed_model

MAX_ARTEFACT_BYTES = 5 * 1024 * 1024


def shipped_bytes() -> bytes:
    return resources.files("zabota.ml").joinpath("models", ARTEFACT).read_bytes()


def test_the_shipped_artefact_matches_its_manifest():
    manifest = read_shipped_manifest()
    data = shipped_bytes()

    assert hashlib.sha256(data).hexdigest() == manifest["sha256"]
    assert len(data) == manifest["bytes"] < MAX_ARTEFACT_BYTES
    assert str(manifest["model_version"]).startswith("sentiment-")
    files = manifest["training_files"]
    assert isinstance(files, list)
    assert {f["file"] for f in files} == {"cedr_sentiment/train.jsonl",
                                          "goemotions_sentiment/train.jsonl"}
    assert all(len(f["sha256"]) == 64 and f["rows"] > 0 for f in files)
    metrics = manifest["metrics"]
    assert isinstance(metrics, dict) and metrics["cross_validated"]
    assert {"scikit-learn", "skops", "numpy"} <= set(manifest["libraries"])  # type: ignore[arg-type]


def test_it_loads_and_predicts_with_no_network(monkeypatch):
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the sentiment model must not touch the network")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    model = routed_model(load_model_bytes(shipped_bytes(), read_shipped_manifest()))
    assert list(model.predict(["Спасибо!", "Thank you so much!"])) == ["positive", "positive"]
    english = model.pipelines["en"].named_steps["features"]
    assert "lexicon" in {name for name, _, _ in english.transformers_}  # VADER, offline


def test_a_changed_artefact_is_refused():
    data = bytearray(shipped_bytes())
    data[len(data) // 2] ^= 0xFF
    with pytest.raises(ModelIntegrityError):
        load_model_bytes(bytes(data), read_shipped_manifest())


@pytest.mark.parametrize(("text", "label"), [
    ("Ужасный сервис, верните деньги!", "negative"),
    ("Спасибо большое, всё отлично!", "positive"),
    ("Thanks a lot, great support!", "positive"),
    ("This is the worst support I have ever seen, I hate it", "negative"),
])
def test_obvious_sentiment(text, label):
    predicted, score, version = predict_sentiment(text)
    assert predicted == label
    assert 1 / 3 < score <= 1.0
    assert version == read_shipped_manifest()["model_version"]
