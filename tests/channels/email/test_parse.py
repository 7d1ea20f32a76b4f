"""The e-mail parser on real-world-shaped mail: each fixture with its expected outcome."""

from __future__ import annotations

import contextlib
import email.utils
import json
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from zabota.channels.email.parse import (
    IgnoreCode,
    MalformedEmail,
    external_id_of,
    normalize_message_id,
    parse,
    parse_email,
    split_reply,
    synthetic_message_id,
    trim_reply,
)
from zabota.channels.inbound import Inbound
from zabota.identity.models import IdentityKind

FIXTURES = Path(__file__).parent / "fixtures"
CASES = [json.loads(line) for line in (FIXTURES / "cases.jsonl").read_text().splitlines()
         if line.strip()]


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def test_the_fixture_set_is_big_and_varied_enough():
    outcomes = {case["outcome"] for case in CASES}
    assert len(CASES) >= 30
    assert {"ticket", "bounce", "auto_reply", "bulk", "report", "malformed"} <= outcomes
    assert all((FIXTURES / case["file"]).exists() for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=[case["file"] for case in CASES])
def test_each_fixture_has_its_expected_outcome(case):
    raw = fixture(case["file"])
    if case["outcome"] == "malformed":
        with pytest.raises(MalformedEmail):
            parse(raw)
        return
    parsed = parse(raw)
    if case["outcome"] != "ticket":
        assert parsed.inbound is None and parsed.ignored is not None
        assert parsed.ignored.code == IgnoreCode(case["outcome"])
        assert parsed.ignored.external_id.startswith("<")
        return
    inbound = parsed.inbound
    assert inbound is not None, parsed.ignored
    assert inbound.identities == [(IdentityKind.EMAIL, case["sender"])]
    assert parsed.subject == case["subject"]
    if "text" in case:
        assert inbound.text == case["text"]
    else:
        assert inbound.text.startswith(case["text_starts"])
    assert [f.filename for f in inbound.files] == case["files"]
    assert list(inbound.replies_to) == case.get("replies_to", [])
    assert inbound.meta.get("reply_to") == case.get("reply_to")
    assert "\ufffd" not in inbound.text or case["file"].startswith("0")


def test_a_russian_outlook_reply_keeps_only_the_new_text_and_the_thread():
    inbound = parse_email(fixture("r04-outlook-ru-reply.eml"))
    assert inbound.text == "Спасибо, но проблема осталась: приложение закрывается при входе."
    assert inbound.name == "Анна Смирнова"
    assert inbound.replies_to == ["<first-42@romashka.example>", "<reply-42-1@zabota.example>"]
    assert inbound.meta["to"] == ["Служба поддержки <support@zabota.example>"]
    assert inbound.meta["cc"] == ["boss@romashka.example", "Иван <ivan@romashka.example>"]
    assert inbound.meta["quote_trimmed"] is True


def test_the_html_of_a_reply_loses_its_quote_too():
    gmail = parse_email(fixture("r05-gmail-ru-reply.eml"))
    assert "7731" in gmail.html and "Пришлите" not in gmail.html
    outlook_web = parse_email(fixture("r14-outlook-web-html-only.eml"))
    assert outlook_web.text == "Проверил - теперь работает, спасибо!"
    assert "очистить кэш" not in outlook_web.html


def test_inline_images_keep_their_content_id_and_names_are_decoded():
    inbound = parse_email(fixture("r07-attachments-ru-names.eml"))
    image, invoice, act, appendix = inbound.files
    assert (image.inline, image.content_id, image.content_type) == (True, "screen@r07",
                                                                    "image/png")
    assert image.data.startswith(b"\x89PNG")
    assert (invoice.filename, invoice.inline) == ("Счёт № 15.pdf", False)  # RFC 2231
    assert act.filename == "Акт сверки.pdf"  # RFC 2047 in a parameter (Outlook)
    assert appendix.filename == "Приложение.pdf"  # RFC 2231 continuation in koi8-r
    assert 'src="cid:screen@r07"' in inbound.html


def test_a_forward_is_content_not_a_quote():
    inbound = parse_email(fixture("r10-forward-ru.eml"))
    assert inbound.text.endswith("Мне продали неисправный ноутбук, требую замену.")


@pytest.mark.parametrize(("subject", "charset"), [
    ("ВОЗВРАТ ДЕНЕГ ЗА ЗАКАЗ 1251", "windows-1251"),  # all capitals: was read as koi8-r
    ("Возврат 1251 …", "iso-8859-1"),  # a wrong label: was read as Latin-1
    ("Возврат 1251 …", "koi8-r"),
])
def test_a_raw_8bit_windows_1251_subject_is_read_whatever_the_label(subject, charset):
    raw = (b"From: a@example.ru\r\nSubject: " + subject.encode("cp1251")
           + b"\r\nMessage-ID: <raw8@example.ru>\r\nContent-Type: text/plain; charset="
           + charset.encode() + b"\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
           + "Верните, пожалуйста, деньги".encode("cp1251") + b"\r\n")
    inbound = parse_email(raw)
    assert isinstance(inbound, Inbound)
    assert (inbound.subject, inbound.text) == (subject, "Верните, пожалуйста, деньги")


