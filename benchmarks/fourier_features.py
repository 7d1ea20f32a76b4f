"""How many random Fourier features of the sentence embedding the category model should read
(ADR 013): accuracy and fitting time of one fixed model on the same cross-validation splits.

    python -m benchmarks.fourier_features                       # Banking77, 5 folds
    python -m benchmarks.fourier_features --sizes 0 512 --gamma 1

Each fold's TF-IDF and embedding features are fitted once (as `ml.pipeline.build_features`
builds them for categories, without Fourier features); each variant adds its Fourier
columns (`embedding.SentenceEmbedding(fourier=…)`) and fits LinearSVC C = 0.3, the model the
selection keeps on Banking77. The splits are those of `zabota ml eval` (same seed).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

from benchmarks.harness import SHARED_DATA, command_line, machine_summary
from zabota.ml.embedding import DIM, SentenceEmbedding
from zabota.ml.evaluation import read_labelled
from zabota.ml.pipeline import CATEGORY_FEATURES, SEED, build_features, prepare_documents

DEFAULT_DATA = SHARED_DATA / "banking77" / "train.jsonl"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[0, 256, 512, 1024])
    parser.add_argument("--gamma", type=float, default=1.0)
    args = parser.parse_args(argv)
    if not args.data.exists():
        parser.error(f"{args.data} not found: pass --data (../shared/data/banking77/train.jsonl)")
    print(command_line("benchmarks.fourier_features", argv))
    print(machine_summary())
    texts, labels = read_labelled(args.data)
    y = np.asarray(labels)
    docs = prepare_documents(texts)
    accuracy: dict[int, list[float]] = {size: [] for size in args.sizes}
    seconds: dict[int, list[float]] = {size: [] for size in args.sizes}
    splits = StratifiedKFold(args.folds, shuffle=True, random_state=SEED).split(docs, y)
    for fold, (train, test) in enumerate(splits):
        features = build_features(replace(CATEGORY_FEATURES, fourier=0))
        x_train = features.fit_transform(docs[train]).tocsr()
        x_test = features.transform(docs[test]).tocsr()
        # the embedding is the last DIM columns; its Fourier features are computed from them
        embedded = {"train": x_train[:, -DIM:].toarray(), "test": x_test[:, -DIM:].toarray()}
        for size in args.sizes:
            a, b = x_train, x_test
            if size:
                waves = SentenceEmbedding(fourier=size, gamma=args.gamma, random_state=SEED)
                waves.fit([])
                a = sp.hstack([a, waves.fourier_part(embedded["train"])], format="csr")
                b = sp.hstack([b, waves.fourier_part(embedded["test"])], format="csr")
            started = time.perf_counter()
            model = LinearSVC(C=0.3, class_weight="balanced", random_state=SEED).fit(a, y[train])
            seconds[size].append(time.perf_counter() - started)
            accuracy[size].append(float((model.predict(b) == y[test]).mean()))
            print(f"fold {fold} fourier {size:5d}: accuracy {accuracy[size][-1]:.4f}, "
                  f"fit {seconds[size][-1]:.1f} s", flush=True)
    print(f"gamma {args.gamma:g}, {args.folds} folds, {len(y)} rows")
    for size in args.sizes:
        print(f"fourier {size:5d}: mean accuracy {np.mean(accuracy[size]):.4f} "
              f"(folds {' '.join(f'{a:.4f}' for a in accuracy[size])}), "
              f"median fit {np.median(seconds[size]):.1f} s")


if __name__ == "__main__":
    main()
