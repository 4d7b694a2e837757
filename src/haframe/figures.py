"""Figures (matplotlib, headless). Each function writes one file atomically."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .io import atomic_path  # noqa: E402


def _save(fig, path: str | Path) -> None:
    suffix = Path(path).suffix.lstrip(".")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=suffix, dpi=150, bbox_inches="tight")
    plt.close(fig)


def distance_histogram(histogram: dict[int, int], title: str, path: str | Path) -> None:
    """Bar chart of how many ordered class pairs sit at each hierarchical distance."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    values = sorted(histogram)
    ax.bar(values, [histogram[v] for v in values], color="#4C72B0")
    ax.set_xlabel("hierarchical distance")
    ax.set_ylabel("class pairs")
    ax.set_xticks(values)
    ax.set_title(title)
    _save(fig, path)


def cosine_heatmaps(panels: Sequence[tuple[str, np.ndarray]], title: str, path: str | Path) -> None:
    """Side-by-side heatmaps of target cosine matrices (classes in hierarchy order)."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8), squeeze=False)
    for ax, (name, matrix) in zip(axes[0], panels):
        image = ax.imshow(matrix, cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
        ax.set_title(name)
        ax.set_xlabel("class")
        ax.set_ylabel("class")
    fig.colorbar(image, ax=axes[0].tolist(), shrink=0.8, label="cosine")
    fig.suptitle(title)
    _save(fig, path)


def error_vs_severity(rows: Sequence[dict], title: str, path: str | Path) -> None:
    """Top-1 error vs mistake severity, one point per table row with 95% CI bars."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for row in rows:
        x, y = row["top1_error"], row["mistake_severity"]
        if x["mean"] is None or y["mean"] is None:
            continue
        ax.errorbar(x["mean"], y["mean"], xerr=x["ci"] or 0, yerr=y["ci"] or 0,
                    fmt="o", capsize=3, label=row["name"])
    ax.set_xlabel("top-1 error (%)")
    ax.set_ylabel("mistake severity")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path)