def test_a_message_without_message_id_gets_a_stable_one():
    raw = fixture("r12-no-message-id.eml")
    first = parse_email(raw)
    assert first.external_id == parse_email(raw.replace(b"\r\n", b"\n")).external_id
    assert first.external_id == external_id_of(raw) == synthetic_message_id(raw)


def test_our_own_address_is_a_loop():
    raw = fixture("124-rbmail-basic-email.eml")
    ignored = parse_email(raw, own_addresses={"test@lindsaar.net"})
    assert ignored.code == IgnoreCode.LOOP


def test_account_and_team_are_carried():
    inbound = parse_email(fixture("124-rbmail-basic-email.eml"), account_id=3, team_id=4)
    assert (inbound.account_id, inbound.team_id) == (3, 4)


def test_long_message_ids_become_a_hash_that_references_match():
    long_id = "<" + "x" * 300 + "@example.org>"
    normalized = normalize_message_id(long_id)
    assert len(normalized) <= 255 and normalized == normalize_message_id(f"  {long_id} ")
    raw = (f"From: a@example.org\r\nMessage-ID: <short@example.org>\r\nReferences: {long_id}"
           "\r\nSubject: x\r\n\r\nbody\r\n").encode()
    assert parse_email(raw).replies_to == [normalized]


@pytest.mark.parametrize(("header", "code"), [
    ("Auto-Submitted: auto-generated", IgnoreCode.AUTO_REPLY),
    ("Precedence: junk", IgnoreCode.BULK),
    ("Precedence: list", IgnoreCode.BULK),
    ("Precedence: auto_reply", IgnoreCode.AUTO_REPLY),
    ("X-Autorespond: yes", IgnoreCode.AUTO_REPLY),
    ("Return-Path: <>", IgnoreCode.AUTO_REPLY),
    ("X-Failed-Recipients: x@example.org", IgnoreCode.BOUNCE),
])
def test_automatic_mail_is_recognised_by_its_headers(header, code):
    raw = (f"From: someone@example.org\r\n{header}\r\nSubject: hello\r\n"
           "Message-ID: <h@example.org>\r\n\r\nbody\r\n").encode()
    assert parse_email(raw).code == code


def test_auto_submitted_no_is_a_person():
    raw = (b"From: someone@example.org\r\nAuto-Submitted: no\r\nSubject: hello\r\n\r\nbody\r\n")
    assert parse_email(raw).text == "body"


@pytest.mark.parametrize("raw", [b"", b"   \r\n", b"\x89PNG\r\n\x1a\n\x00\x00binary",
                                 b"Subject: no sender\r\n\r\nbody"])
def test_what_is_not_a_message_is_malformed(raw):
    with pytest.raises(MalformedEmail):
        parse(raw)


@pytest.mark.parametrize(("text", "expected"), [
    ("Да, всё верно.\n\n15.03.2026, 10:00, \"Поддержка\" <support@zabota.example>:\n> Верно?",
     "Да, всё верно."),  # Yandex
    ("Ок.\n\nПонедельник, 2 марта 2026, 10:00 +03:00 от Поддержка <support@zabota.example>:\n"
     "> Текст", "Ок."),  # Mail.ru
    ("Спасибо!\n\n-----Исходное сообщение-----\nОт: Поддержка\nТекст", "Спасибо!"),
    ("Thanks!\n\n-----Original Message-----\nFrom: Support\nText", "Thanks!"),
    ("Готово\n\nОтправлено из мобильной Яндекс.Почты", "Готово"),
    ("Hi\n\nSent from my iPhone", "Hi"),
    ("Мой менеджер пишет:\nсрочно перезвоните", "Мой менеджер пишет:\nсрочно перезвоните"),
    ("> only a quote", "> only a quote"),
])
def test_reply_trimming(text, expected):
    assert trim_reply(text) == expected


def test_a_forward_marker_protects_what_follows_from_trimming():
    text = ("See below.\n\n---------- Forwarded message ---------\nFrom: A <a@example.org>\n"
            "Date: Mon, 2 Mar 2026\nSubject: Broken\nTo: b@example.org\n\nIt is broken.\n-- \nA")
    assert split_reply(text) == (text, False)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_the_parser_never_crashes_on_arbitrary_bytes(raw):
    with contextlib.suppress(MalformedEmail):
        parse(raw)


_WORDS = st.text(alphabet=st.characters(whitelist_categories=("Lu", "Ll", "Nd"),
                                        whitelist_characters=" ,.!?-ёЁ"),
                 min_size=1, max_size=60).map(str.strip).filter(bool)


@settings(max_examples=80, deadline=None)
@given(subject=_WORDS, body=_WORDS, name=_WORDS,
       charset=st.sampled_from(["utf-8", "koi8-r", "windows-1251"]))
def test_what_a_mail_client_writes_is_read_back(subject, body, name, charset):
    message = EmailMessage()
    # formataddr quotes what needs quoting ("." or "," in a name), as mail clients do.
    message["From"] = email.utils.formataddr((name, "client@example.org"))
    message["Subject"] = subject
    message["Message-ID"] = "<rt@example.org>"
    try:
        body.encode(charset)
    except UnicodeEncodeError:
        charset = "utf-8"
    message.set_content(body, charset=charset)
    inbound = parse_email(message.as_bytes())
    assert inbound.subject == subject
    assert inbound.text == body
    assert inbound.identities == [(IdentityKind.EMAIL, "client@example.org")]
