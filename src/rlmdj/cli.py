"""The ``rlmdj`` entry point: a Hydra application that dispatches on ``experiment.name``.

Overrides, ``--cfg job``, ``--help`` and ``-m`` multirun are Hydra's own. Palette files under
``palettes/`` (and ``palettes/curated/``) become options of the ``palette`` group at start-up, so
``palette=<name>`` works like any other group choice and a typo lists the valid names.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig

from rlmdj.config import register_configs, register_resolvers
from rlmdj.config.core import PaletteConfig
from rlmdj.errors import RlmdjError
from rlmdj.resources import bundled_dir

__all__ = ["main", "register_palette_files"]

_CONF_DIR = bundled_dir("conf")


def register_palette_files(search_dirs: list[Path]) -> list[str]:
    """Register every ``*.json`` palette in ``search_dirs`` (and ``curated/``) as a group option."""
    names: list[str] = []
    store = ConfigStore.instance()
    for directory in search_dirs:
        for sub in (directory, directory / "curated"):
            if not sub.is_dir():
                continue
            for path in sorted(sub.glob("*.json")):
                if path.stem in names or path.stem == "random":
                    continue
                node = PaletteConfig(source="file", name=path.stem, path=str(path.resolve()))
                store.store(group="palette", name=path.stem, node=node)
                names.append(path.stem)
    return names


@hydra.main(version_base="1.3", config_path=str(_CONF_DIR), config_name="config")
def _hydra_main(cfg: DictConfig) -> float | None:
    from rlmdj.experiments.registry import get_job

    try:
        return get_job(str(cfg.experiment.name))(cfg)
    except RlmdjError as exc:
        # A mistake in the input: say what was wrong, without a traceback.
        print(f"rlmdj: error: {exc}", file=sys.stderr)
        sys.exit(2)
    except Exception as exc:
        # A model that cannot be reached or refuses (server down, rate limited to the end, bad
        # key) is the provider's answer, not a bug: one line, exit 1. The run is already FAILED.
        if "dspy" not in sys.modules:
            raise
        from rlmdj.dj.lm import lm_failure_message

        message = lm_failure_message(exc)
        if message is None:
            raise
        print(f"rlmdj: error: {message}", file=sys.stderr)
        sys.exit(1)


def main() -> None:
    """Console script ``rlmdj``."""
    if _CONF_DIR is None:
        sys.exit("rlmdj: error: config directory not found (is the package installed correctly?)")
    # LiteLLM otherwise spends seconds trying to download its price table at import; the copy it
    # ships is used for cost accounting (set the variable to False to fetch the latest).
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    register_resolvers()
    register_configs()
    dirs = [Path.cwd() / "palettes"]
    bundled = bundled_dir("palettes")
    if bundled is not None and bundled.resolve() != dirs[0].resolve():
        dirs.append(bundled)
    register_palette_files(dirs)
    try:
        _hydra_main()
    except KeyboardInterrupt:
        # Runs in progress were already ended KILLED by their tracking context.
        print("rlmdj: interrupted; runs in progress were marked KILLED", file=sys.stderr)
        sys.exit(130)


if __name__ == "__main__":
    main()
