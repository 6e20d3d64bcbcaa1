"""The gap test: why does the DJ score below the reference arrangement?

Four cells, each with replicas: A = reference at the target length, B = reference at the
alternate length, C = DJ at the target length, D = DJ at the alternate length. The contrasts
decompose the gap: B−A the scorer's duration sensitivity, C−A the DJ's decisions, D−A the whole
gap, D−B the decisions at the alternate length.

Replica r of every cell uses the same palette (drawn from r) and seed, so contrasts are paired by
replica when both cells have it — palette variance, the largest source of spread, cancels. With
fewer than two shared replicas a contrast falls back to Welch's unpaired test. p-values are
Holm-corrected across the four contrasts; "distinguishable" means the corrected p is below α.

``rlmdj experiment=gap_test`` runs the cells as a sweep; when it ends :func:`gap_from_store`
computes the decomposition and logs it to the sweep's parent run.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlmdj.analysis.compare import Contrast, RunRecord, compare, contrast, load_runs, with_holm
from rlmdj.analysis.conditions import choose_scorer
from rlmdj.analysis.formatting import number
from rlmdj.analysis.stats import Summary, describe
from rlmdj.config.experiment import CompareConfig, GapConfig
from rlmdj.errors import ParameterError

__all__ = ["CONTRASTS", "GapResult", "gap_decomposition", "gap_markdown", "gap_from_store", "gap_analysis"]

# name, minuend cell, subtrahend cell, what it isolates
CONTRASTS: tuple[tuple[str, str, str, str], ...] = (
    ("B-A", "B", "A", "duration (scorer sensitivity to length)"),
    ("C-A", "C", "A", "DJ decisions at the target length"),
    ("D-A", "D", "A", "total gap"),
    ("D-B", "D", "B", "DJ decisions at the alternate length"),
)


_MEANING = {name: meaning for name, _, _, meaning in CONTRASTS}


@dataclass(frozen=True)
class GapResult:
    """The four cells' summaries and the four contrasts (``label`` is the contrast's name, ``B-A``;
    ``significant``: distinguishable from noise at ``alpha`` after Holm's correction)."""

    metric: str
    cells: dict[str, str]
    summaries: dict[str, Summary]
    contrasts: list[Contrast]
    alpha: float
    notes: tuple[str, ...] = ()


def _cell_values(records: Sequence[RunRecord], dj: str, bars: int, metric: str) -> dict[int, float]:
    out: dict[int, float] = {}
    for r in records:
        cond_dj = r.condition.get("dj", r.params.get("dj.driver"))
        cond_bars = r.condition.get("bars", r.params.get("bars"))
        if cond_dj == dj and str(cond_bars) == str(bars) and metric in r.metrics:
            out[r.replica if r.replica is not None else -len(out) - 1] = r.metrics[metric]
    return out


def gap_decomposition(
    records: Sequence[RunRecord],
    *,
    reference: str = GapConfig.reference,
    target_bars: int = GapConfig.target_bars,
    alt_bars: int = GapConfig.alt_bars,
    metric: str | None = None,
    alpha: float = CompareConfig.alpha,
    primary: str = CompareConfig.primary,
    scorer: str | None = CompareConfig.scorer,
) -> GapResult:
    """The four cells' summaries and the four contrasts with CIs and Holm-corrected tests.

    One scorer is chosen as a comparison chooses it (``experiment.compare.scorer``/``primary``,
    else the one most runs hold), so a rescored sweep, which holds two, is decomposed too.
    """
    notes: list[str] = []
    if metric is None:
        prefix, notes = choose_scorer(records, primary=primary, scorer=scorer)
        metric = f"{prefix}/{primary.split('/', 1)[-1]}"
    djs = sorted({r.condition.get("dj", r.params.get("dj.driver", "")) for r in records} - {reference})
    if len(djs) != 1:
        raise ParameterError(f"the gap test needs the {reference!r} DJ and exactly one other, found: {djs}")
    dj = djs[0]
    cells = {"A": (reference, target_bars), "B": (reference, alt_bars), "C": (dj, target_bars), "D": (dj, alt_bars)}
    values = {k: _cell_values(records, d, b, metric) for k, (d, b) in cells.items()}
    missing = [k for k, v in values.items() if not v]
    if missing:
        raise ParameterError(f"gap test cells without finished runs: {', '.join(missing)}")
    # Paired by replica where both cells have two or more; Holm across the four contrasts.
    rows = [contrast(dict(sorted(values[a].items())), values[b], label=name, baseline=b, metric=metric)
            for name, a, b, _ in CONTRASTS]
    contrasts = with_holm(rows, alpha)
    return GapResult(
        metric=metric,
        cells={k: f"{d} · {b} bars" for k, (d, b) in cells.items()},
        summaries={k: describe(list(v.values())) for k, v in values.items()},
        contrasts=contrasts, alpha=alpha, notes=tuple(notes),
    )


