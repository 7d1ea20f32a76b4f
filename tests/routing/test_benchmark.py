"""benchmarks/triage.py runs end to end on a small setting and prints its figures
(timings are not asserted; they live in docs/performance.md)."""

from __future__ import annotations

import re

from benchmarks import triage


def test_the_triage_benchmark_reports_latency_per_step(tmp_path):
    out = triage.main(["--tickets", "5", "--model-rows", "300", "--rows", "0",
                       "--workdir", str(tmp_path)])

    assert re.search(r"triage of one ticket \(5 tickets, \d+ assigned\): p50 [\d.]+ ms  "
                     r"p95 [\d.]+ ms", out)
    assert "category model (+ top features)" in out and "sentiment" in out
