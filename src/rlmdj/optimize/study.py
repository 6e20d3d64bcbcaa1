"""The study behind ``rlmdj experiment=optimize_prompt``: GEPA over the DJ prompt, recorded in MLflow.

Order: the briefs (drawn, or read back when resuming), the forecast, then one parent run that
holds everything: ``gepa.optimize`` with :class:`~rlmdj.optimize.program.DJAdapter`, the paired
acceptance test (:class:`~rlmdj.optimize.acceptance.PairedAcceptance`) as GEPA's
``acceptance_criterion`` and :class:`~rlmdj.optimize.budget.StudyBudget` as its stopper; then the
final choice by validation lower bound (:func:`~rlmdj.optimize.selection.select_candidate`, not
GEPA's best mean), the held-out confirmation (:func:`~rlmdj.optimize.confirmation.confirm`), the
prompt file, the candidate table, the plot and the verdict in the run's description.

State (``optimize/state/`` of the parent run): GEPA's own ``gepa/gepa_state.bin`` (saved by GEPA
before each iteration), ``rollouts.jsonl`` (every set played), ``splits.json``, ``lineage.json``
and ``budget.json``. ``experiment.resume=true`` downloads the latest state of the same prompt's
study into the new run's folder; GEPA continues from its saved iteration and cached sets are not
played again.
"""

from __future__ import annotations

import json
import math
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from rlmdj.config.optimize import OptimizeConfig
from rlmdj.optimize.acceptance import PairedAcceptance
from rlmdj.optimize.briefs import Splits, deal_seed
from rlmdj.optimize.budget import BudgetSpent, StudyBudget
from rlmdj.optimize.lineage import Candidate, Lineage
from rlmdj.optimize.program import COMPONENT, DJAdapter, Example
from rlmdj.optimize.rollout import Rollouts, text_hash

__all__ = ["run_study", "settings"]

_KEY = "experiment.optimize"
_TAG = "rlmdj.optimize.prompt"


def settings(cfg: DictConfig) -> OptimizeConfig:
    from rlmdj.config import bind

    return bind(cfg.experiment.optimize, OptimizeConfig, _KEY)


# ----------------------------------------------------------------------------- state
def _previous_run(cfg: DictConfig, prompt: str) -> Any | None:
    """The latest study run of ``prompt`` in the store (for ``experiment.resume``)."""
    from rlmdj.tracking import open_store

    client, experiment_id = open_store(cfg.tracking)
    runs = client.search_runs([experiment_id], filter_string=f"tags.`{_TAG}` = '{prompt}' and "
                              "tags.`rlmdj.experiment` = 'optimize_prompt'",
                              order_by=["attributes.start_time DESC"], max_results=1)
    return (client, runs[0]) if runs else None


def _resume(cfg: DictConfig, prompt: str, state_dir: Path) -> str | None:
    """Download the latest study's state into ``state_dir``; its run id (None: nothing to resume)."""
    found = _previous_run(cfg, prompt)
    if found is None:
        print(f"rlmdj: resume: no earlier optimize_prompt study of prompt={prompt}; starting a new one",
              file=sys.stderr)
        return None
    client, run = found
    tmp = state_dir.parent / "resume-download"
    try:
        got = Path(client.download_artifacts(run.info.run_id, "optimize/state", str(tmp)))
    except Exception:  # noqa: BLE001 - a study stopped before it saved any state
        print(f"rlmdj: resume: run {run.info.run_id} holds no state; starting a new study", file=sys.stderr)
        return None
    if state_dir.exists():
        shutil.rmtree(state_dir)
    shutil.move(str(got), str(state_dir))
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"rlmdj: resume: continuing the study of run {run.info.run_id}", file=sys.stderr)
    return str(run.info.run_id)


def _splits(cfg: DictConfig, s: OptimizeConfig, state_dir: Path) -> Splits:
    from rlmdj.optimize.briefs import draw_briefs, palette_files, screen_palette_files

    path = state_dir / "splits.json"
    if path.is_file():
        return Splits.from_json(path.read_text(encoding="utf-8"))
    files = palette_files(cfg, s)
    if not files:
        print(f"rlmdj: optimize: no curated palettes; screening experiment.screen.n={cfg.experiment.screen.n}",
              file=sys.stderr)
        files = screen_palette_files(cfg, s, state_dir / "palettes")
    splits = draw_briefs(files, s)
    state_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(splits.to_json(), encoding="utf-8")
    return splits


