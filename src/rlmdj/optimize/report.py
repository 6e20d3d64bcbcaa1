"""The study's end: the final choice, the held-out confirmation, the prompt file, and what the
parent run and the terminal are told.

The choice is the pool candidate with the highest validation lower bound
(:func:`~rlmdj.optimize.selection.select_candidate`); the confirmation plays it against the start
on the held-out briefs (:func:`~rlmdj.optimize.confirmation.confirm`). "No better than the start"
is a result like any other: it is the verdict, with its effect and interval, in the run's
description. The chosen text is written to ``prompts/<name>_opt_<k>.txt`` when it differs from
the start (the header names the study, the candidate and the verdict).
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

from omegaconf import DictConfig

from rlmdj.config.optimize import OptimizeConfig
from rlmdj.optimize.briefs import Splits
from rlmdj.optimize.budget import BudgetSpent, StudyBudget
from rlmdj.optimize.lineage import Lineage, candidate_csv, plot_validation, write_prompt_file
from rlmdj.optimize.program import COMPONENT
from rlmdj.optimize.rollout import Rollouts, text_hash

__all__ = ["finish", "print_table", "validation_bounds", "validation_scores"]


def finish(cfg: DictConfig, s: OptimizeConfig, run: Any, *, prompt: str, start: str, texts: list[str],
           splits: Any, rollouts: Any, score: Any, lineage: Lineage, budget: StudyBudget,
           points: list[tuple[int, float, float]], acceptance: Any, elapsed: float) -> float | None:
    """Select, confirm, write and report (module docstring); the chosen candidate's lower bound."""
    from pathlib import Path

    from rlmdj.optimize.confirmation import confirm
    from rlmdj.optimize.selection import select_candidate

    stop = budget.reason or "GEPA ended"
    selection = select_candidate([validation_scores(rollouts, splits, t, s) for t in texts], alpha=s.alpha)
    chosen = texts[selection.index]
    for i, b in enumerate(selection.table):
        c = next((c for c in lineage.candidates if c.index == i and c.hash == text_hash(texts[i])), None)
        if c is not None:
            c.val_mean, c.val_low, c.val_briefs = b.mean, b.low, b.briefs
    searched = budget.played
    budget.confirming = True
    try:
        confirmation = confirm(score, {COMPONENT: start}, {COMPONENT: chosen}, [b.id for b in splits.heldout],
                               alpha=s.alpha, delta=s.confirm_delta, max_pairs=s.confirm_max_pairs)
        stopped = None
    except BudgetSpent as exc:
        confirmation, stopped = None, str(exc)
    written = None
    verdict = confirmation.verdict if confirmation is not None else f"unconfirmed ({stopped})"
    if chosen != start:
        name = s.out_name or prompt
        written = write_prompt_file(Path(str(cfg.paths.prompts_dir)), name, chosen, [
            f"from: prompt={prompt}, study run {run.run_id}, candidate {text_hash(chosen)} "
            f"(pool index {selection.index})",
            f"validation: mean {selection.chosen.mean:.3f}, lower bound {selection.chosen.low:.3f} "
            f"over {selection.chosen.briefs} briefs",
            f"held-out verdict: {verdict}" + (f", effect {confirmation.effect:+.3f} OBJ "
                                             f"[{confirmation.low:.3f}, {confirmation.high:.3f}]"
                                             if confirmation is not None and not confirmation.same_prompt else "")])
    summary = {"stop_reason": stop, "chosen_index": selection.index, "chosen_hash": text_hash(chosen),
               "prompt_file": str(written) if written else None, "verdict": verdict,
               "confirmation": confirmation.to_dict() if confirmation is not None else None,
               "selection": [b.to_dict() for b in selection.table], "metric_calls": searched,
               "confirmation_sets": budget.played - searched,
               "cost_usd": budget.cost_usd, "wall_s": budget.wall_s,
               "acceptance": acceptance.summary()}
    _log(run, s, summary, lineage, points, confirmation, elapsed, budget)
    run.set_description(_description(prompt, s, summary, confirmation, written, lineage))
    print_table(lineage, summary, file=sys.stdout)
    low = selection.chosen.low
    return low if math.isfinite(low) else (selection.chosen.mean if math.isfinite(selection.chosen.mean) else None)


def validation_scores(rollouts: Rollouts, splits: Splits, text: str, s: OptimizeConfig) -> dict[str, list[float]]:
    """``{val brief: [replica OBJ (nan: failed)]}`` of ``text`` from the cache (nothing is played)."""
    out: dict[str, list[float]] = {}
    for b in splits.val:
        got = [rollouts.cached(text, b, r) for r in range(s.val_replicas)]
        vals = [math.nan if r is None or r.failed or r.obj is None else float(r.obj) for r in got if r is not None]
        if vals:
            out[b.id] = vals
    return out


def validation_bounds(rollouts: Rollouts, splits: Splits, text: str, s: OptimizeConfig, index: int) -> Any:
    from rlmdj.optimize.selection import bounds

    return bounds(index, validation_scores(rollouts, splits, text, s), alpha=s.alpha)


