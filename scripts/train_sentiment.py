"""Train the shipped sentiment model (ru + en) and write it into the package.

    .venv/bin/python scripts/train_sentiment.py [--data ../shared/data] [--folds 5]

Reads `cedr_sentiment/train.jsonl` and `goemotions_sentiment/train.jsonl` under --data,
cross-validates the recipe per file (the figures go into the manifest), trains on every row
and writes `src/zabota/ml/models/sentiment.skops` with `sentiment.json` beside it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from zabota.core.logging import configure_logging
from zabota.ml.training import PACKAGE_MODELS, TrainingFile, train_and_save_sentiment

ROOT = Path(__file__).resolve().parents[1]
DATA_SETS = ("cedr_sentiment", "goemotions_sentiment")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--folds", type=int, default=5, help="0 skips cross-validation")
    parser.add_argument("--out", type=Path, default=PACKAGE_MODELS / "sentiment.skops")
    args = parser.parse_args()
    configure_logging(json=False)
    files = [TrainingFile(args.data / name / "train.jsonl", f"{name}/train.jsonl")
             for name in DATA_SETS]
    manifest = train_and_save_sentiment(files, args.out, folds=args.folds)
    print(f"wrote {args.out} ({manifest['bytes']} bytes, {manifest['model_version']})")
    print(json.dumps(manifest["metrics"], ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
