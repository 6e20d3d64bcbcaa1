"""Schema of the ``experiment`` group: which job runs and the settings of each experiment.

``experiment.name`` picks the job (``run`` plays one set); ``experiment.analysis`` says what the
sweep callback computes over a finished multirun (``compare`` the conditions, or the ``gap``
decomposition). The nested groups hold each experiment's knobs so one command line can set them:
``rlmdj experiment=screen_palettes experiment.screen.n=200``. Every job's settings live under
``experiment.<job>`` (``experiment.serve.port``, ``experiment.replay.run_id``), so they never
collide with the groups a run reads, and the config hash of a run ignores them. The sequential
sweeper's settings (``hydra.sweeper.*``) are here too, beside the comparison whose baseline and
metric it shares.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from rlmdj.config.dj import ReplayConfig
from rlmdj.config.optimize import OptimizeConfig
from rlmdj.config.scorer import ServeConfig
from rlmdj.errors import ParameterError

__all__ = [
    "COMPARE_TESTS", "COMPARE_UNITS", "CompareConfig", "ScreenConfig", "SearchConfig", "GapConfig", "RescoreConfig",
    "RerunConfig",
    "ExperimentConfig", "MAX_PRIOR_EFFECT", "MAX_REPLICAS", "SequentialSettings", "check_compare",
]

COMPARE_TESTS: tuple[str, ...] = ("t", "rank")
COMPARE_UNITS: tuple[str, ...] = ("replica", "palette")


@dataclass
class CompareConfig:
    """Which runs to compare and how (``rlmdj experiment=compare experiment.compare.parent=<id>``).

    Select runs by ``parent`` (a sweep's parent run id), else by ``experiment`` name (default:
    ``tracking.experiment``) and/or an MLflow ``filter`` string. ``by`` lists the keys that define
    a condition (default: the swept keys; store-wide, the config keys that differ). ``primary``
    is the axis the verdicts are about (``<scorer>/OBJ``; the other axes are exploratory).
    ``test``: ``t`` (paired t, or Welch when unpaired) or ``rank`` (Wilcoxon, or Mann-Whitney).
    ``unit``: the unit of replication, ``replica`` (index + palette; conditions pair by it) or
    ``palette`` (runs of one palette averaged; >= 2 palettes per condition). ``delta`` is the
    OBJ difference the replica estimate is sized for, at ``power`` and two-sided ``alpha``.
    ``max_inline_mb`` caps the audio embedded in ``comparison/listen.html``.

    ``scorer``: the metric prefix to compare on (``proxy``, ``audiobox``) when runs hold several
    scorers' metrics (a rescored sweep); unset, it is ``primary``'s prefix, else the scorer most
    runs hold (ties: the one they were played with). Runs without it are excluded, by name.
    """

    parent: str | None = None
    experiment: str | None = None
    filter: str | None = None
    by: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    primary: str = "OBJ"
    scorer: str | None = None
    baseline: str | None = None
    test: str = "t"
    unit: str = "replica"
    alpha: float = 0.05
    delta: float = 0.3
    power: float = 0.80
    max_inline_mb: float = 20.0


def check_compare(node: Any, key: str = "experiment.compare") -> None:
    """ParameterError naming the first out-of-range setting of ``node`` (a CompareConfig or its
    DictConfig), so a bad ``alpha`` fails in one line before any run is opened, not as a math
    error in the statistics after a sweep."""

    def bad(name: str, want: str, example: Any) -> ParameterError:
        return ParameterError(f"{key}.{name} must be {want}, got {getattr(node, name)!r} "
                              f"(e.g. {key}.{name}={example})")

    def number(name: str) -> float:
        value = getattr(node, name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise bad(name, "a finite number", getattr(CompareConfig, name))
        return float(value)

    for name in ("alpha", "power"):
        if not 0 < number(name) < 1:
            raise bad(name, "between 0 and 1, both excluded", getattr(CompareConfig, name))
    if not number("delta") > 0:
        raise bad("delta", "positive", CompareConfig.delta)
    if not number("max_inline_mb") >= 0:
        raise bad("max_inline_mb", "0 or more", CompareConfig.max_inline_mb)
    if node.test not in COMPARE_TESTS:
        raise bad("test", f"one of {', '.join(COMPARE_TESTS)}", COMPARE_TESTS[0])
    if node.unit not in COMPARE_UNITS:
        raise bad("unit", f"one of {', '.join(COMPARE_UNITS)}", COMPARE_UNITS[0])


@dataclass
class ScreenConfig:
    """Palette screening: ``n`` random palettes with the ``bars``-bar reference, keep the top ``top_k``.

    ``seed`` picks the draw; unset, it continues after the highest seed already recorded in
    ``curated_dir``, so screening again finds new palettes instead of the same ones.
    """

    n: int = 100
    top_k: int = 10
    bars: int = 32
    seed: int | None = None
    workers: int = 0
    curated_dir: str = "${paths.palettes_dir}/curated"
    prefix: str = "palette"


@dataclass
class SearchConfig:
    """Palette search: Optuna picks one sample per role for ``n_trials`` palettes, each played with
    the ``bars``-bar reference arrangement and scored; the top ``top_k`` are kept.

    ``sampler``: ``tpe`` (default) or ``random``; ``seed`` its seed (unset: derived from the
    study's name). ``study``: the Optuna study's name; unset, ``palettes-<bars>b-<scorer>-<digest>-<k>``
    with a new ``k`` per search, and ``experiment.resume=true`` continues the latest.
    ``storage``: null for a journal file beside the MLflow store, or a journal file path or a
    database URL. ``warm_start``: the best palettes already curated are tried first.
    ``workers``: processes that render and score (0 = one per core). Kept palettes go to
    ``curated_dir`` as ``<prefix>_NNN.json``, numbered with the screened ones.
    """

    n_trials: int = 100
    top_k: int = 10
    bars: int = 32
    seed: int | None = None
    sampler: str = "tpe"
    warm_start: bool = False
    workers: int = 0
    study: str | None = None
    storage: str | None = None
    curated_dir: str = "${experiment.screen.curated_dir}"
    prefix: str = "${experiment.screen.prefix}"


@dataclass
class GapConfig:
    """The gap test's cells: the ``reference`` driver vs the swept DJ, ``target_bars`` vs ``alt_bars``."""

    reference: str = "reference"
    target_bars: int = 32
    alt_bars: int = 64


@dataclass
class RescoreConfig:
    """``rlmdj experiment=rescore``: score a finished sweep's sets again with ``scorer``.

    ``parent``: the sweep's parent run id (a unique prefix is enough). Runs that already hold
    ``<scorer>/OBJ`` are skipped unless ``overwrite``.
    """

    parent: str | None = None
    overwrite: bool = False


@dataclass
class RerunConfig:
    """``rlmdj experiment=rerun``: play a recorded run's configuration again as a new run.

    ``run_id``: one FINISHED run (its full id); ``parent``: a sweep's parent run, whose FINISHED
    jobs are played again under a new parent with a reproduction report. Exactly one of them.
    """

    run_id: str | None = None
    parent: str | None = None


@dataclass
class ExperimentConfig:
    """What the job does, and what a finished sweep reports.

    ``resume``: skip any job whose configuration already has a FINISHED run in the store
    (matched by config hash), so re-running an interrupted sweep only runs what is missing.
    ``analysis``: ``compare`` (conditions vs baseline), ``gap`` (the gap decomposition) or
    ``none``, computed over the sweep's child runs and logged to its parent run.
    ``budget_usd``: what a sweep's LLM sets may spend (null: no limit); a job whose forecast
    would take the spent, in-flight and forecast cost past it is skipped, and a resumed sweep
    starts a new budget (``rlmdj.experiments.sweep.budget``).
    """

    name: str = "run"
    resume: bool = False
    budget_usd: float | None = None
    analysis: str = "compare"
    compare: CompareConfig = field(default_factory=CompareConfig)
    screen: ScreenConfig = field(default_factory=ScreenConfig)
    search: SearchConfig = field(default_factory=SearchConfig)
    optimize: OptimizeConfig = field(default_factory=OptimizeConfig)
    gap: GapConfig = field(default_factory=GapConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    rescore: RescoreConfig = field(default_factory=RescoreConfig)
    rerun: RerunConfig = field(default_factory=RerunConfig)


# Effects beyond 10 SDs of the differences are decided by any test after a few pairs; a larger
# prior_effect only makes the mixture's series longer (it grows with n * prior_effect^2).
MAX_PRIOR_EFFECT = 10.0
MAX_REPLICAS = 1000  # per condition: the schedule and the confidence sequence stay small


@dataclass
class SequentialSettings:
    """``hydra.sweeper.*`` of ``hydra/sweeper=sequential``: rounds, budget, the difference worth
    finding and the error rate (:mod:`rlmdj.experiments.sweep.sequential`). The sweeper's config
    node is this dataclass plus Hydra's target, so its defaults live here only."""

    min_replicas: int = 3
    max_replicas: int = 20
    round_size: int = 2
    delta: float = 0.3
    alpha: float = 0.05
    prior_effect: float = 2.0

    def __post_init__(self) -> None:
        for key in ("min_replicas", "max_replicas", "round_size"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ParameterError(f"hydra.sweeper.{key} must be a whole number, got {value!r}")
        for key in ("delta", "alpha", "prior_effect"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ParameterError(f"hydra.sweeper.{key} must be a finite number, got {value!r}")
        if self.min_replicas < 2:
            raise ParameterError(f"hydra.sweeper.min_replicas must be >= 2, got {self.min_replicas}")
        if self.max_replicas < self.min_replicas:
            raise ParameterError(f"hydra.sweeper.max_replicas ({self.max_replicas}) must be >= "
                                 f"min_replicas ({self.min_replicas})")
        if self.max_replicas > MAX_REPLICAS:
            raise ParameterError(f"hydra.sweeper.max_replicas must be <= {MAX_REPLICAS}, got {self.max_replicas}")
        if self.round_size < 1:
            raise ParameterError(f"hydra.sweeper.round_size must be >= 1, got {self.round_size}")
        if not self.delta > 0:
            raise ParameterError(f"hydra.sweeper.delta must be > 0 (OBJ), got {self.delta}")
        if not 0 < self.alpha < 1:
            raise ParameterError(f"hydra.sweeper.alpha must be in (0, 1), got {self.alpha}")
        if not 0 < self.prior_effect <= MAX_PRIOR_EFFECT:
            raise ParameterError(f"hydra.sweeper.prior_effect must be in (0, {MAX_PRIOR_EFFECT:g}] "
                                 f"(effect / SD), got {self.prior_effect}")

    def schedule(self) -> list[int]:
        """Replicas per condition after each round: min, min+round, ..., max."""
        looks = list(range(self.min_replicas, self.max_replicas, self.round_size))
        return [*looks, self.max_replicas]
