"""The Optuna side of every search: storage, sampler, study, summary and plots.

- :func:`default_storage_path` — the journal file beside the MLflow store
  (``sqlite:///x/mlruns.db`` → ``x/optuna.journal``; a tracking server → ``fallback_dir``).
- :func:`open_storage` (:func:`check_storage`: whether it would open, creating nothing) — ``None`` (that journal file), a journal file path, or a database URL
  (``sqlite:///``, ``postgresql://``, ``mysql://``: one server database for a cluster's workers).
  A journal file takes concurrent writers on one machine (Optuna's advice over SQLite there).
- :func:`make_sampler` — ``tpe`` (default), ``random`` or ``cmaes`` (numeric spaces of two or more
  parameters only), seeded.
- :func:`open_study` — create the study or load it to go on: the sampler's seed is offset by the
  trials already there, so a resumed random search does not ask the first trials again.
- :func:`fail_stale_trials` — trials left RUNNING by a stopped process become FAIL (tagged
  ``interrupted``); their parameters are returned so they can be asked again.
- :func:`summarise`, :func:`save_plots` — best value and parameters, trial counts; the
  optimisation history and parameter importances as PNG (Optuna's matplotlib plots, Agg).

Every user error is a :class:`~rlmdj.errors.ParameterError` naming the setting (``key=``).
"""

from __future__ import annotations

import contextlib
import errno
import math
import tempfile
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from rlmdj.errors import ParameterError

__all__ = ["DIRECTIONS", "INTERRUPTED_ATTR", "JOURNAL_NAME", "SAMPLERS", "StudySummary", "check_storage", "default_storage_path",
           "describe_storage", "fail_stale_trials", "make_sampler", "open_storage", "open_study", "quiet",
           "save_plots", "summarise"]

JOURNAL_NAME = "optuna.journal"
SAMPLERS = ("tpe", "random", "cmaes")
DIRECTIONS = ("maximize", "minimize")
INTERRUPTED_ATTR = "rlmdj.interrupted"  # user attr of a trial failed because its process stopped
_DATABASES = ("sqlite", "postgresql", "mysql", "oracle", "mssql")


def default_storage_path(tracking_uri: str, *, fallback_dir: str | Path) -> Path:
    """The journal file beside a local MLflow store; under ``fallback_dir`` for a server."""
    uri = str(tracking_uri)
    parsed = urlparse(uri)
    if parsed.scheme == "sqlite":
        # sqlite:///rel/mlruns.db is relative, sqlite:////abs/mlruns.db absolute
        return Path(uri.split(":///", 1)[1] if ":///" in uri else parsed.path).parent / JOURNAL_NAME
    if parsed.scheme == "file":
        return Path(parsed.path).parent / JOURNAL_NAME
    if parsed.scheme == "" and uri:  # a plain path: MLflow's file store
        return Path(uri).parent / JOURNAL_NAME
    return Path(fallback_dir) / JOURNAL_NAME


def _is_database(spec: str) -> bool:
    return urlparse(spec).scheme.split("+", 1)[0] in _DATABASES


def describe_storage(spec: str | None, *, default_path: Path) -> str:
    """What :func:`open_storage` opens, for a log line (a database URL without its password)."""
    if spec is None or not str(spec).strip():
        return f"journal file {default_path}"
    spec = str(spec)
    if _is_database(spec):
        parsed = urlparse(spec)
        if parsed.password:
            spec = spec.replace(f":{parsed.password}@", ":***@", 1)
        return f"database {spec}"
    return f"journal file {spec}"


