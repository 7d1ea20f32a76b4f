"""`zabota bot eval`: the shipped question file is well formed, and the command reports
recall and the false-answer rate over the demo help centre."""

from __future__ import annotations

import json
from collections import Counter

import yaml
from typer.testing import CliRunner

from zabota.bot.evaluation import DEFAULT_FILE, NONE, read_questions
from zabota.cli import app
from zabota.kb.content import slugify
from zabota.kb.demo import DATA


def test_the_question_file_labels_300_questions_in_both_languages_with_demo_articles():
    articles = yaml.safe_load(DATA.read_text(encoding="utf-8"))["articles"]
    public = {slugify(a["en"]["title"]) for a in articles
              if a.get("visibility", "public") == "public"}

    questions = read_questions(DEFAULT_FILE)

    assert len(questions) >= 300
    assert Counter(q.language for q in questions).keys() == {"ru", "en"}
    assert {q.article for q in questions} - {NONE} <= public
    assert sum(q.article == NONE for q in questions) >= 30


def test_eval_reports_recall_and_false_answers_as_json(tmp_path):
    file = tmp_path / "q.jsonl"
    rows = [{"question": "где мой заказ", "language": "ru",
             "article": "where-is-my-order-tracking-an-order"},
            {"question": "how do I return an item", "language": "en",
             "article": "how-to-return-an-item"},
            {"question": "вакансии курьера", "language": "ru", "article": "none"}]
    file.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows),
                    encoding="utf-8")

    result = CliRunner().invoke(app, ["bot", "eval", str(file), "--json"])

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[result.stdout.index("{"):])
    assert (report["questions"], report["answerable"], report["unanswerable"]) == (3, 2, 1)
    assert report["recall_at_1"] == 1.0 and report["recall_at_3"] == 1.0
    assert report["false_answers"] == 0


def test_eval_refuses_an_unknown_slug_clearly(tmp_path):
    file = tmp_path / "q.jsonl"
    file.write_text('{"question": "где мой заказ", "language": "ru", "article": "nope"}\n',
                    encoding="utf-8")

    result = CliRunner().invoke(app, ["bot", "eval", str(file)])

    assert result.exit_code == 2
    assert "nope" in result.output


def test_eval_measures_the_odd_or_the_even_half(tmp_path):
    file = tmp_path / "q.jsonl"
    rows = [{"question": "где мой заказ", "language": "ru",
             "article": "where-is-my-order-tracking-an-order"},
            {"question": "вакансии курьера", "language": "ru", "article": "none"},
            {"question": "how do I return an item", "language": "en",
             "article": "how-to-return-an-item"}]
    file.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows),
                    encoding="utf-8")

    halves = {}
    for half in ("odd", "even"):
        result = CliRunner().invoke(app, ["bot", "eval", str(file), "--json", "--subset", half])
        assert result.exit_code == 0, result.output
        halves[half] = json.loads(result.stdout[result.stdout.index("{"):])

    assert (halves["odd"]["questions"], halves["odd"]["answerable"]) == (2, 2)
    assert (halves["even"]["questions"], halves["even"]["unanswerable"]) == (1, 1)
