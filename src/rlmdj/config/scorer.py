"""Schema of the ``scorer`` group."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ScorerConfig"]


@dataclass
class ScorerConfig:
    """Which scorer turns the rendered set into CE/CU/PC/PQ, and the OBJ weights."""

    name: str = "proxy"
    weights: dict[str, float] = field(
        default_factory=lambda: {"CE": 0.60, "CU": 0.05, "PC": 0.05, "PQ": 0.30}
    )
