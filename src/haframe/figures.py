"""Figures (matplotlib, headless). Each function writes one file atomically.

A series (a variant, or a variant with post-hoc rules) has one colour in every figure of a
study: the figure functions take the ``colours`` of ``series_colours(study order)``."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
matplotlib.rcParams["svg.fonttype"] = "none"  # SVG text stays text: searchable, editable for print
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .fileio import atomic_path  # noqa: E402

PALETTE = tuple(
    matplotlib.colormaps["tab20"].colors[i] for i in (*range(0, 20, 2), *range(1, 20, 2))
)  # strong hues first


def series_colours(names: Sequence[str]) -> dict[str, tuple]:
    """A colour per series name, by its position in the study's order (which does not change
    between datasets or figures); the palette repeats after 20 series."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(dict.fromkeys(names))}


def _colour(colours: Mapping[str, tuple] | None, name: str):
    return (colours or {}).get(name)


def _save(fig, *paths: str | Path) -> None:
    """Write the figure to every path (format from the suffix: png, svg, ...)."""
    for path in paths:
        suffix = Path(path).suffix.lstrip(".")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=suffix, dpi=150, bbox_inches="tight")
    plt.close(fig)


def distance_histogram(histogram: dict[int, int], title: str, *paths: str | Path) -> None:
    """Bar chart of how many ordered class pairs sit at each hierarchical distance."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    values = sorted(histogram)
    ax.bar(values, [histogram[v] for v in values], color="#4C72B0")
    ax.set_xlabel("hierarchical distance")
    ax.set_ylabel("class pairs")
    ax.set_xticks(values)
    ax.set_title(title)
    _save(fig, *paths)


def cosine_heatmaps(panels: Sequence[tuple[str, np.ndarray]], title: str, *paths: str | Path) -> None:
    """Side-by-side heatmaps of target cosine matrices (classes in hierarchy order)."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8), squeeze=False)
    for ax, (name, matrix) in zip(axes[0], panels):
        image = ax.imshow(matrix, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_title(name)
        ax.set_xlabel("class")
        ax.set_ylabel("class")
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="cosine")
    fig.suptitle(title)
    _save(fig, *paths)


def clipped_error(mean: float, half_width: float | None, low: float, high: float = math.inf) -> list[list[float]]:
    """An error bar's [[below], [above]] lengths, the interval cut to the metric's range."""
    half = half_width or 0.0
    return [[min(half, mean - low)], [min(half, high - mean)]]


def error_vs_severity(
    rows: Sequence[dict], title: str, *paths: str | Path, colours: Mapping[str, tuple] | None = None
) -> int:
    """Top-1 error vs mistake severity, one point per table row with 95% CI crosses (cut to
    0-100 % and to severities >= 0). Returns the number of series drawn."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    drawn = 0
    for row in rows:
        x, y = row.get("top1_error"), row.get("mistake_severity")
        if not x or not y or x["mean"] is None or y["mean"] is None:
            continue
        ax.errorbar(
            x["mean"],
            y["mean"],
            xerr=clipped_error(x["mean"], x["ci"], 0.0, 100.0),
            yerr=clipped_error(y["mean"], y["ci"], 0.0),
            fmt="o" if row.get("head") == "II" else "s",
            capsize=3,
            label=row["name"],
            color=_colour(colours, row["name"]),
        )
        drawn += 1
    ax.set_xlabel("top-1 error (%)")
    ax.set_ylabel("mistake severity")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    _save(fig, *paths)
    return drawn


def trade_off_fronts(
    panels: Sequence,
    title: str,
    *paths: str | Path,
    colours: Mapping[str, tuple] | None = None,
    marked: Sequence[str] = (),
) -> None:
    """One subplot per ``haframe.report.fronts.FrontPanel``: each series' points as small
    translucent dots, its Pareto front as a step line, its selected values as a large marker
    with CI bars; the series in ``marked`` (the CE baselines) drawn heavier."""
    from .report.fronts import pareto_front

    fig, axes = plt.subplots(1, max(len(panels), 1), figsize=(5 * max(len(panels), 1), 4.2), squeeze=False)
    handles: dict[str, object] = {}
    for ax, panel in zip(axes[0], panels):
        for name, (x, y) in panel.points.items():
            colour, heavy = _colour(colours, name), name in marked
            ax.scatter(x, y, s=10, alpha=0.35, color=colour, linewidths=0)
            front = pareto_front(x, y, panel.maximise_y)
            if len(front) > 1:
                ax.step(x[front], y[front], where="post", color=colour, linewidth=2.4 if heavy else 1.2)
            if name in panel.selected:
                mx, cx, my, cy = panel.selected[name]
                marker = ax.errorbar(
                    mx,
                    my,
                    xerr=cx or 0.0,
                    yerr=cy or 0.0,
                    fmt="D" if heavy else "o",
                    markersize=7,
                    markeredgecolor="black",
                    capsize=3,
                    color=colour,
                )
                handles.setdefault(f"{name} (baseline)" if heavy else name, marker)
        ax.set_xlabel(panel.x_label)
        ax.set_ylabel(panel.y_label)
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    if handles:
        fig.tight_layout()
        fig.legend(list(handles.values()), list(handles), loc="upper center", ncol=min(len(handles), 6), fontsize=8,
                   bbox_to_anchor=(0.5, 0.0))  # fmt: skip
    _save(fig, *paths)


def mean_band(ax, x, curves: Sequence[np.ndarray], label: str, colour=None, linestyle: str = "-") -> None:
    """Mean line over seeds with a min-max band."""
    stacked = np.vstack(curves)
    line = ax.plot(x, stacked.mean(axis=0), label=label, linewidth=1.4, color=colour, linestyle=linestyle)[0]
    if len(curves) > 1:
        ax.fill_between(x, stacked.min(axis=0), stacked.max(axis=0), color=line.get_color(), alpha=0.15)


def ahd_curves(
    curves: dict[str, Sequence[np.ndarray]], title: str, *paths: str | Path, colours: Mapping[str, tuple] | None = None
) -> int:
    """AHD@k against k per variant: mean over seeds, band = range over seeds."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, per_seed in curves.items():
        mean_band(ax, np.arange(1, len(per_seed[0]) + 1), per_seed, name, _colour(colours, name))
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))  # k counts predictions
    ax.set_xlabel("k")
    ax.set_ylabel("average hierarchical distance @k")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    _save(fig, *paths)
    return len(curves)


