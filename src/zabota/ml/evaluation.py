"""Measuring a text model against the plain baseline on the same data: accuracy, macro-F1,
per-class precision/recall/F1, the confusion matrix, and how well calibrated it is."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)
from sklearn.model_selection import StratifiedKFold

from zabota.ml.pipeline import SEED, TrainedModel, build_baseline_pipeline, fit_quietly

Trainer = Callable[[Sequence[str], Sequence[str]], TrainedModel]
CALIBRATION_BINS = 10


def read_labelled(path: Path) -> tuple[list[str], list[str]]:
    """Texts and labels from JSON Lines of {"text": ..., "label": ...}; blank lines skipped."""
    texts: list[str] = []
    labels: list[str] = []
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{number}: not JSON ({exc.msg})") from None
            if (not isinstance(row, dict) or not isinstance(row.get("text"), str)
                    or not isinstance(row.get("label"), str)):
                raise ValueError(f'{path}:{number}: expected {{"text": str, "label": str}}')
            texts.append(row["text"])
            labels.append(row["label"])
    if not texts:
        raise ValueError(f"{path}: no rows")
    return texts, labels


@dataclass(frozen=True)
class ClassScores:
    label: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass
class Scores:
    """How one model did on held-out rows."""

    model: str
    accuracy: float
    macro_f1: float
    per_class: list[ClassScores]
    labels: list[str]
    confusion: list[list[int]]
    # Top-label expected calibration error: mean |confidence − accuracy| over 10 bins.
    calibration_error: float | None = None
    fold_macro_f1: list[float] = field(default_factory=list)
    train_seconds: float = 0.0
    predict_seconds: float = 0.0


@dataclass
class Evaluation:
    task: str
    train: str
    test: str
    train_rows: int
    test_rows: int
    product: Scores
    baseline: Scores
    chosen: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _round(value: float) -> float:
    return round(float(value), 4)


def calibration_error(y_true: Sequence[str], proba: NDArray[np.floating[Any]],
                      classes: Sequence[str]) -> float:
    confidence = proba.max(axis=1)
    predicted = np.asarray(classes)[proba.argmax(axis=1)]
    correct = predicted == np.asarray(y_true)
    bins = np.minimum((confidence * CALIBRATION_BINS).astype(int), CALIBRATION_BINS - 1)
    error = 0.0
    for b in range(CALIBRATION_BINS):
        inside = bins == b
        if inside.any():
            error += inside.mean() * abs(confidence[inside].mean() - correct[inside].mean())
    return _round(error)


def score(model: str, y_true: Sequence[str], y_pred: Sequence[str], *,
          proba: NDArray[np.floating[Any]] | None = None,
          classes: Sequence[str] | None = None) -> Scores:
    labels = sorted(set(y_true) | set(y_pred))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    per_class = [ClassScores(label, _round(p), _round(r), _round(f), int(s))
                 for label, p, r, f, s in zip(labels, precision, recall, f1, support,
                                              strict=True)]
    matrix = confusion_matrix(y_true, y_pred, labels=labels)
    return Scores(
        model=model,
        accuracy=_round(accuracy_score(y_true, y_pred)),
        macro_f1=_round(f1_score(y_true, y_pred, labels=labels, average="macro",
                                 zero_division=0)),
        per_class=per_class, labels=labels, confusion=matrix.astype(int).tolist(),
        calibration_error=(calibration_error(y_true, proba, classes)
                           if proba is not None and classes is not None else None),
    )


@dataclass
class _Run:
    predicted: list[str]
    proba: NDArray[np.floating[Any]]
    classes: list[str]
    train_seconds: float
    predict_seconds: float
    chosen: str


def _run(fit: Callable[[], Any], test_texts: Sequence[str]) -> _Run:
    started = time.perf_counter()
    fitted = fit()
    pipeline, chosen = ((fitted.pipeline, fitted.chosen) if isinstance(fitted, TrainedModel)
                        else (fitted, "baseline"))
    trained = time.perf_counter()
    proba = np.asarray(pipeline.predict_proba(list(test_texts)))
    classes = [str(c) for c in pipeline.classes_]
    predicted = [classes[i] for i in proba.argmax(axis=1)]
    return _Run(predicted, proba, classes, trained - started,
                time.perf_counter() - trained, chosen)


def _scores(name: str, y_true: Sequence[str], runs: list[_Run],
            folds: list[list[int]]) -> Scores:
    predicted = [""] * len(y_true)
    for run, held_out in zip(runs, folds, strict=True):
        for i, label in zip(held_out, run.predicted, strict=True):
            predicted[i] = label
    classes = sorted(set().union(*(run.classes for run in runs)))
    proba = np.zeros((len(y_true), len(classes)))
    for run, held_out in zip(runs, folds, strict=True):
        columns = [classes.index(c) for c in run.classes]
        proba[np.ix_(held_out, columns)] = run.proba
    result = score(name, y_true, predicted, proba=proba, classes=classes)
    if len(runs) > 1:
        result.fold_macro_f1 = [
            _round(f1_score([y_true[i] for i in held_out], run.predicted, average="macro",
                            zero_division=0))
            for run, held_out in zip(runs, folds, strict=True)]
    result.train_seconds = round(sum(r.train_seconds for r in runs), 1)
    result.predict_seconds = round(sum(r.predict_seconds for r in runs), 2)
    return result


def evaluate(task: str, train: tuple[Sequence[str], Sequence[str]],
             test: tuple[Sequence[str], Sequence[str]], *, trainer: Trainer,
             train_name: str = "train", test_name: str = "test") -> Evaluation:
    """Train the product model and the baseline on `train`, score both on `test`."""
    (train_texts, train_labels), (test_texts, test_labels) = train, test
    product = _run(partial(trainer, train_texts, train_labels), test_texts)
    baseline = _run(partial(fit_quietly, build_baseline_pipeline(), train_texts, train_labels),
                    test_texts)
    everything = [list(range(len(test_texts)))]
    return Evaluation(task, train_name, test_name, len(train_texts), len(test_texts),
                      _scores("product", test_labels, [product], everything),
                      _scores("baseline", test_labels, [baseline], everything),
                      chosen=[product.chosen])


def cross_evaluate(task: str, texts: Sequence[str], labels: Sequence[str], *,
                   trainer: Trainer, folds: int = 5, train_name: str = "train") -> Evaluation:
    """Stratified k-fold cross-validation of the product model and the baseline: each row is
    predicted once, by models that never saw it; the scores pool all held-out predictions."""
    splitter = StratifiedKFold(folds, shuffle=True, random_state=SEED)
    splits = [(list(map(int, a)), list(map(int, b)))
              for a, b in splitter.split(np.zeros(len(labels)), labels)]
    product_runs: list[_Run] = []
    baseline_runs: list[_Run] = []
    for train_index, held_out in splits:
        train_texts = [texts[i] for i in train_index]
        train_labels = [labels[i] for i in train_index]
        held_out_texts = [texts[i] for i in held_out]
        product_runs.append(_run(partial(trainer, train_texts, train_labels), held_out_texts))
        baseline_runs.append(_run(partial(fit_quietly, build_baseline_pipeline(), train_texts,
                                          train_labels), held_out_texts))
    held_outs = [held_out for _, held_out in splits]
    return Evaluation(task, train_name, f"{folds}-fold cross-validation", len(texts),
                      len(texts), _scores("product", labels, product_runs, held_outs),
                      _scores("baseline", labels, baseline_runs, held_outs),
                      chosen=[run.chosen for run in product_runs])


def format_evaluation(evaluation: Evaluation) -> str:
    """A plain-text report for a terminal."""
    product, baseline = evaluation.product, evaluation.baseline
    lines = [
        f"task: {evaluation.task}",
        f"train: {evaluation.train} ({evaluation.train_rows} rows)",
        f"test: {evaluation.test} ({evaluation.test_rows} rows)",
        f"chosen model: {', '.join(sorted(set(evaluation.chosen)))}",
        "",
        f"{'model':<10} {'accuracy':>9} {'macro-F1':>9} {'ECE':>7} {'train s':>8} "
        f"{'predict s':>9}",
    ]
    for scores in (product, baseline):
        ece = "-" if scores.calibration_error is None else f"{scores.calibration_error:.4f}"
        lines.append(f"{scores.model:<10} {scores.accuracy:>9.4f} {scores.macro_f1:>9.4f} "
                     f"{ece:>7} {scores.train_seconds:>8.1f} {scores.predict_seconds:>9.2f}")
    if product.fold_macro_f1:
        for scores in (product, baseline):
            folds = ", ".join(f"{f:.4f}" for f in scores.fold_macro_f1)
            lines.append(f"{scores.model} macro-F1 per fold: {folds} "
                         f"(std {np.std(scores.fold_macro_f1):.4f})")
    width = max(12, *(len(c.label) for c in product.per_class))
    lines += ["", "product, per class:",
              f"{'label':<{width}} {'precision':>9} {'recall':>7} {'F1':>7} {'support':>8}"]
    lines += [f"{c.label:<{width}} {c.precision:>9.4f} {c.recall:>7.4f} {c.f1:>7.4f} "
              f"{c.support:>8}" for c in product.per_class]
    lines += ["", "product, confusion matrix (rows: true, columns: predicted):"]
    index = {label: f"{i}" for i, label in enumerate(product.labels)}
    lines.append(f"{'':<{width}} " + " ".join(f"{index[label]:>5}" for label in product.labels))
    lines += [f"{index[label] + ' ' + label:<{width}} " + " ".join(f"{n:>5}" for n in row)
              for label, row in zip(product.labels, product.confusion, strict=True)]
    return "\n".join(lines)
