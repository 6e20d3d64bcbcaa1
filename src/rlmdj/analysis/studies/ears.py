"""The analysis of ``rlmdj experiment=ears_test``: what are ears worth?

The sweep plays five cells (``ears_cell=...``), with replicas paired by palette: replica r draws
the same palette in every cell, so palette variance cancels in each contrast.

- ``reference`` — the deterministic arrangement, the baseline of every contrast;
- ``random`` — seeded random moves;
- ``greedy`` — the random DJ's moves, auditioned with the ears scorer, best one committed;
- ``listening`` / ``deaf`` — the RLM DJ with and without ears (skipped, one line each, when no
  model is configured: :mod:`rlmdj.experiments.jobs.ears_cell`).

When the sweep ends, :func:`ears_analysis` pairs every cell with reference by replica and
palette, and reports the mean difference in OBJ with its paired-t 95% CI, the paired t-test
(Holm-corrected across the contrasts) and Wilcoxon where available, plus greedy vs random and
listening vs deaf. The report goes to the parent run (``ears_test/``) and, as metrics,
``ears_test/<cell>/delta_OBJ``, ``/ci_low``, ``/ci_high``, ``/p_holm``, ``/n``.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from rlmdj.analysis.compare import Contrast, contrast, with_holm
from rlmdj.analysis.formatting import number
from rlmdj.config.bind import bind
from rlmdj.config.experiment import CompareConfig
from rlmdj.errors import ParameterError

__all__ = ["CELLS", "cell_of", "contrast_name", "ears_analysis", "ears_contrasts", "ears_markdown"]

CELLS: tuple[str, ...] = ("reference", "random", "greedy", "listening", "deaf")
# minuend, subtrahend: every cell against reference, then the two questions the test asks.
_EXTRA = (("greedy", "random"), ("listening", "deaf"))


def cell_of(params: dict[str, str]) -> str:
    """The cell a run belongs to, from its logged params (``dj.driver``, ``ears.enabled``)."""
    driver = params.get("dj.driver", "")
    if driver == "rlm":
        return "listening" if str(params.get("ears.enabled", "False")).lower() == "true" else "deaf"
    return driver


def _finished_runs(client: Any, experiment_id: str, parent: str) -> list[Any]:
    runs = client.search_runs([experiment_id], filter_string=(
        f"tags.mlflow.parentRunId = '{parent}' and attributes.status = 'FINISHED'"),
        order_by=["attributes.start_time DESC"], max_results=10_000)
    return list(runs)


def cell_values(runs: list[Any], metric: str | None = None) -> tuple[str, dict[str, dict[tuple[int, str], float]]]:
    """``cell -> (replica, palette hash) -> OBJ`` over finished runs (latest run per config hash)."""
    prefixes = sorted({k.split("/")[0] for r in runs for k in r.data.metrics if k.endswith("/OBJ")})
    if metric is None:
        if len(prefixes) != 1:
            raise ParameterError(f"ears_test runs must share one scorer, found: {', '.join(prefixes) or 'none'}")
        metric = f"{prefixes[0]}/OBJ"
    seen: set[str] = set()
    out: dict[str, dict[tuple[int, str], float]] = {}
    for run in runs:  # newest first: the latest run of a configuration counts
        tags, params = run.data.tags, run.data.params
        chash = tags.get("rlmdj.config_hash", run.info.run_id)
        if chash in seen or metric not in run.data.metrics or "rlmdj.replica" not in tags:
            continue
        seen.add(chash)
        key = (int(tags["rlmdj.replica"]), tags.get("rlmdj.palette_hash", ""))
        out.setdefault(cell_of(params), {})[key] = float(run.data.metrics[metric])
    return metric, out


def ears_contrasts(values: dict[str, dict[tuple[int, str], float]], *, metric: str = "OBJ",
                   alpha: float = CompareConfig.alpha) -> list[Contrast]:
    """Paired contrasts: each cell vs reference, greedy vs random, listening vs deaf; each over
    the (replica, palette) pairs both cells played, Holm-corrected across them. ``label`` is the
    cell, ``baseline`` the cell it is compared against."""
    pairs = [(c, "reference") for c in CELLS[1:]] + list(_EXTRA)
    rows = [contrast({k: values[a][k] for k in sorted(values[a]) if k in values[b]}, values[b],
                     label=a, baseline=b, metric=metric, min_pairs=1)
            for a, b in pairs if a in values and b in values and set(values[a]) & set(values[b])]
    return with_holm(rows, alpha)


def contrast_name(c: Contrast) -> str:
    """``greedy - random``: how the report names a contrast."""
    return f"{c.label} - {c.baseline}"


def _verdict(c: Contrast, alpha: float, delta: float) -> str:
    if not math.isfinite(c.p_adj):
        return "too few pairs"
    if c.p_adj < alpha:
        return "higher" if c.diff > 0 else "lower"
    if -delta < c.ci_low and c.ci_high < delta:
        return f"no difference detected; CI within ±{delta:g}"
    if -delta < c.ci_low:  # non-inferiority: "matches or beats" at margin delta
        return f"no difference detected; not lower by {delta:g} or more"
    return "no difference detected"


def ears_markdown(metric: str, values: dict[str, dict[tuple[int, str], float]],
                  contrasts: list[Contrast], *, alpha: float = CompareConfig.alpha,
                  delta: float = CompareConfig.delta) -> str:
    lines = [f"# Ears test ({metric})", "", "| cell | n | mean |", "|---|---|---|"]
    for cell in CELLS:
        if cell in values:
            v = list(values[cell].values())
            lines.append(f"| {cell} | {len(v)} | {number(sum(v) / len(v))} |")
    lines += ["", f"Paired by replica and palette; paired-t 95% CI; Holm across the {len(contrasts)} "
              f"contrasts, α = {alpha:g}.", "",
              "| contrast | n pairs | Δ OBJ | 95% CI | p | Holm p | Wilcoxon p | verdict |",
              "|---|---|---|---|---|---|---|---|"]
    for c in contrasts:
        ci = f"[{number(c.ci_low, signed=True)}, {number(c.ci_high, signed=True)}]"
        ps = " | ".join(number(p, 3, style="g") for p in (c.p, c.p_adj, c.p_rank))
        lines.append(f"| {contrast_name(c)} | {c.n} | {number(c.diff, signed=True)} | {ci} | {ps} | "
                     f"{_verdict(c, alpha, delta)} |")
    return "\n".join(lines) + "\n"


def ears_analysis(client: Any, experiment_id: str, parent: str, config: Any, *,
                  out_dir: Path) -> list[Contrast]:
    """``experiment.analysis=ears``: the sweep's standard comparison by design (every cell
    against ``experiment.compare.baseline``, reference: verdicts, listening room), then the
    ears report with the two extra contrasts, both logged to the parent run."""
    import sys

    from rlmdj.analysis.from_store import compare_analysis

    try:
        compare_analysis(client, experiment_id, parent, config, out_dir=out_dir / "comparison")
    except Exception as exc:  # noqa: BLE001 - the ears report below does not depend on it
        client.set_tag(parent, "rlmdj.analysis_error", repr(exc)[:1000])
        print(f"rlmdj: ears_test: the standard comparison was skipped: {exc}", file=sys.stderr)
    settings = bind(config.experiment.compare, CompareConfig, "experiment.compare")
    alpha, delta = float(settings.alpha), float(settings.delta)
    metric, values = cell_values(_finished_runs(client, experiment_id, parent))
    if "reference" not in values:
        raise ParameterError("the ears test needs finished reference runs (ears_cell=reference)")
    contrasts = ears_contrasts(values, metric=metric, alpha=alpha)
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / "ears_test.md"
    md.write_text(ears_markdown(metric, values, contrasts, alpha=alpha, delta=delta))
    table = out_dir / "ears_test.csv"
    with table.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["contrast", "n", "diff", "ci_low", "ci_high", "p", "p_holm", "wilcoxon_p"])
        for c in contrasts:
            w.writerow([contrast_name(c), c.n, c.diff, c.ci_low, c.ci_high, c.p, c.p_adj, c.p_rank])
    for f in (md, table):
        client.log_artifact(parent, str(f), "ears_test")
    for c in contrasts:
        key = c.label if c.baseline == "reference" else f"{c.label}_vs_{c.baseline}"
        for name, value in (("delta_OBJ", c.diff), ("ci_low", c.ci_low), ("ci_high", c.ci_high),
                            ("p_holm", c.p_adj), ("n", float(c.n))):
            if math.isfinite(value):
                client.log_metric(parent, f"ears_test/{key}/{name}", value)
    print(md.read_text())
    return contrasts
