"""Schema of the ``experiment`` group: which job runs and the settings of each experiment.

``experiment.name`` picks the job (``run`` plays one set); ``experiment.analysis`` says what the
sweep callback computes over a finished multirun (``compare`` the conditions, or the ``gap``
decomposition). The nested groups hold each experiment's knobs so one command line can set them:
``rlmdj experiment=screen_palettes experiment.screen.n=200``. Every job's settings live under
``experiment.<job>`` (``experiment.serve.port``, ``experiment.replay.run_id``), so they never
collide with the groups a run reads, and the config hash of a run ignores them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rlmdj.config.dj import ReplayConfig
from rlmdj.config.scorer import ServeConfig

__all__ = ["CompareConfig", "ScreenConfig", "GapConfig", "RescoreConfig", "ExperimentConfig"]


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
    """

    parent: str | None = None
    experiment: str | None = None
    filter: str | None = None
    by: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    primary: str = "OBJ"
    baseline: str | None = None
    test: str = "t"
    unit: str = "replica"
    alpha: float = 0.05
    delta: float = 0.3
    power: float = 0.80
    max_inline_mb: float = 20.0


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
class ExperimentConfig:
    """What the job does, and what a finished sweep reports.

    ``resume``: skip any job whose configuration already has a FINISHED run in the store
    (matched by config hash), so re-running an interrupted sweep only runs what is missing.
    ``analysis``: ``compare`` (conditions vs baseline), ``gap`` (the gap decomposition) or
    ``none``, computed over the sweep's child runs and logged to its parent run.
    """

    name: str = "run"
    resume: bool = False
    analysis: str = "compare"
    compare: CompareConfig = field(default_factory=CompareConfig)
    screen: ScreenConfig = field(default_factory=ScreenConfig)
    gap: GapConfig = field(default_factory=GapConfig)
    serve: ServeConfig = field(default_factory=ServeConfig)
    replay: ReplayConfig = field(default_factory=ReplayConfig)
    rescore: RescoreConfig = field(default_factory=RescoreConfig)
