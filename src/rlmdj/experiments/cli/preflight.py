"""Check everything that can be checked before a run is opened, an LLM is called or a bar is
rendered, so a typo costs a second and leaves no FAILED run behind.

:func:`preflight` runs the check of the job ``experiment.name`` selects, as its entry in
:data:`~rlmdj.experiments.registry.JOBS` declares it (a job that declares none gets
:func:`check_common`). A job's check says which parts of the config it reads, from the parts
below: the schema's own ranges (:func:`check_numbers`, :func:`check_guardrails`), the tracking
store and the folders, the palette, and the checks of the entries the config selects, run
through their registries with no name special-cased here (:func:`check_scorer` for
``scorer.name`` and ``ears.scorer``, :func:`check_driver` for ``dj.driver``,
:func:`check_analysis` for ``experiment.analysis``). ``rlmdj`` (the ``run`` job) reads all of
them (:func:`check_run`); ``serve`` its settings and the scorer, ``samples`` the sample folders.
A sweep adds the sweeper's and the launcher's checks (:mod:`rlmdj.experiments.sweep.checks`).

Every message names the config key (``render.normalize_dbfs``, ``scorer.token_env``) and shows
a value that works. Checks that need the sample index (the palette resolves and is not empty)
build it once; the run reuses it. What cannot be known before playing (a scorer server that
goes away mid-run, a disk that fills up) is still caught where it happens and reported by
:mod:`rlmdj.failures`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from rlmdj.axes import AXES as _AXES
from rlmdj.errors import ParameterError
from rlmdj.validation import choice, folder_writable, number, setting

__all__ = [
    "check_analysis", "check_common", "check_driver", "check_folder_writable", "check_folders",
    "check_guardrails", "check_numbers", "check_palette", "check_run", "check_scorer",
    "check_tracking", "preflight", "shared_checked",
]

_STORE_SCHEMES = ("sqlite", "http", "https", "postgresql", "mysql", "mssql", "databricks")
_SERVER_SCHEMES = ("http", "https")  # a tracking server, asked whether it answers

check_folder_writable = folder_writable  # the name the tests and older callers use

# Inside ``shared_checked()`` the checks of what a sweep's jobs share (the store, the folders)
# are skipped: the sweep checked them once, on its own config.
_SHARED_CHECKED: ContextVar[bool] = ContextVar("rlmdj_shared_checked", default=False)


@contextlib.contextmanager
def shared_checked() -> Iterator[None]:
    """Check a sweep's job: the store and the folders were checked once, for the whole sweep."""
    token = _SHARED_CHECKED.set(True)
    try:
        yield
    finally:
        _SHARED_CHECKED.reset(token)


# ------------------------------------------------------------- the schema's ranges
def check_numbers(cfg: DictConfig) -> None:
    """bars, bpm, replica, the render settings and the ears' budgets."""
    number(cfg, "bars", lo=1, hi=4096, integer=True, example=32)
    number(cfg, "bpm", lo=20, hi=400, example=128)
    number(cfg, "replica", lo=0, integer=True, example=0)
    number(cfg, "render.sample_rate", lo=8000, hi=384000, integer=True, example=44100)
    number(cfg, "render.normalize_dbfs", lo=-60, hi=0, example=-1.0, optional=True)
    number(cfg, "render.gain_ramp_ms", lo=0, hi=1000, example=5.0)
    from rlmdj.audio.wavio import PREVIEW_FORMATS, WAV_SUBTYPES

    choice(cfg, "render.wav_subtype", tuple(WAV_SUBTYPES), upper=True)
    fmt = choice(cfg, "render.preview_format", tuple(PREVIEW_FORMATS), lower=True)
    if setting(cfg, "tracking.log_preview"):
        import soundfile as sf

        container, codec = PREVIEW_FORMATS[fmt]
        if container not in sf.available_formats() or codec not in sf.available_subtypes(container):
            raise ParameterError(f"render.preview_format={fmt}: this libsndfile cannot write "
                                 f"{container}/{codec}; use render.preview_format=ogg")
    for key in ("ears.max_listens", "ears.max_auditions", "ears.max_moves"):
        number(cfg, key, lo=0, hi=100_000, integer=True, example=8)
    number(cfg, "ears.max_chars", lo=200, hi=10_000_000, integer=True, example=600)


