"""One evaluation of a candidate prompt: a brief's replica played as a child run, its OBJ and
the feedback GEPA's reflection reads.

Each set goes through the real run path (:func:`rlmdj.experiments.jobs.run.run_set`) with the
candidate's text as ``prompt.path``, so every evaluated set is a child run of the study with its
audio, trace and prompt version. Results are cached per (candidate text hash, brief, replica) in
memory and in ``rollouts.jsonl`` of the study's state, so GEPA's repeated metric calls and a
resumed study never play a set twice.

A rollout that fails (sandbox crash, LM error) is a *failed evaluation*, not a zero: it is tried
``model.retries`` more times, each attempt a FAILED child run, and if it still fails it is recorded
with ``failed=True`` and ``obj=None``; :mod:`rlmdj.optimize.program` decides what GEPA sees.

A rollout's ``feedback`` (:func:`set_feedback`) is what the reflection model reads about the set.
"""

from __future__ import annotations

import hashlib
import json
import statistics
import sys
import tempfile
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rlmdj.errors import ParameterError
from rlmdj.optimize.briefs import Brief, brief_overrides

__all__ = ["Rollout", "Rollouts", "feedback_text", "set_feedback", "text_hash"]


def text_hash(text: str) -> str:
    """The candidate's identity: the SHA-256 of its text, 16 hex digits."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Rollout:
    """What one (candidate, brief, replica) evaluation gave."""

    candidate: str
    brief: str
    replica: int
    split: str
    obj: float | None
    failed: bool = False
    error: str = ""
    feedback: str = ""
    run_id: str | None = None
    cost_usd: float = 0.0
    attempts: int = 1

    @property
    def key(self) -> str:
        return f"{self.candidate}|{self.brief}|{self.replica}"


class Rollouts:
    """Plays and caches evaluations for one study.

    ``admit()`` is asked before every set played (a budget raising to stop); ``on_played`` is told
    of every new rollout (progress, cost). ``parent_run_id``: the study's run, the sets' parent.
    """

    def __init__(self, cfg: DictConfig, state_dir: Path, *, parent_run_id: str | None,
                 admit: Callable[[], None] = lambda: None,
                 on_played: Callable[[Rollout], None] = lambda r: None) -> None:
        self.cfg, self.state_dir, self.parent_run_id = cfg, state_dir, parent_run_id
        self.admit, self.on_played = admit, on_played
        self.retries = int(cfg.model.retries)
        self._lock = threading.Lock()
        (state_dir / "candidates").mkdir(parents=True, exist_ok=True)
        self._log = state_dir / "rollouts.jsonl"
        self.cache: dict[str, Rollout] = {}
        if self._log.is_file():
            for line in self._log.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    r = Rollout(**json.loads(line))
                    self.cache[r.key] = r
        self.played = 0  # sets played by this process (cache misses, attempts counted once)

    # -------------------------------------------------------------------------- lookups
    def candidate_file(self, text: str) -> Path:
        """The candidate's text as a prompt file of the state (what ``prompt.path`` points at)."""
        path = self.state_dir / "candidates" / f"{text_hash(text)}.txt"
        if not path.is_file():
            path.write_text(text, encoding="utf-8")
        return path

    def cached(self, text: str, brief: Brief, replica: int) -> Rollout | None:
        return self.cache.get(f"{text_hash(text)}|{brief.id}|{replica}")

    def evaluate(self, text: str, brief: Brief, replica: int, *, split: str) -> Rollout:
        """The cached rollout, else the set played now (retried on failure) and recorded."""
        found = self.cached(text, brief, replica)
        if found is not None:
            return found
        self.admit()
        out = self._play(text, brief, replica, split)
        with self._lock:
            self.cache[out.key] = out
            with self._log.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(asdict(out)) + "\n")
            self.played += 1
        self.on_played(out)
        return out

    # --------------------------------------------------------------------------- playing
    def child_config(self, text: str, brief: Brief, replica: int, split: str) -> DictConfig:
        """The study's config with the brief, the replica and the candidate's prompt file."""
        key = f"{text_hash(text)}-{brief.palette}-s{brief.seed}-r{replica}"
        plain: Any = OmegaConf.to_container(self.cfg, resolve=True)
        over = brief_overrides(brief, replica)
        plain["palette"] = {**plain["palette"], **over["palette"]}
        plain["bars"], plain["replica"] = over["bars"], over["replica"]
        plain["prompt"]["path"] = str(self.candidate_file(text))
        plain["paths"]["output_dir"] = str(self.state_dir.parent / "sets" / key)
        plain["tracking"]["run_name"] = None
        plain["progress"] = False
        return OmegaConf.create(plain)

    def _play(self, text: str, brief: Brief, replica: int, split: str) -> Rollout:
        from rlmdj.experiments.jobs.run import run_set

        cand, errors, cost = text_hash(text), [], 0.0
        tags = {"rlmdj.experiment": "optimize_prompt", "rlmdj.optimize.candidate": cand,
                "rlmdj.optimize.brief": brief.id, "rlmdj.optimize.split": split,
                "rlmdj.optimize.replica": str(replica)}
        for attempt in range(1, self.retries + 2):
            child = self.child_config(text, brief, replica, split)
            try:
                outcome = run_set(child, parent_run_id=self.parent_run_id, extra_tags=tags, quiet=True)
            except ParameterError:
                raise  # a setting that is wrong for every set: the study stops with its one line
            except Exception as exc:  # noqa: BLE001 - a crashed set is a failed evaluation
                errors.append(f"{type(exc).__name__}: {exc}"[:400])
                print(f"rlmdj: optimize: {brief.id} replica {replica} failed (attempt {attempt}): "
                      f"{errors[-1]}", file=sys.stderr)
                continue
            cost += float(outcome.metrics.get("dj/cost_usd", 0.0))
            if outcome.score is None:
                errors.append(f"run {outcome.run_id} ended {outcome.status} without a score")
                continue
            return Rollout(cand, brief.id, replica, split, float(outcome.score.obj), run_id=outcome.run_id,
                           feedback=set_feedback(child, outcome), cost_usd=cost, attempts=attempt)
        return Rollout(cand, brief.id, replica, split, None, failed=True, error=" | ".join(errors)[-1500:],
                       feedback=f"The set failed {len(errors)} time(s): {errors[-1] if errors else '?'}",
                       cost_usd=cost, attempts=self.retries + 1)