def _log(run: Any, s: OptimizeConfig, summary: dict[str, Any], lineage: Lineage,
         points: list[tuple[int, float, float]], confirmation: Any, elapsed: float, budget: StudyBudget) -> None:
    run.log_text(candidate_csv(lineage.candidates), "optimize/candidates.csv")
    run.log_json(summary, "optimize/summary.json")
    run.log_json([c.__dict__ for c in lineage.candidates], "optimize/lineage.json")
    if confirmation is not None:
        run.log_json(confirmation.to_dict(), "optimize/confirmation.json")
        run.log_text(confirmation.description() + "\n", "optimize/confirmation.md")
    plot_validation(points, run.artifact_path("optimize/validation.png"))
    proposed = [c for c in lineage.candidates if c.iteration > 0]
    metrics = {"optimize/metric_calls": float(summary["metric_calls"]),
               "optimize/confirmation_sets": float(summary["confirmation_sets"]), "optimize/cost_usd": budget.cost_usd,
               "optimize/wall_s": elapsed, "optimize/candidates": float(len(proposed)),
               "optimize/accepted": float(sum(c.accepted for c in proposed)),
               "optimize/rejected": float(sum(not c.accepted for c in proposed))}
    chosen = summary["selection"][summary["chosen_index"]]
    for k in ("mean", "low"):
        if math.isfinite(chosen[k]):
            metrics[f"optimize/chosen_val_{k}"] = float(chosen[k])
    if confirmation is not None and not confirmation.same_prompt:
        for k in ("effect", "low", "high"):
            value = getattr(confirmation, k)
            if math.isfinite(value):
                metrics[f"optimize/heldout_{k}"] = float(value)
    run.log_metrics(metrics)
    if points:
        run.log_series("optimize/val_mean", [p[1] for p in points], steps=[p[0] for p in points])
    run.set_tags({"rlmdj.optimize.verdict": summary["verdict"], "rlmdj.optimize.stop_reason": summary["stop_reason"],
                  "rlmdj.optimize.chosen": summary["chosen_hash"]})


def _description(prompt: str, s: OptimizeConfig, summary: dict[str, Any], confirmation: Any, written: Any,
                 lineage: Lineage) -> str:
    proposed = [c for c in lineage.candidates if c.iteration > 0]
    acc = sum(c.accepted for c in proposed)
    head = (f"GEPA optimised prompt={prompt}: {len(proposed)} candidates proposed, {acc} accepted by the paired "
            f"test (alpha {s.alpha:g}), {summary['metric_calls']} sets played in the search, ${summary['cost_usd']:.4f}; stopped: "
            f"{summary['stop_reason']}. ")
    if summary["chosen_index"] == 0:
        choice = "The validation lower bound kept the starting prompt: no better than the start. "
    else:
        chosen = summary["selection"][summary["chosen_index"]]
        choice = (f"Chosen by validation lower bound: candidate {summary['chosen_index']} ({summary['chosen_hash']}), "
                  f"mean {chosen['mean']:.3f}, lower bound {chosen['low']:.3f}. ")
    verdict = f"**Verdict: {summary['verdict']}.** "
    body = confirmation.description() if confirmation is not None else "The held-out confirmation did not run to a verdict."
    tail = f" Written: `{written}` (prompt={written.stem})." if written else ""
    return head + choice + verdict + body + tail + " Table: `optimize/candidates.csv`."


def print_table(lineage: Lineage, summary: dict[str, Any], *, file: Any = None) -> None:
    """The final table: every candidate with its decision and validation scores, then the verdict."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="optimize_prompt: candidates")
    for col in ("#", "hash", "iter", "parent", "accepted", "minibatch p→c", "val mean", "val LCB", "version"):
        table.add_column(col)

    def f(x: float | None) -> str:
        return "-" if x is None or not math.isfinite(x) else f"{x:.3f}"

    for c in lineage.candidates:
        mark = "*" if c.index is not None and c.index == summary["chosen_index"] else ""
        table.add_row(f"{'' if c.index is None else c.index}{mark}", c.hash[:10], str(c.iteration),
                      "" if c.parent is None else str(c.parent), "yes" if c.accepted else "no",
                      f"{f(c.minibatch_parent)}→{f(c.minibatch_child)}" if c.iteration else "",
                      f(c.val_mean), f(c.val_low), c.version)
    console = Console(file=file, width=140)
    console.print(table)
    console.print(f"verdict: {summary['verdict']} · stopped: {summary['stop_reason']} · sets {summary['metric_calls']}"
                  f" · ${summary['cost_usd']:.4f}" + (f" · wrote {summary['prompt_file']}" if summary["prompt_file"]
                                                      else ""))
    if summary.get("confirmation"):
        print(json.dumps({k: summary["confirmation"][k] for k in ("verdict", "effect", "low", "high", "pairs")}),
              file=file)