def open_storage(spec: str | None, *, default_path: Path, key: str = "hydra.sweeper.storage") -> Any:
    """An Optuna storage for ``spec`` (module docstring); one line naming ``key`` if it cannot open."""
    import optuna
    from optuna.storages.journal import JournalFileBackend

    if spec is not None and not str(spec).strip():
        raise ParameterError(f"{key} must be null (a journal file beside the MLflow store), a journal file "
                             "path or a database URL, got an empty string")
    text = None if spec is None else str(spec)
    if text is not None and _is_database(text):
        try:
            with quiet():
                return optuna.storages.RDBStorage(text)
        except Exception as exc:  # noqa: BLE001 - SQLAlchemy's many errors: one line for the user
            reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            raise ParameterError(f"{key}={describe_storage(text, default_path=default_path).split(' ', 1)[1]}: "
                                 f"cannot open the database ({reason})") from exc
    if text is not None and "://" in text:
        raise ParameterError(f"{key}={text}: not a journal file path nor a database URL "
                             "(sqlite:///, postgresql://, mysql://); e.g. storage=/shared/optuna.journal")
    path = Path(text).expanduser() if text is not None else Path(default_path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir():
            raise IsADirectoryError(f"{path} is a folder")
        with open(path, "ab"):
            pass
        return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
    except OSError as exc:
        raise ParameterError(f"{key}={path}: cannot open the journal file "
                             f"({exc.strerror or exc}); name a writable file") from exc


def check_storage(spec: str | None, *, default_path: Path, key: str = "hydra.sweeper.storage") -> None:
    """Refuse a storage :func:`open_storage` could not open, creating no file (a database is
    connected to: only that shows it can be opened)."""
    if spec is not None and str(spec).strip() and (_is_database(str(spec)) or "://" in str(spec)):
        open_storage(spec, default_path=default_path, key=key)
        return
    if spec is not None and not str(spec).strip():
        open_storage(spec, default_path=default_path, key=key)  # the empty-string message
    path = Path(str(spec)).expanduser() if spec is not None else Path(default_path)
    existing = path.absolute()
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    try:
        if existing == path.absolute():
            if path.is_dir():
                raise IsADirectoryError(errno.EISDIR, "it is a folder")
            with open(path, "ab"):  # an existing journal: appended to, never truncated
                pass
        elif not existing.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, f"{existing} is not a folder")
        else:  # a probe file, removed at once: a refused sweep leaves no folder or file behind
            with tempfile.NamedTemporaryFile(dir=existing, prefix=".rlmdj-probe-"):
                pass
    except OSError as exc:
        raise ParameterError(f"{key}={path}: cannot open the journal file ({exc.strerror or exc}); "
                             "name a writable file") from None


def make_sampler(name: str, *, seed: int | None, distributions: Mapping[str, Any] | None = None,
                 n_jobs: int = 1, key: str = "hydra.sweeper.sampler") -> Any:
    """The sampler ``name`` (``tpe``, ``random``, ``cmaes``) seeded with ``seed``.

    ``cmaes`` needs two or more numeric parameters (CMA-ES models a numeric vector); with a
    choice, or a single parameter, it is refused naming ``key``. ``n_jobs`` > 1 asks trials in
    batches: TPE then uses its constant liar, so one batch does not ask the same point twice.
    """
    import optuna

    if name not in SAMPLERS:
        raise ParameterError(f"{key}={name}: unknown sampler; choose one of {', '.join(SAMPLERS)}")
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if name == "tpe":
        with quiet():
            return optuna.samplers.TPESampler(seed=seed, constant_liar=n_jobs > 1)
    dists = dict(distributions or {})
    categorical = sorted(k for k, d in dists.items() if isinstance(d, optuna.distributions.CategoricalDistribution))
    if categorical:
        raise ParameterError(f"{key}=cmaes searches numeric parameters only; {', '.join(categorical)} is a "
                             "choice (use interval/range, or sampler=tpe)")
    if len(dists) < 2:
        raise ParameterError(f"{key}=cmaes needs at least two parameters to search (got {len(dists)}); "
                             "use sampler=tpe for one")
    with quiet():
        return optuna.samplers.CmaEsSampler(seed=seed)


