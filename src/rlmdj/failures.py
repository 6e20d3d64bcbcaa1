"""Turn an exception that ended a command into one line a user can act on.

:func:`explain` returns ``(message, exit_code)`` for failures that are not bugs of rlmdj: bad
input (exit 2), and the environment failing — the OS (full disk, read-only folder, missing
permission), the network, the MLflow store, the model provider (exit 1). It returns ``None``
for anything else, which the CLI shows with its traceback because that is a bug to report.

Messages name the config key whose value led to the failure (``paths.output_dir``,
``tracking.artifact_location``, ``samples.cache_dir``...), found by matching the failing path
against the composed config, and say what to do.
"""

from __future__ import annotations

import errno
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rlmdj.errors import EnvironmentProblem, ParameterError, RlmdjError
from rlmdj.secrets import scrub_text

__all__ = [
    "DEBUG_HINT", "debug_requested", "exit_on", "explain", "path_keys", "quiet_library_errors",
]

DEBUG_HINT = "RLMDJ_DEBUG=1 shows the traceback"

_OS_FIXES = {
    errno.ENOSPC: "free some space or point {key} at another disk",
    errno.EDQUOT: "free some space or point {key} at another disk",
    errno.EFBIG: "the file grew beyond the size this system allows; point {key} at another disk",
    errno.EROFS: "the file system is read-only; point {key} at a writable folder",
    errno.EACCES: "make the folder writable or point {key} at another one",
    errno.EPERM: "make the folder writable or point {key} at another one",
    errno.ENOENT: "check that {key} names an existing folder",
    errno.ENOTDIR: "{key} must name a folder",
}
# Keys whose values are paths, in the order a failing path is matched (most specific first).
_PATH_KEYS = ("scorer.cache_dir", "samples.cache_dir", "tracking.artifact_location",
              "paths.output_dir", "paths.palettes_dir", "paths.prompts_dir", "prompt.path",
              "palette.path", "dj.sandbox.deno_dir")


def debug_requested(argv: list[str], environ: dict[str, str] | Any) -> bool:
    """``RLMDJ_DEBUG=1`` or Hydra's verbose flag (``hydra.verbose=true`` or a logger list)."""
    if str(environ.get("RLMDJ_DEBUG", "")).strip().lower() in ("1", "true", "yes", "on"):
        return True
    for arg in argv:
        if arg.lstrip("+").startswith("hydra.verbose="):
            value = arg.split("=", 1)[1].strip().lower()
            if value not in ("", "false", "null", "[]", "0", "none"):
                return True
    return False


class _DropErrors(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.ERROR


# Libraries that log a failure with its traceback before raising it; the CLI's one line covers it.
_LOUD_LOGGERS = ("mlflow.store.db.utils",)


def quiet_library_errors() -> None:
    """Drop the error records (with tracebacks) libraries log before raising (not in debug)."""
    for name in _LOUD_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropErrors) for f in logger.filters):
            logger.addFilter(_DropErrors())


def path_keys(cfg: Any) -> list[tuple[str, Path]]:
    """``(config key, resolved path)`` for every path-valued key of ``cfg`` that resolves."""
    out: list[tuple[str, Path]] = []
    if cfg is None:
        return out
    from omegaconf import OmegaConf

    for key in _PATH_KEYS:
        try:
            value = OmegaConf.select(cfg, key, default=None)
        except Exception:  # noqa: BLE001 - a key that cannot resolve here is simply not matched
            continue
        if value:
            out.append((key, Path(str(value)).expanduser().absolute()))
    try:
        uri = str(OmegaConf.select(cfg, "tracking.uri", default="") or "")
    except Exception:  # noqa: BLE001
        uri = ""
    if uri.startswith("sqlite:///"):
        out.append(("tracking.uri", Path(uri.removeprefix("sqlite:///")).absolute()))
    try:
        for i, p in enumerate(OmegaConf.select(cfg, "samples.paths", default=None) or []):
            out.append((f"samples.paths[{i}]", Path(str(p)).expanduser().absolute()))
    except Exception:  # noqa: BLE001
        pass
    return out


def _key_for(path: str | None, cfg: Any) -> str | None:
    if not path:
        return None
    target = Path(path).absolute()
    best: tuple[int, str] | None = None
    for key, root in path_keys(cfg):
        if target == root or root in target.parents:
            depth = len(root.parts)
            if best is None or depth > best[0]:
                best = (depth, key)
    return best[1] if best else None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]