# ------------------------------------------------------------------------------ feedback
# What GEPA's reflection reads about one set. OBJ says how well; the reflection needs why: the
# guardrail corrections (the prompt asked for what the tools refused), the critique and critic
# lines the DJ was shown, the energy against its target per phase, the tool errors with their
# hints, and the per-window scores at their bars, read back from the child run's own record.
_MAX_LINES = 12  # per section: the reflection prompt holds several sets


def set_feedback(cfg: DictConfig, outcome: Any) -> str:
    """The feedback for the set ``outcome`` reports (a :class:`RunOutcome` of :func:`run_set`)."""
    files = _read_dj_files(cfg, outcome)
    return feedback_text(score=outcome.score, bpm=float(cfg.bpm), history=files.get("history.json") or [],
                         feedback=files.get("feedback.json") or [], trace=files.get("tool_trace.json") or [],
                         metrics=outcome.metrics)


def _read_dj_files(cfg: DictConfig, outcome: Any) -> dict[str, Any]:
    """``dj/{history,feedback,tool_trace}.json`` of the child run: in its output folder (tracking
    off) or downloaded from the store."""
    names = ("history.json", "feedback.json", "tool_trace.json")
    local = Path(outcome.output_dir) / "dj"
    if all((local / n).is_file() for n in names):
        return {n: json.loads((local / n).read_text(encoding="utf-8")) for n in names}
    if not outcome.run_id:
        return {}
    import os

    from rlmdj.tracking import open_store

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one bar per set read back
    client, _ = open_store(cfg.tracking)
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="rlmdj-opt-") as tmp:
        for n in names:
            try:
                out[n] = json.loads(Path(client.download_artifacts(outcome.run_id, f"dj/{n}", tmp))
                                    .read_text(encoding="utf-8"))
            except Exception:  # noqa: BLE001 - a set without that file (a failed one) says less
                continue
    return out


