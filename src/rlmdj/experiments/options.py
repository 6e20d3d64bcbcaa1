"""Every registered driver, scorer and job is an option of its config group, YAML file or not.

``dj=<name>``, ``scorer=<name>`` and ``experiment=<name>`` pick a component by its group option.
:func:`register_options` stores, in Hydra's ConfigStore, an option for each registered name that
has none yet (no ``conf/<group>/<name>.yaml``, no stored node): it sets the key that selects the
component (``dj.driver``, ``scorer.name``, ``experiment.name``) and the group's ``name``. So a
component needs its module and its registry line, and a YAML file only to set more than that
(an experiment overlay with its sweep).

An entry that declares **settings** of its own (``DRIVERS.register(name, builder, settings=
KickConfig)``) gets them as its option's node: a dataclass subclassing the group's schema
(``DJConfig``, ``ScorerConfig``, ``ExperimentConfig``), so ``dj=kick`` carries ``dj.velocity``,
typed and checked by Hydra like every key, and only when it is chosen: the other options' keys,
and so the config hashes of their runs, do not change. :func:`option_keys` lists those keys for
the command line's key check.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

from rlmdj.config.dj import DJConfig
from rlmdj.config.experiment import ExperimentConfig
from rlmdj.config.scorer import ScorerConfig
from rlmdj.registry import Registry
from rlmdj.resources import bundled_dir

__all__ = ["GroupOption", "group_options", "option_keys", "register_options"]


@dataclass(frozen=True)
class GroupOption:
    """A config group whose options are a registry's names: ``selector`` is the key (inside the
    group) the option sets to the name; ``schema`` the group's schema, which settings subclass."""

    group: str
    registry: Registry[Any]
    schema: type
    selector: str


def group_options() -> tuple[GroupOption, ...]:
    """The groups whose options come from registries: ``dj``, ``scorer``, ``experiment``."""
    from rlmdj.dj.drivers.registry import DRIVERS
    from rlmdj.experiments.registry import JOBS
    from rlmdj.scoring.factory import SCORERS

    return (GroupOption("dj", DRIVERS, DJConfig, "driver"),
            GroupOption("scorer", SCORERS, ScorerConfig, "name"),
            GroupOption("experiment", JOBS, ExperimentConfig, "name"))


def _settings(g: GroupOption, name: str) -> type | None:
    settings = g.registry.settings_of(name)
    if settings is not None and not (isinstance(settings, type) and issubclass(settings, g.schema)):
        raise TypeError(f"{g.registry.kind} {name!r}: its settings must be a dataclass subclassing "
                        f"{g.schema.__name__}, got {settings!r}")
    return settings


def _has_option(group: str, name: str) -> bool:
    conf = bundled_dir("conf")
    if conf is not None and (conf / group / f"{name}.yaml").is_file():
        return True
    try:
        return f"{name}.yaml" in ConfigStore.instance().list(group)
    except (OSError, ValueError, KeyError, IndexError):  # no such group in the store yet
        return False


def register_options() -> list[str]:
    """Store a group option for every registered name without one (module docstring); returns
    the options stored (``dj/kick``)."""
    stored: list[str] = []
    store = ConfigStore.instance()
    for g in group_options():
        for name in g.registry.names():
            if _has_option(g.group, name):
                continue
            settings = _settings(g, name)
            values = {"name": name, g.selector: name}
            node = OmegaConf.merge(OmegaConf.structured(settings), values) if settings else values
            store.store(group=g.group, name=name, node=node, package=g.group, provider="rlmdj")
            stored.append(f"{g.group}/{name}")
    return stored


def option_keys() -> tuple[set[str], set[str]]:
    """``(keys, free tables)`` the registered settings add (``dj.velocity``), for the command
    line's key check (:mod:`rlmdj.config.override_check`)."""
    from rlmdj.config.override_check import key_table

    keys: set[str] = set()
    free: set[str] = set()
    for g in group_options():
        for name in g.registry.with_settings():
            table = key_table(_settings(g, name))
            keys.update(f"{g.group}.{k}" for k in table.keys)
            free.update(f"{g.group}.{k}" for k in table.free_tables)
    return keys, free
