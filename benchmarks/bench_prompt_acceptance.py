"""Benchmark: how often GEPA's acceptance step takes a child prompt that is no better than its
parent, with GEPA's default criterion and with :class:`rlmdj.optimize.acceptance.PairedAcceptance`.

Run ``python benchmarks/bench_prompt_acceptance.py [--decisions N] [--seed S] [--engine-iterations M]
[--minibatch K]``; alpha and max_replicas are ``experiment.optimize``'s defaults.

The objective is simulated: a set's OBJ = brief base (N(6.5, 0.5), shared by every candidate, so
it cancels in pairs) + the candidate's true effect + noise of SD 0.3 OBJ drawn per (candidate,
brief, replica). Each decision is driven through gepa's own objects: a ``GEPAState`` made by gepa's
``initialize_gepa_state`` holding the parent, and a ``CandidateProposal`` carrying the minibatch scores GEPA
would have measured (replica 0). For each criterion it prints the acceptance rate of children
whose true effect over their parent is 0 (false acceptance) and +0.3 OBJ, with 95% Wilson
intervals, and the metric calls per decision (GEPA's minibatch of both prompts included); the
last column adds the validation pass (``--valset`` sets) every accepted null child costs GEPA.

"At equal budget": GEPA's default is also run with a minibatch as large as the mean number of
pairs our criterion uses, so it spends the same metric calls per decision. Its false acceptance
stays ~50% whatever the minibatch: it asks only whether the child's sum is higher.

With ``--engine-iterations`` > 0 both criteria also run inside ``gepa.optimize`` (a simulated
adapter and a proposer whose children carry a known effect of 0 or +0.3 over their parent), to
show the criterion works in the real loop; those rates use fewer decisions.

The last line reads ``false_accept=<ours> accept_at_0.3=<ours> default_false_accept=<GEPA
default at equal budget> metric_calls=<ours, mean per decision>``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from gepa.core.state import ValsetEvaluation, initialize_gepa_state
from gepa.proposer.base import CandidateProposal
from gepa.strategies.acceptance import StrictImprovementAcceptance
from scipy import stats

from rlmdj.config.optimize import OptimizeConfig
from rlmdj.optimize.acceptance import PRIOR_EFFECT, PairedAcceptance

__all__ = ["World", "drive", "engine", "main"]

SD, EFFECT, COMPONENT = 0.3, 0.3, "instructions"


class World:
    """The simulated objective: candidates are texts whose true effect the world knows."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.effects: dict[str, float] = {}
        self.base: dict[int, float] = {}
        self._rng = np.random.default_rng(seed)

    def candidate(self, effect: float) -> dict[str, str]:
        text = f"prompt #{len(self.effects)} (true effect {effect:+.2f})"
        self.effects[text] = effect
        return {COMPONENT: text}

    def brief(self) -> int:
        self.base[len(self.base)] = float(self._rng.normal(6.5, 0.5))
        return len(self.base) - 1

    def score(self, candidate: dict[str, str], data_id: int, replica: int) -> float:
        text = candidate[COMPONENT]
        key = int(text.split("#")[1].split(" ")[0])
        noise = np.random.default_rng((self.seed, key, data_id, replica)).standard_normal()
        return self.base[data_id] + self.effects[text] + SD * float(noise)


