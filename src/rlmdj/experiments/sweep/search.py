"""The search sweeper's settings, and its search space and jobs read from Hydra's overrides.

``rlmdj -m hydra/sweeper=search`` optimises settings with Optuna (:mod:`rlmdj.search`). This
module is what needs Hydra:

- :class:`SearchSettings` — ``hydra.sweeper.*`` (trials, batch size, direction, sampler, seed,
  study name and storage, replicas, confirmation), checked in one line naming the key.
- :func:`plan_search` — the space and the baseline from ``hydra.sweeper.params`` and the command
  line, in the override grammar of Hydra's Optuna sweeper: ``choice(a,b)`` or ``a,b``,
  ``range(1,13)``, ``interval(0.1,0.9)`` (``int(interval(...))`` for whole numbers),
  ``tag(log, interval(1e-3,1))``. A sweep on the command line is searched too (it replaces a
  ``params`` entry of that key). Plain values are every job's; a plain value of a searched key
  is the baseline's, which trials override. The baseline is the composed config without the
  searched settings: what the confirmation compares the winner with.
- :class:`SearchPlan` — every job's overrides: a trial's (its parameters, replica r) and the
  baseline's; :func:`probe_jobs` — one job per value a trial could draw, for the preflight.
- :func:`study_name` — the study a sweep writes: a new one per sweep, the last one when
  ``experiment.resume=true`` continues it.
"""

from __future__ import annotations

# OmegaConf structured configs are written with typing.Optional, as in config/core.py.
# ruff: noqa: UP045
import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

from rlmdj.errors import ParameterError
from rlmdj.experiments.sweep.sequential import SequentialSettings
from rlmdj.search.loop import Job
from rlmdj.search.space import Param, check_space
from rlmdj.search.study import DIRECTIONS, SAMPLERS

__all__ = ["SEARCH_TARGET", "SearchPlan", "SearchSettings", "check_search", "format_value", "plan_search", "probe_jobs",
           "settings_from", "study_name", "sweep_overrides"]

SEARCH_TARGET = "hydra_plugins.rlmdj_search.search_sweeper.SearchSweeper"
_BOOKKEEPING = ("hydra.", "hydra/", "tracking.", "paths.", "progress", "experiment.")
_IGNORED_IN_HASH = ("hydra.", "hydra/", "tracking.", "paths.", "progress")
MAX_TRIALS = 100_000
MAX_REPLICAS = 1000


def _whole(key: str, value: Any, lo: int, hi: int, example: int, optional: bool = False) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise ParameterError(f"hydra.sweeper.{key} must be a whole number, got {value!r} (e.g. {key}={example})")
    if not lo <= value <= hi:
        raise ParameterError(f"hydra.sweeper.{key} must be between {lo} and {hi}, got {value} "
                             f"(e.g. {key}={example})")


