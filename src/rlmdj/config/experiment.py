"""Schema of the ``experiment`` group (empty unless ``experiment=<name>`` is chosen)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ExperimentConfig"]


@dataclass
class ExperimentConfig:
    """What the job does: ``run`` plays and scores one set."""

    name: str = "run"