def training_curves(
    histories: dict[str, Sequence[dict[str, np.ndarray]]],
    title: str,
    *paths: str | Path,
    colours: Mapping[str, tuple] | None = None,
) -> int:
    """Validation top-1 error and training loss per epoch: mean over seeds and range band."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for name, per_seed in histories.items():
        epochs = per_seed[0]["epoch"]
        mean_band(left, epochs, [h["val_top1_error"] for h in per_seed], name, _colour(colours, name))
        mean_band(right, epochs, [h["train_loss"] for h in per_seed], name, _colour(colours, name))
    left.set_ylabel("validation top-1 error (%)")
    right.set_ylabel("training loss")
    for ax in (left, right):
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    left.legend(fontsize=7, ncol=2)
    fig.suptitle(title)
    _save(fig, *paths)
    return len(histories)


# (nc.csv columns: solid, then dashed; axis label; log scale). The authors plot the HAFrame
# target and self-duality on raw class means for HAFrame and on centred means for CE and the
# ETF: the self-duality panel shows both; every variant against the HAFrame target is the
# project's extension (the authors compare only HAFrame models with it)
COLLAPSE_PANELS = (
    (("nc1",), "NC1 = Tr(Sigma_W Sigma_B^+) / K", True),
    (("raw_haframe_dev_mean",), "mean |cos(mu_i, mu_j) - S_ij|, HAFrame S (raw means)", False),
    (("centred_etf_dev_mean",), "mean |cos(mu_i, mu_j) + 1/(K-1)|, ETF (centred means)", False),
    (("self_duality_raw", "self_duality_centred"), "||W/||W|| - M/||M||||^2: raw (solid), centred (dashed)", False),
)


def collapse_curves(
    histories: dict[str, Sequence[dict[str, np.ndarray]]],
    title: str,
    *paths: str | Path,
    colours: Mapping[str, tuple] | None = None,
) -> int:
    """The neural-collapse statistics per checkpoint epoch, one line per variant (mean over
    seeds, band = range over seeds); a variant without a statistic (no linear classifier for
    the self-duality) leaves that panel out."""
    rows = math.ceil(len(COLLAPSE_PANELS) / 2)  # a grid of two columns: readable at the report's width
    fig, grid = plt.subplots(rows, 2, figsize=(9, 3.6 * rows), squeeze=False)
    axes = grid.ravel()
    for ax in axes[len(COLLAPSE_PANELS) :]:
        ax.set_visible(False)
    for ax, (columns, label, log) in zip(axes, COLLAPSE_PANELS):
        for column, linestyle in zip(columns, ("-", "--")):
            for name, per_seed in histories.items():
                if all(column in h and np.isfinite(h[column]).all() for h in per_seed):
                    curves = [h[column] for h in per_seed]
                    label_of = name if linestyle == "-" else None
                    mean_band(ax, per_seed[0]["epoch"], curves, label_of, _colour(colours, name), linestyle)
        ax.set_xlabel("epoch")
        ax.set_title(label, fontsize=9)
        if log:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    _save(fig, *paths)
    return len(histories)


def mistake_distances(
    shares: dict[str, Sequence[np.ndarray]], title: str, *paths: str | Path, colours: Mapping[str, tuple] | None = None
) -> int:
    """Where mistakes land: per variant, the share of its mistakes at each hierarchical distance
    1..H (bars: mean over seeds; whiskers: range over seeds)."""
    fig, ax = plt.subplots(figsize=(6, 4))
    width = 0.8 / max(1, len(shares))
    for i, (name, per_seed) in enumerate(shares.items()):
        stacked = np.vstack(per_seed)
        distances = np.arange(1, stacked.shape[1] + 1)
        mean = stacked.mean(axis=0)
        ax.bar(
            distances + (i - (len(shares) - 1) / 2) * width,
            mean,
            width,
            yerr=[mean - stacked.min(axis=0), stacked.max(axis=0) - mean],
            capsize=2,
            label=name,
            color=_colour(colours, name),
        )
    ax.set_xlabel("hierarchical distance of the mistake d(prediction, target)")
    ax.set_ylabel("share of mistakes")
    ax.set_xticks(np.arange(1, max(len(s[0]) for s in shares.values()) + 1) if shares else [])
    ax.set_title(title)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7)
    _save(fig, *paths)
    return len(shares)


def difference_grids(
    cells: Sequence[dict], metrics: Sequence[str], titles: Sequence[str], label: str, *paths: str | Path
) -> None:
    """One heat-map per metric over an alignment x noise grid: each cell's ``<metric>_diff``
    coloured (red: higher), written with its ``<metric>_diff_ci``."""
    alignments = sorted({c["alignment"] for c in cells}, reverse=True)
    noises = sorted({c["noise"] for c in cells})
    fig, axes = plt.subplots(1, len(metrics), figsize=(5 * len(metrics), 4.2), squeeze=False)
    for ax, metric, title in zip(axes[0], metrics, titles, strict=True):
        grid = np.full((len(alignments), len(noises)), np.nan)
        for c in cells:
            grid[alignments.index(c["alignment"]), noises.index(c["noise"])] = c[f"{metric}_diff"]
        limit = float(np.nanmax(np.abs(grid))) or 1.0
        image = ax.imshow(grid, cmap="RdBu_r", vmin=-limit, vmax=limit)
        for c in cells:
            text = f"{c[f'{metric}_diff']:+.2f}\n± {c[f'{metric}_diff_ci']:.2f}"
            colour = "white" if abs(c[f"{metric}_diff"]) > 0.6 * limit else "black"  # legible on dark cells
            ax.text(noises.index(c["noise"]), alignments.index(c["alignment"]), text, ha="center", va="center",
                    fontsize=7, color=colour)  # fmt: skip
        ax.set_xticks(range(len(noises)), [str(n) for n in noises])
        ax.set_yticks(range(len(alignments)), [str(a) for a in alignments])
        ax.set_xlabel("noise")
        ax.set_ylabel("alignment")
        ax.set_title(f"{label}: {title}")
        fig.colorbar(image, ax=ax, shrink=0.8)
    _save(fig, *paths)


def classifiers_by_year(rows: Sequence[dict], chain: str | None, title: str, *paths: str | Path) -> None:
    """Pretrained classifiers' top-1 error vs mistake severity, coloured by their architecture's
    year (Bertinetto et al., CVPR 2020, Fig. 1); with ``chain``, an arrow from each model to
    its re-ranked point. ``rows``: label, year, top1_error, mistake_severity, and ``chain``'s."""
    fig, ax = plt.subplots(figsize=(6, 4.5))
    years = [row["year"] for row in rows]
    norm = matplotlib.colors.Normalize(min(years) - 0.5, max(years) + 0.5)
    colour = matplotlib.colormaps["viridis"]
    for row in rows:
        x, y = row["top1_error"], row["mistake_severity"]
        ax.scatter(x, y, color=colour(norm(row["year"])), s=36, zorder=3)
        ax.annotate(row["label"], (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
        if chain and row.get(chain):
            to = row[chain]
            ax.annotate(
                "",
                (to["top1_error"], to["mistake_severity"]),
                (x, y),
                arrowprops={"arrowstyle": "->", "color": "0.5", "lw": 0.8},
            )
    fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=colour), ax=ax, label="architecture's year")
    ax.set_xlabel("top-1 error (%)")
    ax.set_ylabel("mistake severity" + (f" (arrows: +{chain})" if chain else ""))
    ax.set_title(title)
    ax.grid(alpha=0.3)
    _save(fig, *paths)