@dataclass
class SearchSettings:
    """``hydra.sweeper.*`` of ``hydra/sweeper=search`` (docs/experiments.md, "Search")."""

    n_trials: int = 20
    n_jobs: int = 1  # trials asked and launched together (a launcher runs their jobs in parallel)
    direction: str = "maximize"  # of what the jobs return: OBJ
    sampler: str = SAMPLERS[0]  # tpe, as experiment.search.sampler (the palette search)
    seed: Optional[int] = 0  # null: a fresh seed each sweep
    study_name: Optional[str] = None  # null: one per sweep definition (rlmdj-search-<hash>)
    storage: Optional[str] = None  # null: optuna.journal beside the MLflow store
    replicas: int = 1  # each trial on replicas 0..replicas-1, the same for every trial
    confirm: Optional[bool] = None  # null: confirm when replicas > 1
    confirmation: SequentialSettings = field(default_factory=SequentialSettings)

    def __post_init__(self) -> None:
        _whole("n_trials", self.n_trials, 1, MAX_TRIALS, 20)
        _whole("n_jobs", self.n_jobs, 1, 1000, 4)
        _whole("replicas", self.replicas, 1, MAX_REPLICAS, 4)
        _whole("seed", self.seed, 0, 2**32 - 1, 0, optional=True)
        if self.direction not in DIRECTIONS:
            raise ParameterError(f"hydra.sweeper.direction={self.direction}: choose maximize or minimize")
        if self.sampler not in SAMPLERS:
            raise ParameterError(f"hydra.sweeper.sampler={self.sampler}: unknown sampler; choose one of "
                                 f"{', '.join(SAMPLERS)}")
        if self.study_name is not None and not str(self.study_name).strip():
            raise ParameterError("hydra.sweeper.study_name must be null or a name, got an empty string")
        if self.confirm is not None and not isinstance(self.confirm, bool):
            raise ParameterError(f"hydra.sweeper.confirm must be true, false or null, got {self.confirm!r}")
        if not isinstance(self.confirmation, SequentialSettings):
            given = dict(self.confirmation or {})
            try:
                self.confirmation = SequentialSettings(**given)
            except ParameterError as exc:  # its messages name hydra.sweeper.<key>
                raise ParameterError(str(exc).replace("hydra.sweeper.", "hydra.sweeper.confirmation.")) from None
            except TypeError as exc:
                raise ParameterError(f"hydra.sweeper.confirmation: {exc}") from None

    @property
    def confirming(self) -> bool:
        """Whether the study ends with the confirmation (default: when trials have replicas)."""
        return self.replicas > 1 if self.confirm is None else bool(self.confirm)


def settings_from(cfg: Any) -> SearchSettings:
    """:class:`SearchSettings` from a composed config's ``hydra.sweeper`` node."""
    from omegaconf import OmegaConf

    node = OmegaConf.to_container(cfg.hydra.sweeper, resolve=True)
    assert isinstance(node, dict)
    names = {f.name for f in fields(SearchSettings)}
    unknown = sorted(k for k in node if k not in names and k not in ("_target_", "params"))
    if unknown:
        raise ParameterError(f"hydra.sweeper.{unknown[0]}: not a setting of the search sweeper "
                             f"({', '.join(sorted(names))})")
    return SearchSettings(**{k: v for k, v in node.items() if k in names})


def format_value(value: Any) -> str:
    """``value`` as Hydra's override grammar reads it back (quoted where it would not)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_./-]*", text) and text.lower() not in ("true", "false", "null",
                                                                                   "inf", "nan"):
        return text
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass
class SearchPlan:
    """What the sweep's jobs are made of: the space, the shared overrides, the baseline's values."""

    space: list[Param]
    fixed: list[str]  # plain overrides: every job's, the baseline's values of searched keys included
    keys: dict[str, str] = field(default_factory=dict)  # param key -> override key as written (+x)

    @property
    def searched(self) -> set[str]:
        return {p.key for p in self.space}

    def baseline_values(self) -> dict[str, str]:
        """Searched keys the command line gave a plain value: the baseline's."""
        out = {}
        for o in self.fixed:
            key, _, value = o.partition("=")
            if key.lstrip("+~") in self.searched:
                out[key.lstrip("+~")] = value
        return out

    def overrides(self, job: Job) -> list[str]:
        """The job's overrides: shared ones, its parameters (a trial), its replica."""
        if not job.params:
            return [*self.fixed, f"replica={job.replica}"]
        mine = [o for o in self.fixed if o.partition("=")[0].lstrip("+~") not in job.params]
        return [*mine, *(f"{self.keys.get(k, k)}={format_value(v)}" for k, v in job.params.items()),
                f"replica={job.replica}"]


def _parse(text: str, where: str) -> Any:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        return OverridesParser.create().parse_overrides([text])[0]
    except Exception as exc:  # noqa: BLE001 - Hydra's parse errors span lines; one is enough
        lines = [ln for ln in str(exc).splitlines() if ln.strip() and not ln.startswith("See https")]
        reason = lines[1] if len(lines) > 1 else (lines[0] if lines else type(exc).__name__)
        reason = re.sub(r"^\w+ while evaluating '.*?': ", "", reason)
        raise ParameterError(f"{where}: {reason}") from None


