"""benchmarks/triage.py runs end to end on a small setting and prints its figures
(timings are not asserted; they live in docs/performance.md)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from benchmarks import triage

FIXTURES = Path(__file__).resolve().parents[1] / "ml" / "fixtures"


def small_data(root: Path) -> Path:
    """The benchmark's four data sets, stood in for by the small ML fixtures (the tests run
    without ../shared/)."""
    for name, source in (("banking77", "intents_train"), ("ru_support_intents", "intents_train"),
                         ("cedr_sentiment", "sentiment_train"),
                         ("goemotions_sentiment", "sentiment_train")):
        (root / name).mkdir(parents=True)
        shutil.copy(FIXTURES / f"{source}.jsonl", root / name / "train.jsonl")
    return root


def test_the_triage_benchmark_reports_latency_per_step(tmp_path):
    out = triage.main(["--tickets", "5", "--model-rows", "300", "--rows", "0",
                       "--workdir", str(tmp_path / "work"),
                       "--data", str(small_data(tmp_path / "data"))])

    assert re.search(r"triage of one ticket \(5 tickets, \d+ assigned\): p50 [\d.]+ ms  "
                     r"p95 [\d.]+ ms", out)
    assert "category model (+ top features)" in out and "sentiment" in out
