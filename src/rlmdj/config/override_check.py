"""Check command-line override keys against the schema before Hydra composes anything.

Hydra answers an unknown key with ``To append to your config use +barz=3``; following that
hint runs with a key nothing reads. :func:`check_override_keys` instead names the closest real
key (``did you mean `bars`?``). ``+key`` is accepted only where new keys mean something: inside
free-form tables (``model.extra``, ``scorer.weights``, ``guardrails.gain_caps``...) and for
Hydra's own settings. Group choices (``dj=rlm``) and values are left to Hydra.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, ListConfig, OmegaConf

from rlmdj.errors import ParameterError

__all__ = ["KeyTable", "check_override_keys", "config_groups", "key_table", "override_args"]

# Hydra command-line options that take a value (the value is not an override).
_OPTIONS_WITH_VALUE = {"--cfg", "-c", "--config-path", "-cp", "--config-name", "-cn",
                       "--config-dir", "-cd", "--package", "-p", "--info", "-i",
                       "--experimental-rerun"}


@dataclass(frozen=True)
class KeyTable:
    """Every key of the schema, and the tables that take keys of the user's choosing."""

    keys: frozenset[str]
    free_tables: frozenset[str]
    groups: frozenset[str]

    def is_known(self, key: str) -> bool:
        return key in self.keys or self.in_free_table(key)

    def in_free_table(self, key: str) -> bool:
        return any(key.startswith(t + ".") for t in self.free_tables)


def key_table(schema: object, groups: set[str] | frozenset[str] = frozenset()) -> KeyTable:
    """The :class:`KeyTable` of a structured config class or instance."""
    cfg = OmegaConf.structured(schema)
    keys: set[str] = set()
    free: set[str] = set()

    def walk(node: DictConfig, prefix: str) -> None:
        for name in node:
            key = f"{prefix}{name}"
            keys.add(key)
            child = node._get_node(name)
            if isinstance(child, DictConfig):
                if OmegaConf.get_type(child) is dict:
                    free.add(key)
                else:
                    walk(child, key + ".")
            elif isinstance(child, ListConfig):
                continue

    walk(cfg, "")
    return KeyTable(frozenset(keys), frozenset(free), frozenset(groups))


def config_groups(conf_dir: Path | None) -> set[str]:
    """Group names: folders of the config tree (``dj``, ``hydra/launcher``...) and ``palette``."""
    groups = {"palette"}
    if conf_dir is not None and Path(conf_dir).is_dir():
        for sub in Path(conf_dir).rglob("*"):
            if sub.is_dir():
                groups.add(sub.relative_to(conf_dir).as_posix())
    return groups


def override_args(argv: list[str]) -> list[str]:
    """The override arguments in a command line (flags and their values removed)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg.startswith("-"):
            name = arg.split("=", 1)[0]
            if name in _OPTIONS_WITH_VALUE and "=" not in arg:
                skip = True
            continue
        out.append(arg)
    return out


def _suggest(key: str, table: KeyTable) -> str:
    candidates = sorted(table.keys | table.groups)
    close = difflib.get_close_matches(key, candidates, n=1, cutoff=0.6)
    if not close:
        # Same parent, closest leaf name: `render.normalise_db` -> `render.normalize_dbfs`.
        parent, _, leaf = key.rpartition(".")
        siblings = [k for k in candidates if k.rpartition(".")[0] == parent]
        leaves = difflib.get_close_matches(leaf, [k.rpartition(".")[2] for k in siblings], n=1, cutoff=0.5)
        close = [f"{parent}.{leaves[0]}" if parent else leaves[0]] if leaves else []
    if close:
        return f"did you mean `{close[0]}`?"
    return "`rlmdj --cfg job` lists every key"


def check_override_keys(overrides: list[str], table: KeyTable) -> None:
    """Raise :class:`ParameterError` for the first override whose key rlmdj does not read."""
    try:
        from hydra.core.override_parser.overrides_parser import OverridesParser

        parsed = OverridesParser.create().parse_overrides(list(overrides))
    except Exception:  # noqa: BLE001 - a syntax error is Hydra's to report, with its position
        return
    for o in parsed:
        key = o.key_or_group
        if o.package or o.is_delete() or key == "hydra" or key.startswith(("hydra.", "hydra/")):
            continue
        if key in table.groups:
            continue
        if any(part.isdigit() for part in key.split(".")):
            continue  # list items (`samples.paths.0=...`) are checked by Hydra
        adding = o.is_add() or o.is_force_add()
        if key in table.keys or table.in_free_table(key):
            continue  # entries of free-form tables: Hydra says when `+` is needed
        what = "adds a key rlmdj does not read" if adding else "is not a config key"
        raise ParameterError(f"`{key}` {what}; {_suggest(key, table)}")