def _param(o: Any, where: str) -> Param:
    """One override sweep as a :class:`Param` (choice, range or interval)."""
    from hydra.core.override_parser.types import ValueType

    key = o.key_or_group
    value = o.value()
    if o.value_type == ValueType.GLOB_CHOICE_SWEEP:
        raise ParameterError(f"{where}: the search sweeper takes choice(), range() and interval(), "
                             f"not {o.input_line.split('=', 1)[1]} (name the options)")
    if o.is_choice_sweep() or (o.is_range_sweep() and value.shuffle):
        return Param(key, "choice", tuple(o.sweep_iterator()), where=where)
    if o.is_range_sweep():
        values = list(o.sweep_iterator())
        if not values:
            raise ParameterError(f"{where}: {o.input_line.split('=', 1)[1]} has no values")
        whole = all(isinstance(v, int) and not isinstance(v, bool) for v in values)
        step = abs(value.step) if len(values) > 1 else 1
        return Param(key, "int" if whole else "float", low=min(values), high=max(values),
                     step=step, where=where)
    if o.is_interval_sweep():
        whole = isinstance(value.start, int) and isinstance(value.end, int)
        return Param(key, "int" if whole else "float", low=value.start, high=value.end,
                     log="log" in value.tags, where=where)
    raise ParameterError(f"{where}: the search sweeper takes choice(), range() and interval(), "
                         f"not {o.input_line.split('=', 1)[1]}")


def plan_search(params: Mapping[str, Any] | None, arguments: list[str]) -> SearchPlan:
    """The space and shared overrides from ``hydra.sweeper.params`` and the command line."""
    space: dict[str, Param] = {}
    keys: dict[str, str] = {}
    fixed: list[str] = []
    for key, value in _flat(params or {}).items():
        if str(key) == "replica":
            continue  # an overlay's replica range: the sweeper's replicas stand for it
        o = _parse(f"{key}={value}", f"hydra.sweeper.params.{key}")
        _searchable(o, f"hydra.sweeper.params.{key}")
        if o.is_sweep_override():
            space[o.key_or_group] = _param(o, f"hydra.sweeper.params.{key}")
            keys[o.key_or_group] = o.get_key_element()
        else:
            fixed.append(f"{o.get_key_element()}={o.get_value_element_as_str()}")
    for text in arguments:
        o = _parse(text, text.split("=", 1)[0])
        _searchable(o, o.get_key_element())
        if o.is_sweep_override():
            space[o.key_or_group] = _param(o, o.get_key_element())
            keys[o.key_or_group] = o.get_key_element()
        else:
            fixed.append(f"{o.get_key_element()}={o.get_value_element_as_str()}")
    plan = SearchPlan(list(space.values()), fixed, keys)
    check_space(plan.space)
    return plan


def _flat(params: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"dj": {"candidates": "range(1,13)"}}`` (``+hydra.sweeper.params.dj.candidates=...`` on the
    command line) as ``{"dj.candidates": ...}``, the form an overlay's YAML writes."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, Mapping):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _searchable(o: Any, where: str) -> None:
    if o.key_or_group == "replica":
        raise ParameterError("the search sweeper chooses the replicas: remove replica=... (set "
                             "hydra.sweeper.replicas=4 for four replicas per trial)")
    if o.is_sweep_override() and o.key_or_group.startswith(_BOOKKEEPING):
        raise ParameterError(f"{where}: {o.key_or_group} cannot be searched (it is not a setting of the set)")


def probe_jobs(plan: SearchPlan) -> list[tuple[str, list[str]]]:
    """``(name, overrides)``: the baseline, then every choice and the ends (and a float's middle)
    of every range, each with the others at the baseline, for the preflight to compose."""
    jobs = [("baseline", plan.overrides(Job("baseline", 0)))]
    for p in plan.space:
        for value in p.probe_values():
            jobs.append((f"{p.name}={format_value(value)}", plan.overrides(Job("trial", 0, {p.key: value}))))
    return jobs


