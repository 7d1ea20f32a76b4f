"""`zabota ml`: train, evaluate and explain the text models; the category model registry."""

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
    train: Annotated[Path | None, typer.Option(
        "--train", exists=True, dir_okay=False,
        help="JSON Lines of {\"text\", \"label\"}; without it, train on this installation's "
             "solved tickets into the model registry")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Artefact path for --train (default: <data dir>/models/category.skops)")] = None,
) -> None:
    """Train the ticket-category model, from a file or from the solved tickets."""
    if train is None:
        _train_from_tickets()
        return
    from zabota.ml.training import TrainingFile, model_path, train_and_save_category

    artefact = out or model_path("category")
    manifest = train_and_save_category(TrainingFile(train, train.name), artefact)
    typer.echo(f"Saved {artefact} ({manifest['model_version']}, {manifest['bytes']} bytes).")


def _train_from_tickets() -> None:
    from zabota.core.db import get_database
    from zabota.identity.permissions import SYSTEM
    from zabota.routing import errors, service

    try:
        model = service.train_in(get_database(), actor=SYSTEM)
        state = "active" if model.is_active else "not activated: worse than the active one"
        typer.echo(f"Trained {model.version} on {model.rows} tickets ({state}); held out "
                   f"{model.metrics['held_out_rows']}: accuracy "
                   f"{model.metrics['accuracy']}, macro-F1 {model.metrics['macro_f1']}.")
    except errors.NotEnoughTrainingData as exc:
        typer.echo(f"Cold start, rules only: {exc.detail}", err=True)
        raise typer.Exit(1) from None


@ml_app.command("models")
def list_models() -> None:
    """The category models in the registry, newest first."""
    from zabota.core.db import get_database
    from zabota.routing import service

    with get_database().session_scope() as session:
        models = service.list_models(session)
        if not models:
            typer.echo("No category model yet: routing uses rules only.")
        for model in models:
            mark = "*" if model.is_active else " "
            typer.echo(f"{mark} {model.version}  {model.trained_at:%Y-%m-%d %H:%M}  "
                       f"rows {model.rows}  accuracy {model.metrics.get('accuracy')}  "
                       f"macro-F1 {model.metrics.get('macro_f1')}")


@ml_app.command("activate")
def activate(version: str) -> None:
    """Make a registered category model the active one."""
    from zabota.core.db import get_database
    from zabota.identity.permissions import SYSTEM
    from zabota.routing import errors, service

    try:
        with get_database().session_scope() as session:
            service.activate_model(session, version, actor=SYSTEM)
    except errors.ModelNotFound:
        typer.echo(f"No model {version} in the registry (zabota ml models).", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"Active: {version}.")


@ml_app.command("rollback")
def rollback() -> None:
    """Go back to the model trained before the active one (or to rules only)."""
    from zabota.core.db import get_database
    from zabota.identity.permissions import SYSTEM
    from zabota.routing import service

    with get_database().session_scope() as session:
        model = service.rollback_model(session, actor=SYSTEM)
        typer.echo(f"Active: {model.version}." if model else "No model active: rules only.")


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
        help="A category artefact to ask instead of this installation's rules and active "
             "model")] = None,
) -> None:
    """Language, category, sentiment, priority and the reasons, as triage would decide."""
    from zabota.ml.language import detect_language
    from zabota.ml.pipeline import top_features
    from zabota.ml.sentiment import load_sentiment_model, predict_sentiment

    language, confidence = detect_language(text)
    typer.echo(f"language: {language} ({confidence:.2f})")
    label, score, version = predict_sentiment(text)
    reasons = top_features(load_sentiment_model().model.pipeline_for(text), text, label)
    typer.echo(f"sentiment: {label} ({score:.2f}, model {version})")
    typer.echo(f"  because of: {_features(reasons)}")
    if category_model is not None:
        _explain_with_file(text, category_model)
    else:
        _explain_with_routing(text)


def _explain_with_file(text: str, artefact: Path) -> None:
    from zabota.ml.artefacts import load_model
    from zabota.ml.pipeline import top_features
    from zabota.ml.sentiment import load_sentiment_model
    from zabota.ml.text import model_terms
    from zabota.routing.priority import PriorityInput, score_priority, signals

    if not artefact.exists():
        typer.echo("category: no trained model (zabota ml train category --train FILE)")
    else:
        pipeline, manifest = load_model(artefact)
        probabilities = pipeline.predict_proba([text])[0]
        best = int(probabilities.argmax())
        category = str(pipeline.classes_[best])
        typer.echo(f"category: {category} ({float(probabilities[best]):.2f}, "
                   f"model {manifest['model_version']})")
        typer.echo(f"  because of: {_features(top_features(pipeline, text, category))}")
    model = load_sentiment_model().model
    negative = float(model.predict_proba([text])[0][list(model.classes_).index("negative")])
    found = signals(PriorityInput(terms=model_terms(text), negative_score=negative))
    typer.echo(f"priority: {score_priority(found).value}")
    typer.echo(f"  because of: {_signals([s.as_dict() for s in found])}")


def _explain_with_routing(text: str) -> None:
    import sqlalchemy as sa

    from zabota.core.db import get_database
    from zabota.identity.permissions import SYSTEM
    from zabota.routing import service

    try:
        with get_database().session_scope() as session:
            result = service.preview(session, actor=SYSTEM, text=text)
    except sa.exc.DatabaseError:
        typer.echo("category: the database is not ready (zabota migrate), or pass "
                   "--category-model", err=True)
        raise typer.Exit(2) from None
    if result["category_source"] == "rule":
        rules = ", ".join(r["rule"] for r in result["rules"])
        typer.echo(f"category: {result['category']} (rule: {rules})")
    elif result["category"] is not None:
        typer.echo(f"category: {result['category']} ({result['confidence']:.2f}, "
                   f"model {result['model_version']})")
    elif result["cold_start"]:
        typer.echo("category: none (no rule matched; no trained model: rules only)")
    else:
        suggestions = ", ".join(f"{s['category']} {s['probability']:.2f}"
                                for s in result["suggestions"])
        typer.echo(f"category: not sure, for an agent to choose ({suggestions or '-'})")
    if result["features"]:
        typer.echo(f"  because of: {_features([tuple(f) for f in result['features']])}")
    typer.echo(f"team: {result['team_id'] or '-'}")
    typer.echo(f"priority: {result['priority'].value}")
    typer.echo(f"  because of: {_signals(result['reasons'])}")
    typer.echo(f"summary: {result['summary']}")


def _signals(found: list[dict[str, object]]) -> str:
    parts = []
    for signal in found:
        detail = ", ".join(f"{k} {v}" for k, v in signal.items() if k not in ("code", "points"))
        parts.append(f"{signal['code']} +{signal['points']}" + (f" ({detail})" if detail else ""))
    return "; ".join(parts) or "-"


def _features(reasons: list[tuple[str, float]]) -> str:
    return ", ".join(f"{name} ({weight:+.2f})" for name, weight in reasons) or "-"


if __name__ == "__main__":
    ml_app()
