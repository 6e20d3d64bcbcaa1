"""Shared fixtures: one built-in sample pack per test session, in a private cache folder."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
# LiteLLM otherwise tries to fetch its price table from the network at import.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture(scope="session")
def pack_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder the whole session shares, exported as ``RLMDJ_CACHE_DIR`` for the CLI."""
    path = tmp_path_factory.mktemp("rlmdj-cache")
    os.environ["RLMDJ_CACHE_DIR"] = str(path)
    return path


@pytest.fixture(scope="session")
def sample_index(pack_cache_dir: Path):
    """The default built-in pack (seed 0, 16 variants), generated once per session."""
    from rlmdj.audio.samples import build_index

    return build_index(cache_dir=pack_cache_dir)


@pytest.fixture()
def compose_cfg(tmp_path: Path, pack_cache_dir: Path) -> Callable[..., object]:
    """Compose the real config tree with overrides; results go under ``tmp_path``."""
    from hydra import compose, initialize_config_dir

    from rlmdj.config import register_configs
    from rlmdj.resources import bundled_dir

    register_configs()

    def make(*overrides: str):
        with initialize_config_dir(config_dir=str(bundled_dir("conf")), version_base="1.3"):
            return compose("config", overrides=[
                f"paths.root_dir={tmp_path}", f"paths.output_dir={tmp_path}/out", "progress=false",
                *overrides,
            ])

    return make
