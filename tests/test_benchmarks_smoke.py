"""Every benchmark runs end to end in --quick mode on SQLite and prints its figures.

Timings are not asserted (tests check behaviour; speed lives in docs/performance.md).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from benchmarks import api_create, inbox, routing_quality, search

LATENCY = re.compile(r"server p50 +\d+\.\d+ ms +p95 +\d+\.\d+ ms")


@pytest.fixture(scope="module")
def read_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small dataset, loaded by the first read benchmark and reused by the second."""
    return tmp_path_factory.mktemp("bench")


def test_api_create_reports_tickets_per_second(tmp_path):
    out = api_create.main(["--db", "sqlite", "--quick", "--workdir", str(tmp_path)])

    assert out.startswith("$ python -m benchmarks.api_create --db sqlite --quick")
    assert re.search(r"^sqlite: \d+ tickets/s \(80 tickets", out, re.MULTILINE)
    assert re.search(r"client p50 \d+\.\d ms p95 \d+\.\d ms; server p50 \d+\.\d ms", out)
    assert "rows: tickets 90, customers 90" in out


def test_inbox_reports_latencies_of_each_view(read_workdir):
    out = inbox.main(["--db", "sqlite", "--quick", "--workdir", str(read_workdir)])

    assert re.search(r"sqlite: 1,000 tickets, SQLite [\d.]+; dataset loaded in [\d.]+ s", out)
    rows = [line for line in out.splitlines() if LATENCY.search(line)]
    assert len(rows) == 6
    assert any("ticket page: GET /tickets/{id}/messages (50)" in row for row in rows)


def test_search_reports_latencies_per_query_and_role(read_workdir):
    out = search.main(["--db", "sqlite", "--quick", "--workdir", str(read_workdir)])

    assert re.search(r"dataset (of 1,000 tickets reused|loaded in)", out)
    rows = [line for line in out.splitlines() if LATENCY.search(line)]
    assert {row.split(":")[0].strip() for row in rows} == {"agent", "admin"}
    assert any("q=доставка" in row and "hits 25" in row for row in rows)


def test_routing_quality_compares_rules_with_rules_and_model(tmp_path):
    out = routing_quality.main(["--tickets", "300", "--workdir", str(tmp_path)])

    shares = re.findall(r"^(rules only|rules \+ model) +right team without a person +[\d.]+% +"
                        r"needed a transfer +[\d.]+% +left for a person +[\d.]+%", out,
                        re.MULTILINE)
    assert shares == ["rules only", "rules + model"]
