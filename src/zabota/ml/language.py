"""Language of a customer's text: "ru", "en" or "unknown", with a confidence.

The rule, in order:

1. Fewer than `MIN_LETTERS` letters (a "ok", "+", an order number) → ("unknown", 0.0).
2. py3langid ranks all its 140 languages by probability (naive Bayes over byte n-grams,
   normalised). Zabota serves Russian and English, so those two get a prior weight
   `PRODUCT_PRIOR` times that of any other language before renormalising: a short Cyrillic
   "привет" is far more likely Russian than Macedonian in a Russian helpdesk.
3. The script must agree: "ru" needs at least half of the letters Cyrillic, and at most one
   Cyrillic letter in fifty that Russian does not have (і ї є ґ ў ә қ ң ө ү ј …: Ukrainian,
   Belarusian, Kazakh, Serbian; one stray "#євромайдан" hashtag is tolerated);
   "en" needs at least half of the letters Latin.
4. The winner is returned when it is "ru" or "en", passes the script check and its posterior
   is at least `MIN_CONFIDENCE`; anything else is "unknown".

The confidence is the posterior of the returned language; for "unknown" it is the posterior
mass outside Russian and English (0.0 when there was too little text to judge).
"""

from __future__ import annotations

import threading
from functools import lru_cache
from typing import Literal, Protocol, cast

LanguageCode = Literal["ru", "en", "unknown"]

MIN_LETTERS = 4
PRODUCT_PRIOR = 10.0
MIN_CONFIDENCE = 0.7
MAX_CHARS = 2_000  # the opening of a long e-mail is enough, and bounds the cost

_RUSSIAN_LETTERS = frozenset("абвгдеёжзийклмнопрстуфхцчшщъыьэюя")


class _Identifier(Protocol):
    def rank(self, text: str) -> list[tuple[str, float]]: ...


_identifier: _Identifier | None = None
_lock = threading.Lock()


def _get_identifier() -> _Identifier:
    global _identifier
    with _lock:
        if _identifier is None:
            from py3langid.langid import MODEL_FILE, LanguageIdentifier

            _identifier = cast(_Identifier,
                               LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True))
        return _identifier


def _is_cyrillic(char: str) -> bool:
    return "\u0400" <= char <= "\u04ff" or "\u0500" <= char <= "\u052f"


def _is_latin(char: str) -> bool:
    return char.isascii() or "\u00c0" <= char <= "\u024f"


@lru_cache(maxsize=256)  # asked about the same text by the embedding and the sentiment model
def cyrillic_share(text: str) -> float:
    """The share of a text's letters that are Cyrillic (0.0 when it has no letters)."""
    letters = [c for c in text if c.isalpha()]
    return sum(1 for c in letters if _is_cyrillic(c)) / len(letters) if letters else 0.0


def _script_allows(code: str, letters: list[str]) -> bool:
    if code == "ru":
        cyrillic = [c for c in letters if _is_cyrillic(c)]
        foreign = sum(1 for c in cyrillic if c not in _RUSSIAN_LETTERS)
        return 2 * len(cyrillic) >= len(letters) and 50 * foreign <= len(cyrillic)
    return 2 * sum(1 for c in letters if _is_latin(c)) >= len(letters)


def detect_language(text: str) -> tuple[LanguageCode, float]:
    """("ru" | "en" | "unknown", confidence in [0, 1]) for a customer's text."""
    text = text[:MAX_CHARS]
    letters = [c.lower() for c in text if c.isalpha()]
    if len(letters) < MIN_LETTERS:
        return "unknown", 0.0
    ranking = _get_identifier().rank(text)
    weighted = {code: p * (PRODUCT_PRIOR if code in ("ru", "en") else 1.0)
                for code, p in ranking}
    total = sum(weighted.values()) or 1.0
    posterior = {code: p / total for code, p in weighted.items()}
    best = max(posterior, key=posterior.__getitem__)
    if (best in ("ru", "en") and posterior[best] >= MIN_CONFIDENCE
            and _script_allows(best, letters)):
        return cast(LanguageCode, best), round(posterior[best], 4)
    return "unknown", round(1.0 - posterior.get("ru", 0.0) - posterior.get("en", 0.0), 4)
