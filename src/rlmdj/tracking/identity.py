"""What identifies a run's configuration: a flat param view, a stable hash, the code version.

The hash leaves out where results go (tracking, paths, hydra), so the same musical experiment
hashes the same on any machine or store, and resume can match finished runs by it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rlmdj.secrets import scrub_value

__all__ = [
    "HASH_EXCLUDED_KEYS",
    "config_hash",
    "config_yaml",
    "flatten_config",
    "git_commit",
    "hashed_key",
    "resolved_dict",
    "scrubbed_config",
]

HASH_EXCLUDED_KEYS: tuple[str, ...] = (
    "tracking", "paths", "hydra", "progress", "serve", "experiment", "scorer.cache",
    "scorer.url", "scorer.batch_size", "render.artifact_format",
)
# Operational settings (where things are cached, how long to wait, how hard to retry) change how
# a run is carried out, not what it plays or how it is scored: they stay out of the hash.
_OPERATIONAL_SUFFIXES: tuple[str, ...] = (
    "_env", "timeout_s", "retries", "backoff_s", "cache_dir", "max_concurrency",
    "max_wait_s", "max_batch_sets",
)


def resolved_dict(cfg: DictConfig | Mapping[str, Any]) -> dict[str, Any]:
    """The config as plain, fully resolved Python containers."""
    if isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)  # type: ignore[return-value]
    return dict(cfg)


def _scrub(value: Any, key: str = "") -> Any:
    """Mask values under secret-looking keys and secret-looking strings anywhere
    (see :mod:`rlmdj.secrets`; names of env variables are kept)."""
    return scrub_value(value, key)


def scrubbed_config(cfg: DictConfig | Mapping[str, Any]) -> dict[str, Any]:
    """The resolved config with secret-looking values masked: safe to log as an artifact."""
    return _scrub(resolved_dict(cfg))


def config_yaml(data: Mapping[str, Any]) -> str:
    """``data`` (plain containers) as ``OmegaConf.to_yaml`` writes it, without building a config
    from it first (that alone cost more than the dump, for every run of a sweep)."""
    import yaml

    return yaml.dump(dict(data), default_flow_style=False, allow_unicode=True, sort_keys=False,
                     Dumper=_config_dumper())


@functools.cache
def _config_dumper() -> type:
    from omegaconf._utils import get_omega_conf_dumper

    class Dumper(get_omega_conf_dumper()):  # type: ignore[misc, valid-type]
        def ignore_aliases(self, data: Any) -> bool:
            return True  # a config copies what it is given: a value twice is written twice

    return Dumper


def flatten_config(cfg: DictConfig | Mapping[str, Any], *, scrub: bool = True) -> dict[str, str]:
    """Dotted ``key -> str(value)`` pairs for MLflow params; secret-looking values masked."""
    data = resolved_dict(cfg)
    if scrub:
        data = _scrub(data)
    flat: dict[str, str] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, Mapping) and node:
            for k, v in node.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            flat[prefix] = json.dumps(node) if isinstance(node, list | dict) else str(node)

    walk("", data)
    return flat


def _hashed_part(node: Any, prefix: str = "") -> Any:
    if not isinstance(node, Mapping):
        return node
    kept = {}
    for key, value in node.items():
        path = f"{prefix}{key}"
        if path in HASH_EXCLUDED_KEYS or str(key).endswith(_OPERATIONAL_SUFFIXES):
            continue
        kept[key] = _hashed_part(value, f"{path}.")
    return kept


def hashed_key(key: str) -> bool:
    """Whether :func:`config_hash` reads the dotted ``key`` (``bars``, ``palette.path``: yes;
    ``tracking.uri``, ``scorer.timeout_s``, ``samples.cache_dir``: no), by the same rules."""
    parts = key.split(".")
    return not any(".".join(parts[: i + 1]) in HASH_EXCLUDED_KEYS or part.endswith(_OPERATIONAL_SUFFIXES)
                   for i, part in enumerate(parts))


def config_hash(cfg: DictConfig | Mapping[str, Any], *, length: int = 16) -> str:
    """Stable hash of what a run plays and how it is scored.

    Leaves out where results go and how the run is carried out (tracking, paths, experiment
    orchestration, caches, timeouts, retries), so resume matches runs across machines and stores.
    """
    data = _hashed_part(resolved_dict(cfg))
    blob = json.dumps(_scrub(data), sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:length]


def git_commit(directory: str | Path = ".") -> str | None:
    """The commit checked out in ``directory`` (with ``-dirty`` if modified), or None."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=directory, capture_output=True, text=True, timeout=5
        )
        if sha.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=directory, capture_output=True, text=True, timeout=5,
        )
        suffix = "-dirty" if dirty.returncode == 0 and dirty.stdout.strip() else ""
        return sha.stdout.strip() + suffix
    except (OSError, subprocess.SubprocessError):
        return None
