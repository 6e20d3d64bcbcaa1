"""The paired acceptance test: its figures against scipy on fixed data, its decisions on fixed
seeds, replicas spent only while a decision is open and never beyond the cap, failed rollouts
dropped rather than zeroed, and its false-acceptance rate over a few hundred null decisions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from gepa.core.state import ValsetEvaluation, initialize_gepa_state
from gepa.proposer.base import CandidateProposal
from gepa.strategies.acceptance import AcceptanceCriterion
from scipy import stats as st

from rlmdj.analysis.sequential import MIXTURE, lower_multiplier
from rlmdj.errors import ParameterError
from rlmdj.optimize.acceptance import PairedAcceptance
from rlmdj.optimize.pairs import FailedRollout


class _Quiet:
    def log(self, message: str) -> None:
        pass


class World:
    """OBJ = brief base + the candidate's effect + N(0, 0.3) per (candidate, brief, replica)."""

    def __init__(self, seed: int = 0, briefs: int = 4) -> None:
        self.seed, self.calls, self.fail = seed, [], set()
        self.base = dict(enumerate(np.random.default_rng(seed).normal(6.5, 0.5, 10_000)))

    def score(self, candidate: dict[str, str], data_id: int, replica: int) -> float:
        self.calls.append((candidate["p"], data_id, replica))
        if (candidate["p"], data_id, replica) in self.fail:
            raise FailedRollout("the sandbox crashed")
        effect, key = float(candidate["p"].split("|")[0]), sum(map(ord, candidate["p"]))
        noise = np.random.default_rng((self.seed, key, data_id, replica)).standard_normal()
        return float(self.base[data_id] + effect + 0.3 * noise)


def decide(world: World, effect: float, ids: list[int], criterion: PairedAcceptance, tag: str = ""):
    parent, child = {"p": f"0.0|parent{tag}"}, {"p": f"{effect}|child{tag}"}
    state = initialize_gepa_state(None, _Quiet(), parent, ValsetEvaluation({}, {}))
    before = [world.score(parent, j, 0) for j in ids]
    after = [world.score(child, j, 0) for j in ids]
    world.calls.clear()
    proposal = CandidateProposal(candidate=child, parent_program_ids=[0], subsample_indices=ids,
                                 subsample_scores_before=before, subsample_scores_after=after)
    return proposal, state, criterion.should_accept(proposal, state)


def test_satisfies_gepas_protocol_and_refuses_bad_settings() -> None:
    assert isinstance(PairedAcceptance(World().score), AcceptanceCriterion)
    for bad in ({"alpha": 0.5}, {"alpha": 0.0}, {"max_replicas": 0}, {"min_effect": -0.1}):
        with pytest.raises(ParameterError, match=f"experiment.optimize.{next(iter(bad))}"):
            PairedAcceptance(World().score, **bad)


def test_figures_match_scipy_on_fixed_data() -> None:
    """Mean, SD and t of the pairs are scipy's paired t-test's; the lower bound at each look is the
    mu0 at which the mixture of noncentral t likelihood ratios (scipy's densities, solved with
    scipy's root finder) reaches 1/alpha, and the decision keeps the highest over its looks."""
    from scipy import optimize

    world = World(seed=0)
    criterion = PairedAcceptance(world.score, max_replicas=3)
    decide(world, 0.25, [0, 1, 2, 3], criterion)
    made = criterion.decisions[-1]
    assert made.replicas == 3 and not made.accepted  # fixed data: open until the cap
    pairs = [(world.score({"p": "0.0|parent"}, j, r), world.score({"p": "0.25|child"}, j, r))
             for r in range(3) for j in range(4)]
    a, b = np.array(pairs).T
    assert made.pairs == 12
    assert made.mean == pytest.approx(float(np.mean(b - a)))
    assert made.sd == pytest.approx(float(np.std(b - a, ddof=1)))
    assert made.mean / (made.sd / math.sqrt(12)) == pytest.approx(st.ttest_rel(b, a).statistic)
    lows = []
    for n in (8, 12):
        d = (b - a)[:n]
        guess = lower_multiplier(n, alpha=0.05, prior_effect=0.75)  # brackets scipy's own root
        c = optimize.brentq(lambda t, n=n: _scipy_mixture(t, n) - 20.0, guess - 0.3, guess + 0.3, xtol=1e-9)
        assert c == pytest.approx(guess, rel=1e-6)
        lows.append(float(np.mean(d) - c * np.std(d, ddof=1) / math.sqrt(n)))
    assert made.low == pytest.approx(max(lows), rel=1e-6)
    # Wider than the fixed-n one-sided t bound: the price of looking after every replica.
    assert made.low < st.ttest_rel(b, a, alternative="greater").confidence_interval(0.95).low


def _scipy_mixture(t: float, n: int, theta0: float = 0.75) -> float:
    """The one-sided mixture of the module docstring from scipy's noncentral t densities (the
    spread component integrated with Simpson's rule on a fine grid)."""
    from scipy import integrate

    nu, root = n - 1, math.sqrt(n)
    total = 0.0
    for m, s, w in MIXTURE:
        m, s = m * theta0, s * theta0
        if s == 0:
            total += w * st.nct.pdf(t, nu, m * root) / st.t.pdf(t, nu)
        else:
            x = np.linspace(-10 * s, 10 * s, 4001)
            lr = 0.5 * (st.nct.pdf(t, nu, x * root) + st.nct.pdf(t, nu, -x * root)) / st.t.pdf(t, nu)
            total += w * integrate.simpson(lr * st.norm.pdf(x, 0, s), x=x)
    return total


