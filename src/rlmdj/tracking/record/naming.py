"""Run names and descriptions that say what a run is, so the runs table reads without clicking.

- a set: ``{dj}·{palette}·{bars}b·r{replica}`` (``rlm·palette_003·32b·r2``); a palette drawn per
  replica (``random-r2``) is named without its replica, which the name ends with
  (``reference·random·32b·r2``);
- a screening: ``screen n=100``;
- ``tracking.run_name`` overrides either.

Descriptions go to MLflow's run note (``mlflow.note.content``): a set's scores and where to
listen; the screening's best palette.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rlmdj.axes import AXES

__all__ = ["screen_run_name", "set_description", "set_run_name"]

SEP = "·"


def _override(cfg: Any) -> str | None:
    try:
        name = cfg.tracking.run_name
    except Exception:  # noqa: BLE001 - a partial config (tests) may lack tracking
        return None
    return str(name) if name else None


def set_run_name(cfg: Any, palette: str | None = None) -> str:
    """The name of one set's run; ``palette`` is the resolved palette's name when known."""
    override = _override(cfg)
    if override:
        return override
    replica = f"r{int(cfg.replica)}"
    pal = (palette or str(cfg.palette.name)).removesuffix(f"-{replica}")
    return f"{cfg.dj.driver}{SEP}{pal}{SEP}{int(cfg.bars)}b{SEP}{replica}"


def screen_run_name(cfg: Any) -> str:
    """The name of a palette screening run."""
    return _override(cfg) or f"screen n={int(cfg.experiment.screen.n)}"


def set_description(
    *,
    scorer: str | None,
    metrics: Mapping[str, float],
    palette: str,
    dj: str,
    bars: int,
    audio_file: str | None,
    prompt: str | None = None,
    status: str = "FINISHED",
) -> str:
    """Markdown note for a set: OBJ and axes, signal level, where to listen, the prompt version."""
    lines = [f"**{dj}** DJ on palette **{palette}**, {bars} bars."]
    if scorer and f"{scorer}/OBJ" in metrics:
        axes = " · ".join(f"{a} {metrics[f'{scorer}/{a}']:.2f}" for a in AXES
                          if f"{scorer}/{a}" in metrics)
        lines.append(f"{scorer}/OBJ **{metrics[f'{scorer}/OBJ']:.3f}** ({axes})")
    elif status != "FINISHED":
        lines.append(f"Run {status.lower()} before it was scored.")
    if "signal/lufs" in metrics:
        lines.append(f"Loudness {metrics['signal/lufs']:.1f} LUFS, peak "
                     f"{metrics.get('signal/peak_dbfs', float('nan')):.1f} dBFS.")
    if prompt:
        lines.append(f"Prompt: {prompt}.")
    listen = "Listen: Artifacts → `run_card.html` (preview, timeline, window scores)"
    if audio_file:
        listen += f", full quality `{audio_file}`"
    lines.append(listen + ".")
    return "\n\n".join(lines)