def open_study(*, name: str, storage: Any, direction: str, sampler: str, seed: int | None,
               distributions: Mapping[str, Any] | None = None, n_jobs: int = 1) -> Any:
    """Create the study ``name`` in ``storage``, or load it to continue (same direction only)."""
    import optuna

    if direction not in DIRECTIONS:
        raise ParameterError(f"hydra.sweeper.direction={direction}: choose maximize or minimize")
    make_sampler(sampler, seed=seed, distributions=distributions, n_jobs=n_jobs)  # refuse before creating
    existing = {s.study_name: s for s in optuna.study.get_all_study_summaries(storage, include_best_trial=False)}
    before = existing.get(name)
    if before is not None:
        have = before.direction.name.lower()
        if have != direction:
            raise ParameterError(f"hydra.sweeper.direction={direction}: study {name!r} in this storage "
                                 f"{have}s; keep direction={have} or choose another study_name")
    offset = 0 if before is None else before.n_trials  # a resumed sampler does not replay its start
    with quiet():
        return optuna.create_study(study_name=name, storage=storage, direction=direction, load_if_exists=True,
                                   sampler=make_sampler(sampler, seed=None if seed is None else seed + offset,
                                                        distributions=distributions, n_jobs=n_jobs))


def fail_stale_trials(study: Any, storage: Any) -> list[dict[str, Any]]:
    """Mark trials still RUNNING (their process was stopped) FAIL; returns their parameters.

    Call it only where no other process works on the study (a sweep resuming its own study).
    """
    from optuna.trial import TrialState

    stale = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    study_id = storage.get_study_id_from_name(study.study_name)
    for trial in stale:
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        storage.set_trial_user_attr(trial_id, INTERRUPTED_ATTR, True)
        study.tell(trial.number, state=TrialState.FAIL)
    return [dict(t.params) for t in stale]


@dataclass
class StudySummary:
    """What a study found: the best trial and how many trials ended in each state."""

    name: str
    direction: str
    best_number: int | None
    best_value: float | None
    best_params: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # COMPLETE, FAIL, RUNNING, ...

    @property
    def complete(self) -> int:
        return self.counts.get("COMPLETE", 0)

    @property
    def failed(self) -> int:
        return self.counts.get("FAIL", 0)

    def line(self) -> str:
        if self.best_number is None:
            return f"study {self.name!r}: no trial completed ({self.failed} failed)"
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in self.best_params.items())
        return (f"study {self.name!r}: best trial #{self.best_number} {_fmt(self.best_value)} ({params}); "
                f"{self.complete} complete, {self.failed} failed")


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) and math.isfinite(v) else str(v)


def summarise(study: Any) -> StudySummary:
    """The study's best trial (None when none completed) and its trial counts by state."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    counts: dict[str, int] = {}
    for t in trials:
        counts[t.state.name] = counts.get(t.state.name, 0) + 1
    done = [t for t in trials if t.state == TrialState.COMPLETE]
    best = study.best_trial if done else None
    return StudySummary(name=study.study_name, direction=study.direction.name.lower(),
                        best_number=None if best is None else best.number,
                        best_value=None if best is None else float(best.value),
                        best_params={} if best is None else dict(best.params), counts=counts)


def save_plots(study: Any, out_dir: str | Path, *, target_name: str = "OBJ") -> dict[str, Path]:
    """``optimization_history.png`` and ``param_importances.png`` under ``out_dir``.

    A plot the study cannot have yet (importances need two completed trials whose parameters
    vary) is left out; the returned mapping names what was written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    plots = {"optimization_history": lambda: ovm.plot_optimization_history(study, target_name=target_name),
             "param_importances": lambda: ovm.plot_param_importances(study, target_name=target_name)}
    from optuna.trial import TrialState

    if len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) < 2:
        del plots["param_importances"]  # Optuna would draw an empty chart
    for name, plot in plots.items():
        try:
            with quiet():
                ax = plot()
        except (ValueError, RuntimeError, ZeroDivisionError):
            continue  # too few completed trials, or no parameter varies
        fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
        path = out / f"{name}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written[name] = path
    return written


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Optuna without its experimental-feature warnings and per-trial INFO lines (we print ours)."""
    import optuna

    level = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            yield
    finally:
        optuna.logging.set_verbosity(level)