def _os_message(exc: OSError, cfg: Any) -> str:
    # A failed copy names its source in ``filename`` and its destination in ``filename2``:
    # the one under a configured folder is the one to report.
    paths = [p for p in (exc.filename2, exc.filename) if isinstance(p, str)]
    path, key = next(((p, _key_for(p, cfg)) for p in paths if _key_for(p, cfg)),
                     (paths[0] if paths else None, None))
    if key is None and path is not None:
        # Hydra writes its output folder (and .hydra/) before any rlmdj code runs.
        parts = Path(path).parts
        if "multirun" in parts:
            key = "hydra.sweep.dir"
        elif ".hydra" in parts or "outputs" in parts:
            key = "hydra.run.dir"
    what = exc.strerror or str(exc) or type(exc).__name__
    where = f"{key}: " if key else ""
    target = f" ({path})" if path else ""
    fix = _OS_FIXES.get(exc.errno or -1, "check the folder's permissions and free space")
    return f"{where}{what}{target}; " + fix.format(key=key or "the folder")


def _store_failure(exc: BaseException, cfg: Any) -> str | None:
    text = str(exc).lower()
    module = type(exc).__module__
    if not (module.startswith(("mlflow", "sqlalchemy", "sqlite3", "requests", "urllib3"))):
        return None
    from omegaconf import OmegaConf

    uri = ""
    if cfg is not None:
        try:
            uri = str(OmegaConf.select(cfg, "tracking.uri", default="") or "")
        except Exception:  # noqa: BLE001
            uri = ""
    cause = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:240]
    if "disk is full" in text or "no space" in text:
        cause = "the disk holding the store is full"
    return (f"tracking.uri={uri or '?'}: the MLflow store failed ({cause}); runs it could not close "
            "are marked FAILED the next time rlmdj opens this store")


def explain(exc: BaseException, cfg: Any = None) -> tuple[str, int] | None:
    """``(one line, exit code)`` for a failure that is not a bug of rlmdj, else ``None``."""
    line = _explain(exc, cfg)
    if line is None:
        return None
    message, code = line
    message = " ".join(scrub_text(message).split())
    return message, code


def exit_on(exc: BaseException, cfg: Any = None) -> None:
    """Print ``exc`` as one line and exit when :func:`explain` knows it, else re-raise it.

    For code Hydra calls from its callbacks, which turns exceptions into warnings and goes on.
    """
    explained = explain(exc, cfg)
    if explained is None:
        raise exc
    print(f"rlmdj: error: {explained[0]}", file=sys.stderr)
    sys.exit(explained[1])


def _explain(exc: BaseException, cfg: Any) -> tuple[str, int] | None:
    if isinstance(exc, ParameterError):
        return str(exc), 2
    if isinstance(exc, EnvironmentProblem):
        return f"{exc} ({DEBUG_HINT})", 1
    if isinstance(exc, RlmdjError):
        return str(exc), 2
    config_line = _config_error(exc)
    if config_line is not None:
        return config_line, 2
    if "dspy" in sys.modules:
        from rlmdj.dj.rlm.lm import lm_failure_message

        message = lm_failure_message(exc)
        if message is not None:
            return message, 1
    for link in _chain(exc):
        if isinstance(link, UnicodeDecodeError):
            return (f"a file is not UTF-8 text ({link.reason} at byte {link.start}); save it as "
                    "UTF-8", 2)
        if isinstance(link, OSError) and link.errno is not None:
            return f"{_os_message(link, cfg)} ({DEBUG_HINT})", 1
        store = _store_failure(link, cfg)
        if store is not None:
            return f"{store} ({DEBUG_HINT})", 1
    return None


def _config_error(exc: BaseException) -> str | None:
    """Hydra/OmegaConf composition errors as one line naming the key."""
    try:
        from hydra.errors import HydraException, MissingConfigException
        from omegaconf.errors import OmegaConfBaseException
    except ImportError:  # pragma: no cover - both ship with rlmdj
        return None
    for link in _chain(exc):
        if isinstance(link, OmegaConfBaseException):
            key = getattr(link, "full_key", None)
            msg = (getattr(link, "msg", None) or str(link)).strip().splitlines()[0]
            return f"{key}: {msg}" if key else msg
    if isinstance(exc, MissingConfigException | HydraException):
        lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip()]
        return "; ".join(lines)[:600] if lines else type(exc).__name__
    return None
