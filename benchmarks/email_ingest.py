"""E-mail ingestion: messages per second from a local Dovecot mailbox into tickets.

    python -m benchmarks.email_ingest                     # 10,000 messages, SQLite
    python -m benchmarks.email_ingest --messages 300      # a smoke run, seconds
    python -m benchmarks.email_ingest --db postgresql

A private Dovecot (Debian's `dovecot-imapd`, started like the tests start it) gets one
mailbox of N mixed messages, written straight into its Maildir: Russian and English, plain
and multipart/alternative, koi8-r / windows-1251 / UTF-8, quoted replies that thread into
earlier tickets, attachments, 5 % auto-replies and 2 % bounces, from a few thousand
customers. Then one `poll_account` takes the mailbox in as the worker does — fetch in
batches, one transaction per message, flags after commit — and the script checks that every
message was stored (or ignored) exactly once. Target: ≥ 200 messages/s on SQLite.
"""

from __future__ import annotations

import argparse
import base64
import logging
import os
import random
import sys
import time
from pathlib import Path

import sqlalchemy as sa
from tests.channels.email.dovecot import Dovecot, start_dovecot

from benchmarks.harness import (
    DEFAULT_WORKDIR,
    command_line,
    create_pg_database,
    database_version,
    drop_pg_database,
    machine_summary,
    pg_database_name,
    sqlite_url,
)
from zabota.channels import service as channels
from zabota.channels.email import imap
from zabota.core.db import Database
from zabota.core.logging import configure_logging
from zabota.core.migrate import upgrade
from zabota.core.settings import Settings
from zabota.identity import service as identity
from zabota.identity.permissions import SYSTEM
from zabota.tickets.models import Channel, Message, Ticket

TARGET = 200.0
_RU = ["Не приходит код подтверждения", "Где мой заказ", "Прошу вернуть деньги",
       "Не работает личный кабинет", "Смена тарифа", "Ошибка при оплате картой"]
_EN = ["Order not delivered", "Refund request", "Cannot log in", "Invoice is wrong",
       "App crashes on start", "Change my plan"]
_PDF = base64.encodebytes(b"%PDF-1.4\n% benchmark\n" + b"0" * 4000).decode()


def message(n: int, rng: random.Random, sent: list[int]) -> tuple[bytes, str]:
    """One mixed message and what it should become: ticket, reply, auto_reply or bounce.
    `sent[k]` is the customer of message k (a reply comes from the same person)."""
    customer = rng.randrange(3000)
    sent.append(customer)
    russian = rng.random() < 0.6
    subject = rng.choice(_RU if russian else _EN)
    sender = f"Клиент {customer} <c{customer}@example.org>" if russian else (
        f"Customer {customer} <c{customer}@example.org>")
    roll = rng.random()
    if roll < 0.05:
        return (f"From: c{customer}@example.org\r\nSubject: Автоответ: {subject}\r\n"
                f"Auto-Submitted: auto-replied\r\nMessage-ID: <b{n}@example.org>\r\n\r\n"
                "Я в отпуске.\r\n").encode(), "auto_reply"
    if roll < 0.07:
        return (f"From: MAILER-DAEMON@mx.example.org\r\nSubject: Undelivered Mail\r\n"
                f"Message-ID: <b{n}@example.org>\r\n\r\nUser unknown.\r\n").encode(), "bounce"
    body = (f"Здравствуйте! {subject}. Номер заказа {rng.randrange(10**6)}.\r\n"
            f"Пишу уже не первый раз, помогите, пожалуйста.\r\n" if russian else
            f"Hello, {subject.lower()}. Order {rng.randrange(10**6)}.\r\nPlease help.\r\n")
    headers = (f"From: {sender}\r\nTo: support@zabota.example\r\nSubject: {subject}\r\n"
               f"Date: Mon, 2 Mar 2026 10:00:00 +0300\r\nMessage-ID: <b{n}@example.org>\r\n"
               "MIME-Version: 1.0\r\n")
    kind = "ticket"
    if n > 10 and roll < 0.20:  # a reply to an earlier message: threads into its ticket
        earlier = rng.randrange(n)
        sent[n] = sent[earlier]
        headers = headers.replace(f"c{customer}@", f"c{sent[earlier]}@").replace(
            f" {customer} <", f" {sent[earlier]} <")
        headers += f"In-Reply-To: <b{earlier}@example.org>\r\n"
        body += f"\r\nOn Mon, 2 Mar 2026 at 10:00, Support <support@zabota.example> wrote:\r\n" \
                f"> Earlier message {earlier}\r\n"
        kind = "reply"
    charset = "utf-8"
    if russian and roll > 0.90:
        charset = rng.choice(["koi8-r", "windows-1251"])
    if roll > 0.95:  # with an attachment
        return (headers + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
                f"Content-Type: text/plain; charset={charset}\r\n"
                "Content-Transfer-Encoding: 8bit\r\n\r\n").encode() + body.encode(charset) + (
            '\r\n--b\r\nContent-Type: application/pdf; name="scan.pdf"\r\n'
            'Content-Disposition: attachment; filename="scan.pdf"\r\n'
            f"Content-Transfer-Encoding: base64\r\n\r\n{_PDF}\r\n--b--\r\n").encode(), kind
    if roll > 0.6:  # multipart/alternative with HTML
        html = "<html><body><p>" + body.replace("\r\n", "<br>") + "</p></body></html>"
        return (headers + 'Content-Type: multipart/alternative; boundary="a"\r\n\r\n--a\r\n'
                f"Content-Type: text/plain; charset={charset}\r\n\r\n").encode() + (
            body.encode(charset) + b"\r\n--a\r\n"
            + f"Content-Type: text/html; charset={charset}\r\n\r\n".encode()
            + html.encode(charset) + b"\r\n--a--\r\n"), kind
    return (headers + f"Content-Type: text/plain; charset={charset}\r\n"
            "Content-Transfer-Encoding: 8bit\r\n\r\n").encode() + body.encode(charset), kind


