"""Keep secrets out of the files Hydra writes: ``.hydra/{config,hydra,overrides}.yaml``,
``multirun.yaml`` and the job's log.

Hydra saves the composed config and the command line verbatim, so a key given as an override
(``+model.extra.api_key=sk-...``) or inside a URL would sit in the launch folder in clear.
:class:`ScrubHydraFiles` (registered in ``conf/hydra/default.yaml``) rewrites those files
through :func:`rlmdj.secrets.scrub_document` when a job starts (Hydra has written them by then)
and again when it ends; a rewritten YAML file stays loadable. The job itself still receives the
real values. The sweep's ``multirun.yaml`` is read again only when it changed: a launcher's worker
runs many jobs of the same sweep.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from rlmdj.secrets import scrub_document

__all__ = ["ScrubHydraFiles", "scrub_files"]

# A sweep file this process found clean (or cleaned), and its (mtime, size) then.
_CLEAN: dict[Path, tuple[int, int]] = {}


def scrub_files(paths: list[Path]) -> list[Path]:
    """Rewrite each text file in ``paths`` that contains a secret; returns those rewritten."""
    changed = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        clean = scrub_document(text, path.name)
        if clean != text:
            with contextlib.suppress(OSError):
                path.write_text(clean, encoding="utf-8")
                changed.append(path)
    return changed


def _job_files(config: DictConfig) -> list[Path]:
    files: list[Path] = []
    out = OmegaConf.select(config, "hydra.runtime.output_dir", default=None)
    if out:
        out_dir = Path(str(out))
        sub = OmegaConf.select(config, "hydra.output_subdir", default=".hydra")
        if sub:
            files += sorted((out_dir / str(sub)).glob("*.yaml"))
        files += sorted(out_dir.glob("*.log"))
    return files


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def _scrub_sweep_files(paths: list[Path]) -> None:
    """:func:`scrub_files` for files that changed since this process last left them clean."""
    for path in paths:
        seen = _stat(path)
        if seen is not None and _CLEAN.get(path) == seen:
            continue
        scrub_files([path])
        if (now := _stat(path)) is not None:
            _CLEAN[path] = now


def _sweep_files(config: DictConfig) -> list[Path]:
    try:
        sweep_dir = OmegaConf.select(config, "hydra.sweep.dir", default=None)
    except Exception:  # noqa: BLE001 - an unresolvable sweep dir outside a multirun
        return []
    return [Path(str(sweep_dir)) / "multirun.yaml"] if sweep_dir else []


class ScrubHydraFiles(Callback):
    """Scrubs Hydra's output files of every run and sweep (see the module docstring)."""

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        scrub_files(_job_files(config))
        _scrub_sweep_files(self._sweep(config))

    def on_job_end(self, config: DictConfig, job_return: Any = None, **kwargs: Any) -> None:
        scrub_files(_job_files(config))
        _scrub_sweep_files(self._sweep(config))

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        scrub_files(_sweep_files(config))

    @staticmethod
    def _sweep(config: DictConfig) -> list[Path]:
        from hydra.types import RunMode

        mode = OmegaConf.select(config, "hydra.mode", default=None)
        return _sweep_files(config) if mode == RunMode.MULTIRUN else []
