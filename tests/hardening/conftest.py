"""Fixtures of the hardening tests: sessions over the shared pack, the scripted LM, CLI runs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dj"))  # scripted.py, fake_openai.py

RLMDJ = str(Path(sys.executable).parent / "rlmdj")


@pytest.fixture
def make_session(sample_index) -> Callable[..., object]:
    from rlmdj.audio.grid import Grid
    from rlmdj.audio.palette import random_palette
    from rlmdj.dj.session import Session

    palette = random_palette(sample_index, seed=0)

    def make(bars: int = 32) -> Session:
        return Session(index=sample_index, palette=palette, grid=Grid(128.0), max_bars=bars)

    return make


def run_rlmdj(cwd: Path, *args: str, env: dict[str, str] | None = None,
              timeout: float = 300) -> subprocess.CompletedProcess:
    """``rlmdj <args>`` as a user runs it, in ``cwd``; never raises on a non-zero exit."""
    full = {k: v for k, v in os.environ.items() if k not in ("HYDRA_FULL_ERROR", "RLMDJ_DEBUG")}
    full.update(env or {})
    return subprocess.run([RLMDJ, *args], cwd=cwd, env=full, capture_output=True, text=True,
                          timeout=timeout)


def error_lines(proc: subprocess.CompletedProcess) -> list[str]:
    """stderr lines that are not warnings from libraries (pydantic, LiteLLM...)."""
    return [ln for ln in proc.stderr.splitlines() if ln.strip() and "Warning" not in ln
            and not ln.startswith("  ")]
