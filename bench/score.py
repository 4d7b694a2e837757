"""The score CLI and a post-hoc job at iNat19's size (40,737 test images x 1,010 classes, a tree of
height 7 with iNat19's per-level node counts, trained-like scores: bench/metrics.py's).

Times, in one process: ``python -m haframe.score`` end to end (a fresh interpreter: imports,
reading the .npy files and the tree, every metric, CRM's re-ranked metrics), its ``score()`` call
alone, and a posthoc job's work (``apply_chain("crm")`` on saved validation and test scores of
the same size, 40,695 + 40,737 images); and the disk of one run's saved scores.

    .venv/bin/python bench/score.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from metrics import N_TEST, shaped_tree, trained_like_scores

from haframe.assets import RunAssets
from haframe.evaluate import Scores, apply_chain
from haframe.score import score

N_VAL = 40_695


def best_of(repeats: int, work) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    tree = shaped_tree(rng)
    logits, labels = trained_like_scores(tree.level_labels(), rng)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        np.save(root / "scores.npy", logits)
        np.save(root / "labels.npy", labels)
        (root / "tree.tsv").write_text(tree.to_tsv())
        command = [sys.executable, "-m", "haframe.score", "--scores", str(root / "scores.npy")]
        command += ["--labels", str(root / "labels.npy"), "--hierarchy", str(root / "tree.tsv"), "--posthoc", "crm"]
        cli = best_of(args.repeats, lambda: subprocess.run([*command, "--out", str(root / "m.json")], check=True))
        call = best_of(args.repeats, lambda: score(logits, labels, tree, posthoc=["crm"]))
        record = {"run": {}, "split": "test"}  # apply_chain reads the run's control only: none
        val_logits = logits[:N_VAL]
        saved = {
            "val": Scores(val_logits, labels[:N_VAL], np.array(tree.classes), {**record, "split": "val"}),
            "test": Scores(logits, labels, np.array(tree.classes), record),
        }
        saved["test"].save(root / "test.npz")
        saved["val"].save(root / "val.npz")
        disk = (root / "test.npz").stat().st_size + (root / "val.npz").stat().st_size
    assets = RunAssets(hierarchy=tree, distances=tree.distance_matrix(), levels=tree.level_labels(), frames={})
    posthoc = best_of(args.repeats, lambda: apply_chain("crm", saved, assets))
    print(
        f"inputs: {N_TEST:,} test images x {tree.num_classes:,} classes (validation {N_VAL:,}), best of {args.repeats}"
    )
    print(f"python -m haframe.score --posthoc crm, end to end: {cli:.2f} s")
    print(f"score(..., posthoc=['crm']) in process:          {call:.2f} s")
    print(f"a posthoc job's work, crm on val + test:           {posthoc:.2f} s")
    print(f"one run's saved scores (val + test, npz):          {disk / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
