"""Did a rerun reproduce its original? Per job: the same render (SHA-256 of the float render),
the same config hash, and the OBJ difference; over a sweep, one verdict.

A deterministic DJ on the same code, samples and palette renders byte-identical audio, so
"render identical" is the test that matters; the OBJ difference (rerun minus original, paired by
job, with the paired t interval of :func:`rlmdj.analysis.stats.paired`) says how far an LLM
DJ's rerun drifts. Logged to the rerun's parent run as ``rerun/reproduction.{md,json}``, its
description and ``rerun/*`` metrics.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["Reproduction", "log_reproduction", "print_reproduction", "reproduction_verdict"]

_HEAD = ["job", "condition", "replica", "original", "rerun", "render", "config hash", "OBJ original",
         "OBJ rerun", "ΔOBJ"]
_SHORT_HEAD = ["job", "condition", "replica", "original", "rerun", "render", "config", "ΔOBJ"]


@dataclass
class Reproduction:
    """One original run and its rerun."""

    original: str
    rerun: str | None
    status: str
    condition: str
    replica: str
    render_original: str | None
    render_rerun: str | None
    config_original: str | None
    config_rerun: str
    metric: str | None
    obj_original: float | None
    obj_rerun: float | None

    @property
    def same_render(self) -> bool:
        return self.render_original is not None and self.render_original == self.render_rerun

    @property
    def same_config(self) -> bool:
        return self.config_original == self.config_rerun

    @property
    def delta(self) -> float | None:
        if self.obj_original is None or self.obj_rerun is None:
            return None
        return self.obj_rerun - self.obj_original

    def line(self) -> str:
        """``render identical · config hash identical · proxy/OBJ 5.859 (original 5.859) · FINISHED · run …``"""
        render = "render identical" if self.same_render else "render differs"
        config = ("config hash identical" if self.same_config
                  else f"config hash differs ({self.config_original} → {self.config_rerun})")
        obj = (f"{self.metric} {self.obj_rerun:.3f} (original {self.obj_original:.3f})"
               if self.metric and self.delta is not None else "no OBJ to compare")
        return f"{render} · {config} · {obj} · {self.status} · run {self.rerun}"

    def row(self, job: int) -> list[str]:
        """The report's row (``_HEAD``)."""
        return [str(job), self.condition, self.replica, self.original, self.rerun or "–",
                _same(self.same_render), _same(self.same_config),
                _num(self.obj_original), _num(self.obj_rerun), _num(self.delta, "+.3f")]

    def short_row(self, job: int) -> list[str]:
        """The terminal's row (``_SHORT_HEAD``): run ids cut to 8 characters, as the UI shows them."""
        return [str(job), self.condition, self.replica, self.original[:8], (self.rerun or "–")[:8],
                _same(self.same_render), _same(self.same_config), _num(self.delta, "+.3f")]


def _same(flag: bool) -> str:
    return "same" if flag else "differs"


def _num(x: float | None, fmt: str = ".3f") -> str:
    return "–" if x is None else format(x, fmt)


def reproduction_verdict(rows: list[Reproduction]) -> str:
    """One sentence: how many reruns rendered the same audio, and how far OBJ moved."""
    from rlmdj.analysis.stats import paired

    n = len(rows)
    same = sum(r.same_render for r in rows)
    hashes = sum(r.same_config for r in rows)
    head = (f"reproduced: all {n} reruns rendered byte-identical audio" if same == n
            else f"not reproduced: {n - same} of {n} reruns rendered different audio")
    if hashes != n:
        head += f" ({n - hashes} with a different config hash)"
    pairs = [r for r in rows if r.delta is not None]
    metric = pairs[0].metric if pairs else None
    if not pairs:
        return head + "; no OBJ to compare"
    if all(r.delta == 0 for r in pairs):
        return head + f"; {metric} identical on every job"
    if len(pairs) == 1:
        return head + f"; {metric} rerun − original {pairs[0].delta:+.3f}"
    p = paired([r.obj_rerun for r in pairs], [r.obj_original for r in pairs])  # type: ignore[misc]
    return (head + f"; {metric} rerun − original {p.diff:+.3f} (95% CI {p.ci_low:+.3f} to "
            f"{p.ci_high:+.3f}, paired t p={p.p:.3g}, n={p.n})")


def _markdown(rows: list[Reproduction], verdict: str, title: str) -> str:
    lines = [f"# {title}", "", verdict, "", "| " + " | ".join(_HEAD) + " |",
             "|" + "---|" * len(_HEAD)]
    lines += ["| " + " | ".join(r.row(i)) + " |" for i, r in enumerate(rows, 1)]
    return "\n".join(lines) + "\n"


def log_reproduction(client: Any, run_id: str, rows: list[Reproduction], verdict: str, folder: Path, *,
                     title: str) -> Path:
    """Write ``reproduction.md`` and ``.json`` under ``folder``, log them to ``run_id`` as
    ``rerun/``, with the verdict as its description and ``rerun/*`` metrics."""
    from mlflow.entities import Metric, RunTag

    folder.mkdir(parents=True, exist_ok=True)
    report = folder / "reproduction.md"
    report.write_text(_markdown(rows, verdict, title))
    (folder / "reproduction.json").write_text(json.dumps(
        {"verdict": verdict, "jobs": [{**asdict(r), "same_render": r.same_render, "same_config": r.same_config,
                                       "delta_obj": r.delta} for r in rows]}, indent=1))
    client.log_artifacts(run_id, str(folder), "rerun")
    deltas = [abs(r.delta) for r in rows if r.delta is not None]
    values = {"rerun/jobs": len(rows), "rerun/identical_renders": sum(r.same_render for r in rows),
              "rerun/identical_config_hashes": sum(r.same_config for r in rows)}
    if deltas:
        values["rerun/max_abs_delta_OBJ"] = max(deltas)
    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(k, float(v), now, 0) for k, v in values.items()
                                      if math.isfinite(float(v))],
                     tags=[RunTag("mlflow.note.content", _markdown(rows, verdict, title))])
    return report


def print_reproduction(rows: list[Reproduction], verdict: str) -> None:
    """The per-job table, then the verdict (plain, one line)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="rerun vs original", show_header=True)
    for name in _SHORT_HEAD:
        table.add_column(name, justify="right" if name in ("job", "ΔOBJ") else "left",
                         overflow="fold" if name == "condition" else "ellipsis")  # conditions whole
    for i, r in enumerate(rows, 1):
        table.add_row(*r.short_row(i))
    Console().print(table)
    print(verdict, flush=True)
