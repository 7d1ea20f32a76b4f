"""How every `zabota` command fails: one line in the user's language and a non-zero exit,
never a traceback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from zabota.cli import app
from zabota.core import db
from zabota.core.db import Database

RU = {"LANG": "ru_RU.UTF-8", "LC_ALL": "", "LC_MESSAGES": ""}
EN = {"LANG": "en_US.UTF-8", "LC_ALL": "", "LC_MESSAGES": ""}


@pytest.fixture
def database(committed_db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    database = Database(committed_db_url)
    monkeypatch.setattr(db, "_database", database)  # what get_database() gives the commands
    yield database
    database.dispose()


@pytest.mark.parametrize(("env", "said"), [(RU, "Ошибка: Канал не найден"),
                                           (EN, "Error: Channel not found")])
def test_an_unknown_account_is_one_line_and_exit_1(database, env, said):
    result = CliRunner().invoke(app, ["channels", "set-telegram-webhook", "--account", "999",
                                      "--base-url", "https://x.example"], env=env)

    assert result.exit_code == 1
    assert result.output.strip() == said
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_polling_an_unknown_account_fails(database):
    result = CliRunner().invoke(app, ["channels", "poll-telegram", "--account", "999",
                                      "--once"], env=EN)

    assert result.exit_code == 1
    assert result.output.strip() == "Error: Channel not found"


@pytest.mark.parametrize(("content", "env", "said"), [
    (b"\x89PNG\r\n\x1a\n\x00\xff\xfe", RU, "Файл не в кодировке UTF-8"),
    (b"\x89PNG\r\n\x1a\n\x00\xff\xfe", EN, "The file is not UTF-8 text"),
    (b"[]\n", RU, "Строка 1: ожидается объект JSON"),
    (b"[]\n", EN, "Line 1: expected a JSON object"),
    (b'{"question": 1, "language": "ru", "article": "none"}\n', EN,
     "Line 1: expected a JSON object"),
    (b"{not json\n", EN, "Line 1: not valid JSON"),
])
def test_a_bad_question_file_is_named_clearly(tmp_path, content, env, said):
    file = tmp_path / "questions.jsonl"
    file.write_bytes(content)

    result = CliRunner().invoke(app, ["bot", "eval", str(file)], env=env)

    assert result.exit_code == 2
    assert said in result.output and "Traceback" not in result.output
    assert "list indices" not in result.output
