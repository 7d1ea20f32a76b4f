"""The search tokenizer gives exactly razdel's tokens: search rows written before and after
the fast path hold the same terms, so no index needs rebuilding."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from razdel import tokenize

from zabota.ml.text import terms, tokens

# Pieces that exercise razdel's rules: dashes and underscores inside words, decimal and
# fraction numbers, runs of punctuation, smileys, "yahoo!", other scripts and symbols.
PIECES = ["заказ", "Сбой", "ёлка", "order", "Yahoo", "yahoo", "12", "3", "café", "Δ", "😀",
          "-", "—", "–", "_", ".", ",", "!", "?", ":", ";", "/", "\\", "(", ")", "«", "»",
          '"', "'", "...", ":)", "%", "№", "@", "#", "+", "$", "“", "”", "„", "{", "}", "[",
          "]", "=", "*"]
SPACES = ["", "", "", " ", "  ", "\n", "\t", "\xa0", "\u2028", "\x1c"]


@settings(max_examples=600, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(PIECES), st.sampled_from(SPACES)), max_size=14))
def test_tokens_match_razdel_on_tricky_texts(parts):
    text = "".join(piece + space for piece, space in parts)
    assert tokens(text) == [t.text for t in tokenize(text)]


def test_tokens_match_razdel_where_context_across_spaces_matters():
    for text in ("Оплата 1, 2 и 3.", "кто- то пришёл", "что -то", "yahoo! и Yahoo.",
                 "цена 1 . 5", "номер 12/ 3", "Здравствуйте, заказ №123-45 не пришёл!!!",
                 "см. т.е. и т. д.", "e-mail: ivan@mail.ru, тел. +7 (900) 123-45-67"):
        assert tokens(text) == [t.text for t in tokenize(text)], text


def test_terms_are_lemmas_without_punctuation():
    assert terms("Не приходит код подтверждения, заказа нет!") == [
        "не", "приходить", "код", "подтверждение", "заказ", "нет"]
