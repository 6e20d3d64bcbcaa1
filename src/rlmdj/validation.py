"""The pieces every ``check(cfg)`` is written with: a number in range, one of some choices, an
environment variable that is set, an http(s) URL, a folder that can be written.

A registry entry's check (:mod:`rlmdj.registry`) lives with its component, in whatever layer that
is, so these depend on nothing but OmegaConf and :mod:`rlmdj.errors`. Each raises
:class:`~rlmdj.errors.ParameterError` with one line that names the config key and shows a value
that works (``bars must be between 1 and 4096, got 0 (e.g. bars=32)``).
"""

from __future__ import annotations

import errno
import math
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from omegaconf import OmegaConf

from rlmdj.errors import ParameterError

__all__ = ["api_key_set", "choice", "env_set", "folder_writable", "http_url", "number", "setting"]


def setting(cfg: Any, key: str) -> Any:
    """The value at dotted ``key`` of ``cfg``, or None where the key is absent."""
    return OmegaConf.select(cfg, key, default=None, throw_on_missing=False)


def number(cfg: Any, key: str, *, lo: float | None = None, hi: float | None = None,
           integer: bool = False, example: Any, optional: bool = False) -> float | None:
    """``key`` is a finite number in ``[lo, hi]`` (a whole one if ``integer``; null if
    ``optional``); its value as a float (None when null)."""
    value = setting(cfg, key)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParameterError(f"{key} must be a number, got {value!r} (e.g. {key}={example})")
    if not math.isfinite(float(value)):
        raise ParameterError(f"{key} must be finite, got {value!r} (e.g. {key}={example})")
    if integer and float(value) != int(value):
        raise ParameterError(f"{key} must be a whole number, got {value!r} (e.g. {key}={example})")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        span = f"between {lo:g} and {hi:g}" if lo is not None and hi is not None else (
            f"at least {lo:g}" if lo is not None else f"at most {hi:g}")
        raise ParameterError(f"{key} must be {span}, got {value!r} (e.g. {key}={example})")
    return float(value)


def choice(cfg: Any, key: str, choices: tuple[str, ...], *, upper: bool = False,
           lower: bool = False) -> str:
    """``key`` is one of ``choices`` (compared upper- or lower-cased if asked); the value as compared."""
    value = str(setting(cfg, key))
    probe = value.upper() if upper else value.lower() if lower else value
    if probe not in choices:
        raise ParameterError(f"{key} must be one of {', '.join(choices)}, got {value!r} "
                             f"(e.g. {key}={choices[0]})")
    return probe


def env_set(cfg: Any, key: str) -> None:
    """The environment variable ``key`` names (if it names one) is set and not blank."""
    name = setting(cfg, key)
    if name and not os.environ.get(str(name), "").strip():
        raise ParameterError(f"{key}={name}: the environment variable {name} is not set "
                             f"(export {name}=... or set {key}=null)")


def api_key_set(cfg: Any, key: str, model_key: str) -> None:
    """The API key variable ``key`` names for the model at ``model_key`` is set."""
    name = setting(cfg, key)
    if name and not os.environ.get(str(name), "").strip():
        model = setting(cfg, model_key)
        raise ParameterError(f"model {model!r} needs an API key in the environment variable {name} "
                             f"({key}); set it (export {name}=...) or choose another model=...")


def http_url(value: Any, key: str, example: str) -> None:
    """``value`` (the setting at ``key``) is an http(s) URL with a host."""
    parsed = urlparse(str(value))
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ParameterError(f"{key} must be an http(s) URL, got {value!r} (e.g. {key}={example})")


def folder_writable(path: str | Path, key: str) -> None:
    """``path`` is a writable folder, or one that can be created; ParameterError naming ``key``.

    Creates nothing: a probe file is written (and removed) in ``path`` or, when it does not
    exist yet, in its nearest existing parent, so a refused run leaves no folder behind.
    """
    folder = Path(str(path)).expanduser()
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, f"{existing} is not a folder")
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".rlmdj-probe-"):
            pass
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise ParameterError(f"{key}: cannot write to {folder} ({why}); point {key} at a "
                             "writable folder") from None
