"""System mail: a real SMTP exchange with aiosmtpd, the .eml fallback, and the retried job."""

from __future__ import annotations

import email
import stat
from collections.abc import Iterator
from email.message import EmailMessage
from email.policy import default
from email.utils import parseaddr, parsedate_to_datetime
from pathlib import Path

import pytest
import structlog.testing

from tests.mailbox import Mailbox, free_port, smtp_server
from zabota.core import mailer
from zabota.core.settings import Settings, get_settings
from zabota.jobs.huey_app import huey
from zabota.jobs.mail import send_mail

TEXT = "Здравствуйте, Ольга!\nМы получили ваше обращение «Не пришёл заказ» и уже работаем.\n"


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    with smtp_server() as box:
        yield box


def smtp_settings(tmp_path: Path, box: Mailbox) -> Settings:
    return Settings(data_dir=tmp_path / "var", mail_host="127.0.0.1", mail_port=box.port,
                    mail_starttls=False)


def russian_message(sender: str = "") -> EmailMessage:
    return mailer.build_message("Ольга Петрова <olga@example.org>", "Заявка №42 принята", TEXT,
                                html="<p>Здравствуйте, Ольга!</p>", sender=sender)


def test_delivers_over_smtp_with_utf8_headers_and_body(tmp_path, mailbox):
    settings = smtp_settings(tmp_path, mailbox)
    message = russian_message()

    assert mailer.deliver(message, settings) is None

    [received] = mailbox.received
    assert received.mail_from == "noreply@zabota.local"
    assert received.rcpt_tos == ["olga@example.org"]
    got = received.message
    assert got["Subject"] == "Заявка №42 принята"
    assert parseaddr(str(got["To"])) == ("Ольга Петрова", "olga@example.org")
    assert got["From"] == "Zabota <noreply@zabota.local>"  # filled in from the settings
    assert got["Message-ID"] == message["Message-ID"]
    assert got["Message-ID"].endswith("@zabota.local>")
    assert parsedate_to_datetime(str(got["Date"])).tzinfo is not None
    assert got["Auto-Submitted"] == "auto-generated"
    plain = got.get_body(("plain",))
    assert plain is not None and plain.get_content().replace("\r\n", "\n") == TEXT
    assert plain.get_content_charset() == "utf-8"
    html = got.get_body(("html",))
    assert html is not None and "Здравствуйте, Ольга!" in html.get_content()


def test_every_message_gets_its_own_message_id():
    first, second = russian_message("Zabota <help@shop.example>"), russian_message()
    assert first["Message-ID"] != second["Message-ID"]
    assert first["Message-ID"].endswith("@shop.example>")


def test_without_a_mail_host_the_message_is_saved_as_a_readable_eml(tmp_path):
    settings = Settings(data_dir=tmp_path / "var")

    path = mailer.deliver(russian_message(), settings)

    assert path is not None and path.parent == tmp_path / "var" / "mail"
    assert path.suffix == ".eml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    raw = path.read_bytes()
    # A developer opens it in an editor to copy a link: the text is there as it was written.
    assert "Мы получили ваше обращение «Не пришёл заказ»".encode() in raw
    parsed = email.message_from_bytes(raw, policy=default)
    assert isinstance(parsed, EmailMessage)
    assert parsed["Subject"] == "Заявка №42 принята"
    assert parsed["From"] == "Zabota <noreply@zabota.local>"
    body = parsed.get_body(("plain",))
    assert body is not None and body.get_content().replace("\r\n", "\n") == TEXT
    assert list(path.parent.iterdir()) == [path]  # no half-written .part left behind


@pytest.fixture
def immediate_jobs(monkeypatch) -> Iterator[None]:
    """Run queued jobs at once, in the calling thread, as the worker would."""
    monkeypatch.setattr(huey, "immediate", True)
    yield
    get_settings.cache_clear()


def use_mail_server(monkeypatch, port: int) -> None:
    monkeypatch.setenv("ZABOTA_MAIL_HOST", "127.0.0.1")
    monkeypatch.setenv("ZABOTA_MAIL_PORT", str(port))
    monkeypatch.setenv("ZABOTA_MAIL_STARTTLS", "false")
    get_settings.cache_clear()


def test_send_queues_a_job_that_delivers_the_message(monkeypatch, mailbox, immediate_jobs):
    use_mail_server(monkeypatch, mailbox.port)

    message_id = mailer.send("olga@example.org", "Ссылка для входа", TEXT)

    [received] = mailbox.messages
    assert received["Message-ID"] == message_id
    assert received["Subject"] == "Ссылка для входа"
    body = received.get_body(("plain",))
    assert body is not None and body.get_content().replace("\r\n", "\n") == TEXT


def test_an_unreachable_server_is_retried_later_with_the_same_message_id(monkeypatch,
                                                                         immediate_jobs):
    use_mail_server(monkeypatch, free_port())  # nobody listens there

    result = send_mail(to="olga@example.org", subject="Тест", text=TEXT, message_id="<m1@x>")

    with pytest.raises(Exception) as failed:
        result.get()
    assert "SMTPConnectError" in str(failed.value)
    [retry] = huey.scheduled()
    assert isinstance(retry, send_mail.task_class)
    assert (retry.retries, retry.kwargs["message_id"]) == (7, "<m1@x>")
    assert retry.retry_delay == 60  # 30 s the first time, then doubling


def test_a_mailbox_that_does_not_exist_is_not_retried(monkeypatch, mailbox, immediate_jobs):
    mailbox.refuse_rcpt = "550 5.1.1 No such mailbox"
    use_mail_server(monkeypatch, mailbox.port)

    send_mail(to="nobody@example.org", subject="Тест", text=TEXT).get()

    assert huey.scheduled() == [] and mailbox.received == []


def test_a_temporary_refusal_is_retried(monkeypatch, mailbox, immediate_jobs):
    mailbox.refuse_rcpt = "450 4.2.0 Greylisted, try again later"
    use_mail_server(monkeypatch, mailbox.port)

    result = send_mail(to="olga@example.org", subject="Тест", text=TEXT)

    with pytest.raises(Exception, match="SMTPRecipientsRefused"):
        result.get()
    assert len(huey.scheduled()) == 1


def test_the_last_failed_attempt_is_logged_as_undelivered(monkeypatch, immediate_jobs):
    use_mail_server(monkeypatch, free_port())
    last_try = send_mail.s(to="olga@example.org", subject="Тест", text=TEXT,
                           message_id="<m2@x>")
    last_try.retries = 0

    with structlog.testing.capture_logs() as logs:
        huey.enqueue(last_try)

    assert huey.scheduled() == []
    [entry] = [e for e in logs if e["event"] == "mail.undelivered"]
    assert (entry["message_id"], entry["error"]) == ("<m2@x>", "SMTPConnectError")
