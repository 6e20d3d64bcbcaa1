"""What every DJ driver provides: perform a set on a session, then report what it did.

The run pipeline calls :meth:`Driver.report` also when :meth:`Driver.perform` raised, so a
failed or interrupted set still logs its partial transcript and counters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from rlmdj.dj.session import Session

__all__ = ["Driver", "DriverReport"]


@dataclass
class DriverReport:
    """Driver-specific results: ``dj/...`` metrics, per-bar step metrics, tags and artifacts.

    ``artifacts`` maps a relative artifact path (e.g. ``dj/transcript.json``) to its text.
    ``step_metrics`` maps a metric key to values indexed by bar.
    """

    metrics: dict[str, float] = field(default_factory=dict)
    step_metrics: dict[str, list[float]] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    artifacts: dict[str, str] = field(default_factory=dict)


@runtime_checkable
class Driver(Protocol):
    name: str

    def perform(self, session: Session) -> None:
        """Play the set on ``session`` until it is complete (or raise)."""
        ...

    def report(self) -> DriverReport:
        """Counters and artifacts of the performance so far (also after a failure)."""
        ...
