"""Schema of the ``ears`` group: whether the DJ can hear, with which scorer, and its budgets."""

from __future__ import annotations

# OmegaConf structured configs are written with typing.Optional, as in config/dj.py.
# ruff: noqa: UP045
from dataclasses import dataclass
from typing import Optional

from rlmdj.errors import ParameterError

__all__ = ["EarsConfig"]


@dataclass
class EarsConfig:
    """``ears=on`` gives the RLM DJ the ``listen`` and ``audition`` tools (``ears=off``: it never
    sees them). The greedy DJ always hears, through the same scorer and settings.

    ``scorer``: a scorer name (``proxy``, ``audiobox``, ``http``, ``modal``) for the ears, with
    the run's scorer settings and OBJ weights; ``null`` uses the run's own scorer. Budgets are per
    set: ``max_listens`` listen() and ``max_auditions`` audition() calls, at most ``max_moves``
    moves per audition; a result is at most ``max_chars`` characters of JSON. The DJ's ears take
    this dataclass as it is (:func:`rlmdj.config.bind`), so the budgets are checked here too.
    """

    name: str = "off"
    enabled: bool = False
    scorer: Optional[str] = None
    max_listens: int = 16
    max_auditions: int = 8
    max_moves: int = 6
    max_chars: int = 600

    def __post_init__(self) -> None:
        for key in ("max_listens", "max_auditions", "max_moves"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ParameterError(f"ears.{key} must be a whole number >= 0, got {value!r}")
        if isinstance(self.max_chars, bool) or not isinstance(self.max_chars, int) or self.max_chars < 200:
            raise ParameterError(f"ears.max_chars must be >= 200, got {self.max_chars!r}")
