"""What a run logs as params, and what as tags: only settings that mean something for *this* run.

MLflow's "show diff only" view and parallel-coordinates plot take their columns from params,
so a value that differs for every run (an output folder) or a group that this job never reads
(``experiment.serve.*`` on a DJ run) would drown the settings that do differ. Paths therefore become
``rlmdj.path.<key>`` tags, and groups that do not apply to the job are left out of the params;
the run's ``config.yaml`` artifact still holds the whole resolved config.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from omegaconf import DictConfig

from rlmdj.tracking.identity import flatten_config

__all__ = ["PATH_TAG_PREFIX", "inapplicable_prefixes", "is_path_key", "run_params"]

PATH_TAG_PREFIX = "rlmdj.path."
# Keys whose values are locations: they say where things went, not what the run did.
_PATH_PREFIXES = ("paths.", "tracking.uri", "tracking.artifact_location")
_PATH_SUFFIXES = ("_dir", "_path", ".path", "dir", "_transcript")
# Job settings per job (experiment.name), at the top level or under experiment.*: the other
# jobs' settings do not apply to a run of this one.
_JOB_GROUPS = {
    "screen_palettes": ("experiment.screen.",),
    "search_palettes": ("experiment.search.",),
    "gap_test": ("experiment.gap.",),
    "compare": ("experiment.compare.",),
    "replay": ("replay.", "experiment.replay."),
    "serve": ("serve.", "experiment.serve."),
    "rerun": ("experiment.rerun.",),
}
_ALL_JOB_GROUPS = tuple(p for group in _JOB_GROUPS.values() for p in group)
# Groups only a language-model DJ reads.
_LLM_GROUPS = ("model.", "prompt.")
# Scorer settings read only by some scorers (the rest of scorer.* applies to all).
_SCORER_KEYS = {
    "audiobox": ("checkpoint", "device", "precision", "batch_size"),
    "http": ("url", "token_env", "timeout_s", "connect_timeout_s", "retries", "backoff_s",
             "max_concurrency", "batch_size", "max_wait_s", "max_batch_sets"),
    "modal": ("url", "modal_key_env", "modal_secret_env", "timeout_s", "connect_timeout_s",
              "retries", "backoff_s", "max_concurrency", "batch_size", "max_wait_s", "max_batch_sets"),
}
_ALL_SCORER_KEYS = tuple(sorted({k for keys in _SCORER_KEYS.values() for k in keys}))


def is_path_key(key: str) -> bool:
    """Whether the dotted ``key`` holds a location (logged as a ``rlmdj.path.*`` tag, not a param)."""
    return key.startswith(_PATH_PREFIXES) or key.endswith(_PATH_SUFFIXES)


def inapplicable_prefixes(cfg: DictConfig | Mapping[str, Any], job: str | None = None) -> tuple[str, ...]:
    """Dotted key prefixes that the job ``job`` (default: ``experiment.name``) does not read."""
    name = job or str(_get(cfg, "experiment.name", "run"))
    keep = _JOB_GROUPS.get(name, ())
    dropped = [p for p in _ALL_JOB_GROUPS if p not in keep]
    if name == "run" or name == "replay":
        if str(_get(cfg, "dj.driver", "")) != "rlm" and name != "replay":
            dropped += _LLM_GROUPS
    elif name in ("screen_palettes", "search_palettes", "serve", "compare", "samples"):
        dropped += [*_LLM_GROUPS, "dj.", "guardrails."]
    used = _SCORER_KEYS.get(str(_get(cfg, "scorer.name", "")), ())
    dropped += [f"scorer.{k}" for k in _ALL_SCORER_KEYS if k not in used]
    return tuple(dropped)


def run_params(cfg: DictConfig | Mapping[str, Any], *, job: str | None = None
               ) -> tuple[dict[str, str], dict[str, str]]:
    """``(params, path_tags)`` for a run of ``job``: applicable settings, and locations as tags."""
    flat = flatten_config(cfg)
    dropped = inapplicable_prefixes(cfg, job)
    params: dict[str, str] = {}
    tags: dict[str, str] = {}
    for key, value in flat.items():
        if is_path_key(key):
            if value not in ("", "None"):
                tags[PATH_TAG_PREFIX + key] = value
        elif not key.startswith(dropped) and not key.startswith("hydra."):
            params[key] = value
    return params, tags


def _get(cfg: DictConfig | Mapping[str, Any], dotted: str, default: Any) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        try:
            node = node[part]
        except (KeyError, TypeError, AttributeError):
            return default
        except Exception:  # noqa: BLE001 - OmegaConf raises its own for missing/interpolated keys
            return default
    return node
