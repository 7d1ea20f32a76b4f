"""The shared text pipeline: tokens → Russian lemmas / English stems, for search and models."""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

import Stemmer
from razdel import tokenize

_CYRILLIC = re.compile(r"[а-яё]")
_WORD = re.compile(r"\w", re.UNICODE)
_english = Stemmer.Stemmer("english")
_russian_fallback = Stemmer.Stemmer("russian")


@lru_cache(maxsize=1)
def _morph() -> object:
    import pymorphy3

    return pymorphy3.MorphAnalyzer()


@lru_cache(maxsize=200_000)
def normalize_word(word: str) -> str:
    """One search term: the lemma of a Russian word, the stem of an English one."""
    word = word.lower().replace("ё", "е")
    if _CYRILLIC.search(word):
        if not word.isalpha():
            return word
        parses = _morph().parse(word)  # type: ignore[attr-defined]
        lemma = parses[0].normal_form.replace("ё", "е") if parses else word
        return lemma or _russian_fallback.stemWord(word)
    if word.isascii() and word.isalpha():
        return str(_english.stemWord(word))
    return word


def terms(text: str) -> list[str]:
    """Normalised terms of a text in order, punctuation dropped."""
    return [normalize_word(token.text) for token in tokenize(text) if _WORD.search(token.text)]


def search_text(text: str) -> str:
    return " ".join(terms(text))


_MODEL_TOKEN = re.compile(r"\w+(?:-\w+)*")


def model_terms(text: str) -> list[str]:
    """Normalised words for models: like `terms`, with a regex tokenizer instead of razdel.

    Four times faster on 100k tickets, and the same cross-validated scores (CEDR, Banking77):
    a bag of lemmas does not need razdel's sentence-aware splitting."""
    return [normalize_word(token) for token in _MODEL_TOKEN.findall(text)]


def lemma_texts(texts: Iterable[str]) -> list[str]:
    """`model_terms` of each text joined by spaces, each distinct text computed once."""
    seen: dict[str, str] = {}
    out = []
    for text in texts:
        normalised = seen.get(text)
        if normalised is None:
            normalised = seen[text] = " ".join(model_terms(text))
        out.append(normalised)
    return out
