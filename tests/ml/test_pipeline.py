"""The product text pipeline trains on a small labelled file in seconds and explains itself."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from zabota.ml.artefacts import ModelIntegrityError, load_model, save_model
from zabota.ml.evaluation import read_labelled
from zabota.ml.pipeline import (
    CANDIDATES,
    CandidateScore,
    build_baseline_pipeline,
    choose,
    fit_quietly,
    top_features,
    train_text_classifier,
)

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="module")
def intents() -> tuple[tuple[list[str], list[str]], tuple[list[str], list[str]]]:
    return (read_labelled(FIXTURES / "intents_train.jsonl"),
            read_labelled(FIXTURES / "intents_test.jsonl"))


def test_product_model_learns_intents_with_calibrated_probabilities(intents):
    (texts, labels), (test_texts, test_labels) = intents

    model = train_text_classifier(texts, labels)

    assert model.chosen in {c.name for c in CANDIDATES}
    assert [s.name for s in model.scores] and model.rows == 40
    predicted = model.pipeline.predict(test_texts)
    assert np.mean(predicted == np.asarray(test_labels)) >= 0.7
    proba = model.pipeline.predict_proba(test_texts)
    assert proba.shape == (20, 4) and np.allclose(proba.sum(axis=1), 1.0)
    assert list(model.pipeline.classes_) == sorted(set(labels))
    assert model.seconds < 60


def test_a_prediction_names_the_words_behind_it(intents):
    (texts, labels), _ = intents
    model = train_text_classifier(texts, labels)
    text = "Верните деньги за возврат, прошло две недели"

    label = str(model.pipeline.predict([text])[0])
    reasons = top_features(model.pipeline, text, label)

    assert label == "refund_status"
    assert reasons and all(weight > 0 for _, weight in reasons)
    assert any(name.startswith("words__") for name, _ in reasons)


def test_baseline_trains_on_the_same_rows(intents):
    (texts, labels), (test_texts, _) = intents
    baseline = fit_quietly(build_baseline_pipeline(), texts, labels)
    assert baseline.predict_proba(test_texts).shape == (20, 4)


def test_a_selection_cap_just_below_the_row_count_still_trains(intents):
    (texts, labels), _ = intents
    model = train_text_classifier(texts, labels, max_selection_rows=38)  # 4 labels, 2 spare
    assert model.selection_rows == 40


def test_model_selection_runs_on_a_stratified_sample(intents):
    (texts, labels), _ = intents
    model = train_text_classifier(texts, labels, max_selection_rows=24)
    assert (model.selection_rows, model.rows) == (24, 40)


def test_a_cheaper_candidate_within_the_fold_noise_is_kept_unless_asked_for_the_best():
    slow, fast = CandidateScore("slow", 0.90, 0.02, 50.0), CandidateScore("fast", 0.89, 0.01, 5.0)
    assert choose([slow, fast]).name == "fast"
    assert choose([slow, fast], prefer_cheaper=False).name == "slow"
    beyond = CandidateScore("fast", 0.85, 0.01, 5.0)
    assert choose([slow, beyond]).name == "slow"


def test_training_refuses_a_label_with_a_single_row():
    with pytest.raises(ValueError, match="two"):
        train_text_classifier(["a b", "c d", "e f"], ["x", "x", "y"])


def test_a_saved_model_loads_only_while_it_matches_its_manifest(intents, tmp_path):
    (texts, labels), (test_texts, _) = intents
    model = train_text_classifier(texts, labels)
    artefact = tmp_path / "category.skops"

    manifest = save_model(model.pipeline, artefact, {"name": "category"})
    loaded, loaded_manifest = load_model(artefact)

    assert loaded_manifest == manifest
    assert str(manifest["model_version"]).startswith("category-")
    assert list(loaded.predict(test_texts)) == list(model.pipeline.predict(test_texts))
    artefact.write_bytes(artefact.read_bytes() + b"\0")
    with pytest.raises(ModelIntegrityError, match="SHA-256"):
        load_model(artefact)