def _save_state(run: Any, state_dir: Path, budget: StudyBudget, lineage: Lineage) -> None:
    budget.save(state_dir / "budget.json")
    (state_dir / "lineage.json").write_text(json.dumps([asdict(c) for c in lineage.candidates]), encoding="utf-8")
    if run.run_id is not None:
        run.client.log_artifacts(run.run_id, str(state_dir), "optimize/state")


# ---------------------------------------------------------------------------- recording
class _Recorder:
    """The acceptance criterion GEPA is given (the paired test, with every decision recorded as a
    candidate of the lineage) and GEPA's callback (validation scores, progress)."""

    def __init__(self, acceptance: PairedAcceptance, lineage: Lineage, rollouts: Rollouts, splits: Splits,
                 s: OptimizeConfig, budget: StudyBudget, progress: Any, save: Any) -> None:
        self.acceptance, self.lineage, self.rollouts, self.splits = acceptance, lineage, rollouts, splits
        self.s, self.budget, self.progress, self.save = s, budget, progress, save
        self.points: list[tuple[int, float, float]] = []

    def on_state_saved(self, event: Any) -> None:
        """GEPA saved its state (before each iteration): the parent run gets the whole state, so a
        study killed without warning resumes from its last iteration."""
        self.save()

    def should_accept(self, proposal: Any, state: Any) -> bool:
        text = proposal.candidate[COMPONENT]
        raw = str(proposal.metadata.get(f"raw_lm_output:{COMPONENT}", "") or "")
        c = Candidate(index=None, hash=text_hash(text), iteration=int(state.i) + 1,
                      parent=proposal.parent_program_ids[0], accepted=False, text=text,
                      rationale=raw.replace(text, "<new instructions>").strip(),
                      minibatch_parent=_mean(proposal.subsample_scores_before),
                      minibatch_child=_mean(proposal.subsample_scores_after))
        try:
            d = self.acceptance.decision(proposal, state)
        except BudgetSpent:
            c.reason = "undecided: a budget was spent before the decision"
            self.lineage.register(c)
            raise
        c.accepted, c.reason, c.metric_calls = d.accepted, d.reason, d.metric_calls
        c.index = len(state.program_candidates) if d.accepted else None
        self.lineage.register(c)
        self.tick()
        return d.accepted

    def reject_reason(self, proposal: Any, state: Any) -> str:
        return self.acceptance.reject_reason(proposal, state)

    def on_valset_evaluated(self, event: Any) -> None:
        text = event["candidate"][COMPONENT]
        c = next((c for c in reversed(self.lineage.candidates) if c.hash == text_hash(text)), None)
        if c is None:
            return
        c.index = int(event["candidate_idx"])
        from rlmdj.optimize.report import validation_bounds

        b = validation_bounds(self.rollouts, self.splits, text, self.s, c.index)
        c.val_mean, c.val_low, c.val_briefs = b.mean, b.low, b.briefs
        self.lineage.update(c)
        self.points.append((self.budget.played, b.mean, b.low))
        self.tick()

    def tick(self) -> None:
        lows = [c.val_low for c in self.lineage.candidates if c.val_low is not None and math.isfinite(c.val_low)]
        acc = sum(c.accepted for c in self.lineage.candidates if c.iteration > 0)
        rej = sum(not c.accepted for c in self.lineage.candidates if c.iteration > 0)
        best = f"best LCB {max(lows):.3f}" if lows else "best LCB -"
        self.progress.update(min(self.budget.played, self.s.max_metric_calls),
                             note=f"{best} · accepted {acc} · rejected {rej} · ${self.budget.cost_usd:.3f}")


def _mean(xs: Any) -> float | None:
    ok = [float(x) for x in xs or [] if math.isfinite(float(x))]
    return sum(ok) / len(ok) if ok else None


# ------------------------------------------------------------------------------- the study
def _gepa(cfg: DictConfig, s: OptimizeConfig, start: str, splits: Splits, rollouts: Rollouts, recorder: _Recorder,
          reflection: Any, state_dir: Path) -> Any:
    """Run GEPA; its final state (also when a budget stopped it during the start's validation)."""
    import gepa
    from gepa.core.state import GEPAState

    train = [Example(b, 0, "train") for b in splits.train]
    val = [Example(b, r, "val") for b in splits.val for r in range(s.val_replicas)]
    run_dir = state_dir / "gepa"
    try:
        gepa.optimize(seed_candidate={COMPONENT: start}, trainset=train, valset=val, adapter=DJAdapter(rollouts),
                      reflection_lm=reflection, candidate_selection_strategy="pareto",
                      reflection_minibatch_size=s.minibatch, skip_perfect_score=False, perfect_score=math.inf,
                      stop_callbacks=[recorder.budget], run_dir=str(run_dir), callbacks=[recorder],
                      acceptance_criterion=recorder, raise_on_exception=False, seed=deal_seed(s),
                      logger=_FileLog(state_dir / "gepa_log.txt"),
                      display_progress_bar=False, track_best_outputs=False)
    except BudgetSpent as exc:
        print(f"rlmdj: optimize: {exc} while validating the start", file=sys.stderr)
    state_file = run_dir / "gepa_state.bin"
    return GEPAState.load(str(run_dir)) if state_file.is_file() else None