def feedback_text(*, score: Any, bpm: float, history: list[dict[str, Any]], feedback: list[dict[str, Any]],
                  trace: list[dict[str, Any]], metrics: dict[str, float]) -> str:
    """Sections of short lines; empty sections are left out."""
    parts = [f"OBJ {score.obj:.3f} ({score.scorer}: "
             + ", ".join(f"{k} {v:.2f}" for k, v in sorted(score.scores.items())) + ")"]
    parts += _section("Energy against target per phase", _energy(history))
    parts += _section("Guardrail corrections", _corrections(trace))
    parts += _section("Critique and critic", [f"bar {f.get('bar')}: {f.get('kind')}: {f.get('text')}"
                                              for f in feedback if f.get("text")])
    parts += _section("Tool errors", [f"bar {t.get('bar')}: {t.get('tool')}({_args(t)}): "
                                      f"{t['result'].get('error')} (hint: {t['result'].get('hint', '-')})"
                                      for t in trace if not (t.get("result") or {}).get("ok", True)])
    parts += _section("Scores per window", _windows(score, bpm))
    stop = [f"{k.removeprefix('dj/')}={v:g}" for k, v in sorted(metrics.items())
            if k in ("dj/hard_stop", "dj/autopilot_bars", "dj/sandbox_restarts", "dj/tool_errors") and v]
    if stop:
        parts.append("Run: " + ", ".join(stop))
    return "\n".join(parts)


def _section(title: str, lines: list[str]) -> list[str]:
    if not lines:
        return []
    more = len(lines) - _MAX_LINES
    return [f"{title}:", *(f"- {line}" for line in lines[:_MAX_LINES]),
            *([f"- ... {more} more"] if more > 0 else [])]


def _energy(history: list[dict[str, Any]]) -> list[str]:
    phases: dict[str, list[dict[str, Any]]] = {}
    for row in history:
        phases.setdefault(str(row.get("phase")), []).append(row)
    out = []
    for name, rows in phases.items():
        e = statistics.fmean(float(r["energy"]) for r in rows)
        t = statistics.fmean(float(r["target_energy"]) for r in rows)
        layers = statistics.fmean(float(r["layers"]) for r in rows)
        out.append(f"{name} (bars {rows[0]['bar'] + 1}-{rows[-1]['bar'] + 1}): energy {e:.2f} vs target {t:.2f} "
                   f"({e - t:+.2f}), {layers:.1f} layers")
    return out


def _corrections(trace: list[dict[str, Any]]) -> list[str]:
    out = []
    for t in trace:
        for c in (t.get("result") or {}).get("corrections") or []:
            out.append(f"bar {t.get('bar')}: {c.get('kind')} on {c.get('role')}: {c.get('detail')}")
    return out


def _args(t: dict[str, Any]) -> str:
    return ", ".join(repr(a) for a in t.get("args") or [])[:80]


def _windows(score: Any, bpm: float) -> list[str]:
    spb = 240.0 / bpm  # 4 beats a bar
    out = []
    for w in score.windows:
        a, b = int(w.start_s / spb) + 1, int((w.start_s + w.duration_s) / spb + 0.5)
        out.append(f"bars {a}-{b}: " + ", ".join(f"{k} {v:.2f}" for k, v in sorted(w.scores.items())))
    return out
