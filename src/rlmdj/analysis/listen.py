"""The listening room: ``comparison/listen.html``, every run of a comparison side by side.

One column per condition, one row per unit of replication (replica, or palette), so the two
sets of a paired contrast sit on one row: same palette, same seed, different condition. Each
cell holds a player for the run's preview and its OBJ; above the grid, per-condition mean
per-window score curves are overlaid, with seconds under the x axis and bar numbers over it.

MLflow shows HTML artifacts in a sandboxed iframe that fetches nothing, so the page is one
self-contained file (audio as ``data:`` URIs, curves as inline SVG, no script). Audio beyond
``max_inline_bytes`` is not embedded; those cells name their run id instead.

- :class:`Cell` — one run's preview bytes, OBJ and window scores.
- :func:`build_listen_page` — pure function of a comparison and its cells → HTML.
- :func:`gather_cells` — read previews and ``scores.json`` of a comparison's runs from MLflow.
"""

from __future__ import annotations

import base64
import contextlib
import html
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlmdj.analysis.compare import Comparison
from rlmdj.config.experiment import CompareConfig

__all__ = ["Cell", "build_listen_page", "condition_curves", "gather_cells", "write_listen_page"]

_MIME = {".ogg": "audio/ogg", ".mp3": "audio/mpeg", ".wav": "audio/wav", ".flac": "audio/flac",
         ".opus": "audio/ogg"}
_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
_CSS = ("body{font-family:system-ui,sans-serif;margin:12px;color:#222}"
        "table{border-collapse:collapse;font-size:12px} td,th{border:1px solid #ddd;padding:4px 6px;"
        "vertical-align:top} th{background:#f5f5f5} .sub{color:#666;font-size:12px}"
        "audio{width:230px;height:32px;display:block} .obj{font-weight:600} .miss{color:#999}"
        ".unpaired{background:#fff7e0}")


@dataclass
class Cell:
    """One run in the room: its preview (bytes + MIME type), OBJ, and per-window scores."""

    run_id: str
    obj: float
    audio: bytes | None = None
    mime: str = "audio/ogg"
    windows: list[dict[str, Any]] = field(default_factory=list)
    weights: dict[str, float] = field(default_factory=dict)
    palette: str | None = None


def _window_obj(w: Mapping[str, Any], weights: Mapping[str, float]) -> float | None:
    scores = w.get("scores", {})
    if weights and all(a in scores for a in weights):
        return float(sum(float(v) * float(scores[a]) for a, v in weights.items()))
    return float(scores["OBJ"]) if "OBJ" in scores else None


def condition_curves(c: Comparison, cells: Mapping[str, Cell]) -> dict[str, list[tuple[float, float]]]:
    """Per condition: (window centre in seconds, mean window OBJ over its runs)."""
    out: dict[str, list[tuple[float, float]]] = {}
    for g in c.groups:
        sums: dict[float, list[float]] = {}
        for rid in g.run_ids:
            cell = cells.get(rid)
            for w in cell.windows if cell else []:
                v = _window_obj(w, cell.weights)
                if v is not None:
                    mid = round(float(w["start_s"]) + float(w["duration_s"]) / 2, 3)
                    sums.setdefault(mid, []).append(v)
        if sums:
            out[g.label] = [(t, sum(v) / len(v)) for t, v in sorted(sums.items())]
    return out


