"""Score any model's predictions with every metric the pipeline reports, the way it computes them.

    from haframe.score import score
    result = score(logits, labels, "hierarchy.tsv", classes=names, posthoc=["crm"])

    python -m haframe.score --scores S.npy --labels y.npy --hierarchy H.tsv [--classes C.txt]
        [--kind logits|probabilities] [--posthoc crm] [--out metrics.json]

``scores``: N x K, one column per leaf of the hierarchy, in the order of ``classes`` (default: the
hierarchy's own class order); ``kind``: ``logits`` (any real scores: the distribution is their
softmax, as for every method of the pipeline) or ``probabilities`` (rows that are distributions,
used as they are). The result holds top-1 error, mistake severity, AHD@1/5/20, HOPS, HOPS@20/@5,
per-level and full-path accuracy and ECE, and per post-hoc chain its re-ranked metrics: the
values the pipeline's evaluation writes to a run's ``metrics.json`` for the same scores. A run's
saved scores (``scores/test.npz``) may be passed as ``--scores`` with no labels or classes.
Every input is checked before any metric, each problem named with what was expected.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .assets import RunAssets
from .evaluate import Scores, chain_prediction, leaf_probabilities, prediction_metrics
from .hierarchy import Hierarchy, HierarchyError
from .parsers import FORMATS, read_hierarchy

KINDS = ("logits", "probabilities")
SUM_TOLERANCE = 1e-4  # |row sum - 1| allowed for probabilities (float32 rounding of a softmax is ~1e-7)


class ScoreError(ValueError):
    """An input that cannot be scored; the message names the input and what was expected."""


def score(
    scores: np.ndarray,
    labels: np.ndarray,
    hierarchy: Hierarchy | str | Path,
    classes: Sequence[str] | None = None,
    kind: str = "logits",
    posthoc: Sequence[str] = (),
    hierarchy_format: str | None = None,
) -> dict:
    """Every metric of the predictions ``scores`` (N x K) of images of leaves ``labels`` (N
    integers, indices into ``classes``), and under each post-hoc chain of ``posthoc`` its
    re-ranked metrics (module docstring)."""
    tree = _hierarchy(hierarchy, hierarchy_format)
    for chain in posthoc:
        _check_chain(chain)
    scores, labels = _checked(np.asarray(scores), np.asarray(labels), tree, classes, kind)
    assets = RunAssets(hierarchy=tree, distances=tree.distance_matrix(), levels=tree.level_labels(), frames={})
    if kind == "probabilities":  # ranked by the probabilities themselves; log keeps their order
        probabilities = scores.astype(np.float64)
        scores = np.log(np.clip(probabilities, np.finfo(np.float64).tiny, None))
    else:
        probabilities = leaf_probabilities(scores)
    result = prediction_metrics(scores, probabilities, labels, assets)
    for chain in posthoc:
        result[chain] = chain_prediction(chain, scores, probabilities, labels, assets)[0]
    return result


def _hierarchy(hierarchy: Hierarchy | str | Path, fmt: str | None) -> Hierarchy:
    if isinstance(hierarchy, Hierarchy):
        return hierarchy
    path = Path(hierarchy)
    if not path.is_file():
        raise ScoreError(f"hierarchy: {path} is not a file")
    fmt = fmt or {".tsv": "tsv", ".pkl": "nltk_tree", ".pickle": "nltk_tree"}.get(path.suffix, "edges")
    try:
        return read_hierarchy(path, fmt)
    except (HierarchyError, ValueError) as error:
        raise ScoreError(f"hierarchy: {path} does not parse as {fmt} ({error}); formats: {list(FORMATS)}") from None


def _check_chain(chain: str) -> None:
    from .methods import posthoc_chain

    try:
        rules = posthoc_chain(chain)
    except KeyError as error:
        raise ScoreError(f"posthoc: {error.args[0]}") from None
    for rule in rules:
        if rule.auxiliary:
            raise ScoreError(
                f"posthoc: {chain!r}: rule {rule.name!r} needs the scores of an auxiliary model "
                f"({rule.auxiliary.name}), which score() does not take; rules without one: crm"
            )


def _checked(
    scores: np.ndarray, labels: np.ndarray, tree: Hierarchy, classes: Sequence[str] | None, kind: str
) -> tuple[np.ndarray, np.ndarray]:
    """``scores`` and ``labels`` in the hierarchy's class order, after every check."""
    if kind not in KINDS:
        raise ScoreError(f"kind: {kind!r}; expected one of {list(KINDS)}")
    if (
        scores.ndim != 2
        or not np.issubdtype(scores.dtype, np.number)
        or np.issubdtype(scores.dtype, np.complexfloating)
    ):
        raise ScoreError(f"scores: expected a real N x K array, got shape {scores.shape} of {scores.dtype}")
    bad = ~np.isfinite(scores)
    if bad.any():
        row, column = np.argwhere(bad)[0]
        raise ScoreError(f"scores: {int(bad.sum())} NaN or infinite value(s), the first at row {row}, column {column}")
    if labels.ndim != 1 or len(labels) != len(scores):
        raise ScoreError(f"labels: expected {len(scores)} labels (one per row of scores), got shape {labels.shape}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ScoreError(f"labels: expected integer class indices, got {labels.dtype}")
    names = list(tree.classes) if classes is None else [str(c) for c in classes]
    if scores.shape[1] != len(names):
        where = f"{len(names)} classes are named" if classes is not None else f"the hierarchy has {len(names)} leaves"
        raise ScoreError(f"scores: {scores.shape[1]} columns, but {where}")
    outside = (labels < 0) | (labels >= len(names))
    if outside.any():
        raise ScoreError(
            f"labels: {int(outside.sum())} outside [0, {len(names) - 1}], the first {int(labels[outside][0])} "
            f"(row {int(np.flatnonzero(outside)[0])})"
        )
    if kind == "probabilities":
        sums = scores.sum(axis=1, dtype=np.float64)
        off = np.flatnonzero((np.abs(sums - 1.0) > SUM_TOLERANCE) | (scores < 0).any(axis=1))
        if len(off):
            raise ScoreError(
                f"scores: kind 'probabilities', but {len(off)} row(s) are not distributions (row {off[0]} sums to "
                f"{sums[off[0]]:.6g}, its smallest value {scores[off[0]].min():.3g}); expected values >= 0 summing "
                f"to 1 within {SUM_TOLERANCE}; pass kind='logits' for unnormalised scores"
            )
    if classes is None:
        return scores, labels.astype(np.int64)
    return _in_hierarchy_order(scores, labels, names, tree)


def _in_hierarchy_order(
    scores: np.ndarray, labels: np.ndarray, names: list[str], tree: Hierarchy
) -> tuple[np.ndarray, np.ndarray]:
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ScoreError(f"classes: {duplicates[:5]} named more than once")
    index = {name: i for i, name in enumerate(tree.classes)}
    unknown = [name for name in names if name not in index]
    if unknown:
        raise ScoreError(
            f"classes: {len(unknown)} name(s) are not leaves of the hierarchy, e.g. {unknown[:3]} "
            f"(its leaves begin {list(tree.classes[:3])})"
        )
    position = np.array([index[name] for name in names])
    ordered = np.empty_like(scores)
    ordered[:, position] = scores
    return ordered, position[labels].astype(np.int64)


def _read_array(path: str, what: str) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise ScoreError(f"{what}: {path} is not a readable .npy file ({error})") from None


def _read_classes(path: str) -> list[str]:
    if path.endswith(".npy"):
        return [str(c) for c in _read_array(path, "classes")]
    return [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m haframe.score", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scores", required=True, help="N x K .npy, or a run's scores/{split}.npz")
    parser.add_argument("--labels", help="N integer labels (.npy); not with a run's scores file")
    parser.add_argument("--hierarchy", required=True, help="tsv, edge list or the authors' nltk pickle")
    parser.add_argument("--hierarchy-format", choices=FORMATS, help="default: by the file's suffix")
    parser.add_argument("--classes", help="the scores' column names: a text file, one per line, or .npy")
    parser.add_argument("--kind", choices=KINDS, default="logits")
    parser.add_argument("--posthoc", action="append", default=[], help="a post-hoc chain, e.g. crm (repeatable)")
    parser.add_argument("--out", help="write the metrics here (JSON); default: print them")
    args = parser.parse_args(argv)
    try:
        if args.scores.endswith(".npz"):
            if args.labels:
                raise ScoreError("labels: a run's scores file holds its labels; leave --labels out")
            saved = Scores.load(args.scores)
            scores, labels, classes = saved.scores, saved.targets, args.classes and _read_classes(args.classes)
            classes = classes or [str(c) for c in saved.classes]
        else:
            if not args.labels:
                raise ScoreError("labels: --labels is required with a .npy scores file")
            scores, labels = _read_array(args.scores, "scores"), _read_array(args.labels, "labels")
            classes = _read_classes(args.classes) if args.classes else None
        result = score(scores, labels, args.hierarchy, classes, args.kind, args.posthoc, args.hierarchy_format)
    except ScoreError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    text = json.dumps(result, indent=2) + "\n"
    if args.out:
        from .fileio import write_text

        write_text(args.out, text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