def sweep_overrides(cfg: Any) -> list[str]:
    """The sweep's overrides as the sweep callback lists them: the command line, then
    ``hydra.sweeper.params`` entries it does not set."""

    task = [str(o) for o in cfg.hydra.overrides.task]
    given = {o.split("=", 1)[0].lstrip("+~") for o in task}
    params = cfg.hydra.sweeper.params or {}
    return task + [f"{k}={v}" for k, v in dict(params).items() if k not in given]


def definition_hash(overrides: list[str]) -> str:
    """The sweep's identity as the sweep callback hashes it (what ``experiment.resume`` matches);
    the parent run's ``rlmdj.sweep_hash`` is used where there is one, this without tracking."""
    definition = sorted(o for o in overrides if not o.split("=", 1)[0].startswith(_IGNORED_IN_HASH)
                        and o.split("=", 1)[0] not in ("experiment.resume", "experiment.budget_usd"))
    return hashlib.sha256(json.dumps(definition).encode()).hexdigest()[:16]


def study_name(settings: SearchSettings, storage: Any, *, definition: str, resume: bool) -> str:
    """The study this sweep writes (module docstring); a named study that has trials is continued
    only with ``experiment.resume=true``."""
    import optuna

    names = set(optuna.study.get_all_study_names(storage))
    if settings.study_name is not None:
        name = str(settings.study_name)
        if name in names and not resume:
            n = len(optuna.load_study(study_name=name, storage=storage).trials)
            if n:
                raise ParameterError(f"hydra.sweeper.study_name={name}: the study already has {n} trial(s); "
                                     "continue it with experiment.resume=true or choose another name")
        return name
    base = f"rlmdj-search-{definition}"
    taken = sorted((_suffix(n, base) for n in names if _suffix(n, base) is not None), key=int)
    if resume and taken:
        last = int(taken[-1])
        return base if last == 1 else f"{base}-{last}"
    if not taken:
        return base
    return f"{base}-{int(taken[-1]) + 1}"


def _suffix(name: str, base: str) -> int | None:
    if name == base:
        return 1
    if name.startswith(base + "-") and name[len(base) + 1:].isdigit():
        return int(name[len(base) + 1:])
    return None


def check_search(cfg: Any) -> None:
    """Everything about ``hydra/sweeper=search`` that can be wrong before a trial: its settings,
    the space, the sampler for that space, the storage, a named study's state."""
    from omegaconf import OmegaConf

    from rlmdj.search.space import distributions
    from rlmdj.search.study import check_storage, default_storage_path, make_sampler, open_storage

    settings = settings_from(cfg)
    params = OmegaConf.to_container(cfg.hydra.sweeper.params, resolve=True) if cfg.hydra.sweeper.params else {}
    assert isinstance(params, dict)
    plan = plan_search(params, [str(o) for o in cfg.hydra.overrides.task])
    make_sampler(settings.sampler, seed=settings.seed, distributions=distributions(plan.space),
                 n_jobs=settings.n_jobs)
    default = default_storage_path(str(cfg.tracking.uri), fallback_dir=str(cfg.paths.root_dir))
    check_storage(settings.storage, default_path=default)
    path = default if settings.storage is None else settings.storage
    if settings.study_name is not None and not cfg.experiment.resume and (
            "://" in str(path) or Path(str(path)).expanduser().is_file()):
        study_name(settings, open_storage(settings.storage, default_path=default), definition="", resume=False)


def spread(values: list[float | None]) -> str:
    """``6.12 ± 0.40`` (mean ± SD) of a trial's replica values, for its line."""
    ok = [v for v in values if v is not None]
    if not ok:
        return "–"
    mean = sum(ok) / len(ok)
    if len(ok) < 2:
        return f"{mean:.3f}"
    sd = math.sqrt(sum((v - mean) ** 2 for v in ok) / (len(ok) - 1))
    return f"{mean:.3f} ± {sd:.2f}"
