"""`zabota ml` commands through Typer's runner: evaluation reports and explanations."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from zabota.ml.cli import ml_app

FIXTURES = Path(__file__).parent / "fixtures"
runner = CliRunner()


def invoke(*args: str | Path) -> str:
    result = runner.invoke(ml_app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_eval_prints_product_and_baseline_metrics():
    out = invoke("eval", "category", "--train", FIXTURES / "intents_train.jsonl",
                 "--test", FIXTURES / "intents_test.jsonl")

    for words in ("accuracy", "macro-F1", "product", "baseline", "precision", "recall",
                  "refund_status", "confusion matrix"):
        assert words in out


def test_eval_json_has_the_metrics_of_both_models():
    out = invoke("eval", "category", "--train", FIXTURES / "intents_train.jsonl",
                 "--test", FIXTURES / "intents_test.jsonl", "--json")

    report = json.loads(out)
    assert report["test_rows"] == 20
    for model in ("product", "baseline"):
        scores = report[model]
        assert 0.0 <= scores["accuracy"] <= 1.0 and 0.0 <= scores["macro_f1"] <= 1.0
        assert {c["label"] for c in scores["per_class"]} == {
            "account_access", "delivery_status", "payment_failed", "refund_status"}
        assert sum(map(sum, scores["confusion"])) == 20
    assert report["product"]["accuracy"] >= 0.7


def test_eval_without_a_test_file_cross_validates():
    out = invoke("eval", "sentiment", "--train", FIXTURES / "sentiment_train.jsonl",
                 "--folds", "3", "--json")

    report = json.loads(out)
    assert report["test"] == "3-fold cross-validation" and report["test_rows"] == 48
    assert len(report["product"]["fold_macro_f1"]) == 3
    assert report["product"]["labels"] == ["negative", "neutral", "positive"]


def test_eval_rejects_a_file_that_is_not_json_lines(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok", "label": "a"}\nnot json\n', encoding="utf-8")

    result = runner.invoke(ml_app, ["eval", "category", "--train", str(bad)])

    assert result.exit_code == 2
    assert "bad.jsonl:2" in result.output


def test_a_trained_category_model_explains_its_answer(tmp_path):
    artefact = tmp_path / "category.skops"
    invoke("train", "category", "--train", FIXTURES / "intents_train.jsonl", "--out", artefact)
    assert json.loads(artefact.with_suffix(".json").read_text())["rows"] == 40

    out = invoke("explain", "Верните деньги за возврат, прошло две недели",
                 "--category-model", artefact)

    assert "language: ru" in out
    assert "sentiment: " in out and "model sentiment-" in out
    assert "category: refund_status" in out and "because of: words__" in out


def test_explain_without_a_category_model_says_so(tmp_path):
    out = invoke("explain", "Thanks a lot, great support!",
                 "--category-model", tmp_path / "missing.skops")
    assert "language: en" in out and "sentiment: positive" in out
    assert "category: no trained model" in out
