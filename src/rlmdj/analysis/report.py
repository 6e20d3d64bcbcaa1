"""Render a :class:`~rlmdj.analysis.compare.Comparison`: terminal, Markdown, HTML, CSV, PNG.

Every output states the design of each contrast (paired over which replicas, or unpaired), which
metric is primary and which results are exploratory, and opens with the verdicts. Table headers
are short (``Δ``, ``lo``, ``hi``, ``Holm p``) with a legend underneath, so MLflow's artifact
viewer shows them whole; ``comparison.html`` is the same report as a self-contained page.

:func:`write_report` writes every file into one folder; :func:`log_report` also attaches them
to an MLflow run (the sweep's parent), sets its description to the verdicts and logs the
verdict metrics, so the answer to "is B better than A?" lives next to the runs behind it.
"""

from __future__ import annotations

import csv
import html
from pathlib import Path
from typing import Any

from rlmdj.analysis.compare import Comparison, Contrast
from rlmdj.analysis.formatting import number, p_value
from rlmdj.analysis.verdict import verdict_metrics, verdicts

__all__ = [
    "DESCRIPTION_TAG",
    "description",
    "to_markdown",
    "to_html",
    "write_csv",
    "rich_tables",
    "print_report",
    "print_verdicts",
    "write_report",
    "log_report",
]

DESCRIPTION_TAG = "mlflow.note.content"


def _short(metric: str) -> str:
    return metric.split("/", 1)[-1]


def _design(t: Contrast) -> str:
    return f"paired {t.n_a}" if t.design == "paired" else f"unpaired {t.n_a}/{t.n_b}"


SUMMARY_HEAD = ["condition", "metric", "n", "mean", "SD", "lo", "hi"]
TEST_HEAD = ["condition", "metric", "design", "Δ", "lo", "hi", "p", "p rank", "Holm p", "effect", "n Δ", "≠ noise"]


def _legend(c: Comparison) -> list[str]:
    unit = "replica index + palette" if c.unit == "replica" else "palette"
    return [
        f"Δ = condition − baseline `{c.baseline}`; lo/hi: 95% CI of Δ (paired t, or Welch when unpaired).",
        f"design: paired over n shared units ({unit}), or unpaired n/n runs when no units are shared.",
        "p: paired t (or Welch); p rank: Wilcoxon signed-rank, exact for small n (or Mann-Whitney).",
        f"Holm p: the {'t' if c.test == 't' else 'rank'} p, Holm-corrected — primary metric across "
        "conditions; other axes (exploratory) across conditions × axes.",
        "effect: d_z = mean(d) / SD(d) when paired, Hedges' g when unpaired.",
        f"n Δ: replicas per condition for a t-test to detect Δ = {c.delta:g} at {c.power:.0%} power "
        "(exact noncentral t; SD of the differences when paired).",
        f"≠ noise: Holm p < {c.alpha:g}.",
    ]


def _summary_rows(c: Comparison) -> list[list[str]]:
    rows = []
    for g in c.groups:
        for m in c.metrics:
            s = g.summaries[m]
            rows.append([g.label + (" (baseline)" if g.label == c.baseline else ""), _short(m), str(s.n),
                         number(s.mean), number(s.sd), number(s.ci_low), number(s.ci_high)])
    return rows


def _test_rows(c: Comparison) -> list[list[str]]:
    return [[t.label, _short(t.metric) + ("" if t.primary else "*"), _design(t), number(t.diff), number(t.ci_low),
             number(t.ci_high), p_value(t.p_t), p_value(t.p_rank), p_value(t.p_adj), f"{t.effect_name} {number(t.effect, 2)}",
             str(t.n_needed) if t.n_needed > 0 else "–", "yes" if t.significant else "no"]
            for t in c.tests]


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _settings(c: Comparison) -> list[str]:
    return [
        f"grouped by: {', '.join(c.group_by) or '(nothing: one condition)'}",
        f"baseline: {c.baseline}",
        f"scorer: {c.scorer}",
        f"primary metric: {c.primary} (Holm across conditions); other axes are exploratory",
        f"unit of replication: {'replica (index + palette)' if c.unit == 'replica' else 'palette'}",
        f"runs counted: {sum(len(g.run_ids) for g in c.groups)} (one per configuration; "
        f"{len(c.duplicates)} duplicate(s) set aside)",
    ]


def _set_aside(c: Comparison) -> list[str]:
    return [f"{t.label}: {', '.join(t.set_aside)} set aside (no partner in the other condition)"
            for t in c.primary_tests() if t.set_aside]


