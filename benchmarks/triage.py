"""The time triage adds to a new ticket, and the time to retrain the category model.

    python -m benchmarks.triage                        # 500 tickets; retrain on 100,000
    python -m benchmarks.triage --quick                # a smoke run: 30 tickets, 2,000 rows

Both on a fresh, migrated SQLite database in the work directory, set up as an admin would:
20 categories over 4 teams, 12 phrase rules, 16 online agents with skills, and an active
category model trained from solved tickets.

Latency: tickets are created (not timed) with texts the model has not seen; then each is
triaged by `routing.service.triage_ticket` — language, lemmas, rules, category model,
sentiment, priority, assignment, the history events and the triage row, flushed — and that
call is timed, one ticket per transaction, as the outbox dispatcher runs it. The first
loading of the sentiment and category models (about 3 s, once per process) is done before
timing. The figures per step come from timing the same steps on the same texts alone.

Retraining: solved tickets are bulk-inserted (not timed); then `train_category_model` runs
end to end — reading subject and first message of every solved ticket, the held-out split,
model selection and fit (`ml.pipeline.train_text_classifier`), the held-out metrics,
saving the skops artefact and registering it.

Synthetic tickets: a line of Banking77 (8 intents) or ru_support_intents (12 intents) as
the request, plus a random CEDR or GoEmotions sentence as the noise of a real message.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from benchmarks.harness import (
    SHARED_DATA,
    command_line,
    machine_summary,
    migrate,
    percentile,
    sqlite_url,
)
from zabota.core.db import Database
from zabota.core.logging import configure_logging
from zabota.identity import service as identity
from zabota.identity.models import IdentityKind, Presence, Role
from zabota.identity.permissions import SYSTEM
from zabota.migrations.models import load_all_models
from zabota.ml import inference
from zabota.ml.language import detect_language
from zabota.ml.text import model_terms
from zabota.routing import classifier
from zabota.routing import service as routing
from zabota.routing.rules import Facts, apply_rules
from zabota.routing.schemas import RuleActions, RuleConditions
from zabota.tickets import service as tickets
from zabota.tickets.models import AuthorKind, Channel, Message, Priority, Status, Ticket

DATA = SHARED_DATA
ENGLISH_INTENTS = 8
TEAMS = ("Первая линия", "Финансы", "Доставка", "Карты")
PHRASES = (["сбой транзакции", "транзакция не прошла"], ["не пришёл код"],
           ["заблокировать карту"], ["card stolen", "card lost"], ["refund"],
           ["курьер не приехал"], ["двойное списание"], ["верните деньги"],
           ["exchange rate"], ["top up failed"], ["не работает приложение"],
           ["personal data"])


def read_jsonl(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


class Synthetic:
    """Labelled requests with noise, from the shared data sets."""

    def __init__(self, data: Path, rng: random.Random) -> None:
        self.rng = rng
        english = read_jsonl(data / "banking77" / "train.jsonl")
        counts: dict[str, int] = {}
        for row in english:
            counts[row["label"]] = counts.get(row["label"], 0) + 1
        keep = set(sorted(counts, key=lambda k: -counts[k])[:ENGLISH_INTENTS])
        self.requests = [(r["text"], r["label"]) for r in english if r["label"] in keep]
        self.requests += [(r["text"], r["label"])
                          for r in read_jsonl(data / "ru_support_intents" / "train.jsonl")]
        self.noise = [r["text"] for r in read_jsonl(data / "cedr_sentiment" / "train.jsonl")]
        self.noise += [r["text"] for r in read_jsonl(
            data / "goemotions_sentiment" / "train.jsonl")][:10_000]
        self.labels = sorted({label for _, label in self.requests})

    def ticket(self) -> tuple[str, str]:
        text, label = self.rng.choice(self.requests)
        return f"{text} {self.rng.choice(self.noise)}", label


def set_up(database: Database, synthetic: Synthetic) -> dict[str, int]:
    """Teams, categories, rules and online agents with skills, as an admin would."""
    with database.session_scope() as session:
        teams = [identity.create_team(session, name=name, actor=SYSTEM) for name in TEAMS]
        team_of = {label: teams[i % len(teams)].id for i, label in enumerate(synthetic.labels)}
        for label in synthetic.labels:
            routing.create_category(session, actor=SYSTEM, key=label.replace("_", "-"),
                                    name_ru=label, name_en=label, team_id=team_of[label],
                                    skill=label)
        for i, phrases in enumerate(PHRASES):
            label = synthetic.labels[i % len(synthetic.labels)].replace("_", "-")
            routing.create_rule(session, actor=SYSTEM, name=f"Правило {i + 1}",
                                conditions=RuleConditions(phrases=phrases),
                                actions=RuleActions(category=label,
                                                    priority=Priority.HIGH if i % 3 == 0
                                                    else None))
        for n in range(16):
            team = teams[n % len(teams)]
            skills = [(label, lang, 1 + n % 3) for label in synthetic.labels
                      if team_of[label] == team.id for lang in ("ru", "en")]
            user = identity.create_user(session, email=f"agent{n}@bench.zabota",
                                        name=f"Агент {n}", role=Role.AGENT, actor=SYSTEM,
                                        team_ids=[team.id], skills=skills, capacity=10_000)
            user.presence = Presence.ONLINE
        routing.update_routing_settings(session, actor=SYSTEM, confidence_threshold=0.5,
                                        repeat_days=7, min_training_rows=50,
                                        min_per_category=5)
        customer = identity.find_or_create_customer(
            session, identities=[(IdentityKind.EMAIL, "bulk@bench.zabota")], name="Клиент")
        return {"customer_id": customer.id}


def insert_solved(database: Database, synthetic: Synthetic, rows: int, customer_id: int,
                  *, batch: int = 5_000) -> None:
    """Solved tickets with their first message, straight into the tables."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with database.session_scope() as session:
        next_id = (session.scalar(sa.select(sa.func.max(Ticket.id))) or 0) + 1
        for offset in range(0, rows, batch):
            ticket_rows, message_rows = [], []
            for i in range(offset, min(rows, offset + batch)):
                text, label = synthetic.ticket()
                at = start + timedelta(seconds=i)
                ticket_id = next_id + i
                ticket_rows.append({
                    "id": ticket_id, "subject": text[:60], "status": Status.SOLVED,
                    "priority": Priority.NORMAL, "channel": Channel.EMAIL,
                    "customer_id": customer_id, "category": label.replace("_", "-"),
                    "escalation_level": 0, "transfers": 0, "reopens": 0, "replies": 1,
                    "custom_fields": {}, "created_at": at, "updated_at": at, "solved_at": at})
                message_rows.append({
                    "ticket_id": ticket_id, "author_kind": AuthorKind.CUSTOMER,
                    "author_customer_id": customer_id, "direction": "inbound",
                    "channel": Channel.EMAIL, "is_internal": False, "body_text": text,
                    "body_html": f"<p>{text}</p>", "created_at": at})
            session.execute(sa.insert(Ticket), ticket_rows)
            session.execute(sa.insert(Message), message_rows)


