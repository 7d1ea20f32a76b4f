"""`zabota ml`: train, evaluate and explain the text models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

ml_app = typer.Typer(help="Text models: train, evaluate, explain.", no_args_is_help=True,
                     add_completion=False)
train_app = typer.Typer(help="Train a model and save it with its manifest.",
                        no_args_is_help=True)
eval_app = typer.Typer(help="Measure the product model against the plain baseline.",
                       no_args_is_help=True)
ml_app.add_typer(train_app, name="train")
ml_app.add_typer(eval_app, name="eval")

TrainFile = Annotated[Path, typer.Option("--train", exists=True, dir_okay=False,
                                         help="JSON Lines of {\"text\", \"label\"}")]
TestFile = Annotated[Path | None, typer.Option(
    "--test", exists=True, dir_okay=False,
    help="JSON Lines of {\"text\", \"label\"}; without it, cross-validate on --train")]
Folds = Annotated[int, typer.Option(min=2, max=20, help="Folds when there is no --test")]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object")]


@train_app.command("category")
def train_category(
    train: TrainFile,
    out: Annotated[Path | None, typer.Option(
        help="Artefact path (default: <data dir>/models/category.skops)")] = None,
) -> None:
    """Train the ticket-category model."""
    from zabota.ml.training import TrainingFile, model_path, train_and_save_category

    artefact = out or model_path("category")
    manifest = train_and_save_category(TrainingFile(train, train.name), artefact)
    typer.echo(f"Saved {artefact} ({manifest['model_version']}, {manifest['bytes']} bytes).")


@train_app.command("sentiment")
def train_sentiment(
    train: Annotated[list[Path], typer.Option(
        "--train", exists=True, dir_okay=False,
        help="JSON Lines of {\"text\", \"label\"}; repeat for each data set")],
    out: Annotated[Path | None, typer.Option(
        help="Artefact path (default: <data dir>/models/sentiment.skops)")] = None,
    folds: Annotated[int, typer.Option(
        min=0, max=20, help="Cross-validation folds for the manifest (0: skip)")] = 5,
) -> None:
    """Train the sentiment model (negative / neutral / positive) on one or more files."""
    from zabota.ml.training import TrainingFile, model_path, train_and_save_sentiment

    artefact = out or model_path("sentiment")
    files = [TrainingFile(path, f"{path.parent.name}/{path.name}") for path in train]
    manifest = train_and_save_sentiment(files, artefact, folds=folds)
    typer.echo(f"Saved {artefact} ({manifest['model_version']}, {manifest['bytes']} bytes).")
    typer.echo(json.dumps(manifest["metrics"], ensure_ascii=False, indent=2))


def _evaluate(task: str, train: Path, test: Path | None, folds: int, as_json: bool) -> None:
    from zabota.ml.evaluation import cross_evaluate, evaluate, format_evaluation, read_labelled
    from zabota.ml.training import train_category, train_sentiment

    trainer = train_category if task == "category" else train_sentiment
    try:
        train_rows = read_labelled(train)
        test_rows = read_labelled(test) if test is not None else None
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    if test_rows is None:
        result = cross_evaluate(task, *train_rows, trainer=trainer, folds=folds,
                                train_name=str(train))
    else:
        result = evaluate(task, train_rows, test_rows, trainer=trainer,
                          train_name=str(train), test_name=str(test))
    if as_json:
        typer.echo(json.dumps(result.as_dict(), ensure_ascii=False))
    else:
        typer.echo(format_evaluation(result))


@eval_app.command("category")
def eval_category(train: TrainFile, test: TestFile = None, folds: Folds = 5,
                  as_json: AsJson = False) -> None:
    """Train on --train, score on --test (or cross-validate): product vs baseline."""
    _evaluate("category", train, test, folds, as_json)


@eval_app.command("sentiment")
def eval_sentiment(train: TrainFile, test: TestFile = None, folds: Folds = 5,
                   as_json: AsJson = False) -> None:
    """Train on --train, score on --test (or cross-validate): product vs baseline."""
    _evaluate("sentiment", train, test, folds, as_json)


@ml_app.command()
def explain(
    text: str,
    category_model: Annotated[Path | None, typer.Option(
        help="Category artefact (default: <data dir>/models/category.skops, if trained)")] = None,
) -> None:
    """Language, sentiment and (with a trained category model) category of a text."""
    from zabota.ml.artefacts import load_model
    from zabota.ml.language import detect_language
    from zabota.ml.pipeline import top_features
    from zabota.ml.sentiment import load_sentiment_model, predict_sentiment
    from zabota.ml.training import model_path

    language, confidence = detect_language(text)
    typer.echo(f"language: {language} ({confidence:.2f})")
    label, score, version = predict_sentiment(text)
    reasons = top_features(load_sentiment_model().model.pipeline_for(text), text, label)
    typer.echo(f"sentiment: {label} ({score:.2f}, model {version})")
    typer.echo(f"  because of: {_features(reasons)}")
    artefact = category_model or model_path("category")
    if not artefact.exists():
        typer.echo("category: no trained model (zabota ml train category --train FILE)")
        return
    pipeline, manifest = load_model(artefact)
    probabilities = pipeline.predict_proba([text])[0]
    best = int(probabilities.argmax())
    category = str(pipeline.classes_[best])
    typer.echo(f"category: {category} ({float(probabilities[best]):.2f}, "
               f"model {manifest['model_version']})")
    typer.echo(f"  because of: {_features(top_features(pipeline, text, category))}")


def _features(reasons: list[tuple[str, float]]) -> str:
    return ", ".join(f"{name} ({weight:+.2f})" for name, weight in reasons) or "-"


if __name__ == "__main__":
    ml_app()