def check_guardrails(cfg: DictConfig) -> None:
    """Guardrail thresholds are in range."""
    number(cfg, "guardrails.critique_every", lo=1, hi=4096, integer=True, example=8)
    number(cfg, "guardrails.critic_every", lo=1, hi=4096, integer=True, example=16)
    number(cfg, "guardrails.energy_tolerance", lo=0, hi=10, example=0.15)
    number(cfg, "guardrails.kick_min_share", lo=0, hi=1, example=0.85)
    number(cfg, "guardrails.max_avg_layers", lo=0, hi=64, example=6.0)
    for role in dict(setting(cfg, "guardrails.gain_caps") or {}):
        number(cfg, f"guardrails.gain_caps.{role}", lo=0, hi=1, example=0.55)


# ------------------------------------------------------- the store and the folders
def check_folders(cfg: DictConfig) -> None:
    """Output, cache and artifact folders exist or can be created, and are writable."""
    if _SHARED_CHECKED.get():
        return
    folder_writable(setting(cfg, "paths.output_dir"), "paths.output_dir")
    if setting(cfg, "samples.builtin"):
        folder_writable(setting(cfg, "samples.cache_dir"), "samples.cache_dir")
    for i, p in enumerate(setting(cfg, "samples.paths") or []):
        if not Path(str(p)).expanduser().is_dir():
            raise ParameterError(f"samples.paths[{i}]: {p} is not a folder")
    if setting(cfg, "scorer.cache"):
        folder_writable(setting(cfg, "scorer.cache_dir"), "scorer.cache_dir")


def check_tracking(cfg: DictConfig) -> None:
    """The store URI has a scheme MLflow knows; local stores' folders are writable."""
    if _SHARED_CHECKED.get() or not setting(cfg, "tracking.enabled"):
        return
    uri = str(setting(cfg, "tracking.uri") or "")
    scheme = uri.split("://", 1)[0].split("+", 1)[0] if "://" in uri else ""
    if uri and (scheme == "file" or uri.startswith("file:") or "://" not in uri):
        folder = Path(uri.removeprefix("file://").removeprefix("file:")).expanduser().absolute()
        raise ParameterError(f"tracking.uri={uri}: MLflow no longer takes file stores (a folder "
                             f"or file:...); use a SQLite store, e.g. tracking.uri=sqlite:///"
                             f"{folder / 'mlruns.db'}, or a server (http://host:5000)")
    if not uri or (scheme and scheme not in _STORE_SCHEMES):
        raise ParameterError(f"tracking.uri={uri!r} is not a store MLflow can use; use "
                             "sqlite:///path/to/mlruns.db or http://host:5000")
    if scheme in _SERVER_SCHEMES:
        from rlmdj.tracking.health import check_server

        check_server(uri)  # a server that is down fails in seconds, before the samples load
    if uri.startswith("sqlite:///"):
        folder_writable(Path(uri.removeprefix("sqlite:///")).parent, "tracking.uri")
    if scheme == "sqlite" and setting(cfg, "tracking.artifact_location"):
        folder_writable(setting(cfg, "tracking.artifact_location"), "tracking.artifact_location")


def check_palette(cfg: DictConfig) -> None:
    """The palette resolves against the sample index and names at least one sample."""
    from rlmdj.experiments.assemble import load_index, resolve_palette

    source = str(setting(cfg, "palette.source"))
    if source == "file" and setting(cfg, "palette.path"):
        path = Path(str(setting(cfg, "palette.path")))
        if not path.is_file():
            raise ParameterError(f"palette.path: {path} does not exist")
    index = load_index(cfg, progress=bool(setting(cfg, "progress")))
    palette = resolve_palette(cfg, index)
    if not palette.samples:
        raise ParameterError(f"palette {palette.name!r} has no samples; a set needs at least one "
                             "role, e.g. {\"samples\": {\"kick\": \"kick-00\"}} "
                             "(`rlmdj experiment=samples` lists the ids)")


