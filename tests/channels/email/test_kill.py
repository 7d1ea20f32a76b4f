"""The kill test: IMAP ingestion SIGKILLed in the middle of a batch and started again stores
every message exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import sqlalchemy as sa

from tests.channels.email.dovecot import Dovecot
from zabota.channels import service as channels
from zabota.core.db import Database
from zabota.identity.permissions import SYSTEM
from zabota.tickets.models import Channel, Message

MESSAGES = 300


def letter(n: int) -> bytes:
    return (f"From: Клиент {n % 37} <client{n % 37}@example.org>\r\n"
            f"To: support@zabota.example\r\nSubject: Заявка {n}\r\n"
            f"Message-ID: <kill-{n}@example.org>\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Текст заявки номер {n}.\r\n").encode()


def ingestion(url: str, data_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "ZABOTA_DATABASE_URL": url, "ZABOTA_DATA_DIR": str(data_dir)}
    with log.open("wb") as stderr:
        return subprocess.Popen([sys.executable, "-m", "zabota.channels.email.imap"], env=env,
                                stdout=subprocess.DEVNULL, stderr=stderr)


def stored(database: Database) -> int:
    with database.read_sessions() as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(Message)) or 0)


def test_a_killed_ingestion_restarted_stores_every_message_once(committed_db_url,
                                                                dovecot: Dovecot, tmp_path):
    database = Database(committed_db_url)
    user, password = dovecot.new_mailbox()
    dovecot.append(user, password, [letter(n) for n in range(MESSAGES)])
    with database.session_scope() as session:
        channels.create_account(session, actor=SYSTEM, kind=Channel.EMAIL, name="support",
                                address="support@zabota.example",
                                config={"imap_host": dovecot.host, "imap_port": dovecot.port,
                                        "imap_ssl": False, "imap_username": user,
                                        "imap_password": password})

    first = ingestion(committed_db_url, tmp_path, tmp_path / "first.log")
    deadline = time.monotonic() + 120
    while stored(database) < MESSAGES // 5 and first.poll() is None:
        assert time.monotonic() < deadline, "ingestion made no progress"
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    killed_at = stored(database)
    assert first.returncode == -signal.SIGKILL
    assert 0 < killed_at < MESSAGES, "the kill came too late to prove anything"

    second = ingestion(committed_db_url, tmp_path, tmp_path / "second.log")
    second.wait(timeout=300)
    assert second.returncode == 0, (tmp_path / "second.log").read_text(errors="replace")[-2000:]

    with database.read_sessions() as session:
        ids = list(session.scalars(sa.select(Message.external_id)
                                   .where(Message.channel == Channel.EMAIL)))
    database.dispose()
    assert len(ids) == MESSAGES
    assert sorted(ids) == sorted(f"<kill-{n}@example.org>" for n in range(MESSAGES))
    assert all("\\Seen" in flags for flags in dovecot.flags(user, password))
