"""Render a :class:`~rlmdj.analysis.compare.Comparison`: rich table, Markdown, CSV, PNG.

:func:`write_report` writes every file into one folder; :func:`log_report` also attaches them
to an MLflow run (the sweep's parent run), so the answer to "is B better than A?" lives next
to the runs it was computed from.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from rlmdj.analysis.compare import Comparison

__all__ = ["to_markdown", "write_csv", "rich_tables", "print_report", "write_report", "log_report"]


def _f(x: float, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–" if x is None or math.isnan(x) else ("inf" if x > 0 else "-inf")
    return f"{x:.{digits}f}"


def _p(x: float) -> str:
    if not math.isfinite(x):
        return "–"
    return "<0.001" if x < 0.001 else f"{x:.3f}"


def _summary_rows(c: Comparison) -> list[list[str]]:
    rows = []
    for g in c.groups:
        for m in c.metrics:
            s = g.summaries[m]
            rows.append([g.label + (" (baseline)" if g.label == c.baseline else ""), m, str(s.n),
                         _f(s.mean), _f(s.sd), f"[{_f(s.ci_low)}, {_f(s.ci_high)}]"])
    return rows


def _test_rows(c: Comparison) -> list[list[str]]:
    rows = []
    for t in c.tests:
        r = t.result
        rows.append([t.label, t.metric, f"{r.n_a} vs {r.n_b}", _f(r.diff), f"[{_f(r.ci_low)}, {_f(r.ci_high)}]",
                     _p(r.welch_p), _p(r.mw_p), _p(t.p_adj), _f(r.hedges_g, 2),
                     str(r.n_needed) if r.n_needed > 0 else "–", "yes" if t.significant else "no"])
    return rows


SUMMARY_HEAD = ["condition", "metric", "n", "mean", "SD", "95% CI"]


def _test_head(c: Comparison) -> list[str]:
    return ["condition", "metric", "n", "Δ vs baseline", "95% CI of Δ", "Welch p", "Mann-Whitney p",
            f"Holm p ({c.test})", "Hedges g", f"n/group for Δ={c.delta:g}", f"distinguishable (α={c.alpha:g})"]


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def to_markdown(c: Comparison, *, title: str = "Comparison") -> str:
    """The report as Markdown: settings, per-condition summary, tests against the baseline."""
    parts = [
        f"# {title}",
        "",
        f"- grouped by: {', '.join(c.group_by) or '(nothing: one condition)'}",
        f"- baseline: `{c.baseline}`",
        f"- scorer: `{c.scorer}`",
        f"- verdict test: {c.test}, Holm-corrected across conditions per metric, α = {c.alpha:g}",
        f"- replicas needed: per group, for a two-sided t-test to detect Δ = {c.delta:g} with "
        f"{c.power:.0%} power (noncentral t, pooled SD of the pair)",
        "",
        "## Conditions",
        "",
        _md_table(SUMMARY_HEAD, _summary_rows(c)),
    ]
    if c.tests:
        parts += ["", f"## Against the baseline `{c.baseline}`", "", _md_table(_test_head(c), _test_rows(c))]
    if c.notes:
        parts += ["", "## Notes", "", *[f"- {n}" for n in c.notes]]
    return "\n".join(parts) + "\n"


def write_csv(c: Comparison, folder: str | Path) -> tuple[Path, Path]:
    """``summary.csv`` (one row per condition x metric) and ``tests.csv`` (full precision)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    summary, tests = folder / "summary.csv", folder / "tests.csv"
    with summary.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["condition", *c.group_by, "baseline", "metric", "n", "mean", "sd", "ci_low", "ci_high"])
        for g in c.groups:
            for m in c.metrics:
                s = g.summaries[m]
                w.writerow([g.label, *[g.condition.get(k, "") for k in c.group_by], g.label == c.baseline,
                            m, s.n, s.mean, s.sd, s.ci_low, s.ci_high])
    with tests.open("w", newline="") as fh:
        rows = [t.to_dict() for t in c.tests]
        head = list(rows[0]) if rows else ["condition", "metric"]
        w = csv.DictWriter(fh, fieldnames=head)
        w.writeheader()
        w.writerows(rows)
    return summary, tests