def _curves_svg(curves: Mapping[str, list[tuple[float, float]]], *, seconds_per_bar: float | None,
                width: int = 900, height: int = 240) -> str:
    if not curves:
        return "<p class=sub>no window scores were found for these runs</p>"
    pts = [p for series in curves.values() for p in series]
    end = max(t for t, _ in pts) * 1.05 or 1.0
    lo, hi = min(v for _, v in pts) - 0.2, max(v for _, v in pts) + 0.2
    pl, pr, pt, pb = 44, 16, 24, 30
    pw, ph = width - pl - pr, height - pt - pb

    def xy(t: float, v: float) -> str:
        return f"{pl + pw * t / end:.1f},{pt + ph * (1 - (v - lo) / (hi - lo)):.1f}"

    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height + 18 * len(curves)}' "
             "font-size='11' font-family='sans-serif'>",
             f"<rect x='{pl}' y='{pt}' width='{pw}' height='{ph}' fill='none' stroke='#ccc'/>"]
    step = _nice_step(end / 8)
    t = 0.0
    while t <= end:
        x = pl + pw * t / end
        parts.append(f"<line x1='{x:.1f}' y1='{pt + ph}' x2='{x:.1f}' y2='{pt + ph + 4}' stroke='#888'/>"
                     f"<text x='{x:.1f}' y='{pt + ph + 16}' text-anchor='middle'>{t:g}</text>")
        t += step
    parts.append(f"<text x='{pl + pw / 2}' y='{pt + ph + 28}' text-anchor='middle' fill='#666'>seconds</text>")
    if seconds_per_bar and seconds_per_bar > 0:
        bars = end / seconds_per_bar
        bstep = max(1, int(_nice_step(bars / 8)))
        b = 0
        while b <= bars:
            x = pl + pw * b * seconds_per_bar / end
            parts.append(f"<line x1='{x:.1f}' y1='{pt - 4}' x2='{x:.1f}' y2='{pt}' stroke='#888'/>"
                         f"<text x='{x:.1f}' y='{pt - 7}' text-anchor='middle' fill='#555'>{b + 1}</text>")
            b += bstep
        parts.append(f"<text x='{pl - 4}' y='{pt - 7}' text-anchor='end' fill='#666'>bar</text>")
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        y = pt + ph * (1 - k / 4)
        parts.append(f"<text x='{pl - 4}' y='{y + 4:.1f}' text-anchor='end'>{v:.1f}</text>")
    for i, (label, series) in enumerate(curves.items()):
        color = _COLORS[i % len(_COLORS)]
        line = " ".join(xy(t, v) for t, v in series)
        parts.append(f"<polyline fill='none' stroke='{color}' stroke-width='2' points='{line}'/>")
        y = height + 18 * i + 4
        parts.append(f"<line x1='{pl}' y1='{y}' x2='{pl + 24}' y2='{y}' stroke='{color}' stroke-width='3'/>"
                     f"<text x='{pl + 30}' y='{y + 4}'>{html.escape(label)} (mean window OBJ)</text>")
    parts.append("</svg>")
    return "".join(parts)


def _nice_step(raw: float) -> float:
    if raw <= 0 or not math.isfinite(raw):
        return 1.0
    mag = 10 ** math.floor(math.log10(raw))
    return next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)


def build_listen_page(c: Comparison, cells: Mapping[str, Cell], *, seconds_per_bar: float | None = None,
                      max_inline_bytes: int = 20 * 1024 * 1024, title: str = "Listening room",
                      run_link: str = "#/experiments/{experiment_id}/runs/{run_id}",
                      experiment_id: str = "") -> str:
    """The page: curves, then the grid of players (rows = units, columns = conditions)."""
    names = {k: n for g in c.groups for k, n in zip(g.unit_keys, g.units, strict=True)}
    rows = list(dict.fromkeys(k for g in c.groups for k in g.unit_keys))
    budget = max_inline_bytes
    grid = ["<table><tr><th>unit</th>" + "".join(
        f"<th>{html.escape(g.label)}{' (baseline)' if g.label == c.baseline else ''}</th>" for g in c.groups)
        + "</tr>"]
    linked = 0
    for unit in rows:
        paired = all(unit in g.unit_runs for g in c.groups)
        tds = []
        for g in c.groups:
            ids = g.unit_runs.get(unit, [])
            if not ids:
                tds.append("<td class=miss>no run</td>")
                continue
            items = []
            for rid in ids:
                cell = cells.get(rid)
                obj = f"<span class=obj>OBJ {cell.obj:.3f}</span>" if cell and math.isfinite(cell.obj) else ""
                href = html.escape(run_link.format(experiment_id=experiment_id, run_id=rid))
                ref = f"<a href='{href}' target='_top'>{rid[:12]}</a>"
                if cell and cell.audio and len(cell.audio) <= budget:
                    budget -= len(cell.audio)
                    data = base64.b64encode(cell.audio).decode()
                    items.append(f"<audio controls preload='none' src='data:{cell.mime};base64,{data}'></audio>"
                                 f"{obj} <span class=sub>{ref}</span>")
                else:
                    why = "no preview" if not (cell and cell.audio) else "not embedded (size cap)"
                    linked += bool(cell and cell.audio)
                    items.append(f"{obj} <span class=sub>run {ref}: {why}</span>")
            tds.append("<td>" + "<br>".join(items) + "</td>")
        cls = "" if paired else " class=unpaired"
        grid.append(f"<tr{cls}><th>{html.escape(names[unit])}</th>{''.join(tds)}</tr>")
    grid.append("</table>")
    cap = (f"<p class=sub>{linked} preview(s) beyond the inline cap of {max_inline_bytes / 2**20:.0f} MB are "
           "linked by run id (experiment.compare.max_inline_mb).</p>") if linked else ""
    curves = _curves_svg(condition_curves(c, cells), seconds_per_bar=seconds_per_bar)
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{_CSS}</style></head><body><h2>{html.escape(title)}</h2>"
            f"<p class=sub>Rows are units of replication ({'replica index + palette' if c.unit == 'replica' else 'palette'}"
            "): the runs on one row share palette and seed, so listen across a row. Rows shaded yellow are "
            "missing a condition.</p>"
            f"<h3>Score over the set</h3>{curves}<h3>Runs</h3>{''.join(grid)}{cap}</body></html>\n")