def drive(criterion: Callable[[World], Any], effect: float, decisions: int, minibatch: int,
          seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Acceptance (bool) and metric calls per decision for children ``effect`` above their parent."""
    world = World(seed)
    judge = criterion(world)
    accepted, calls = np.zeros(decisions, bool), np.zeros(decisions, int)
    for i in range(decisions):
        parent, child = world.candidate(0.0), world.candidate(effect)
        state = initialize_gepa_state(None, _Quiet(), parent, ValsetEvaluation({}, {}))
        ids = [world.brief() for _ in range(minibatch)]
        proposal = CandidateProposal(candidate=child, parent_program_ids=[0], subsample_indices=ids,
                                     subsample_scores_before=[world.score(parent, j, 0) for j in ids],
                                     subsample_scores_after=[world.score(child, j, 0) for j in ids])
        accepted[i] = judge.should_accept(proposal, state)
        calls[i] = 2 * minibatch + (judge.decisions[-1].metric_calls if hasattr(judge, "decisions") else 0)
    return accepted, calls


def ours(world: World) -> PairedAcceptance:
    return PairedAcceptance(world.score, prior_effect=PRIOR_EFFECT)  # the schema's alpha and max_replicas


def default(world: World) -> StrictImprovementAcceptance:
    return StrictImprovementAcceptance()


def rate(hits: np.ndarray) -> str:
    ci = stats.binomtest(int(hits.sum()), hits.size).proportion_ci(0.95, method="wilson")
    return f"{hits.mean():.3f} [{ci.low:.3f}, {ci.high:.3f}]"


def engine(make: Callable[[World], Any], iterations: int, minibatch: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``gepa.optimize`` on the simulated world: (true effect of each child over its parent,
    whether it was accepted), one entry per decision."""
    import gepa
    from gepa.core.adapter import EvaluationBatch

    world = World(seed)
    train = [world.brief() for _ in range(24)]
    val = [world.brief() for _ in range(4)]
    rng = np.random.default_rng(seed + 1)
    seen: list[tuple[float, bool]] = []
    judge = make(world)

    class Adapter:
        propose_new_texts = None

        def evaluate(self, batch: list[int], candidate: dict[str, str], capture_traces: bool = False):
            scores = [world.score(candidate, j, 0) for j in batch]
            return EvaluationBatch(outputs=scores, scores=scores,
                                   trajectories=[{"brief": j} for j in batch] if capture_traces else None)

        def make_reflective_dataset(self, candidate, eval_batch, components_to_update):
            return {c: [{"Feedback": f"OBJ {s:.2f}"} for s in eval_batch.scores] for c in components_to_update}

    def propose(candidate, reflective_dataset, components_to_update):
        return world.candidate(world.effects[candidate[COMPONENT]] + float(rng.choice([0.0, EFFECT])))

    class Recording:
        def should_accept(self, proposal, state) -> bool:
            ok = judge.should_accept(proposal, state)
            parent = state.program_candidates[proposal.parent_program_ids[0]][COMPONENT]
            seen.append((world.effects[proposal.candidate[COMPONENT]] - world.effects[parent], ok))
            return ok

    gepa.optimize(seed_candidate=world.candidate(0.0), trainset=train, valset=val, adapter=Adapter(),
                  custom_candidate_proposer=propose, reflection_minibatch_size=minibatch,
                  skip_perfect_score=False, max_metric_calls=10**9, acceptance_criterion=Recording(),
                  stop_callbacks=[lambda state: state.i + 1 >= iterations], display_progress_bar=False,
                  logger=_Quiet(), seed=seed, track_best_outputs=False)
    effects = np.array([e for e, _ in seen])
    return effects, np.array([a for _, a in seen])


class _Quiet:
    def log(self, message: str) -> None:
        pass


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--decisions", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engine-iterations", type=int, default=1000)
    parser.add_argument("--minibatch", type=int, default=OptimizeConfig.minibatch,
                        help="briefs per reflection minibatch (default: experiment.optimize.minibatch)")
    parser.add_argument("--valset", type=int, default=8,
                        help="validation sets an accepted child costs (the last table column)")
    args = parser.parse_args(argv)
    start, n, k, s = time.perf_counter(), args.decisions, args.minibatch, OptimizeConfig
    print(f"simulated objective: SD {SD} OBJ per set, {n} decisions per row; ours: alpha {s.alpha}, "
          f"minibatch {k}, max_replicas {s.max_replicas}, prior_effect {PRIOR_EFFECT}")
    null_a, null_c = drive(ours, 0.0, n, k, args.seed)
    alt_a, alt_c = drive(ours, EFFECT, n, k, args.seed + 1)
    calls = float(np.concatenate([null_c, alt_c]).mean())
    equal = max(k, round(calls / 2))
    rows = [("ours", k, null_a, null_c, alt_a, alt_c)]
    for m in (k, equal):
        d0, c0 = drive(default, 0.0, n, m, args.seed + 2)
        d3, c3 = drive(default, EFFECT, n, m, args.seed + 3)
        rows.append((f"GEPA default, minibatch {m}", m, d0, c0, d3, c3))
    print(f"{'criterion':<28} {'false accept (effect 0)':>24} {'accept at +0.3':>22} "
          f"{'calls @0':>9} {'calls @0.3':>11} {'p90 calls':>10} {'+val @0':>8}")
    for name, _, a0, c0, a3, c3 in rows:
        print(f"{name:<28} {rate(a0):>24} {rate(a3):>22} {c0.mean():>9.1f} {c3.mean():>11.1f} "
              f"{np.percentile(np.concatenate([c0, c3]), 90):>10.0f} {c0.mean() + args.valset * a0.mean():>8.1f}")
    default_false = float(rows[2][2].mean())
    if args.engine_iterations > 0:
        for name, make in (("ours", ours), ("GEPA default", default)):
            eff, acc = engine(make, args.engine_iterations, args.minibatch, args.seed + 4)
            zero, plus = np.isclose(eff, 0.0), np.isclose(eff, EFFECT)
            print(f"gepa.optimize, {name:<12}: {eff.size} decisions; false accept {rate(acc[zero])}, "
                  f"accept at +0.3 {rate(acc[plus])}")
    print(f"runtime {time.perf_counter() - start:.1f} s")
    print(f"false_accept={null_a.mean():.3f} accept_at_0.3={alt_a.mean():.3f} "
          f"default_false_accept={default_false:.3f} metric_calls={calls:.1f}")


if __name__ == "__main__":
    main()
