"""Shared fixtures: one built-in sample pack per test session, in a private cache folder; a palette
and fresh sessions over it; composed configs; servers that end with their test (``process_group``).

Helpers the tests import (the scripted LM, the scripted OpenAI-compatible server, the console
script runner...) are modules of tests/support/, on the import path through ``pythonpath`` in
pyproject.toml."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from processes import start_group, stop_group

os.environ.setdefault("MPLBACKEND", "Agg")
# LiteLLM otherwise tries to fetch its price table from the network at import.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
# Each command's writer exits with it, so no test's runs are recorded by a writer another test
# left; tests/tracking/writer/test_lingering.py turns lingering on where it is the subject.
os.environ["RLMDJ_WRITER_LINGER_S"] = "0"


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


@pytest.fixture(scope="session")
def palette(sample_index):
    """The palette of the DJ and session tests: seed 0 over the built-in pack."""
    from rlmdj.audio.palette import random_palette

    return random_palette(sample_index, seed=0)


@pytest.fixture
def make_session(sample_index, palette) -> Callable[..., object]:
    """``make_session(bars=32, pal=None)``: a fresh session at 128 BPM over ``palette`` (or ``pal``)."""
    from rlmdj.audio.grid import Grid
    from rlmdj.dj.session import Session

    def make(bars: int = 32, pal=None) -> Session:
        return Session(index=sample_index, palette=pal or palette, grid=Grid(128.0), max_bars=bars)

    return make


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


@pytest.fixture()
def process_group() -> Iterator[Callable[..., subprocess.Popen]]:
    """Start servers and other long-lived processes that end with the test, whatever happens.

    ``process_group(cmd, **popen_kwargs)`` starts ``cmd`` in its own process group; at teardown
    each group gets SIGTERM, up to 10 s, then SIGKILL (:mod:`processes`).
    """
    started: list[subprocess.Popen] = []

    def start(cmd: list[str], **popen_kwargs: object) -> subprocess.Popen:
        proc = start_group(cmd, **popen_kwargs)
        started.append(proc)
        return proc

    yield start
    for proc in reversed(started):
        stop_group(proc)
