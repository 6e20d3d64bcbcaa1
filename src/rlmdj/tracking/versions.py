"""Which code made a run: rlmdj's version and commit, and the versions of the libraries it leans on.

The commit is read where the *installed package* lives, not in the launch folder: a run started
from any directory (or a sweep whose workers chdir into Hydra's output folders) records the
code that actually ran. A package installed from a git URL has no checkout; pip's
``direct_url.json`` then names the commit it was built from.
"""

from __future__ import annotations

import json
import subprocess
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import rlmdj

__all__ = ["LIBRARIES", "code_tags", "package_commit"]

LIBRARIES: tuple[str, ...] = ("mlflow", "dspy", "torch")


def _git(directory: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=directory, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


@lru_cache(maxsize=1)
def package_commit() -> str | None:
    """Commit of the checkout holding the rlmdj package (``-dirty`` if its tracked files changed)."""
    here = Path(rlmdj.__file__).resolve().parent
    sha = _git(here, "rev-parse", "HEAD")
    if sha:
        dirty = _git(here, "status", "--porcelain", "--untracked-files=no", "--", ".")
        return sha + ("-dirty" if dirty else "")
    try:
        direct = json.loads(metadata.distribution("rlmdj").read_text("direct_url.json") or "{}")
    except (metadata.PackageNotFoundError, ValueError):
        return None
    return (direct.get("vcs_info") or {}).get("commit_id")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


@lru_cache(maxsize=1)
def code_tags() -> dict[str, str]:
    """``rlmdj.version``, ``rlmdj.git_commit`` (+ MLflow's own source commit) and library versions."""
    tags = {"rlmdj.version": rlmdj.__version__}
    commit = package_commit()
    if commit:
        tags["rlmdj.git_commit"] = commit
        tags["mlflow.source.git.commit"] = commit.removesuffix("-dirty")
    for lib in LIBRARIES:
        version = _version(lib)
        tags[f"rlmdj.versions.{lib}"] = version or "not installed"
    return tags
