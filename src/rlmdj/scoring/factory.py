"""Build the Scorer a config names: ``build_scorer(cfg.scorer)``.

``SCORERS`` is a :class:`~rlmdj.registry.Registry` of builders ``(ScorerConfig) -> Scorer``
chosen by ``scorer.name``: ``proxy`` -> ProxyScorer; ``audiobox`` -> AudioboxScorer
(in-process); ``http`` / ``modal`` -> HttpScorer. ``cache: true`` wraps any of them in a
CachedScorer. Builders are imported lazily, so a proxy run needs neither torch nor a network.

Settings are read from :class:`~rlmdj.config.scorer.ScorerConfig` only: a DictConfig, a plain
dict or a dataclass is merged onto the schema first, so every default is the schema's.

Each entry may declare a ``check(cfg)`` the preflight runs when ``scorer.name`` (or
``ears.scorer``) names it: ``http`` and ``modal`` need a URL and the variables their settings
name, ``audiobox`` a precision it knows and a checkpoint that exists.

To add a scorer: implement :class:`~rlmdj.scoring.base.Scorer` in ``rlmdj/scoring/<name>.py``
with a ``from_config(cfg: ScorerConfig)`` builder (and its ``check``), and add one line to
``SCORERS`` (docs/architecture.md, "Add a scorer").
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rlmdj.config.bind import bind
from rlmdj.config.scorer import ScorerConfig
from rlmdj.errors import ParameterError
from rlmdj.registry import Registry, settings_type
from rlmdj.scoring.base import Scorer
from rlmdj.validation import choice, env_set, http_url, setting

__all__ = [
    "CACHE_DIR_ENV",
    "MODAL_URL_ENV",
    "SCORERS",
    "ScorerBuilder",
    "build_scorer",
    "check_audiobox",
    "check_http",
    "check_modal",
    "scorer_config",
]

MODAL_URL_ENV = "RLMDJ_MODAL_URL"
CACHE_DIR_ENV = "RLMDJ_CACHE_DIR"

ScorerBuilder = Callable[[ScorerConfig], Scorer]

SCORERS: Registry[ScorerBuilder] = Registry(
    "scorer",
    key="scorer.name",
    example="scorer=proxy",
    entries={
        "proxy": "rlmdj.scoring.factory:proxy_scorer",
        "audiobox": "rlmdj.scoring.factory:audiobox_scorer",
        "http": "rlmdj.scoring.factory:http_scorer",
        "modal": "rlmdj.scoring.factory:modal_scorer",
    },
    checks={
        "audiobox": "rlmdj.scoring.factory:check_audiobox",
        "http": "rlmdj.scoring.factory:check_http",
        "modal": "rlmdj.scoring.factory:check_modal",
    },
)


def scorer_config(cfg: Any) -> ScorerConfig:
    """``cfg`` (DictConfig, mapping or ScorerConfig) as a resolved :class:`ScorerConfig`."""
    return bind(cfg, settings_type(cfg, ScorerConfig), "scorer")  # a scorer's own settings kept


def _env(name: str | None, what: str) -> str | None:
    """The value of environment variable ``name`` (None if no name); error if named but unset."""
    if not name:
        return None
    value = os.environ.get(name)
    if not value:
        raise ParameterError(f"{what}: environment variable {name} is not set (export {name}=...)")
    return value


def _weights(c: ScorerConfig) -> dict[str, float] | None:
    return {str(k): float(v) for k, v in c.weights.items()} or None


def proxy_scorer(c: ScorerConfig) -> Scorer:
    from rlmdj.scoring.proxy import ProxyScorer

    weights = _weights(c)
    return ProxyScorer(weights=weights) if weights else ProxyScorer()


def audiobox_scorer(c: ScorerConfig) -> Scorer:
    from rlmdj.scoring.audiobox import AudioboxScorer

    return AudioboxScorer(c.checkpoint, device=c.device, precision=c.precision,
                          batch_size=c.batch_size, weights=_weights(c))


def http_scorer(c: ScorerConfig, *, backend: str = "http") -> Scorer:
    from rlmdj.scoring.client import HttpScorer

    url = c.url or (os.environ.get(MODAL_URL_ENV) if backend == "modal" else None)
    if not url:
        hint = (
            f"deploy aesthetics/app.py (see docs/scoring.md) and set scorer.url=https://... or export {MODAL_URL_ENV}"
            if backend == "modal"
            else "set scorer.url=http://host:port of a server started with `rlmdj experiment=serve`"
        )
        raise ParameterError(f"scorer={backend} needs a URL: {hint}")
    headers = {}
    if bool(c.modal_key_env) != bool(c.modal_secret_env):
        # One without the other would silently send no proxy auth and fail later with a 401.
        raise ParameterError(
            "Modal proxy auth needs both scorer.modal_key_env and scorer.modal_secret_env "
            f"(got {c.modal_key_env!r} and {c.modal_secret_env!r})"
        )
    key = _env(c.modal_key_env, "scorer.modal_key_env")
    secret = _env(c.modal_secret_env, "scorer.modal_secret_env")
    if key and secret:
        headers = {"Modal-Key": key, "Modal-Secret": secret}
    return HttpScorer(
        url,
        backend=backend,
        token=_env(c.token_env, "scorer.token_env"),
        headers=headers,
        timeout_s=c.timeout_s,
        connect_timeout_s=c.connect_timeout_s,
        retries=c.retries,
        backoff_s=c.backoff_s,
        max_concurrency=c.max_concurrency,
        max_wait_s=c.max_wait_s,
        max_batch_sets=c.max_batch_sets,
        weights=_weights(c),
    )


def modal_scorer(c: ScorerConfig) -> Scorer:
    return http_scorer(c, backend="modal")


def check_audiobox(cfg: Any) -> None:
    """``scorer=audiobox``: a precision the model runs at, and a local checkpoint that exists."""
    choice(cfg, "scorer.precision", ("fp32", "fp16", "bf16"), lower=True)
    ckpt = setting(cfg, "scorer.checkpoint")
    if ckpt and str(ckpt).startswith((".", "/", "~")) and not Path(str(ckpt)).expanduser().exists():
        raise ParameterError(f"scorer.checkpoint: {ckpt} does not exist")


def _check_remote(cfg: Any, backend: str) -> None:
    url = setting(cfg, "scorer.url") or (os.environ.get(MODAL_URL_ENV) if backend == "modal" else None)
    if not url:
        raise ParameterError(f"scorer={backend} needs scorer.url=http://host:port "
                             "(a server started with `rlmdj experiment=serve`)")
    http_url(url, "scorer.url", "http://127.0.0.1:8000")
    for key in ("scorer.token_env", "scorer.modal_key_env", "scorer.modal_secret_env"):
        env_set(cfg, key)


def check_http(cfg: Any) -> None:
    """``scorer=http``: an http(s) ``scorer.url``, and the variables ``scorer.*_env`` name are set."""
    _check_remote(cfg, "http")


def check_modal(cfg: Any) -> None:
    """``scorer=modal``: as ``http``, the URL possibly from ``$RLMDJ_MODAL_URL``."""
    _check_remote(cfg, "modal")


def build_scorer(cfg: Any) -> Scorer:
    """The Scorer described by the ``scorer`` config node (DictConfig, ScorerConfig or dict)."""
    c = scorer_config(cfg)
    scorer = SCORERS.get(c.name)(c)
    if c.cache:
        from rlmdj.scoring.cache import CachedScorer, ScoreCache

        scorer = CachedScorer(scorer, ScoreCache(c.cache_dir))
    return scorer
