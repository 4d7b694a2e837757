"""Trade-off fronts: which settings of a method are not beaten on both axes at once, and whose
fronts dominate whose.

A series' points are (x, y) pairs, e.g. a method's trials as (top-1 error, mistake severity),
both lower-is-better (``maximise_y``: y higher-is-better, as HOPS). Its Pareto front is the set
of points that no other point beats on both axes. Two fronts are compared through their
attainment functions, A(g) = the best y reachable at x <= g: a step function that changes only
at the fronts' x values, so comparing on the union of those values is exact.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class FrontPanel:
    """One panel of the fronts figure: every point of each series, and each series' selected
    values as (mean x, CI x, mean y, CI y) (a CI may be None)."""

    x_label: str
    y_label: str
    points: Mapping[str, tuple[np.ndarray, np.ndarray]]
    selected: Mapping[str, tuple[float, float | None, float, float | None]]
    maximise_y: bool = False


def _oriented(y: np.ndarray, maximise_y: bool) -> np.ndarray:
    """y as a lower-is-better quantity."""
    return -np.asarray(y, dtype=float) if maximise_y else np.asarray(y, dtype=float)


def pareto_front(x: np.ndarray, y: np.ndarray, maximise_y: bool = False) -> np.ndarray:
    """Indices of the points no other point beats on both axes (lower x; lower y, or higher
    with ``maximise_y``), sorted by x; of equal points the first is kept; NaN points (a failed
    trial) are ignored. Sort by (x, y) and keep each point that improves the best y so far."""
    x, y = np.asarray(x, dtype=float), _oriented(y, maximise_y)
    finite = np.flatnonzero(np.isfinite(x) & np.isfinite(y))
    order = finite[np.lexsort((finite, y[finite], x[finite]))]  # by x, then y, then position
    kept, best = [], math.inf
    for i in order:
        if y[i] < best:
            kept.append(i)
            best = y[i]
    return np.array(kept, dtype=np.int64)


def attainment(front_x: np.ndarray, front_y: np.ndarray, grid: np.ndarray, maximise_y: bool = False) -> np.ndarray:
    """At each grid value g, the best y of the front's points with x <= g (inf, or -inf with
    ``maximise_y``, where none is)."""
    front_x, y = np.asarray(front_x, dtype=float), _oriented(front_y, maximise_y)
    best = np.array([y[front_x <= g].min() if np.any(front_x <= g) else math.inf for g in np.asarray(grid)])
    return -best if maximise_y else best


def _intervals(better: np.ndarray, grid: np.ndarray) -> list[tuple[float, float]]:
    """The [grid[i], grid[i + 1]) ranges where ``better`` holds, adjacent ones merged (the last
    one runs to inf)."""
    out: list[tuple[float, float]] = []
    for i in np.flatnonzero(better):
        low, high = float(grid[i]), float(grid[i + 1]) if i + 1 < len(grid) else math.inf
        if out and out[-1][1] == low:
            out[-1] = (out[-1][0], high)
        else:
            out.append((low, high))
    return out


def compare_fronts(points: Mapping[str, tuple[np.ndarray, np.ndarray]], maximise_y: bool = False) -> list[dict]:
    """For every pair of series (a before b in ``points``' order): ``verdict`` — "a dominates
    b" (a's attainment is at least as good at every x and better at some), "b dominates a",
    "equal", or "cross" (each is better somewhere) — and the x ranges where each is strictly
    better (``a_better``, ``b_better``: [low, high) pairs; a front that starts at a larger x is
    beaten where it reaches nothing yet)."""
    fronts = {}
    for name, (x, y) in points.items():
        kept = pareto_front(x, y, maximise_y)
        fronts[name] = (np.asarray(x, dtype=float)[kept], np.asarray(y, dtype=float)[kept])
    names, rows = list(fronts), []
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            grid = np.unique(np.concatenate([fronts[a][0], fronts[b][0]]))
            ya = _oriented(attainment(*fronts[a], grid, maximise_y), maximise_y)
            yb = _oriented(attainment(*fronts[b], grid, maximise_y), maximise_y)
            a_better, b_better = ya < yb, yb < ya
            if a_better.any() and b_better.any():
                verdict = "cross"
            elif a_better.any():
                verdict = "a dominates b"
            elif b_better.any():
                verdict = "b dominates a"
            else:
                verdict = "equal"
            rows.append(
                {
                    "a": a,
                    "b": b,
                    "verdict": verdict,
                    "a_better": _intervals(a_better, grid),
                    "b_better": _intervals(b_better, grid),
                }
            )
    return rows


def _ranges(intervals: Sequence[tuple[float, float]]) -> str:
    return "; ".join(f"[{low:.4g}, {high:.4g})" for low, high in intervals)


def _verdict(row: dict) -> str:
    if row["verdict"] == "a dominates b":
        return f"`{row['a']}` dominates `{row['b']}`"
    if row["verdict"] == "b dominates a":
        return f"`{row['b']}` dominates `{row['a']}`"
    return "equal" if row["verdict"] == "equal" else "the fronts cross"


def dominance_markdown(rows: Sequence[dict], x_label: str, y_label: str) -> str:
    """A Markdown table of ``compare_fronts``' rows, one pair per line."""
    lines = [
        f"### Fronts: {y_label} against {x_label}",
        "",
        "Each front is read as the best value reachable at a given x or lower; a front dominates another "
        "where it is at least as good at every x and better at some; where each is better somewhere the "
        "fronts cross, and the x ranges say where.",
        "",
        "| a | b | verdict | a better at x in | b better at x in |",
        "|---|---|---|---|---|",
    ]
    lines += [
        f"| {row['a']} | {row['b']} | {_verdict(row)} | {_ranges(row['a_better'])} | {_ranges(row['b_better'])} |"
        for row in rows
    ]
    return "\n".join(lines) + "\n"


def dominance_csv(panels: Mapping[str, Sequence[dict]]) -> str:
    """``compare_fronts``' rows of each panel (by its y metric) as CSV: y, a, b, verdict,
    a_better, b_better."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["y", "a", "b", "verdict", "a_better", "b_better"])
    for y, rows in panels.items():
        for row in rows:
            writer.writerow([y, row["a"], row["b"], row["verdict"], _ranges(row["a_better"]), _ranges(row["b_better"])])
    return buffer.getvalue()