# ------------------------------------------------------- the entries the config selects
def check_scorer(cfg: DictConfig) -> None:
    """``scorer.name`` names a scorer, the scorer settings are in range, and the scorer's own
    check passes; the same for the ears scorer (``ears.scorer``), when one is named."""
    from rlmdj.scoring.factory import SCORERS

    name = choice(cfg, "scorer.name", tuple(SCORERS.names()))
    weights = setting(cfg, "scorer.weights") or {}
    for axis in dict(weights):
        if str(axis) not in _AXES:
            raise ParameterError(f"scorer.weights.{axis}: unknown axis; axes: {', '.join(_AXES)}")
        number(cfg, f"scorer.weights.{axis}", lo=0, hi=1000, example=0.6)
    if weights and not any(float(w) > 0 for w in dict(weights).values()):
        raise ParameterError("scorer.weights: at least one weight must be positive "
                             "(e.g. scorer.weights.CE=0.6)")
    number(cfg, "scorer.timeout_s", lo=0.1, hi=86400, example=120)
    number(cfg, "scorer.connect_timeout_s", lo=0.1, hi=3600, example=10)
    number(cfg, "scorer.retries", lo=0, hi=100, integer=True, example=3)
    number(cfg, "scorer.backoff_s", lo=0, hi=3600, example=1.0)
    number(cfg, "scorer.max_concurrency", lo=1, hi=1024, integer=True, example=2)
    number(cfg, "scorer.max_wait_s", lo=0.1, hi=86400, example=300)
    number(cfg, "scorer.max_batch_sets", lo=1, hi=4096, integer=True, example=8)
    number(cfg, "scorer.batch_size", lo=1, hi=4096, integer=True, example=4)
    SCORERS.check(name, cfg)
    if setting(cfg, "ears.scorer") is not None:
        ears = choice(cfg, "ears.scorer", tuple(SCORERS.names()))
        if ears != name:
            SCORERS.check(ears, cfg)  # it hears with the run's scorer settings


def check_driver(cfg: DictConfig) -> None:
    """``dj.driver`` names a DJ driver, and the driver's own check passes."""
    from rlmdj.dj.drivers.registry import DRIVERS

    DRIVERS.check(choice(cfg, "dj.driver", tuple(DRIVERS.names())), cfg)


def check_analysis(cfg: DictConfig) -> None:
    """``experiment.analysis`` names a sweep analysis, and the analysis's own check passes
    (a sweep's analysis runs after every job: a bad setting of it must not wait for them)."""
    from rlmdj.experiments.registry import ANALYSES

    ANALYSES.check(choice(cfg, "experiment.analysis", tuple(ANALYSES.names())), cfg)


# --------------------------------------------------------------------- job checks
def check_common(cfg: DictConfig) -> None:
    """What a job that declares no check of its own gets: the schema's ranges, the store, the
    scorer, the folders and the sweep's analysis."""
    check_numbers(cfg)
    check_tracking(cfg)
    check_scorer(cfg)
    check_guardrails(cfg)
    check_folders(cfg)
    check_analysis(cfg)


def check_run(cfg: DictConfig) -> None:
    """The ``run`` job's check (one set played): all of :func:`check_common`, the DJ driver, and
    the palette last (it builds the sample index)."""
    check_numbers(cfg)
    check_tracking(cfg)
    check_scorer(cfg)
    check_guardrails(cfg)
    check_driver(cfg)
    check_folders(cfg)
    check_analysis(cfg)
    check_palette(cfg)


def preflight(cfg: DictConfig, job: str | None = None) -> None:
    """Run the check ``job`` (default: ``experiment.name``) declares in ``JOBS`` (or
    :func:`check_common`); ParameterError on the first problem, naming its config key."""
    from rlmdj.config.experiment import ExperimentConfig
    from rlmdj.experiments.registry import JOBS

    name = job or str(setting(cfg, "experiment.name") or ExperimentConfig.name)
    check: Any = JOBS.check_of(name) or check_common
    check(cfg)
