"""Build the Scorer a config names: ``build_scorer(cfg.scorer)``.

``proxy`` -> ProxyScorer; ``audiobox`` -> AudioboxScorer (in-process); ``http`` / ``modal`` ->
HttpScorer; ``cache: true`` wraps any of them in a CachedScorer. Backends are imported lazily so
a proxy run needs neither torch nor a network.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import is_dataclass
from typing import Any

from omegaconf import DictConfig, OmegaConf

from rlmdj.errors import ParameterError
from rlmdj.scoring.base import Scorer

__all__ = ["SCORERS", "MODAL_URL_ENV", "CACHE_DIR_ENV", "build_scorer"]

SCORERS = ("proxy", "audiobox", "http", "modal")
MODAL_URL_ENV = "RLMDJ_MODAL_URL"
CACHE_DIR_ENV = "RLMDJ_CACHE_DIR"


def _default_cache_dir() -> str:
    """``$RLMDJ_CACHE_DIR/scores``, else ``~/.cache/rlmdj/scores``: the ScorerConfig default, for
    callers that pass a plain dict without ``cache_dir``."""
    root = os.environ.get(CACHE_DIR_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "rlmdj")
    return os.path.join(root, "scores")


def _as_dict(cfg: Any) -> dict[str, Any]:
    if isinstance(cfg, DictConfig):
        return OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]
    if is_dataclass(cfg) and not isinstance(cfg, type):
        return OmegaConf.to_container(OmegaConf.structured(cfg), resolve=True)  # type: ignore[return-value]
    if isinstance(cfg, Mapping):
        return dict(cfg)
    raise ParameterError(f"scorer config must be a mapping or ScorerConfig, got {type(cfg).__name__}")


def _env(name: str | None, what: str) -> str | None:
    """The value of environment variable ``name`` (None if no name); error if named but unset."""
    if not name:
        return None
    value = os.environ.get(name)
    if not value:
        raise ParameterError(f"{what}: environment variable {name} is not set (export {name}=...)")
    return value


def _http_scorer(c: dict[str, Any], *, backend: str) -> Scorer:
    from rlmdj.scoring.client import HttpScorer

    url = c.get("url") or (os.environ.get(MODAL_URL_ENV) if backend == "modal" else None)
    if not url:
        hint = (
            f"deploy aesthetics/app.py (see docs/scoring.md) and set scorer.url=https://... or export {MODAL_URL_ENV}"
            if backend == "modal"
            else "set scorer.url=http://host:port of a server started with `rlmdj experiment=serve`"
        )
        raise ParameterError(f"scorer={backend} needs a URL: {hint}")
    headers = {}
    if bool(c.get("modal_key_env")) != bool(c.get("modal_secret_env")):
        # One without the other would silently send no proxy auth and fail later with a 401.
        raise ParameterError(
            "Modal proxy auth needs both scorer.modal_key_env and scorer.modal_secret_env "
            f"(got {c.get('modal_key_env')!r} and {c.get('modal_secret_env')!r})"
        )
    key = _env(c.get("modal_key_env"), "scorer.modal_key_env")
    secret = _env(c.get("modal_secret_env"), "scorer.modal_secret_env")
    if key and secret:
        headers = {"Modal-Key": key, "Modal-Secret": secret}
    return HttpScorer(
        url,
        backend=backend,
        token=_env(c.get("token_env"), "scorer.token_env"),
        headers=headers,
        timeout_s=float(c.get("timeout_s", 120.0)),
        connect_timeout_s=float(c.get("connect_timeout_s", 10.0)),
        retries=int(c.get("retries", 3)),
        backoff_s=float(c.get("backoff_s", 1.0)),
        max_concurrency=int(c.get("max_concurrency", 2)),
        weights=c.get("weights"),
    )


def build_scorer(cfg: Any) -> Scorer:
    """The Scorer described by the ``scorer`` config node (DictConfig, ScorerConfig or dict)."""
    c = _as_dict(cfg)
    name = c.get("name", "proxy")
    weights = dict(c.get("weights") or {}) or None
    scorer: Scorer
    if name == "proxy":
        from rlmdj.scoring.proxy import ProxyScorer

        scorer = ProxyScorer(weights=weights) if weights else ProxyScorer()
    elif name == "audiobox":
        from rlmdj.scoring.audiobox import AudioboxScorer

        scorer = AudioboxScorer(
            c.get("checkpoint"),
            device=str(c.get("device", "auto")),
            precision=str(c.get("precision", "fp32")),
            batch_size=int(c.get("batch_size", 4)),
            weights=weights,
        )
    elif name in ("http", "modal"):
        scorer = _http_scorer(c, backend=name)
    else:
        raise ParameterError(f"unknown scorer {name!r}; use one of {', '.join(SCORERS)}")
    if c.get("cache"):
        from rlmdj.scoring.cache import CachedScorer, ScoreCache

        scorer = CachedScorer(scorer, ScoreCache(c.get("cache_dir") or _default_cache_dir()))
    return scorer

