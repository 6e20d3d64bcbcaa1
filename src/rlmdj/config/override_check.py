"""Check command-line override keys against the schema before Hydra composes anything.

Hydra answers an unknown key with ``To append to your config use +barz=3``; following that
hint runs with a key nothing reads. :func:`check_override_keys` instead names the closest real
key (``did you mean `bars`?``). ``+key`` is accepted only where new keys mean something: inside
free-form tables (``model.extra``, ``scorer.weights``, ``guardrails.gain_caps``...) and for
Hydra's own settings. Group choices (``dj=rlm``, ``palette=example``, each value of a sweep) must
name an option of the group (:func:`group_choices`): Hydra's answer is a dump of its search path,
and a name outside ASCII one of its lexer errors. Values are left to the schema and the preflight.
"""

from __future__ import annotations

import difflib
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, ListConfig, OmegaConf

from rlmdj.errors import ParameterError

__all__ = ["KeyTable", "check_group_choices", "check_override_keys", "config_groups", "group_choices",
           "key_table", "override_args"]

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


def group_choices(conf_dir: Path | None) -> dict[str, frozenset[str]]:
    """Options of each group rlmdj reads: ``conf/<group>/*.yaml`` and the schema entries of
    Hydra's ConfigStore (the palette files registered by ``register_configs``). Hydra's own groups
    (``hydra/launcher``...) are left to Hydra, whose plugins add options."""
    from hydra.core.config_store import ConfigStore

    choices: dict[str, set[str]] = {}
    if conf_dir is not None and Path(conf_dir).is_dir():
        for path in Path(conf_dir).rglob("*.yaml"):
            group, _, name = path.relative_to(conf_dir).with_suffix("").as_posix().partition("/")
            if name and group != "hydra":
                choices.setdefault(group, set()).add(name)
    store = ConfigStore.instance()
    for group in ("palette", *choices):
        try:
            entries = store.list(group)
        except (OSError, ValueError, KeyError, IndexError):  # not a ConfigStore group
            continue
        choices.setdefault(group, set()).update(e.removesuffix(".yaml") for e in entries if e.endswith(".yaml"))
    return {group: frozenset(names) for group, names in choices.items()}


def _choice_values(override: str) -> list[str] | None:
    """The option names ``group=...`` chooses (each value of a sweep; ``null``, which Hydra 1.3
    fails on with a traceback, as the name ``null``), or None when it chooses none (a deletion,
    a list, an interpolation, a glob)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    try:
        parsed = OverridesParser.create().parse_override(override)
    except Exception:  # noqa: BLE001 - a name the lexer refuses (outside ASCII) is still a name
        return [override.partition("=")[2].strip().strip("'\"")]
    if parsed.is_delete():
        return None
    if parsed.is_sweep_override():
        return list(parsed.sweep_string_iterator()) if parsed.is_discrete_sweep() else None
    value = parsed.value()
    if value is None:
        return ["null"]
    return [value] if isinstance(value, str) and "${" not in value else None


def check_group_choices(overrides: list[str], choices: Mapping[str, frozenset[str]]) -> None:
    """Raise :class:`ParameterError` for the first group choice that names no option."""
    for override in overrides:
        key, sep, _ = override.partition("=")
        group = key.lstrip("+~")
        if not sep or group not in choices:
            continue
        for value in _choice_values(override) or []:
            if value in choices[group]:
                if not value.isascii() and override.partition("=")[2].strip()[:1] not in ("'", '"'):
                    raise ParameterError(f"{group}={value}: a name outside ASCII needs quotes on "
                                         f"Hydra's command line: '{group}=\"{value}\"'")
                continue
            raise ParameterError(_no_option(group, value, choices[group]))


def _no_option(group: str, value: str, options: frozenset[str]) -> str:
    close = difflib.get_close_matches(value, sorted(options), n=1, cutoff=0.6)
    hint = f"did you mean `{group}={close[0]}`? " if close else ""
    names = sorted(options)
    listed = ", ".join(names[:12]) + (f", … ({len(names)} in all)" if len(names) > 12 else "")
    if group == "palette":
        return (f"palette={value}: no such palette; {hint}`rlmdj experiment=samples` lists the palettes "
                f"and their files (here: {listed})")
    return f"{group}={value}: no such option of `{group}`; {hint}choose one of {listed}"


def _custom_config_dirs(argv: list[str]) -> bool:
    """The command line adds or replaces config folders: their options are Hydra's to find."""
    flags = ("--config-dir", "-cd", "--config-path", "-cp")
    return any(a.split("=", 1)[0] in flags or a.startswith("hydra.searchpath") for a in argv)


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


def check_override_keys(overrides: list[str], table: KeyTable,
                        choices: Mapping[str, frozenset[str]] | None = None) -> None:
    """Raise :class:`ParameterError` for the first override whose key rlmdj does not read, or
    that chooses no option of its group (``choices``; default: :func:`group_choices` of the
    shipped config and the registered palettes)."""
    if choices is None and not _custom_config_dirs([*sys.argv[1:], *overrides]):
        from rlmdj.resources import bundled_dir

        choices = group_choices(bundled_dir("conf"))
    check_group_choices(overrides, choices or {})
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
