"""The HTML run card: listen to a run and see where it went wrong, inside the MLflow UI.

MLflow shows ``.html`` artifacts in a sandboxed iframe (no scripts, no access to sibling
artifacts by relative URL), so the card is one self-contained file: the compressed preview as a
``data:audio/ogg;base64`` URI in a plain ``<audio controls>`` element, the arrangement timeline as
a base64 PNG, the per-window score curve as inline SVG, and the DJ's decisions in bar order.
No JavaScript is needed for any of it.

- :func:`build_run_card` — pure function of bytes and lists → HTML string.
- :func:`decisions_from_history` — mixer changes bar by bar, from ``arrangement.json`` bars.
- :func:`decisions_from_artifacts` — driver events (tool calls, critiques, critic messages)
  from any JSON list artifact whose items carry a ``bar``.
- :func:`write_run_card` — gather a finished run's pieces from its output folder and write it.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rlmdj.axes import OBJ_AND_AXES
from rlmdj.config.core import RenderConfig

__all__ = [
    "MAX_EMBED_AUDIO_BYTES",
    "build_run_card",
    "decisions_from_history",
    "decisions_from_artifacts",
    "score_curve_svg",
    "write_run_card",
]

# Larger previews are not embedded (the card would take long to open); the card says so.
MAX_EMBED_AUDIO_BYTES = 16 * 1024 * 1024
_AXES_COLORS = {"OBJ": "#111", "CE": "#d62728", "CU": "#2ca02c", "PC": "#9467bd", "PQ": "#1f77b4"}

_CSS = """
body{font-family:system-ui,sans-serif;margin:16px;color:#222;max-width:1100px}
h1{font-size:20px;margin:0 0 4px} h2{font-size:15px;margin:18px 0 6px}
.sub{color:#666;font-size:12px} table{border-collapse:collapse;font-size:12px}
td,th{border:1px solid #ddd;padding:2px 6px;text-align:right} th{background:#f5f5f5}
td.l,th.l{text-align:left} .metrics td{min-width:60px} img{max-width:100%}
.low{background:#fde0dc} .bar{color:#666;white-space:nowrap} .kind{color:#888}
"""


def _fmt(x: Any) -> str:
    try:
        return f"{float(x):.3f}"
    except (TypeError, ValueError):
        return html.escape(str(x))


def _window_obj(scores: Mapping[str, float], weights: Mapping[str, float] | None) -> float | None:
    if not weights or any(a not in scores for a in weights):
        return None
    return float(sum(float(w) * float(scores[a]) for a, w in weights.items()))


def score_curve_svg(windows: Sequence[Mapping[str, Any]], *, weights: Mapping[str, float] | None = None,
                    width: int = 900, height: int = 220) -> str:
    """Inline SVG of per-window scores over the set's time (one polyline per axis, OBJ bold)."""
    if not windows:
        return "<p class='sub'>no window scores</p>"
    series: dict[str, list[tuple[float, float]]] = {}
    for w in windows:
        mid = float(w["start_s"]) + float(w["duration_s"]) / 2
        scores = dict(w["scores"])
        obj = _window_obj(scores, weights)
        if obj is not None:
            scores = {"OBJ": obj, **scores}
        for axis, v in scores.items():
            series.setdefault(axis, []).append((mid, float(v)))
    end = max(float(w["start_s"]) + float(w["duration_s"]) for w in windows)
    vals = [v for pts in series.values() for _, v in pts]
    lo, hi = min(vals) - 0.2, max(vals) + 0.2
    pad_l, pad_r, pad_b = 40, 56, 24  # the legend sits in the right margin, clear of the curves
    plot_w = width - pad_l - pad_r

    def xy(t: float, v: float) -> str:
        x = pad_l + plot_w * (t / end if end else 0)
        y = 8 + (height - pad_b - 8) * (1 - (v - lo) / (hi - lo))
        return f"{x:.1f},{y:.1f}"

    # viewBox + width 100%: the curve scales to MLflow's artifact pane instead of overflowing it.
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 {width} {height}' width='100%' "
             f"style='max-width:{width}px;background:#fff;border:1px solid #eee'>"]
    for k in range(5):
        v = lo + (hi - lo) * k / 4
        y = xy(0, v).split(",")[1]
        parts.append(f"<line x1='{pad_l}' x2='{pad_l + plot_w}' y1='{y}' y2='{y}' stroke='#eee'/>"
                     f"<text x='2' y='{y}' font-size='10' fill='#666'>{v:.2f}</text>")
    step = 10 if end <= 300 else 30
    for k in range(0, int(end) + 1, step):
        x = xy(k, lo).split(",")[0]
        parts.append(f"<text x='{x}' y='{height - 6}' font-size='10' fill='#666' text-anchor='middle'>{k}s</text>")
    for i, (axis, pts) in enumerate(series.items()):
        color = _AXES_COLORS.get(axis, "#555")
        wdt = 2.5 if axis == "OBJ" else 1.2
        parts.append(f"<polyline fill='none' stroke='{color}' stroke-width='{wdt}' "
                     f"points='{' '.join(xy(t, v) for t, v in pts)}'/>")
        for t, v in pts:
            cx, cy = xy(t, v).split(",")
            parts.append(f"<circle cx='{cx}' cy='{cy}' r='2.5' fill='{color}'/>")
        parts.append(f"<text x='{width - pad_r + 10}' y='{14 + 12 * i}' font-size='11' fill='{color}'>{axis}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _window_table(windows: Sequence[Mapping[str, Any]], weights: Mapping[str, float] | None) -> str:
    if not windows:
        return ""
    axes = list(windows[0]["scores"])
    objs = [_window_obj(w["scores"], weights) for w in windows]
    worst = min(range(len(windows)), key=lambda i: objs[i] if objs[i] is not None else windows[i]["scores"][axes[0]])
    head = "".join(f"<th>{a}</th>" for a in (["OBJ"] if objs[0] is not None else []) + axes)
    rows = []
    for i, w in enumerate(windows):
        cells = ([_fmt(objs[i])] if objs[i] is not None else []) + [_fmt(w["scores"][a]) for a in axes]
        t0, t1 = float(w["start_s"]), float(w["start_s"]) + float(w["duration_s"])
        rows.append(f"<tr class='{'low' if i == worst else ''}'><td>{t0:.0f}-{t1:.0f}s</td>"
                    + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return f"<table><tr><th>window</th>{head}</tr>{''.join(rows)}</table>" \
           "<p class='sub'>highlighted: the lowest-scoring window</p>"


def decisions_from_history(bars: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """What changed on the mixer at each bar (adds, removals, gain/pattern/mute, breakdowns)."""
    out: list[dict[str, Any]] = []
    prev: Mapping[str, Any] = {}
    prev_breakdown = False
    for rec in bars:
        bar = int(rec["bar"])
        layers = rec.get("layers", {})
        changes = []
        for role, c in layers.items():
            p = prev.get(role)
            if p is None:
                pat = f" {c.get('pattern')}" if c.get("pattern") else ""
                changes.append(f"+ {role} {float(c.get('gain', 0)):.2f}{pat}")
                continue
            if p.get("sample_id") != c.get("sample_id"):
                changes.append(f"{role} swap → {c.get('sample_id')}")
            if abs(float(p.get("gain", 0)) - float(c.get("gain", 0))) > 1e-9:
                changes.append(f"{role} gain {float(p['gain']):.2f}→{float(c['gain']):.2f}")
            if p.get("pattern") != c.get("pattern"):
                changes.append(f"{role} pattern → {c.get('pattern')}")
            if bool(p.get("muted")) != bool(c.get("muted")):
                changes.append(f"{'mute' if c.get('muted') else 'unmute'} {role}")
        changes += [f"− {role}" for role in prev if role not in layers]
        breakdown = bool(rec.get("breakdown"))
        if breakdown and not prev_breakdown:
            changes.append("breakdown (drums out)")
        elif prev_breakdown and not breakdown:
            changes.append("drums back")
        if changes:
            out.append({"bar": bar, "kind": "mixer", "text": "; ".join(changes)})
        prev, prev_breakdown = layers, breakdown
    return out


def _event_text(item: Mapping[str, Any]) -> str:
    for key in ("text", "message", "critique", "feedback", "summary"):
        if item.get(key):
            return str(item[key])
    op = item.get("op") or item.get("tool") or item.get("name")
    if op:
        args = item.get("args", item.get("arguments", ""))
        if isinstance(args, list | tuple):
            args = ", ".join(repr(a) for a in args)
        elif isinstance(args, Mapping):
            args = ", ".join(f"{k}={v!r}" for k, v in args.items())
        result = item.get("result")
        tail = f" → {str(result)[:160]}" if result not in (None, "") else ""
        return f"{op}({args}){tail}"
    return json.dumps(dict(item), default=str)[:300]


def decisions_from_artifacts(artifacts: Mapping[str, str]) -> list[dict[str, Any]]:
    """Driver events from JSON-list artifacts (``dj/*.json``) whose items have a ``bar`` field."""
    out: list[dict[str, Any]] = []
    for name, text in artifacts.items():
        if not name.endswith(".json"):
            continue
        try:
            data = json.loads(text)
        except (TypeError, ValueError):
            continue
        items = data.get("events", data.get("calls", [])) if isinstance(data, Mapping) else data
        if not isinstance(items, list):
            continue
        kind = Path(name).stem
        for item in items:
            if isinstance(item, Mapping) and isinstance(item.get("bar"), int | float):
                out.append({"bar": int(item["bar"]), "kind": str(item.get("kind", kind)), "text": _event_text(item)})
    return out


def build_run_card(
    *,
    title: str,
    metrics: Mapping[str, float],
    preview: bytes | None = None,
    preview_mime: str = "audio/ogg",
    timeline_png: bytes | None = None,
    windows: Sequence[Mapping[str, Any]] = (),
    weights: Mapping[str, float] | None = None,
    decisions: Sequence[Mapping[str, Any]] = (),
    subtitle: str = "",
    seconds_per_bar: float | None = None,
) -> str:
    """One self-contained HTML page (no scripts, no external references) describing a run."""
    esc = html.escape
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{esc(title)}</title>"
             f"<style>{_CSS}</style></head><body><h1>{esc(title)}</h1><div class='sub'>{esc(subtitle)}</div>"]
    keys = [k for k in metrics if k.split("/")[-1] in OBJ_AND_AXES]
    if keys:
        parts.append("<table class='metrics'><tr>" + "".join(f"<th>{esc(k)}</th>" for k in keys) + "</tr><tr>"
                     + "".join(f"<td>{_fmt(metrics[k])}</td>" for k in keys) + "</tr></table>")
    parts.append("<h2>Listen</h2>")
    if preview and len(preview) <= MAX_EMBED_AUDIO_BYTES:
        b64 = base64.b64encode(preview).decode("ascii")
        parts.append(f"<audio controls preload='metadata' style='width:100%' src='data:{esc(preview_mime)};base64,{b64}'>"
                     "your browser cannot play this preview</audio>")
    elif preview:
        parts.append(f"<p class='sub'>preview is {len(preview) / 1e6:.1f} MB, too large to embed; "
                     "open audio/ in the run's artifacts</p>")
    else:
        parts.append("<p class='sub'>no preview was logged (tracking.log_preview=false)</p>")
    parts.append("<h2>Arrangement</h2>")
    if timeline_png:
        parts.append(f"<img alt='arrangement timeline' src='data:image/png;base64,"
                     f"{base64.b64encode(timeline_png).decode('ascii')}'>")
    else:
        parts.append("<p class='sub'>no timeline</p>")
    parts.append("<h2>Scores per 10 s window</h2>")
    parts.append(score_curve_svg(windows, weights=weights))
    parts.append(_window_table(windows, weights))
    parts.append(f"<h2>Decisions in bar order ({len(decisions)})</h2>")
    if decisions:
        rows = []
        for d in sorted(decisions, key=lambda d: (int(d["bar"]), str(d.get("kind", "")))):
            bar = int(d["bar"])
            when = f"bar {bar + 1}" + (f" · {bar * seconds_per_bar:.0f}s" if seconds_per_bar else "")
            rows.append(f"<tr><td class='l bar'>{when}</td><td class='l kind'>{esc(str(d.get('kind', '')))}</td>"
                        f"<td class='l'>{esc(str(d.get('text', '')))}</td></tr>")
        parts.append("<table><tr><th class='l'>when</th><th class='l'>source</th><th class='l'>decision</th></tr>"
                     + "".join(rows) + "</table>")
    parts.append("</body></html>")
    return "".join(parts)


def write_run_card(
    path: str | Path,
    *,
    title: str,
    metrics: Mapping[str, float],
    out_dir: str | Path,
    score: Any | None,
    history: Sequence[Mapping[str, Any]],
    artifacts: Mapping[str, str] | None = None,
    preview_format: str = RenderConfig.preview_format,
    seconds_per_bar: float | None = None,
    subtitle: str = "",
) -> Path:
    """Build the card from a run's output folder (preview, timeline PNG) and its score/history."""
    out = Path(out_dir)
    preview_file = out / f"preview.{preview_format}"
    timeline = out / "arrangement.png"
    windows = []
    weights = None
    if score is not None:
        windows = [{"start_s": w.start_s, "duration_s": w.duration_s, "scores": dict(w.scores)} for w in score.windows]
        weights = dict(score.weights)
    decisions = decisions_from_history(history) + decisions_from_artifacts(artifacts or {})
    mime = {"ogg": "audio/ogg", "mp3": "audio/mpeg", "flac": "audio/flac", "wav": "audio/wav"}.get(preview_format, "audio/ogg")
    text = build_run_card(
        title=title, subtitle=subtitle, metrics=metrics,
        preview=preview_file.read_bytes() if preview_file.is_file() else None, preview_mime=mime,
        timeline_png=timeline.read_bytes() if timeline.is_file() else None,
        windows=windows, weights=weights, decisions=decisions, seconds_per_bar=seconds_per_bar,
    )
    dest = Path(path)
    dest.write_text(text, encoding="utf-8")
    return dest
