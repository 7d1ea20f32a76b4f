"""The catalogues cover every marked string, and the request's language picks the text."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from hypothesis import given
from hypothesis import strategies as st

from zabota.core.i18n import LANGUAGES, gettext, language, pick_language

ROOT = Path(__file__).resolve().parents[2]


def load_tool() -> ModuleType:
    """scripts/i18n.py, the same code `make i18n` runs (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("zabota_i18n_tool", ROOT / "scripts" / "i18n.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    return load_tool()


@pytest.fixture(scope="module")
def extracted(tool: ModuleType) -> Catalog:
    catalog: Catalog = tool.extract()
    return catalog


def read_catalog(code: str) -> Catalog:
    with (ROOT / "src/zabota/locale" / code / "LC_MESSAGES/messages.po").open("rb") as fh:
        return read_po(fh, locale=code)


def forms(value: str | tuple[str, ...] | list[str]) -> list[str]:
    """The text of a message, or of each plural form."""
    return [value] if isinstance(value, str) else list(value)


def names(texts: list[str], tool: ModuleType) -> set[str]:
    return set().union(*(tool.placeholders(text) for text in texts))


def test_extraction_finds_the_marked_strings(extracted: Catalog) -> None:
    ids = {message.id for message in extracted}
    assert {"Ticket not found", "Some fields are not valid",  # N_() and _()
            "A ticket cannot go from “{old}” to “{new}”"} <= ids


def test_every_message_has_a_russian_translation_with_the_same_placeholders(
        tool: ModuleType, extracted: Catalog) -> None:
    russian = read_catalog("ru")
    missing, broken = [], []
    for message in extracted:
        if not message.id:
            continue
        entry = russian.get(message.id, message.context)
        texts = [] if entry is None else forms(entry.string)
        if entry is None or entry.fuzzy or not all(texts):
            missing.append(message.id)
        elif names(texts, tool) != names(forms(message.id), tool):
            broken.append((message.id, entry.string))
    assert missing == [], "run `.venv/bin/python scripts/i18n.py` and translate (docs/i18n.md)"
    assert broken == []


def test_catalogues_have_no_fuzzy_obsolete_or_stale_entries(
        tool: ModuleType, extracted: Catalog) -> None:
    catalogs = {code: tool.load(code) for code in LANGUAGES}

    assert tool.find_problems(extracted, catalogs, tool.load_template()) == []


def test_python_strings_are_not_flagged_as_percent_format(extracted: Catalog) -> None:
    # str.format placeholders: a python-format flag would make tools demand %s in translations
    # (Jinja's newstyle ngettext formats with %(num)d, so templates may use it.)
    flagged = [m.id for m in extracted if m.id and "python-format" in m.flags
               and any(path.endswith(".py") for path, _line in m.locations)]
    assert flagged == []
    assert "python-brace-format" in extracted.get("Choose one of: {options}").flags


def test_the_language_of_the_request_picks_the_text() -> None:
    with language("ru"):
        assert gettext("Ticket not found") == "Обращение не найдено"
        assert gettext("Choose one of: {options}").format(options="a, b") == (
            "Выберите одно из: a, b")
    with language("en"):
        assert gettext("Ticket not found") == "Ticket not found"
    with language("de"):  # unsupported: the default, Russian
        assert gettext("Ticket not found") == "Обращение не найдено"


@pytest.mark.parametrize(("header", "default", "expected"), [
    ("en-US,en;q=0.9,ru;q=0.8", "ru", "en"),
    ("ru-RU,ru;q=0.9,en;q=0.8", "en", "ru"),
    ("de-DE", "ru", "ru"),
    ("de-DE", "en", "en"),
    ("de-DE,de;q=0.9,en;q=0.5", "ru", "en"),
    ("ru;q=0.5, en;q=0.9", "ru", "en"),
    ("EN-gb", "ru", "en"),
    (None, "en", "en"),
    ("", "ru", "ru"),
    ("ru;q=x, en;q=0.3", "ru", "en"),  # an unreadable quality ranks last
    ("q=x", "en", "en"),
    (";;,,;q=,", "ru", "ru"),
    ("en;q=0, ru;q=0", "en", "en"),  # neither is acceptable: the default
    ("en;q=0, ru;q=0.1", "en", "ru"),
    ("ru;q=0", "en", "en"),
])
def test_pick_language(header: str | None, default: str, expected: str) -> None:
    assert pick_language(header, default) == expected


@given(header=st.text(max_size=200), default=st.sampled_from(LANGUAGES))
def test_pick_language_never_fails_on_any_header(header: str, default: str) -> None:
    assert pick_language(header, default) in LANGUAGES
