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
    return [normalize_word(token) for token in tokens(text) if _WORD.search(token)]


# razdel never joins atoms across white space, and its rules look at most one atom past a
# split: a chunk between spaces that is one run of Russian or Latin letters or of digits is
# one token, and a run of letters with one closing punctuation mark is two (razdel's rules
# join such a pair only for "yahoo!"). Every other chunk goes to razdel with the chunks on
# either side as context, which gives exactly razdel's tokens at a fifth of the cost.
_CHUNK = re.compile(r"\S+")
_PLAIN = re.compile(r"(?:[а-яё]+|[a-z]+|\d+)", re.IGNORECASE)
_WORD_AND_MARK = re.compile(r"([а-яё]+|[a-z]+)([.,;:!?])", re.IGNORECASE)


def tokens(text: str) -> list[str]:
    """razdel's tokens of a text (`razdel.tokenize`), plain words found without it."""
    chunks = [(m.start(), m.end(), m.group()) for m in _CHUNK.finditer(text)]
    out: list[str] = []
    i, count = 0, len(chunks)
    while i < count:
        chunk = chunks[i][2]
        if _PLAIN.fullmatch(chunk):
            out.append(chunk)
            i += 1
            continue
        pair = _WORD_AND_MARK.fullmatch(chunk)
        if pair and not (pair[2] == "!" and pair[1].lower() == "yahoo"):
            out += pair.groups()
            i += 1
            continue
        end = i + 1  # a run of chunks that need razdel's rules
        while end < count and not _PLAIN.fullmatch(chunks[end][2]) \
                and not _WORD_AND_MARK.fullmatch(chunks[end][2]):
            end += 1
        start, stop = chunks[i][0], chunks[end - 1][1]
        low = chunks[i - 1][0] if i else start
        high = chunks[end][1] if end < count else stop
        out += [t.text for t in tokenize(text[low:high])
                if start <= low + t.start and low + t.stop <= stop]
        i = end
    return out


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
