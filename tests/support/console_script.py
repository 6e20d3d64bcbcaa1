"""Helpers of the hardening tests: run the `rlmdj` console script as a user does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

RLMDJ = str(Path(sys.executable).parent / "rlmdj")


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
