"""Extract Zabota's messages and keep the ru and en catalogues in step with the code.

    .venv/bin/python scripts/i18n.py                  # messages.pot + ru/en .po, then translate
    .venv/bin/python scripts/i18n.py --check          # change nothing; exit 1 if work is left
    .venv/bin/python scripts/i18n.py --drop-obsolete  # also forget entries no longer in the code

See docs/i18n.md. Uses Babel's API with the mapping in babel.cfg; never marks a message fuzzy
by guessing, so a new msgid stays visibly untranslated until a person translates it.
"""

from __future__ import annotations

import argparse
import io
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from contextlib import suppress
from pathlib import Path
from string import Formatter

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

from zabota import __version__
from zabota.core.i18n import LANGUAGES

ROOT = Path(__file__).resolve().parent.parent
MAPPING = ROOT / "babel.cfg"
SOURCE = ROOT / "src" / "zabota"
LOCALE_DIR = SOURCE / "locale"  # where zabota.core.i18n reads them at run time
TEMPLATE = LOCALE_DIR / "messages.pot"
REQUIRED = "ru"  # every message needs a Russian text; English falls back to the msgid
TEMPLATE_SUFFIXES = (".html", ".txt")  # Jinja files: their {% trans %} uses %(name)s
COMMENT_TAGS = ("TRANSLATORS:",)
HEADER = """\
# Translations for Zabota.
# Copyright (C) Zabota contributors
# Distributed under the same license as Zabota: AGPL-3.0-or-later.
#"""

# Rewritten on every run; ignored when deciding whether a file changed, so a run with no new
# strings leaves the working tree clean.
_VOLATILE = re.compile(rb'^"(?:POT-Creation-Date|PO-Revision-Date): .*\n', re.MULTILINE)
_PERCENT_NAMED = re.compile(r"%\((\w+)\)[#0\- +]*\d*(?:\.\d+)?[diouxXeEfFgGcrs]")


def path_of(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"


def extract() -> Catalog:
    """All marked messages of src/zabota, as a template catalogue (nothing is written)."""
    with MAPPING.open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh, str(MAPPING))  # type: ignore[no-untyped-call]
    template = _new_catalog(locale=None)
    found = extract_from_dir(
        ROOT, method_map, options_map,
        keywords={},  # only the keywords babel.cfg names, as with --no-default-keywords
        comment_tags=COMMENT_TAGS, strip_comment_tags=True, directory_filter=_is_source_dir,
    )
    for filename, lineno, text, comments, context in found:
        template.add(text, None, [(filename, lineno)], auto_comments=comments, context=context)
    for message in template:
        _fix_format_flags(message)
    return template


def load(language: str) -> Catalog:
    """The catalogue of `language` as it is on disk, or an empty one."""
    path = path_of(language)
    if not path.exists():
        return _new_catalog(locale=language)
    with path.open("rb") as fh:
        return read_po(fh, locale=language, abort_invalid=True)


def load_template() -> Catalog | None:
    if not TEMPLATE.exists():
        return None
    with TEMPLATE.open("rb") as fh:
        return read_po(fh)


def update(template: Catalog, *, drop_obsolete: bool = False) -> dict[str, Catalog]:
    """Each language's catalogue merged with `template`, keeping every existing translation."""
    catalogs: dict[str, Catalog] = {}
    for language in LANGUAGES:
        catalog = load(language)
        catalog.update(template, no_fuzzy_matching=True)
        for key, old in list(catalog.obsolete.items()):
            current = catalog.get(old.id, old.context)
            if current is not None:  # a message that came back: its translation comes too
                if not _has_text(current.string):
                    current.string = old.string
                    current.flags |= old.flags & {"fuzzy"}
                del catalog.obsolete[key]
        if drop_obsolete:
            catalog.obsolete.clear()
        for message in catalog:
            _fix_format_flags(message)
        catalogs[language] = catalog
    return catalogs


def find_problems(template: Catalog, catalogs: Mapping[str, Catalog],
                  written_template: Catalog | None) -> list[str]:
    """What stands between the catalogues and a release: one line per problem."""
    problems = []
    if written_template is None or _keys(written_template) != _keys(template):
        problems.append(f"{TEMPLATE.relative_to(ROOT)} is out of date: run scripts/i18n.py")
    for language, catalog in catalogs.items():
        for message in template:
            if not message.id:
                continue
            label = f"{language}: {_label(message)}"
            entry = catalog.get(message.id, message.context)
            if entry is None:
                problems.append(f"{label}: not in the catalogue, run scripts/i18n.py")
                continue
            if entry.fuzzy:
                problems.append(f"{label}: marked fuzzy; check the translation, remove the flag")
            if language == REQUIRED and not _has_text(entry.string):
                problems.append(f"{label}: no translation")
            mismatch = placeholder_mismatch(entry)
            if mismatch:
                problems.append(f"{label}: {mismatch}")
        for message in catalog:
            if message.id and template.get(message.id, message.context) is None:
                problems.append(f"{language}: {_label(message)}: no longer in the code, "
                                "run scripts/i18n.py")
        for message in catalog.obsolete.values():
            problems.append(f"{language}: {_label(message)}: obsolete entry (#~); reuse its "
                            "translation or run scripts/i18n.py --drop-obsolete")
    return problems