def gap_markdown(g: GapResult) -> str:
    lines = [f"# Gap test ({g.metric})", "", "| cell | condition | n | mean | SD | 95% CI |", "|---|---|---|---|---|---|"]
    for k, s in g.summaries.items():
        lines.append(f"| {k} | {g.cells[k]} | {s.n} | {number(s.mean)} | {number(s.sd)} | "
                     f"[{number(s.ci_low)}, {number(s.ci_high)}] |")
    lines += ["", f"Contrasts (paired by replica where both cells have it; Holm across the four, α = {g.alpha:g}):", "",
              "| contrast | isolates | n | paired | Δ | 95% CI | p | Holm p | distinguishable from noise |",
              "|---|---|---|---|---|---|---|---|---|"]
    for c in g.contrasts:
        lines.append(f"| {c.label} | {_MEANING[c.label]} | {c.n} | {'yes' if c.design == 'paired' else 'no'} | "
                     f"{number(c.diff)} | [{number(c.ci_low)}, {number(c.ci_high)}] | {number(c.p)} | "
                     f"{number(c.p_adj)} | {'**yes**' if c.significant else 'no'} |")
    lines += ["", *(f"Note: {n}" for n in g.notes)] if g.notes else []
    return "\n".join(lines) + "\n"


def gap_from_store(client: Any, experiment_id: str, parent: str, gap_cfg: Any, *, alpha: float,
                   out_dir: Path, primary: str = CompareConfig.primary,
                   scorer: str | None = CompareConfig.scorer) -> GapResult:
    """Compute the decomposition over a sweep's children and log it to the parent run."""
    records = load_runs(client, experiment_ids=[experiment_id], parent_run_id=parent)
    g = gap_decomposition(records, reference=str(gap_cfg.reference), target_bars=int(gap_cfg.target_bars),
                          alt_bars=int(gap_cfg.alt_bars), alpha=alpha, primary=primary, scorer=scorer)
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / "gap_test.md"
    md.write_text(gap_markdown(g))
    table = out_dir / "gap_test.csv"
    with table.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["contrast", "isolates", "n", "paired", "diff", "ci_low", "ci_high", "p", "p_holm", "distinguishable"])
        for c in g.contrasts:
            w.writerow([c.label, _MEANING[c.label], c.n, c.design == "paired", c.diff, c.ci_low, c.ci_high,
                        c.p, c.p_adj, c.significant])
    files = [md, table]
    try:
        from rlmdj.analysis.plots import plot_distributions

        files.append(plot_distributions(compare(records, group_by=["dj", "bars"]), out_dir / "gap_cells.png"))
    except ParameterError:
        pass
    for f in files:
        client.log_artifact(parent, str(f), "gap_test")
    for c in g.contrasts:
        client.log_metric(parent, f"gap/{c.label}", c.diff)
    print(gap_markdown(g))
    return g


def gap_analysis(client: Any, experiment_id: str, parent: str, config: Any, *, out_dir: Path) -> GapResult:
    """``experiment.analysis=gap``: the decomposition over the sweep, at ``experiment.compare.alpha``."""
    settings = config.experiment.compare
    return gap_from_store(client, experiment_id, parent, config.experiment.gap, alpha=float(settings.alpha),
                          out_dir=out_dir, primary=str(settings.primary),
                          scorer=str(settings.scorer) if settings.scorer else None)