def _short(metric: str) -> str:
    return metric.split("/", 1)[-1]


def _signed(x: float) -> str:
    return _f(x) if not math.isfinite(x) or x < 0 else "+" + _f(x)


def rich_tables(c: Comparison) -> list[Any]:
    """rich Tables: the summary, then one table of tests per condition (80 columns suffice).

    The terminal shows the axis without the scorer prefix (the title names the scorer) and
    folds Δ and its CI into one column; the Markdown and CSV files keep every column.
    """
    from rich import box
    from rich.table import Table

    t1 = Table(title=f"Conditions (grouped by {', '.join(c.group_by) or '-'}; scorer {c.scorer})",
               box=box.SIMPLE_HEAD)
    t1.add_column("condition", overflow="fold")
    for h in ("metric", "n", "mean", "SD", "95% CI"):
        t1.add_column(h, justify="left" if h == "metric" else "right", no_wrap=True)
    for g in c.groups:
        name = g.label + (" (baseline)" if g.label == c.baseline else "")
        for k, m in enumerate(c.metrics):
            s = g.summaries[m]
            t1.add_row(name if k == 0 else "", _short(m), str(s.n), _f(s.mean), _f(s.sd),
                       f"[{_f(s.ci_low)}, {_f(s.ci_high)}]", end_section=k == len(c.metrics) - 1)
    out = [t1]
    for label in dict.fromkeys(t.label for t in c.tests):
        t2 = Table(title=f"{label} vs baseline {c.baseline}", box=box.SIMPLE_HEAD, pad_edge=False,
                   collapse_padding=True)
        for h in ("metric", "Δ [95% CI]", "Welch p", "MW p", "Holm p", "g", "n/grp", "≠ noise"):
            t2.add_column(h, justify="left" if h == "metric" else "right", no_wrap=True)
        for t in (t for t in c.tests if t.label == label):
            r = t.result
            t2.add_row(_short(t.metric), f"{_signed(r.diff)} [{_f(r.ci_low, 2)}, {_f(r.ci_high, 2)}]",
                       _p(r.welch_p), _p(r.mw_p), _p(t.p_adj), _f(r.hedges_g, 2),
                       str(r.n_needed) if r.n_needed > 0 else "–", "yes" if t.significant else "no",
                       style="bold green" if t.significant else None)
        out.append(t2)
    return out


def print_report(c: Comparison, console: Any | None = None) -> None:
    """Print the tables and any notes; output that is not a terminal gets 120 columns, not 80."""
    from rich.console import Console

    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=max(console.width, 120))
    for table in rich_tables(c):
        console.print(table)
    if c.tests:
        console.print(f"Δ = condition − baseline with Welch's 95% CI; Holm p: {c.test} p corrected over "
                      f"conditions per metric; ≠ noise: Holm p < {c.alpha:g}; g: Hedges' g; n/grp: "
                      f"replicas per group to detect Δ = {c.delta:g} with {c.power:.0%} power",
                      style="dim")
    for note in c.notes:
        console.print(f"[yellow]note:[/yellow] {note}")


def write_report(c: Comparison, folder: str | Path, *, title: str = "Comparison", plot: bool = True) -> list[Path]:
    """Write ``comparison.md``, ``summary.csv``, ``tests.csv`` and ``distributions.png``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    md = folder / "comparison.md"
    md.write_text(to_markdown(c, title=title))
    files = [md, *write_csv(c, folder)]
    if plot:
        from rlmdj.analysis.plots import plot_distributions

        files.append(plot_distributions(c, folder / "distributions.png"))
    return files


def log_report(client: Any, run_id: str, c: Comparison, folder: str | Path, *,
               artifact_path: str = "comparison", title: str = "Comparison") -> list[Path]:
    """Write the report files and log them (plus headline metrics) to ``run_id``."""
    files = write_report(c, folder, title=title)
    for f in files:
        client.log_artifact(run_id, str(f), artifact_path)
    client.set_tag(run_id, "rlmdj.compare.baseline", c.baseline)
    client.set_tag(run_id, "rlmdj.compare.group_by", ",".join(c.group_by))
    return files
