"""Named 16-step patterns: the one table every driver, tool and renderer reads.

Steps are sixteenth notes 0..15 of one 4/4 bar. Named patterns are what the LLM is given: it uses
names reliably and garbles step arrays.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from rlmdj.errors import ParameterError

__all__ = ["PATTERNS", "pattern_steps", "pattern_names"]

PATTERNS: Mapping[str, tuple[int, ...]] = MappingProxyType(
    {
        "four_on_floor": (0, 4, 8, 12),
        "offbeat_8ths": (2, 6, 10, 14),
        "syncopated_a": (2, 10),
        "syncopated_b": (6, 14),
        "backbeat": (4, 12),
        "sparse_accent": (4,),
        "gallop": (0, 2, 8, 10),
        "sixteenth_drive": tuple(range(16)),
        "eighths": (0, 2, 4, 6, 8, 10, 12, 14),
        "offbeat_16ths": (1, 3, 5, 7, 9, 11, 13, 15),
        "tresillo": (0, 6, 12),
        "skip": (0, 3, 8, 11),
        "half_time": (8,),
        "rolling": (0, 3, 6, 8, 11, 14),
    }
)


def pattern_names() -> list[str]:
    """All pattern names in table order."""
    return list(PATTERNS)


def pattern_steps(name: str) -> tuple[int, ...]:
    """Steps of the named pattern; unknown names raise with the list of valid ones."""
    key = str(name).strip().strip("'\"")
    try:
        return PATTERNS[key]
    except KeyError:
        raise ParameterError(
            f"unknown pattern {name!r}; valid patterns: {', '.join(PATTERNS)}"
        ) from None