def fill_mailbox(server: Dovecot, user: str, count: int, seed: int) -> dict[str, int]:
    """Write the messages into the user's Maildir/new (what a delivery agent does)."""
    rng = random.Random(seed)
    maildir = server.root / "mail" / user / "Maildir"
    for sub in ("new", "cur", "tmp"):
        (maildir / sub).mkdir(parents=True, exist_ok=True)
        os.chown(maildir / sub, server.uid, server.gid)
    os.chown(maildir, server.uid, server.gid)
    kinds: dict[str, int] = {}
    sent: list[int] = []
    for n in range(count):
        raw, kind = message(n, rng, sent)
        kinds[kind] = kinds.get(kind, 0) + 1
        path = maildir / "new" / f"{1_700_000_000 + n}.{n}.bench"
        path.write_bytes(raw)
        os.chown(path, server.uid, server.gid)
    return kinds


def run(url: str, count: int, seed: int, workdir: Path) -> float:
    upgrade(url)
    database = Database(url)
    server = start_dovecot()
    try:
        user, password = server.new_mailbox()
        kinds = fill_mailbox(server, user, count, seed)
        settings = Settings(data_dir=workdir / "var", database_url=url, secret_key="bench")
        with database.session_scope() as session:
            team = identity.create_team(session, name="Бенчмарк", actor=SYSTEM)
            account = channels.create_account(
                session, actor=SYSTEM, kind=Channel.EMAIL, name="bench", team_id=team.id,
                address="support@zabota.example",
                config={"imap_host": server.host, "imap_port": server.port,
                        "imap_ssl": False, "imap_username": user, "imap_password": password})
            account_id = account.id
        started, cpu_started = time.perf_counter(), time.process_time()
        result = imap.poll_account(database, account_id, settings)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        with database.read_sessions() as session:
            messages = session.scalar(sa.select(sa.func.count()).select_from(Message))
            tickets = session.scalar(sa.select(sa.func.count()).select_from(Ticket))
        ignored = kinds.get("auto_reply", 0) + kinds.get("bounce", 0)
        rate = result.fetched / elapsed
        print(f"  mailbox: {count} messages {dict(sorted(kinds.items()))}")
        print(f"  fetched {result.fetched}, stored {result.stored}, ignored {result.ignored}, "
              f"quarantined {result.quarantined}, failed {result.failed}")
        print(f"  database: {messages} messages in {tickets} tickets")
        print(f"  {elapsed:.1f} s → {rate:.0f} messages/s (target ≥ {TARGET:.0f}/s on SQLite); "
              f"CPU {1000 * cpu / count:.2f} ms per message in this process, "
              f"{count / cpu:.0f} messages per CPU-second")
        assert result.fetched == count and result.failed == 0, "not every message was taken"
        assert messages == count - ignored and result.ignored == ignored, "lost or doubled"
        return rate
    finally:
        server.stop()
        database.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--workdir", type=Path, default=DEFAULT_WORKDIR / "email")
    args = parser.parse_args(argv)
    configure_logging(level=logging.WARNING)
    args.workdir.mkdir(parents=True, exist_ok=True)
    if args.db == "sqlite":
        path = args.workdir / "email_ingest.db"
        path.unlink(missing_ok=True)
        for suffix in ("-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = sqlite_url(path)
    else:
        name = "zabota_bench_email"
        url = create_pg_database(name)
    print(command_line("benchmarks.email_ingest", argv))
    print(f"machine: {machine_summary()}")
    print(f"database: {args.db} ({database_version(url)})")
    try:
        rate = run(url, args.messages, args.seed, args.workdir)
    finally:
        if args.db == "postgresql":
            drop_pg_database(pg_database_name(url))
    print(f"RESULT email_ingest {args.db}: {rate:.0f} messages/s")
    return 0 if args.db != "sqlite" or rate >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