class _FileLog:
    """GEPA's log lines go to the state's ``gepa_log.txt`` (an artifact), not the terminal: the
    progress line and the final table speak there."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def log(self, message: str) -> None:
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(message.rstrip("\n") + "\n")


def _candidates(state: Any, start: str) -> list[str]:
    return [c[COMPONENT] for c in state.program_candidates] if state is not None else [start]


def run_study(cfg: DictConfig) -> float | None:
    """The whole job (module docstring); returns the chosen prompt's validation lower bound."""
    from rlmdj.dj.rlm_inputs import prompt_text
    from rlmdj.experiments.cli.progress import Progress
    from rlmdj.experiments.jobs.run import _open_run
    from rlmdj.optimize.budget import forecast_lines
    from rlmdj.optimize.program import ReflectionLM, scorer_for
    from rlmdj.optimize.report import finish
    from rlmdj.tracking import config_hash
    from rlmdj.tracking.params import run_params
    from rlmdj.tracking.versions import code_tags

    s = settings(cfg)
    prompt, start = prompt_text(cfg)
    out_dir = Path(str(cfg.paths.output_dir))
    state_dir = out_dir / "optimize" / "state"
    resumed_from = _resume(cfg, prompt, state_dir) if cfg.experiment.resume else None
    splits = _splits(cfg, s, state_dir)
    for line in forecast_lines(cfg, s):
        print(f"rlmdj: {line}", file=sys.stderr)
    budget = StudyBudget(s)
    budget.load(state_dir / "budget.json")
    params, path_tags = run_params(cfg, job="optimize_prompt")
    tags = {"rlmdj.experiment": "optimize_prompt", "rlmdj.config_hash": config_hash(cfg), _TAG: prompt,
            **({"rlmdj.optimize.resumed_from": resumed_from} if resumed_from else {}), **code_tags(), **path_tags}
    run = _open_run(cfg, None, tags, run_name=cfg.tracking.run_name or f"optimize prompt={prompt}", keep_dir=out_dir)
    t0 = time.perf_counter()
    with run:
        run.log_params(params)
        run.log_text(splits.to_json(), "optimize/briefs.json")
        run.flush(artifacts=False)
        reflection = ReflectionLM(cfg)
        budget.reflection = reflection
        lineage = Lineage(run, prompt, str(run.run_id))
        with Progress("optimize", s.max_metric_calls, unit="sets", enabled=bool(cfg.progress)) as progress:
            rollouts = Rollouts(cfg, state_dir, parent_run_id=run.run_id, admit=budget.admit,
                                on_played=lambda r: (budget.record(r.cost_usd), recorder.tick()))
            budget.played = len(rollouts.cache)
            budget.set_cost_usd = sum(r.cost_usd for r in rollouts.cache.values())
            train = [Example(b, 0, "train") for b in splits.train]
            score = scorer_for(rollouts, splits, train)
            acceptance = PairedAcceptance(score, alpha=s.alpha, max_replicas=s.max_replicas)
            recorder = _Recorder(acceptance, lineage, rollouts, splits, s, budget, progress,
                                 save=lambda: _save_state(run, state_dir, budget, lineage))
            _restore_lineage(lineage, state_dir, start)
            try:
                state = _gepa(cfg, s, start, splits, rollouts, recorder, reflection, state_dir)
            finally:
                _save_state(run, state_dir, budget, lineage)
        texts = _candidates(state, start)
        return finish(cfg, s, run, prompt=prompt, start=start, texts=texts, splits=splits, rollouts=rollouts,
                      score=score, lineage=lineage, budget=budget, points=recorder.points, acceptance=acceptance,
                      elapsed=time.perf_counter() - t0)


def _restore_lineage(lineage: Lineage, state_dir: Path, start: str) -> None:
    """The candidates of an earlier session (resume), else the start as candidate 0."""
    path = state_dir / "lineage.json"
    if path.is_file():
        lineage.candidates = [Candidate(**c) for c in json.loads(path.read_text(encoding="utf-8"))]
        return
    lineage.register(Candidate(index=0, hash=text_hash(start), iteration=0, parent=None, accepted=True,
                               reason="the starting prompt", text=start))
