"""The English sentiment model's lexicon features and NB-SVM: what a text with a clear
polarity turns into, and a model made of them saved and loaded without a network."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest

from zabota.ml.artefacts import TRUSTED_TYPES, load_model, save_model
from zabota.ml.evaluation import read_labelled
from zabota.ml.lexicon import FEATURE_NAMES, LexiconFeatures
from zabota.ml.pipeline import (
    SENTIMENT_CANDIDATES,
    FeatureLimits,
    LogCountRatioSVC,
    script_of,
    top_features,
    train_text_classifier,
    transform_one,
)

FIXTURES = Path(__file__).parent / "fixtures"


def features_of(text: str) -> dict[str, float]:
    row = LexiconFeatures().fit([text]).transform([text]).toarray()[0]
    return dict(zip(LexiconFeatures().get_feature_names_out(), row.tolist(), strict=True))


def test_a_clearly_positive_text_scores_positive():
    features = features_of("Thank you, the support was wonderful and I love it!")

    assert features["compound_positive"] > 0.8 and features["compound_negative"] == 0
    assert features["share_positive"] > features["share_negative"] == 0
    assert features["positive_words"] + features["strong_positive_words"] > 0
    assert features["negative_words"] == features["strong_negative_words"] == 0
    assert features["exclamation"] == 1 and features["no_rated_word"] == 0


def test_a_negated_positive_word_scores_negative():
    features = features_of("The app is not good, it is terrible")

    assert features["compound_negative"] > 0.5 and features["compound_positive"] == 0
    assert features["most_negative_word"] > features["most_positive_word"] == 0


def test_a_factual_text_has_no_rated_word():
    features = features_of("The parcel arrived on Tuesday")

    assert features["no_rated_word"] == 1
    assert features["share_neutral"] == 1
    assert features["compound_positive"] == features["compound_negative"] == 0


def test_every_feature_is_non_negative_as_nb_svm_needs():
    texts = ["I hate this!!! 😡", "Love it 😍", "", "Спасибо)", "meh?"]
    matrix = LexiconFeatures().fit(texts).transform(texts)

    assert matrix.shape == (len(texts), len(FEATURE_NAMES))
    assert matrix.min() >= 0


@pytest.fixture(scope="module")
def english_sentiment() -> tuple[list[str], list[str]]:
    texts, labels = read_labelled(FIXTURES / "sentiment_train.jsonl")
    rows = [(t, y) for t, y in zip(texts, labels, strict=True) if script_of(t) == "en"]
    return [t for t, _ in rows], [y for _, y in rows]


def test_nb_svm_is_the_linear_model_it_stores(english_sentiment):
    texts, labels = english_sentiment
    x = LexiconFeatures().fit_transform(texts)

    model = LogCountRatioSVC(C=1.0, random_state=1).fit(x, labels)

    scores = model.decision_function(x)
    assert scores.shape == (len(texts), 3)
    assert np.allclose(scores, x @ model.coef_.T + model.intercept_)
    assert list(model.predict(x)) == list(model.classes_[scores.argmax(axis=1)])
    two = [label if label == "positive" else "other" for label in labels]
    binary = LogCountRatioSVC(C=1.0).fit(x, two)
    assert binary.coef_.shape == (1, len(FEATURE_NAMES))
    assert set(binary.predict(x)) <= {"other", "positive"}


def test_a_lexicon_nb_svm_model_loads_without_a_network(english_sentiment, tmp_path,
                                                        monkeypatch):
    texts, labels = english_sentiment
    nb_svm = [c for c in SENTIMENT_CANDIDATES if c.name.startswith("nb_svm")][:1]
    model = train_text_classifier(texts, labels, candidates=nb_svm,
                                  limits=FeatureLimits(lexicon=True),
                                  holdout_calibration_rows=None)
    artefact = tmp_path / "sentiment-en.skops"
    save_model(model.pipeline, artefact, {"name": "sentiment"})

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("loading a model must not touch the network")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    loaded, _manifest = load_model(artefact)

    assert {"zabota.ml.lexicon.LexiconFeatures",
            "zabota.ml.pipeline.LogCountRatioSVC"} <= set(TRUSTED_TYPES)
    text = "This is the worst service ever, I am furious!"
    assert np.allclose(loaded.predict_proba([text]), model.pipeline.predict_proba([text]))
    row = transform_one(loaded, text)
    assert np.allclose(loaded.named_steps["classify"].predict_proba(row),
                       loaded.predict_proba([text]))
    label = str(loaded.predict([text])[0])
    assert all(weight > 0 for _, weight in top_features(loaded, text, label))