def to_markdown(c: Comparison, *, title: str = "Comparison", lead: str = "") -> str:
    """The report as Markdown: ``lead`` (a sequential sweep's verdict), verdicts, settings,
    per-condition summary, contrasts, legend."""
    parts = [f"# {title}", "", "## Verdicts", "", *([lead, ""] if lead else []),
             *[f"- {v}" for v in verdicts(c) or ["(one condition)"]],
             "", *[f"- {s}" for s in _settings(c)], "", "## Conditions", "",
             _md_table(SUMMARY_HEAD, _summary_rows(c))]
    if c.tests:
        parts += ["", f"## Against the baseline {c.baseline}", "", _md_table(TEST_HEAD, _test_rows(c)), "",
                  "\\* exploratory (secondary axis).", "", *[f"- {line}" for line in _legend(c)]]
    notes = _set_aside(c) + c.notes
    if notes:
        parts += ["", "## Notes", "", *[f"- {n}" for n in notes]]
    return "\n".join(parts) + "\n"


_CSS = ("body{font-family:system-ui,sans-serif;margin:12px;color:#222}"
        "table{border-collapse:collapse;font-size:12px;margin:6px 0}"
        "td,th{border:1px solid #ddd;padding:2px 6px;text-align:right;white-space:nowrap}"
        "th{background:#f5f5f5} td.l,th.l{text-align:left} .yes{background:#e3f4e1}"
        ".sub{color:#666;font-size:12px} li{margin:2px 0} .exp{color:#777}")


def _html_table(head: list[str], rows: list[list[str]], *, left: int = 2) -> str:
    th = "".join(f"<th{' class=l' if i < left else ''}>{html.escape(h)}</th>" for i, h in enumerate(head))
    body = []
    for r in rows:
        cls = " class=yes" if r and r[-1] == "yes" else ""
        body.append(f"<tr{cls}>" + "".join(f"<td{' class=l' if i < left else ''}>{html.escape(v)}</td>"
                                         for i, v in enumerate(r)) + "</tr>")
    return f"<table><tr>{th}</tr>{''.join(body)}</table>"


def to_html(c: Comparison, *, title: str = "Comparison", lead: str = "") -> str:
    """The report as one self-contained HTML page (no scripts, nothing fetched)."""
    items = "".join(f"<li>{html.escape(v)}</li>" for v in verdicts(c)) or "<li>(one condition)</li>"
    if lead:
        items = f"<p style='white-space:pre-line'>{html.escape(lead)}</p>{items}"
    settings = "".join(f"<li>{html.escape(s)}</li>" for s in _settings(c))
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{_CSS}</style></head><body><h2>{html.escape(title)}</h2><ul>{items}</ul>"
             f"<ul class=sub>{settings}</ul><h3>Conditions</h3>",
             _html_table(SUMMARY_HEAD, _summary_rows(c))]
    if c.tests:
        parts += [f"<h3>Against the baseline {html.escape(c.baseline)}</h3>", _html_table(TEST_HEAD, _test_rows(c), left=3),
                  "<p class=sub>* exploratory (secondary axis).</p><ul class=sub>"
                  + "".join(f"<li>{html.escape(line)}</li>" for line in _legend(c)) + "</ul>"]
    notes = _set_aside(c) + c.notes
    if notes:
        parts.append("<h3>Notes</h3><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>")
    return "".join(parts) + "</body></html>\n"