def placeholders(text: str) -> set[str]:
    """The named placeholders of a message: str.format `{name}` and Jinja's `%(name)s`."""
    names = {f"%({name})" for name in _PERCENT_NAMED.findall(text)}
    with suppress(ValueError):  # a stray brace: not a format string, so no {placeholders}
        names |= {"{" + field + "}" for _literal, field, _spec, _conversion
                  in Formatter().parse(text) if field is not None}
    return names


def placeholder_mismatch(message: Message) -> str | None:
    """Why the translation of `message` would break `.format()`, or None if it would not."""
    ids = _forms(message.id)
    expected = set().union(*(placeholders(text) for text in ids))
    translated = [text for text in _forms(message.string) if text]
    if not translated:
        return None
    # A plural form may leave a name out (a language's "one" form), but may not invent one,
    # and all forms together use every name.
    per_form = [placeholders(text) for text in translated]
    got = set().union(*per_form)
    if got == expected and all(form <= expected for form in per_form):
        return None
    return (f"placeholders differ: source has {sorted(expected) or 'none'}, "
            f"translation has {sorted(got) or 'none'}")


def write(path: Path, catalog: Catalog) -> bool:
    """Write `catalog` unless only its dates would change; True if the file changed."""
    buffer = io.BytesIO()
    write_po(buffer, catalog, include_lineno=False)  # line numbers would churn every diff
    content = buffer.getvalue()
    if path.exists() and _VOLATILE.sub(b"", path.read_bytes()) == _VOLATILE.sub(b"", content):
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Extract and update Zabota's translations.")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; list untranslated, fuzzy and obsolete entries "
                             "and exit 1 if there are any")
    parser.add_argument("--drop-obsolete", action="store_true",
                        help="remove #~ entries of messages that are no longer in the code")
    args = parser.parse_args(argv)

    template = extract()
    if args.check:
        catalogs = {language: load(language) for language in LANGUAGES}
        problems = find_problems(template, catalogs, load_template())
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print(f"{len(problems)} problem(s) in the catalogues; see docs/i18n.md",
                  file=sys.stderr)
            return 1
        print(f"{len(template)} messages, all translated")
        return 0

    changed = [TEMPLATE] if write(TEMPLATE, template) else []
    catalogs = update(template, drop_obsolete=args.drop_obsolete)
    changed += [path_of(lang) for lang, cat in catalogs.items() if write(path_of(lang), cat)]
    for path in changed:
        print(f"wrote {path.relative_to(ROOT)}")
    untranslated = [m for m in catalogs[REQUIRED] if m.id and not _has_text(m.string)]
    obsolete = sum(len(catalog.obsolete) for catalog in catalogs.values())
    print(f"{len(template)} messages; {len(untranslated)} without a {REQUIRED} translation"
          + (f"; {obsolete} obsolete (#~) entries" if obsolete else ""))
    for message in untranslated:
        print(f"  {_label(message)}")
    return 0


def _new_catalog(*, locale: str | None) -> Catalog:
    return Catalog(locale=locale, domain="messages", header_comment=HEADER, project="Zabota",
                   version=__version__, copyright_holder="Zabota contributors",
                   last_translator="Zabota contributors",
                   language_team="Zabota contributors", charset="utf-8",
                   fuzzy=locale is None)


def _is_source_dir(dirpath: str) -> bool:
    """Walk only src/zabota, and there skip __pycache__ and hidden folders."""
    path = Path(dirpath)
    if path.name.startswith((".", "__")):
        return False
    return path.is_relative_to(SOURCE) or SOURCE.is_relative_to(path)


def _fix_format_flags(message: Message) -> None:
    # Babel flags any msgid matching a %-format pattern as python-format, and "100% done"
    # (a "% d") does. Our Python strings are str.format strings (Babel flags those
    # python-brace-format), so a python-format flag on them would make msgfmt -c and
    # translation tools demand %-placeholders. Only a Jinja {% trans %} block with
    # variables is %-formatted: "Ticket %(number)s".
    in_template = any(str(path).endswith(TEMPLATE_SUFFIXES) for path, _line in message.locations)
    if not (in_template and any(_PERCENT_NAMED.search(text) for text in _forms(message.id))):
        message.flags.discard("python-format")


def _forms(value: str | Iterable[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [text or "" for text in value]


def _has_text(value: str | Iterable[str] | None) -> bool:
    forms = _forms(value)
    return bool(forms) and all(forms)


def _keys(catalog: Catalog) -> set[tuple[str, str | None]]:
    return {(str(message.id), message.context) for message in catalog if message.id}


def _label(message: Message) -> str:
    text = message.id if isinstance(message.id, str) else " | ".join(message.id)
    return f"[{message.context}] {text!r}" if message.context else repr(text)


if __name__ == "__main__":
    sys.exit(main())