def _runs_by_id(client: Any, run_ids: list[str]) -> dict[str, Any]:
    """The runs ``run_ids`` with their data, by one search per hundred ids (one ``get_run`` per
    run took about 20 ms each on SQLite: most of a large sweep's analysis)."""
    found: dict[str, Any] = {}
    ids = list(dict.fromkeys(run_ids))
    for start in range(0, len(ids), 100):
        chunk = ids[start:start + 100]
        try:
            experiments = list({client.get_run(chunk[0]).info.experiment_id})
            quoted = ", ".join(f"'{rid}'" for rid in chunk)
            for run in client.search_runs(experiments, filter_string=f"attributes.run_id IN ({quoted})",
                                          max_results=len(chunk)):
                found[run.info.run_id] = run
        except Exception:  # noqa: BLE001 - a store without IN filters: one run at a time below
            pass
    for rid in ids:
        if rid not in found:
            found[rid] = client.get_run(rid)
    return found


def _local_artifacts(artifact_uri: str) -> Path | None:
    """The folder of a run's artifacts when the store keeps them on this machine's disk (read in
    place, not copied; a run that logged none has no folder), else None (a server or a cloud
    bucket: downloaded)."""
    from urllib.parse import unquote, urlparse

    parsed = urlparse(artifact_uri)
    if parsed.scheme == "file" and parsed.netloc in ("", "localhost"):
        folder = Path(unquote(parsed.path))
    elif parsed.scheme == "" or (len(parsed.scheme) == 1 and artifact_uri[1:3] in (":\\", ":/")):
        folder = Path(artifact_uri)
    else:
        return None
    return folder


def _read_artifacts(client: Any, run: Any, folder: Path) -> tuple[Path | None, Path | None]:
    """The run's preview (``audio/preview.*``) and ``scores.json`` as local files, if it has them."""
    rid = run.info.run_id
    local = _local_artifacts(str(run.info.artifact_uri or ""))
    if local is not None:
        audio = local / "audio"
        previews = sorted(p for p in audio.iterdir() if p.stem == "preview" and p.suffix in _MIME) \
            if audio.is_dir() else []
        scores = local / "scores.json"
        return (previews[0] if previews else None), (scores if scores.is_file() else None)
    folder.mkdir(parents=True, exist_ok=True)
    previews = sorted(a.path for a in client.list_artifacts(rid, "audio")
                      if Path(a.path).stem == "preview" and Path(a.path).suffix in _MIME)
    preview = Path(client.download_artifacts(rid, previews[0], str(folder))) if previews else None
    try:
        scores: Path | None = Path(client.download_artifacts(rid, "scores.json", str(folder)))
    except Exception:  # noqa: BLE001 - a run without scores still has its preview
        scores = None
    return preview, scores


def gather_cells(client: Any, c: Comparison, dest: str | Path) -> tuple[dict[str, Cell], float | None]:
    """Cells for every run of ``c`` (preview under ``audio/``, ``scores.json``), and seconds per bar.

    Artifacts in a local store are read where they lie; others are downloaded under ``dest``.
    """
    import os

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one bar per file otherwise
    dest = Path(dest)
    runs = _runs_by_id(client, [rid for g in c.groups for rid in g.run_ids])
    cells: dict[str, Cell] = {}
    seconds_per_bar = None
    for g in c.groups:
        for rid in g.run_ids:
            run = runs[rid]
            obj = float(run.data.metrics.get(c.primary, math.nan))
            cell = Cell(run_id=rid, obj=obj, palette=run.data.tags.get("rlmdj.palette"))
            try:
                preview, scores = _read_artifacts(client, run, dest / rid)
                if preview is not None:
                    cell.audio, cell.mime = preview.read_bytes(), _MIME[preview.suffix]
                if scores is not None:
                    data = json.loads(scores.read_text())
                    cell.windows, cell.weights = list(data.get("windows", [])), dict(data.get("weights", {}))
            except Exception:  # noqa: BLE001 - a run without a preview or scores still gets its cell
                pass
            bpm = run.data.params.get("bpm")
            if seconds_per_bar is None and bpm:
                with contextlib.suppress(ValueError):
                    seconds_per_bar = 240.0 / float(bpm)
            cells[rid] = cell
    return cells, seconds_per_bar


def write_listen_page(client: Any, c: Comparison, path: str | Path, *,
                      max_inline_mb: float = CompareConfig.max_inline_mb,
                      experiment_id: str = "", work_dir: str | Path | None = None) -> Path:
    """Gather the runs' previews and scores, and write ``listen.html`` to ``path``."""
    import tempfile

    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="rlmdj-listen-") as tmp:
        cells, spb = gather_cells(client, c, work_dir or tmp)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(build_listen_page(c, cells, seconds_per_bar=spb,
                                      max_inline_bytes=int(max_inline_mb * 2**20), experiment_id=experiment_id))
    return path
