"""The chat benchmark runs end to end on a few connections and checks every message.

Timings are not asserted (tests check behaviour; speed lives in docs/performance.md).
"""

from __future__ import annotations

import re

from benchmarks import chat


def test_the_chat_benchmark_hears_and_stores_every_message_once(tmp_path):
    out = chat.main(["--connections", "5", "--messages", "2", "--rate", "20",
                     "--workdir", str(tmp_path)])

    assert out.startswith("$ python -m benchmarks.chat --connections 5")
    assert "agent heard 10 (duplicates 0); stored 10; errors 0" in out
    assert re.search(r"visitor → agent, all +n= +10 +p50 +[\d.]+ ms", out)
    assert re.search(r"target p99 ≤ 100 ms: (met|missed)", out)