def write_csv(c: Comparison, folder: str | Path) -> tuple[Path, Path]:
    """``summary.csv`` (one row per condition x metric) and ``tests.csv`` (full precision, with design)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    summary, tests = folder / "summary.csv", folder / "tests.csv"
    with summary.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["condition", *c.group_by, "baseline", "metric", "unit", "n", "mean", "sd", "ci_low", "ci_high"])
        for g in c.groups:
            for m in c.metrics:
                s = g.summaries[m]
                w.writerow([g.label, *[g.condition.get(k, "") for k in c.group_by], g.label == c.baseline,
                            m, c.unit, s.n, s.mean, s.sd, s.ci_low, s.ci_high])
    with tests.open("w", newline="") as fh:
        rows = [{**t.to_dict(), "baseline": c.baseline, "unit": c.unit} for t in c.tests]
        head = list(rows[0]) if rows else ["condition", "metric", "design"]
        w = csv.DictWriter(fh, fieldnames=head)
        w.writeheader()
        w.writerows(rows)
    return summary, tests


def rich_tables(c: Comparison) -> list[Any]:
    """rich Tables: the summary, then one table of contrasts per condition (80 columns suffice)."""
    from rich import box
    from rich.table import Table

    t1 = Table(title=f"Conditions (by {', '.join(c.group_by) or '-'}; scorer {c.scorer})", box=box.SIMPLE_HEAD)
    t1.add_column("condition", overflow="fold")
    for h in ("metric", "n", "mean", "SD", "95% CI"):
        t1.add_column(h, justify="left" if h == "metric" else "right", no_wrap=True)
    for g in c.groups:
        name = g.label + (" (baseline)" if g.label == c.baseline else "")
        for k, m in enumerate(c.metrics):
            s = g.summaries[m]
            t1.add_row(name if k == 0 else "", _short(m), str(s.n), number(s.mean), number(s.sd),
                       f"[{number(s.ci_low, 2)}, {number(s.ci_high, 2)}]", end_section=k == len(c.metrics) - 1)
    out = [t1]
    for label in dict.fromkeys(t.label for t in c.tests):
        rows = [t for t in c.tests if t.label == label]
        t2 = Table(title=f"{label} vs {c.baseline} ({_design(rows[0])})", box=box.SIMPLE_HEAD,
                   pad_edge=False, collapse_padding=True)
        for h in ("metric", "Δ [95% CI]", "p", "p rank", "Holm p", "effect", "n Δ", "≠ noise"):
            t2.add_column(h, justify="left" if h == "metric" else "right", no_wrap=True)
        for t in rows:
            t2.add_row(_short(t.metric) + ("" if t.primary else "*"),
                       f"{number(t.diff, 2, signed=True)} [{number(t.ci_low, 2)}, {number(t.ci_high, 2)}]",
                       p_value(t.p_t), p_value(t.p_rank), p_value(t.p_adj), f"{t.effect_name} {number(t.effect, 1)}",
                       str(t.n_needed) if t.n_needed > 0 else "–", "yes" if t.significant else "no",
                       style="bold green" if t.significant else None)
        out.append(t2)
    return out


def _console(console: Any | None) -> Any:
    from rich.console import Console

    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=max(console.width, 120))
    return console


def print_verdicts(c: Comparison, console: Any | None = None) -> None:
    """The verdict sentences, one per primary contrast."""
    console = _console(console)
    for v in verdicts(c):
        console.print(f"[bold]verdict:[/bold] {v}", highlight=False)


def print_report(c: Comparison, console: Any | None = None, *, with_verdicts: bool = True) -> None:
    """Tables, legend, notes, and (unless ``with_verdicts`` is False) the verdicts last."""
    console = _console(console)
    for table in rich_tables(c):
        console.print(table)
    if c.tests:
        console.print(f"Δ = condition − baseline, 95% CI; p: paired t (Welch if unpaired); p rank: Wilcoxon "
                      f"(Mann-Whitney); Holm p: primary {_short(c.primary)} across conditions, * exploratory "
                      f"axes across conditions × axes; effect: d_z paired, g unpaired; n Δ: replicas per "
                      f"condition for Δ = {c.delta:g} at {c.power:.0%} power", style="dim")
    for note in _set_aside(c) + c.notes:
        console.print(f"[yellow]note:[/yellow] {note}", highlight=False)
    if with_verdicts:
        print_verdicts(c, console)


def write_report(c: Comparison, folder: str | Path, *, title: str = "Comparison", plot: bool = True,
                 lead: str = "") -> list[Path]:
    """Write ``comparison.md``, ``comparison.html``, ``summary.csv``, ``tests.csv`` and ``distributions.png``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    md, page = folder / "comparison.md", folder / "comparison.html"
    md.write_text(to_markdown(c, title=title, lead=lead))
    page.write_text(to_html(c, title=title, lead=lead))
    files = [md, page, *write_csv(c, folder)]
    if plot:
        from rlmdj.analysis.plots import plot_distributions

        files.append(plot_distributions(c, folder / "distributions.png"))
    return files


# MLflow refuses tag values longer than 8000 characters; the full report is in the artifacts.
_MAX_DESCRIPTION = 7900


def description(c: Comparison, *, lead: str = "") -> str:
    """The parent run's description: the verdicts as a Markdown list, after ``lead``."""
    lines = [lead, ""] if lead else []
    lines += [f"- {v}" for v in verdicts(c)] or ["- one condition: nothing to compare"]
    text = "\n".join(lines)
    if len(text) > _MAX_DESCRIPTION:
        text = text[:_MAX_DESCRIPTION].rsplit("\n", 1)[0] + "\n- … (more in comparison/comparison.md)"
    return text


def log_report(client: Any, run_id: str, c: Comparison, folder: str | Path, *,
               artifact_path: str = "comparison", title: str = "Comparison", lead: str = "") -> list[Path]:
    """Write the report files, log them to ``run_id`` with the verdict metrics and description."""
    import time

    from mlflow.entities import Metric, RunTag

    files = write_report(c, folder, title=title, lead=lead)
    client.log_artifacts(run_id, str(Path(folder)), artifact_path)  # one upload for the folder
    now = int(time.time() * 1000)
    metrics = [Metric(k, v, now, 0) for k, v in verdict_metrics(c).items()]
    tags = [RunTag("rlmdj.compare.baseline", c.baseline), RunTag("rlmdj.compare.group_by", ",".join(c.group_by)),
            RunTag("rlmdj.compare.primary", c.primary), RunTag("rlmdj.compare.unit", c.unit),
            RunTag(DESCRIPTION_TAG, description(c, lead=lead))]
    client.log_batch(run_id, metrics=metrics, tags=tags)
    return files
