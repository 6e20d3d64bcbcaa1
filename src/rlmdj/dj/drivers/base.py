"""What every DJ driver provides: perform a set on a session, then report what it did.

The run pipeline calls :meth:`Driver.report` also when :meth:`Driver.perform` raised, so a
failed or interrupted set still logs its partial transcript and counters.

Some drivers can do more, and say so by fitting a protocol below (subclassing it, or just having
its members): :class:`PromptedDriver` plays from a prompt the run registers,
:class:`TranscriptDriver` records its LM and tool calls (a set's trace is built from them),
:class:`SandboxDriver` runs code in sandboxes that restart. The run checks them with
``isinstance``, so a driver without one is simply not asked for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from rlmdj.dj.session import Session

__all__ = ["Driver", "DriverReport", "LMCalls", "PromptedDriver", "SandboxDriver", "ToolCalls",
           "TranscriptDriver"]


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


@runtime_checkable
class PromptedDriver(Protocol):
    """A driver that plays from a prompt: the run registers the system text it sends (the prompt
    and whatever surrounds it) as a version of the prompt ``prompt_name``."""

    prompt_name: str
    prompt_text: str

    def system_text(self) -> str:
        """The exact system message every request of the set sends."""
        ...


class LMCalls(Protocol):
    """A record of LM calls: ``calls`` in order, and the set's ``meta`` (prompt, palette, model)."""

    meta: dict[str, Any]
    calls: list[dict[str, Any]]


class ToolCalls(Protocol):
    """The tool calls of a set in order, each with its arguments, result, bar and times."""

    trace: list[dict[str, Any]]


@runtime_checkable
class TranscriptDriver(Protocol):
    """A driver that records every LM call and tool call of its set, and how the set ended."""

    transcript: LMCalls
    tools: ToolCalls | None
    """``None`` until the set starts."""
    replay: object | None
    """The recorded set it replays, or ``None`` when it plays live."""
    stop_reason: str
    summary: str
    autopilot_bars: int


@runtime_checkable
class SandboxDriver(Protocol):
    """A driver whose code runs in sandboxes that restart after a crash or a hang."""

    @property
    def restart_log(self) -> list[dict[str, Any]]:
        """Every restart of the set so far, ``{t, reason}`` (``t`` in seconds since the epoch)."""
        ...
