"""The set's time grid: bars of 16 steps at a tempo, in exact sample positions.

Bar and step starts are rounded from exact (fractional) positions measured from the start of the
set, so a 128 BPM bar of 82687.5 samples never accumulates drift, however the set is cut up.
"""

from __future__ import annotations

from dataclasses import dataclass

from rlmdj.errors import ParameterError

__all__ = ["Grid", "DEFAULT_SR", "STEPS_PER_BAR"]

DEFAULT_SR = 44_100
STEPS_PER_BAR = 16


@dataclass(frozen=True)
class Grid:
    """4/4 bar grid at ``bpm`` with ``steps_per_bar`` sixteenth steps, sample rate ``sr`` (Hz)."""

    bpm: float = 128.0
    sr: int = DEFAULT_SR
    steps_per_bar: int = STEPS_PER_BAR

    def __post_init__(self) -> None:
        try:
            bpm = float(self.bpm)
        except (TypeError, ValueError):
            bpm = float("nan")
        if not (20.0 <= bpm <= 400.0):
            raise ParameterError(f"bpm must be within 20..400, got {self.bpm!r} (e.g. bpm=128)")
        try:
            sr = float(self.sr)
        except (TypeError, ValueError):
            sr = float("nan")
        # a fractional rate would put every bar and step a fraction of a sample off
        if isinstance(self.sr, bool) or not sr.is_integer() or sr < 8000:
            raise ParameterError(
                f"sample rate must be a whole number of Hz >= 8000 (e.g. 44100), got {self.sr!r}"
            )
        object.__setattr__(self, "bpm", bpm)
        object.__setattr__(self, "sr", int(sr))
        if self.steps_per_bar <= 0:
            raise ParameterError(f"steps_per_bar must be positive, got {self.steps_per_bar!r}")

    @property
    def seconds_per_bar(self) -> float:
        """Length of one 4/4 bar in seconds (1.875 s at 128 BPM)."""
        return 4 * 60.0 / float(self.bpm)

    @property
    def samples_per_bar(self) -> float:
        """Exact (fractional) bar length in samples."""
        return self.seconds_per_bar * self.sr

    @property
    def samples_per_step(self) -> float:
        """Exact (fractional) step length in samples."""
        return self.samples_per_bar / self.steps_per_bar

    def bar_start(self, bar: int) -> int:
        """First sample of 0-based ``bar`` counted from the start of the set."""
        return int(round(bar * self.samples_per_bar))

    def step_start(self, bar: int, step: int) -> int:
        """First sample of ``step`` (0..steps_per_bar-1) in 0-based ``bar``."""
        return int(round((bar * self.steps_per_bar + step) * self.samples_per_step))

    def bars_to_samples(self, bars: int) -> int:
        """Number of samples in the first ``bars`` bars of the set."""
        return self.bar_start(bars)

    def bars_to_seconds(self, bars: float) -> float:
        return bars * self.seconds_per_bar