def timed(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000


def cold(call: Callable[[], Any]) -> float:
    """`timed`, after forgetting the lemmas an earlier step kept for the text (in a triage
    the first model pays for them, the second reuses them)."""
    inference.lemma_text.cache_clear()
    return timed(call)


def ms(values: Sequence[float]) -> str:
    return (f"p50 {percentile(values, 0.5):.2f} ms  p95 {percentile(values, 0.95):.2f} ms  "
            f"max {max(values):.2f} ms")


def measure_latency(database: Database, synthetic: Synthetic, tickets_n: int,
                    customer_id: int) -> list[str]:
    texts = [synthetic.ticket()[0] for _ in range(tickets_n + 1)]
    with database.session_scope() as session:
        ids = [tickets.create_ticket(session, actor=SYSTEM, subject=text[:60],
                                     message=tickets.NewMessage(text=text),
                                     channel=Channel.EMAIL, customer_id=customer_id).id
               for text in texts]
    with database.session_scope() as session:  # load both models, as the first ticket would
        active = classifier.active_model(session)
        assert active is not None
        classifier.load_pipeline(active)
        routing._sentiment(texts[0])
    totals: list[float] = []
    for ticket_id in ids[1:]:
        with database.session_scope() as session:
            totals.append(timed(lambda s=session, t=ticket_id: routing.triage_ticket(s, t)))
    with database.session_scope() as session:
        assigned = session.scalar(sa.select(sa.func.count()).select_from(Ticket).where(
            Ticket.id.in_(ids), Ticket.assignee_id.is_not(None)))
        model = classifier.active_model(session)
        assert model is not None
        loaded = classifier.load_pipeline(model)
        rules = routing._rule_views(session)
    steps = {
        "language": [timed(lambda t=t: detect_language(t)) for t in texts[1:]],
        "lemmas + rules": [timed(lambda t=t: apply_rules(rules, Facts(
            text=t, terms=tuple(model_terms(t))))) for t in texts[1:]],
        "category model (+ top features)": [
            cold(lambda t=t: classifier.predict(loaded, t))
            for t in texts[1:]],
        "sentiment": [cold(lambda t=t: routing._sentiment(t)) for t in texts[1:]],
    }
    lines = [f"triage of one ticket ({tickets_n} tickets, {assigned} assigned): {ms(totals)}"]
    lines += [f"  {name:<32} {ms(values)}" for name, values in steps.items()]
    return lines


def measure_retraining(database: Database, workdir: Path) -> list[str]:
    with database.session_scope() as session:
        started = time.perf_counter()
        model = routing.train_category_model(session, actor=SYSTEM,
                                             directory=workdir / "models")
        seconds = time.perf_counter() - started
    return [f"retrain on {model.rows + model.metrics['held_out_rows']:,} solved tickets "
            f"({len(model.labels)} categories): {seconds:.1f} s wall; trained on "
            f"{model.rows:,}, held out {model.metrics['held_out_rows']:,}: accuracy "
            f"{model.metrics['accuracy']}, macro-F1 {model.metrics['macro_f1']}; "
            f"model {model.chosen}"]


def main(argv: Sequence[str] | None = None) -> str:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.triage", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tickets", type=int, default=500, help="tickets triaged and timed")
    parser.add_argument("--model-rows", type=int, default=5_000,
                        help="solved tickets the active model is trained on first")
    parser.add_argument("--rows", type=int, default=100_000,
                        help="solved tickets for the timed retraining (0: skip it)")
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data sets")
    parser.add_argument("--workdir", type=Path, help="default: a temporary directory")
    parser.add_argument("--quick", action="store_true", help="a smoke run")
    args = parser.parse_args(argv)
    configure_logging(level=logging.WARNING)
    load_all_models()  # the mappers of every table a ticket row refers to
    if args.quick:
        args.tickets, args.model_rows, args.rows = 30, 600, 2_000
    out = [command_line("benchmarks.triage", argv), machine_summary()]
    print("\n".join(out), flush=True)
    rng = random.Random(20240601)
    synthetic = Synthetic(args.data, rng)
    with tempfile.TemporaryDirectory(prefix="zabota-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        db_path = workdir / "triage.db"
        db_path.unlink(missing_ok=True)
        url = sqlite_url(db_path)
        migrate(url, workdir)
        database = Database(url)
        try:
            ids = set_up(database, synthetic)
            insert_solved(database, synthetic, args.model_rows, ids["customer_id"])
            with database.session_scope() as session:
                routing.train_category_model(session, actor=SYSTEM,
                                             directory=workdir / "models")
            lines = measure_latency(database, synthetic, args.tickets, ids["customer_id"])
            print("\n".join(lines), flush=True)
            out += lines
            if args.rows:
                insert_solved(database, synthetic, args.rows - args.model_rows,
                              ids["customer_id"])
                lines = measure_retraining(database, workdir)
                print("\n".join(lines), flush=True)
                out += lines
        finally:
            database.dispose()
    return "\n".join(out)


if __name__ == "__main__":
    main()