def test_accepts_a_clear_improvement_and_rejects_a_null_child() -> None:
    world = World(seed=1)
    criterion = PairedAcceptance(world.score)
    _, _, good = decide(world, 0.6, [0, 1, 2, 3], criterion, "a")
    _, _, null = decide(world, 0.0, [4, 5, 6, 7], criterion, "b")
    assert good and not null
    first, second = criterion.decisions
    assert first.accepted and first.low > 0 and first.reason.startswith("accepted")
    assert not second.accepted and second.reason.startswith("rejected")


def test_replicas_only_while_open_never_beyond_the_cap_and_replica_zero_is_gepas() -> None:
    world = World(seed=2)
    criterion = PairedAcceptance(world.score, max_replicas=4)
    for i, effect in enumerate([0.0, 0.15, 0.3, 0.6, -1.0] * 4):
        ids = [4 * i + j for j in range(4)]
        decide(world, effect, ids, criterion, str(i))
        made = criterion.decisions[-1]
        assert all(r >= 1 for _, _, r in world.calls), "replica 0 is GEPA's minibatch, never re-played"
        assert max((r for _, _, r in world.calls), default=0) <= made.replicas - 1 <= 3
        assert made.metric_calls == len(world.calls) == 2 * 4 * (made.replicas - 1)
        # Every look before the last was open: bound at or below 0 and the mean above it.
        for look in range(1, made.replicas):
            partial = _pairs(world, effect, str(i), ids, look)
            assert np.mean(partial) > 0
            cap = lower_multiplier(len(partial), alpha=0.05, prior_effect=0.75)
            assert np.mean(partial) - cap * np.std(partial, ddof=1) / math.sqrt(len(partial)) <= 0
        if effect == -1.0:
            assert made.metric_calls == 0 and "not ahead" in made.reason  # rejected at once


def _pairs(world: World, effect: float, tag: str, ids: list[int], replicas: int) -> list[float]:
    saved = list(world.calls)
    out = [world.score({"p": f"{effect}|child{tag}"}, j, r) - world.score({"p": f"0.0|parent{tag}"}, j, r)
           for r in range(replicas) for j in ids]
    world.calls[:] = saved
    return out


def test_an_open_decision_at_the_cap_is_rejected_as_undecided() -> None:
    world = World(seed=4)
    criterion = PairedAcceptance(world.score, max_replicas=2)
    outcomes = [decide(world, 0.3, [4 * i + j for j in range(4)], criterion, str(i))[2] for i in range(30)]
    undecided = [d for d in criterion.decisions if "undecided" in d.reason]
    assert undecided and all(d.replicas == 2 and not d.accepted for d in undecided)
    assert not any(outcomes[i] for i, d in enumerate(criterion.decisions) if "undecided" in d.reason)


def test_failed_rollouts_drop_their_pair_instead_of_counting_as_zero() -> None:
    world = World(seed=0)
    world.fail = {("0.4|child", 1, 1), ("0.4|child", 2, 2)}
    criterion = PairedAcceptance(world.score, max_replicas=3)
    ids = [0, 1, 2, 3]
    parent, child = {"p": "0.0|parent"}, {"p": "0.4|child"}
    state = initialize_gepa_state(None, _Quiet(), parent, ValsetEvaluation({}, {}))
    before = [world.score(parent, j, 0) for j in ids]
    after = [world.score(child, j, 0) for j in ids]
    after[3] = math.nan  # GEPA's minibatch score of a failed rollout
    proposal = CandidateProposal(candidate=child, parent_program_ids=[0], subsample_indices=ids,
                                 subsample_scores_before=before, subsample_scores_after=after)
    criterion.should_accept(proposal, state)
    made = criterion.decisions[-1]
    kept = [after[j] - before[j] for j in range(3)] + [
        world.score(child, j, r) - world.score(parent, j, r)
        for r in (1, 2) for j in ids if (child["p"], j, r) not in world.fail]
    assert made.replicas == 3  # fixed data: open until the cap
    assert made.dropped == 3 and made.pairs == len(kept) == 9
    assert made.mean == pytest.approx(float(np.mean(kept)))
    assert "3 pair(s) dropped" in made.reason
    # The parent of a failed child rollout is not played for nothing.
    assert ("0.0|parent", 1, 1) not in world.calls


def test_one_decision_per_proposal_counted_in_gepas_budget_and_linked_to_its_index() -> None:
    world = World(seed=1)
    criterion = PairedAcceptance(world.score)
    proposal, state, accepted = decide(world, 0.6, [0, 1, 2, 3], criterion)
    before = state.total_num_evals
    assert criterion.should_accept(proposal, state) is accepted
    assert criterion.reject_reason(proposal, state) == criterion.decisions[0].reason
    assert len(criterion.decisions) == 1 and state.total_num_evals == before
    assert before == criterion.decisions[0].metric_calls > 0
    state.program_candidates.append(proposal.candidate)
    criterion.link(state)
    assert criterion.decisions[0].child == 1
    assert criterion.summary()["accepted"] == 1.0


def test_false_acceptance_over_null_decisions_is_at_most_alpha() -> None:
    """400 children with no true effect: the acceptance rate must not exceed alpha beyond binomial
    noise (GEPA's default accepts ~50% of them). 400 children with +0.3: most are accepted."""
    world = World(seed=11)
    criterion = PairedAcceptance(world.score)
    null = [decide(world, 0.0, [4 * i + j for j in range(4)], criterion, f"n{i}")[2] for i in range(400)]
    rate = sum(null) / len(null)
    assert rate <= 0.05 + 2 * math.sqrt(0.05 * 0.95 / 400)  # 0.072
    plus = [decide(world, 0.3, [4 * i + j for j in range(4)], criterion, f"p{i}")[2] for i in range(400, 600)]
    assert sum(plus) / len(plus) >= 0.75
