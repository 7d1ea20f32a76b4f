"""benchmarks/kb_search.py end to end on SQLite with a few articles: it prints its figures.

Timings are not asserted (tests check behaviour; speed lives in docs/performance.md)."""

from __future__ import annotations

import re

from benchmarks import kb_search


def test_kb_search_benchmark_reports_indexing_and_search_times(tmp_path):
    out = kb_search.main(["--db", "sqlite", "--articles", "60", "--searches", "40",
                          "--workdir", str(tmp_path)])

    assert out.startswith("$ python -m benchmarks.kb_search --db sqlite --articles 60")
    assert re.search(r"^sqlite: SQLite [\d.]+; 60 articles \(\d+ ru, \d+ en\)", out, re.M)
    assert re.search(r"indexing per article +mean +[\d.]+ ms +p50 +[\d.]+ ms +p95", out)
    assert re.search(r"search all +n= +40 +p50 +[\d.]+ ms +p95 +[\d.]+ ms", out)
    assert re.search(r"\d+ of 40 queries answered", out)
