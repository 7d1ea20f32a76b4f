"""Language detection: Russian, English, and "unknown" for other languages or too little text."""

from __future__ import annotations

import pytest

from zabota.ml.language import detect_language


@pytest.mark.parametrize(("text", "code"), [
    ("Здравствуйте, не могу войти в личный кабинет, код не приходит", "ru"),
    ("Ужасный сервис, верните деньги!", "ru"),
    ("Не работает app после обновления", "ru"),
    ("Hello, my card has not arrived yet, can you check?", "en"),
    ("Thanks a lot, great support!", "en"),
])
def test_russian_and_english(text, code):
    detected, confidence = detect_language(text)
    assert detected == code
    assert 0.7 <= confidence <= 1.0


@pytest.mark.parametrize("text", [
    "Hallo, wie geht es dir? Ich habe ein Problem mit meiner Bestellung",
    "Bonjour, ma commande n'est pas arrivée",
    "Привіт, як справи? Замовлення не прийшло",  # Ukrainian: Cyrillic, not Russian
    "Мен сізге хат жазамын",  # Kazakh
    "您好，我的订单还没有到",
])
def test_other_languages_are_unknown(text):
    detected, confidence = detect_language(text)
    assert detected == "unknown"
    assert confidence > 0.5  # sure it is neither Russian nor English


@pytest.mark.parametrize("text", ["", "ok", "+1", "4817-2231", "!!!"])
def test_too_little_text_is_unknown(text):
    assert detect_language(text) == ("unknown", 0.0)
