"""The e-mail parser against the shared corpus: every message, every expected outcome.

    python -m benchmarks.email_corpus                       # ../shared/data/email_corpus
    python -m benchmarks.email_corpus --corpus DIR -v       # another copy, list every miss

No database: only `zabota.channels.email.parse`. A case passes when the message parses
without an exception (a `MalformedEmail` is a handled outcome: it is quarantined) and every
expected field holds:

* `is_bounce` / `is_autoreply`: ignored with the code `bounce` / `auto_reply` (false: not so);
* `attachment_names`: the names of the files taken from it, in order;
* `subject`: the decoded subject; `charset`: the charset of the body text part;
* `reply_text`: the text left after quoted-reply and signature trimming (bare bodies, the
  `format: body` cases, go through `trim_reply` only).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.harness import SHARED_DATA
from zabota.channels.email.parse import IgnoreCode, MalformedEmail, parse, trim_reply

DEFAULT_CORPUS = SHARED_DATA / "email_corpus"


def check_case(corpus: Path, case: dict[str, Any]) -> tuple[str, list[str]]:
    """The outcome of one case (`ticket`, `bounce`, …, `quarantined`) and its failures."""
    raw = (corpus / case["file"]).read_bytes()
    expected = case.get("expected") or {}
    if case.get("format") == "body":
        text = trim_reply(raw.decode("utf-8", "replace"))
        failures = []
        if "reply_text" in expected and text.strip() != expected["reply_text"].strip():
            failures.append(f"reply_text {text.strip()[:80]!r} != "
                            f"{expected['reply_text'].strip()[:80]!r}")
        return "body", failures
    try:
        parsed = parse(raw)
    except MalformedEmail as exc:
        return "quarantined", [f"quarantined: {exc}"] if expected else []
    except Exception as exc:  # a crash is the one thing that must never happen
        return "crash", [f"crash: {type(exc).__name__}: {exc}"]
    code = parsed.ignored.code if parsed.ignored else None
    outcome = code.value if code else "ticket"
    failures = []
    for key, wanted_code in (("is_bounce", IgnoreCode.BOUNCE),
                             ("is_autoreply", IgnoreCode.AUTO_REPLY)):
        if key in expected and (code == wanted_code) != expected[key]:
            failures.append(f"{key}: expected {expected[key]}, got {outcome}")
    inbound = parsed.inbound
    if "attachment_names" in expected:
        names = [f.filename for f in inbound.files] if inbound else None
        if names != expected["attachment_names"]:
            failures.append(f"attachment_names {names} != {expected['attachment_names']}")
    if "subject" in expected and parsed.subject != expected["subject"]:
        failures.append(f"subject {parsed.subject!r} != {expected['subject']!r}")
    if "charset" in expected and parsed.charset != expected["charset"]:
        failures.append(f"charset {parsed.charset!r} != {expected['charset']!r}")
    if "reply_text" in expected:
        text = inbound.text.strip() if inbound else None
        if text != expected["reply_text"].strip():
            failures.append(f"reply_text {text!r:.80} != {expected['reply_text'].strip()!r:.80}")
    return outcome, failures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("-v", "--verbose", action="store_true", help="print every miss")
    args = parser.parse_args(argv)
    cases = [json.loads(line) for line in (args.corpus / "cases.jsonl").read_text().splitlines()
             if line.strip()]
    passed = 0
    outcomes: Counter[tuple[str, str]] = Counter()
    misses: list[str] = []
    started = time.perf_counter()
    for case in cases:
        outcome, failures = check_case(args.corpus, case)
        outcomes[(case["kind"], outcome)] += 1
        if failures:
            misses.append(f"{case['file']}: {'; '.join(failures)}")
        else:
            passed += 1
    elapsed = time.perf_counter() - started
    print(f"corpus: {args.corpus}")
    print("outcome by kind: " + ", ".join(f"{kind}/{outcome}={n}"
                                          for (kind, outcome), n in sorted(outcomes.items())))
    if args.verbose or len(misses) <= 20:
        for miss in misses:
            print(f"MISS {miss}")
    print(f"{passed}/{len(cases)} cases pass ({100 * passed / max(len(cases), 1):.1f} %), "
          f"{elapsed * 1000 / max(len(cases), 1):.1f} ms per message")
    return 0 if passed == len(cases) else 1


if __name__ == "__main__":
    sys.exit(main())
