"""`zabota bot`: measure the answer bot on a labelled file of customer questions."""

from __future__ import annotations

import enum
import json
import logging
from pathlib import Path
from typing import Annotated

import typer

bot_app = typer.Typer(help="The answer bot: evaluate it.", no_args_is_help=True,
                      add_completion=False)


class Subset(enum.StrEnum):
    ODD = "odd"
    EVEN = "even"


@bot_app.callback()
def bot() -> None:
    """The answer bot."""


@bot_app.command("eval")
def evaluate(
    file: Annotated[Path, typer.Argument(
        exists=True, dir_okay=False,
        help="JSON Lines of {\"question\", \"language\", \"article\": slug or \"none\"}")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    threshold: Annotated[float | None, typer.Option(
        min=0.0, max=1.0, help="Confidence the bot needs to answer (default: the bot's)")
    ] = None,
    margin: Annotated[float | None, typer.Option(
        min=0.0, max=1.0, help="Lead over the second-best article it needs (default: the bot's)")
    ] = None,
    misses: Annotated[bool, typer.Option(help="List the questions it got wrong")] = False,
    subset: Annotated[Subset | None, typer.Option(
        help="Only the odd- or even-numbered questions: tune on one, confirm on the other")
    ] = None,
) -> None:
    """recall@1, recall@3 and the false-answer rate over the demo help centre."""
    from zabota.bot import evaluation
    from zabota.bot.answer import MARGIN, THRESHOLD
    from zabota.core.logging import configure_logging

    configure_logging(level=logging.WARNING)  # building the demo help centre logs a lot

    try:
        questions = evaluation.subset(evaluation.read_questions(file),
                                      None if subset is None else subset.value)
        with evaluation.demo_knowledge_base() as session:
            report = evaluation.evaluate(
                session, questions, threshold=THRESHOLD if threshold is None else threshold,
                margin=MARGIN if margin is None else margin)
    except evaluation.BadEvalFile as exc:
        typer.echo(f"{file}: {exc.detail}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        out = report.as_dict()
        if not misses:
            out.pop("misses")
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    typer.echo(
        f"{report.questions} questions ({report.answerable} answerable, "
        f"{report.unanswerable} without an article), threshold {report.threshold}, "
        f"margin {report.margin}\n"
        f"recall@1 {report.recall_at_1:.3f}  recall@3 {report.recall_at_3:.3f}\n"
        f"answered {report.answered}, correctly {report.answered_correctly} "
        f"(answer rate {report.answer_rate:.3f} of answerable)\n"
        f"false answers {report.false_answers}: {report.false_answer_rate:.3f} of answers, "
        f"{report.false_answer_share:.3f} of all questions\n"
        f"handed off: {report.handed_off}")
    for language, figures in report.by_language.items():
        typer.echo(f"  {language}: " + ", ".join(f"{k} {v:g}" for k, v in figures.items()))
    if misses:
        for miss in report.misses:
            typer.echo(f"  [{miss.language}] {miss.question!r}: want {miss.expected}, "
                       f"got {miss.answered_slug or miss.decision} ({miss.confidence:.2f}, "
                       f"rank {miss.rank})")
