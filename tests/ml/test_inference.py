"""A compiled pipeline (`ml.inference`) gives the numbers of the scikit-learn pipeline it was
read from, for every model the product trains, and refuses what it cannot reproduce."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV

from zabota.ml import pipeline as pipeline_module
from zabota.ml.embedding import DIM, SentenceEmbedding, embed_one, load_wordllama
from zabota.ml.evaluation import read_labelled
from zabota.ml.inference import Unsupported, compile_pipeline, compiled_or_none
from zabota.ml.pipeline import (
    CANDIDATES,
    CATEGORY_FEATURES,
    SENTIMENT_CANDIDATES,
    FeatureLimits,
    train_text_classifier,
    transform_one,
)
from zabota.ml.sentiment import load_sentiment_model
from zabota.routing import classifier

FIXTURES = Path(__file__).parent / "fixtures"
# Odd inputs on purpose: nothing in the vocabulary, punctuation only, emoji, mixed scripts.
ODD = ["", "   ", "!!! ???", "😡😡😡", "zzzqqq xxyyzz", "Карта card 1234 ёжик Ёлка", "a" * 500]


def _texts(path: str) -> list[str]:
    return read_labelled(FIXTURES / path)[0]


def _same(pipeline, texts: list[str]) -> None:
    compiled = compile_pipeline(pipeline)
    for text in texts:
        expected = pipeline.predict_proba([text])[0]
        got = compiled.predict_proba(text)
        assert got == pytest.approx(expected, abs=1e-5), text
        row = transform_one(pipeline, text)
        indices, values = compiled.features(text)
        order = np.argsort(indices)
        assert list(indices[order]) == list(row.indices[np.argsort(row.indices)])
        assert values[order] == pytest.approx(row.data[np.argsort(row.indices)], abs=1e-6)
    assert list(compiled.classes) == [str(c) for c in pipeline.classes_]


@pytest.mark.parametrize("candidate", list(dict.fromkeys(CANDIDATES + SENTIMENT_CANDIDATES)),
                         ids=lambda c: c.name)
def test_every_candidate_model_compiles_to_the_same_probabilities(candidate):
    texts, labels = read_labelled(FIXTURES / "intents_train.jsonl")
    # as the product trains them: categories with the embedding, sentiment without
    limits = CATEGORY_FEATURES if candidate in CANDIDATES else FeatureLimits(lexicon=True)

    model = train_text_classifier(texts, labels, candidates=[candidate], limits=limits)

    _same(model.pipeline, _texts("intents_test.jsonl") + ODD)


def test_two_labels_and_the_lexicon_features_compile_too():
    texts, labels = read_labelled(FIXTURES / "sentiment_train.jsonl")
    two = [(t, lab) for t, lab in zip(texts, labels, strict=True) if lab != "neutral"]

    model = train_text_classifier([t for t, _ in two], [lab for _, lab in two],
                                  candidates=SENTIMENT_CANDIDATES[3:4],
                                  limits=FeatureLimits(lexicon=True))

    assert len(model.pipeline.classes_) == 2
    _same(model.pipeline, _texts("sentiment_test.jsonl") + ODD)


def test_calibration_on_a_held_out_tenth_compiles_too():
    texts, labels = read_labelled(FIXTURES / "intents_train.jsonl")
    # five variants of each row: the held-out tenth has five rows of each label
    texts = [f"{text} {word}" for text in texts for word in ("да", "ок", "so", "ну", "hm")]
    labels = [label for label in labels for _ in range(5)]

    model = train_text_classifier(texts, labels, candidates=CANDIDATES[:1],
                                  holdout_calibration_rows=100)

    assert type(model.pipeline.named_steps["classify"].estimator).__name__ == "FrozenEstimator"

    _same(model.pipeline, _texts("intents_test.jsonl"))


def test_the_shipped_sentiment_model_compiles_for_both_scripts():
    loaded = load_sentiment_model()

    assert all(loaded.compiled.values())
    for pipeline in loaded.model.pipelines.values():
        _same(pipeline, _texts("sentiment_test.jsonl") + ODD)


def test_a_pipeline_it_cannot_reproduce_is_refused_and_predict_still_answers():
    texts, labels = read_labelled(FIXTURES / "intents_train.jsonl")
    model = train_text_classifier(texts, labels, candidates=CANDIDATES[:1])
    pipeline = model.pipeline
    classify = pipeline.named_steps["classify"]
    sigmoid = CalibratedClassifierCV(classify.estimator, method="sigmoid", cv=2)
    pipeline.steps[-1] = ("classify", sigmoid.fit(
        pipeline[:-1].transform(texts), labels))

    with pytest.raises(Unsupported, match="sigmoid"):
        compile_pipeline(pipeline)
    assert compiled_or_none(pipeline) is None
    names = pipeline.named_steps["features"].get_feature_names_out()
    loaded = classifier.LoadedModel("v1", pipeline, names, None)
    text = _texts("intents_test.jsonl")[0]
    prediction = classifier.predict(loaded, text)
    assert prediction.ranked[0][1] == pytest.approx(pipeline.predict_proba([text])[0].max(),
                                                    abs=1e-4)
    assert prediction.features  # explained from scikit-learn's own row


def test_a_compiled_category_prediction_is_explained_like_the_pipeline_one():
    texts, labels = read_labelled(FIXTURES / "intents_train.jsonl")
    pipeline = train_text_classifier(texts, labels, candidates=CANDIDATES[:1]).pipeline
    names = pipeline.named_steps["features"].get_feature_names_out()
    fast = classifier.LoadedModel("v1", pipeline, names, compile_pipeline(pipeline))
    slow = classifier.LoadedModel("v1", pipeline, names, None)

    for text in _texts("intents_test.jsonl"):
        a, b = classifier.predict(fast, text), classifier.predict(slow, text)
        assert [c for c, _ in a.ranked] == [c for c, _ in b.ranked]
        assert [p for _, p in a.ranked] == pytest.approx([p for _, p in b.ranked], abs=1e-4)
        # the same weights; equal weights may come in either order
        assert [w for _, w in a.features] == pytest.approx([w for _, w in b.features],
                                                           abs=1e-3)
        assert {f for f, w in a.features if w > a.features[-1][1]} == \
            {f for f, w in b.features if w > b.features[-1][1]}


def test_the_sentence_embedding_is_read_from_the_installed_package():
    rows = SentenceEmbedding().transform(["", "my card was stolen", "у меня украли карту"])

    dense = rows.toarray()
    assert dense.shape == (3, DIM)
    assert not dense[0].any()  # nothing to embed: zeros, not NaN
    assert np.linalg.norm(dense[1]) == pytest.approx(1.0, abs=1e-5)
    assert not dense[2].any()  # the vectors read English; Russian is left to TF-IDF


def test_a_text_embeds_as_wordllama_itself_embeds_it():
    texts = ["my card was stolen", "", "   ", "Card 1234 declined!!! 😡", "a" * 3000]
    library = load_wordllama().embed(texts, norm=False)[:, :DIM]

    ours = SentenceEmbedding().transform(texts).toarray()

    for text, expected, row in zip(texts, library, ours, strict=True):
        norm = np.linalg.norm(expected)
        assert row == pytest.approx(expected / norm if norm else expected, abs=1e-5), text
        assert embed_one(text) == pytest.approx(row, abs=1e-6)


def test_fourier_features_of_the_embedding_approximate_its_rbf_kernel():
    texts = ["my card was stolen", "someone took my wallet", "how do I top up by cheque",
             "", "у меня украли карту"]
    features = SentenceEmbedding(fourier=8192, gamma=1.0, random_state=7).fit(texts)

    rows = features.transform(texts).toarray()

    assert rows.shape == (5, DIM + 8192) == (5, features.width)
    assert len(features.get_feature_names_out()) == features.width
    embedding, waves = rows[:, :DIM], rows[:, DIM:]
    assert embedding == pytest.approx(SentenceEmbedding().transform(texts).toarray())
    for a in range(3):
        for b in range(3):
            kernel = np.exp(-np.sum((embedding[a] - embedding[b]) ** 2))
            assert waves[a] @ waves[b] == pytest.approx(kernel, abs=0.05), (a, b)
    assert not rows[3].any() and not rows[4].any()  # no embedding: no waves either (not cos b)
    for text, row in zip(texts, rows, strict=True):
        assert features.transform_one(text) == pytest.approx(row, abs=1e-6)
    again = SentenceEmbedding(fourier=8192, gamma=1.0, random_state=7).fit([])
    assert np.array_equal(again.transform(texts).toarray(), rows)  # the seed draws them


def test_categories_get_fourier_features_only_below_the_row_limit(monkeypatch):
    texts, labels = read_labelled(FIXTURES / "intents_train.jsonl")

    def embedding_of(model):
        return model.pipeline.named_steps["features"].named_transformers_["embedding"]

    small = train_text_classifier(texts, labels, candidates=CANDIDATES[:1])
    monkeypatch.setattr(pipeline_module, "FOURIER_MAX_ROWS", len(texts))
    large = train_text_classifier(texts, labels, candidates=CANDIDATES[:1])

    assert embedding_of(small).fourier == CATEGORY_FEATURES.fourier > 0
    assert embedding_of(large).fourier == 0
    assert embedding_of(large).width == DIM
    _same(large.pipeline, _texts("intents_test.jsonl")[:5])
