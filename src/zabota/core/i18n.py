"""gettext with a per-request language; catalogues are read from the shipped .po files."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from gettext import GNUTranslations, NullTranslations
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LANGUAGES = ("ru", "en")
LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"

_current_language: ContextVar[str] = ContextVar("zabota_language", default="ru")


@lru_cache(maxsize=len(LANGUAGES))
def translations(language: str) -> NullTranslations:
    """Compile the .po in memory, so a checkout needs no build step to be translated."""
    po = LOCALE_DIR / language / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return NullTranslations()
    with po.open("rb") as fh:
        catalog = read_po(fh, locale=language)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return GNUTranslations(buffer)


def get_language() -> str:
    return _current_language.get()


def set_language(language: str) -> None:
    _current_language.set(language if language in LANGUAGES else "ru")


@contextmanager
def language(code: str) -> Iterator[None]:
    token = _current_language.set(code if code in LANGUAGES else "ru")
    try:
        yield
    finally:
        _current_language.reset(token)


def gettext(message: str) -> str:
    return translations(get_language()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(get_language()).ngettext(singular, plural, n)


def N_(message: str) -> str:
    """Mark a module-level string for extraction; it is translated where it is shown."""
    return message


_ = gettext


def pick_language(accept_language: str | None, default: str) -> str:
    """The first supported language of an Accept-Language header, by quality."""
    if not accept_language:
        return default
    weighted: list[tuple[float, str]] = []
    for part in accept_language.split(","):
        tag, _sep, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 1e-6  # unreadable: ranks last
        if not quality > 0:  # q=0 is "not this one" (RFC 9110)
            continue
        weighted.append((quality, tag.strip().lower()[:2]))
    for _quality, code in sorted(weighted, key=lambda item: -item[0]):
        if code in LANGUAGES:
            return code
    return default
