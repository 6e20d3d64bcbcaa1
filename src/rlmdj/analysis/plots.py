"""Plots of replica distributions: one panel per metric, one strip of points per condition.

Each condition shows every replica (jittered points), its mean and 95% CI, so a reader sees
the spread behind a difference rather than a bar chart of means. Thin lines join the runs of one
replica (same palette and seed) across conditions: the pairs a paired contrast is made of.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rlmdj.analysis.compare import Comparison

__all__ = ["plot_distributions"]


def plot_distributions(comparison: Comparison, path: str | Path, *, metrics: list[str] | None = None) -> Path:
    """Write a PNG of per-condition distributions (default: OBJ and CE) to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = metrics or [m for m in comparison.metrics if m.endswith(("/OBJ", "/CE"))] or comparison.metrics[:1]
    labels = [g.label for g in comparison.groups]
    height = max(2.5, 0.45 * len(labels) + 1.2)
    fig, axes = plt.subplots(1, len(keys), figsize=(5.5 * len(keys), height), squeeze=False)
    rng = np.random.default_rng(0)
    for ax, metric in zip(axes[0], keys, strict=True):
        placed: dict[str, list[tuple[float, float]]] = {}
        for i, g in enumerate(comparison.groups):
            vals = np.asarray(g.values.get(metric, []), dtype=float)
            color = "tab:gray" if g.label == comparison.baseline else "tab:blue"
            ys = i + rng.uniform(-0.12, 0.12, vals.size)
            ax.scatter(vals, ys, s=18, alpha=0.7, color=color)
            for key, x, y in zip(g.unit_keys, vals, ys, strict=False):
                if np.isfinite(x):
                    placed.setdefault(key, []).append((float(x), float(y)))
            s = g.summaries[metric]
            if s.n:
                ax.plot([s.mean], [i], marker="|", markersize=18, color="black")
            if s.n > 1 and np.isfinite(s.ci_low):
                ax.hlines(i, s.ci_low, s.ci_high, color="black", linewidth=2)
        for pts in placed.values():  # one thin line per replica: the pairs the contrasts use
            if len(pts) > 1:
                ax.plot([p[0] for p in pts], [p[1] for p in pts], color="tab:gray", alpha=0.25, linewidth=0.8)
        ax.set_yticks(range(len(labels)))
        ax.set_yticklabels([f"{lab}{' (baseline)' if lab == comparison.baseline else ''}" for lab in labels],
                           fontsize=8)
        ax.set_xlabel(metric)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle("Replicas per condition (point = run, bar = mean, line = 95% CI, grey = same replica)",
                 fontsize=9)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
