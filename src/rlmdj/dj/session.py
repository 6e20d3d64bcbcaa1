"""The DJ session: bar clock, mixer channels and per-bar history over one renderer.

Every driver (the reference arrangement, the RLM through its tool layer, the random baseline)
acts on a set only through these operations, so guardrails and recording see every move the
same way. Operations validate their input and raise :class:`~rlmdj.errors.ParameterError`
without changing anything; ``play`` renders bars and appends them to the history.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from rlmdj.audio.grid import Grid
from rlmdj.audio.loops import prepare_loop
from rlmdj.audio.palette import Palette
from rlmdj.audio.patterns import pattern_steps
from rlmdj.audio.render import ChannelState, Renderer
from rlmdj.audio.samples import SampleIndex
from rlmdj.errors import ParameterError

__all__ = [
    "BarRecord",
    "Channel",
    "DEFAULT_PATTERNS",
    "DRUM_ROLES",
    "Session",
    "parse_bars",
    "parse_gain",
]

DEFAULT_PATTERNS: Mapping[str, str] = {
    "kick": "four_on_floor",
    "hihat": "offbeat_8ths",
    "clap": "backbeat",
    "perc": "syncopated_a",
}
DRUM_ROLES: tuple[str, ...] = ("kick", "hihat", "clap", "perc")
_LOOP_PATTERN_WORDS = {"", "loop", "none", "null"}


@dataclass(frozen=True)
class Channel:
    """One mixer channel. ``kind`` always comes from the sample's metadata."""

    role: str
    sample_id: str
    kind: str
    gain: float
    pattern: str | None
    muted: bool = False

    def state(self) -> ChannelState:
        steps = pattern_steps(self.pattern) if self.kind == "oneshot" and self.pattern else ()
        return ChannelState(
            role=self.role,
            sample_id=self.sample_id,
            kind=self.kind,
            gain=self.gain,
            steps=tuple(steps),
            muted=self.muted,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class BarRecord:
    """What played on one 0-based bar: every channel's state (muted ones included)."""

    bar: int
    layers: dict[str, dict[str, Any]]
    breakdown: bool = False

    @property
    def audible(self) -> list[str]:
        return [r for r, c in self.layers.items() if not c["muted"] and c["gain"] > 0]

    def to_dict(self) -> dict[str, Any]:
        return {"bar": self.bar, "layers": self.layers, "breakdown": self.breakdown}


def parse_gain(value: Any) -> float:
    """A gain in 0..1 from a number or numeric string; anything else is refused."""
    try:
        gain = float(str(value).strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"gain must be a number between 0 and 1, got {value!r} (e.g. 0.8)") from None
    if not math.isfinite(gain) or not 0.0 <= gain <= 1.0:
        raise ParameterError(f"gain must be between 0 and 1, got {value!r} (e.g. 0.8)")
    return gain


def parse_bars(value: Any, *, limit: int = 4096) -> int:
    """A positive whole number of bars from an int or numeric string."""
    try:
        as_float = float(str(value).strip()) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise ParameterError(f"bars must be a whole number >= 1, got {value!r} (e.g. 8)") from None
    if not math.isfinite(as_float) or as_float != int(as_float) or not 1 <= as_float <= limit:
        raise ParameterError(f"bars must be a whole number from 1 to {limit}, got {value!r} (e.g. 8)")
    return int(as_float)


class Session:
    """A set in progress: ``max_bars`` bars at ``grid`` tempo, played from ``palette``.

    ``before_play`` hooks run with ``(session, n_bars)`` before each block is rendered (guardrails
    use them to enforce the density ceiling); ``on_bars`` is called with ``(bars_played,
    max_bars)`` after each block (progress bars).
    """

    def __init__(
        self,
        *,
        index: SampleIndex,
        palette: Palette,
        grid: Grid,
        max_bars: int,
        ramp_ms: float = 5.0,
        on_bars: Callable[[int, int], None] | None = None,
    ) -> None:
        if int(max_bars) < 1:
            raise ParameterError(f"bars must be >= 1, got {max_bars!r}")
        self.index = index
        self.palette = palette
        self.grid = grid
        self.max_bars = int(max_bars)
        self.on_bars = on_bars
        self.before_play: list[Callable[[Session, int], None]] = []
        self._channels: dict[str, Channel] = {}
        self._history: list[BarRecord] = []
        self._prepared: dict[str, np.ndarray] = {}
        self._renderer = Renderer(grid, self.max_bars, self._load, ramp_ms=ramp_ms)

    # ----------------------------------------------------------------- state
    @property
    def bars_played(self) -> int:
        return self._renderer.bars_rendered

    @property
    def remaining(self) -> int:
        return self.max_bars - self.bars_played

    @property
    def finished(self) -> bool:
        return self.remaining <= 0

    @property
    def channels(self) -> dict[str, Channel]:
        return dict(self._channels)

    @property
    def history(self) -> list[BarRecord]:
        return list(self._history)

    def channel(self, role: str) -> Channel:
        key = self._role(role)
        if key not in self._channels:
            playing = ", ".join(self._channels) or "none"
            raise ParameterError(
                f"no {key!r} channel is playing (playing: {playing}); add it first, e.g. add('{key}', 0.8)"
            )
        return self._channels[key]

    def snapshot(self) -> dict[str, Any]:
        """JSON-ready view of the clock and the mixer."""
        return {
            "bars_played": self.bars_played,
            "max_bars": self.max_bars,
            "channels": {
                r: {"sample": c.sample_id, "type": c.kind, "gain": round(c.gain, 3),
                    "pattern": c.pattern, "muted": c.muted}
                for r, c in self._channels.items()
            },
        }

    def audio(self) -> np.ndarray:
        """The master rendered so far, float32 ``(frames, 2)``, not normalised."""
        return self._renderer.audio()

    def segment(self, start_bar: int, end_bar: int) -> np.ndarray:
        """Rendered bars ``[start_bar, end_bar)`` (0-based), float32 ``(frames, 2)``, not normalised."""
        return self._renderer.segment(start_bar, end_bar)

    def fork(self) -> Session:
        """An independent copy of the set at this point, for rendering ahead and discarding.

        Same clock, mixer, history and sample cache; no ``before_play`` hooks and no progress
        callback. Nothing done to the copy reaches this session (auditions rely on it).
        """
        twin = copy.copy(self)
        twin.before_play = []
        twin.on_bars = None
        twin._channels = dict(self._channels)
        twin._history = list(self._history)
        twin._renderer = self._renderer.fork()
        return twin

    def alternatives(self, role: str) -> list[str]:
        """Sample ids of the right role and kind that ``swap`` accepts for ``role``."""
        key = self._role(role)
        current = self._sample_for(key)
        kind = self.index.get(current).kind
        return self.index.ids(role=key, kind=kind)

    # ------------------------------------------------------------ operations
    def add(self, role: str, gain: Any, pattern: str | None = None, *, sample_id: str | None = None) -> Channel:
        """Start a channel for ``role`` from the palette sample (or ``sample_id``)."""
        key = self._role(role)
        if key in self._channels:
            raise ParameterError(
                f"{key!r} is already playing; use fader('{key}', 0.7) or pattern('{key}', ...) to change it"
            )
        sid = sample_id if sample_id is not None else self._sample_for(key)
        info = self.index.get(sid)
        if info.role != key:
            raise ParameterError(f"sample {sid!r} is a {info.role} sample, not {key}")
        channel = Channel(
            role=key,
            sample_id=sid,
            kind=info.kind,
            gain=parse_gain(gain),
            pattern=self._pattern_for(key, info.kind, pattern),
        )
        self._channels[key] = channel
        return channel

    def remove(self, role: str) -> Channel:
        channel = self.channel(role)
        del self._channels[channel.role]
        return channel

    def fader(self, role: str, gain: Any) -> Channel:
        return self._update(role, gain=parse_gain(gain))

    def pattern(self, role: str, name: str) -> Channel:
        channel = self.channel(role)
        if channel.kind == "loop":
            raise ParameterError(
                f"{channel.role} plays a loop, which carries its own rhythm; patterns apply to "
                f"one-shot channels ({', '.join(DRUM_ROLES)})"
            )
        pattern_steps(name)
        return self._update(role, pattern=str(name).strip().strip("'\""))

    def mute(self, role: str) -> Channel:
        return self._update(role, muted=True)

    def unmute(self, role: str) -> Channel:
        return self._update(role, muted=False)

    def swap(self, role: str, sample_id: str) -> Channel:
        """Replace the channel's sample; its kind is re-read from the new sample's metadata."""
        channel = self.channel(role)
        info = self.index.get(str(sample_id).strip())
        if info.role != channel.role:
            raise ParameterError(
                f"sample {info.id!r} is a {info.role} sample; {channel.role} accepts: "
                f"{', '.join(self.alternatives(channel.role))}"
            )
        pattern = channel.pattern
        if info.kind == "loop":
            pattern = None
        elif pattern is None:
            pattern = DEFAULT_PATTERNS.get(channel.role, "four_on_floor")
        return self._update(role, sample_id=info.id, kind=info.kind, pattern=pattern)

    def set_channel(self, channel: Channel) -> None:
        """Replace a channel's state wholesale (guardrails correcting gains or trimming layers)."""
        self._channels[channel.role] = channel

    def play(self, bars: Any) -> int:
        """Render up to ``bars`` bars (never past the end); returns how many were played."""
        n = min(parse_bars(bars), self.remaining)
        if n <= 0:
            return 0
        for hook in list(self.before_play):
            hook(self, n)
        return self._render(n, breakdown=False)

    def breakdown(self, bars: Any) -> int:
        """Play ``bars`` bars with the drum one-shots muted, then restore them."""
        n = min(parse_bars(bars), self.remaining)
        if n <= 0:
            return 0
        for hook in list(self.before_play):
            hook(self, n)
        saved = dict(self._channels)
        for role, c in saved.items():
            if role in DRUM_ROLES and c.kind == "oneshot":
                self._channels[role] = replace(c, muted=True)
        try:
            return self._render(n, breakdown=True)
        finally:
            for role, c in saved.items():
                if role in self._channels:
                    self._channels[role] = replace(self._channels[role], muted=c.muted)

    # -------------------------------------------------------------- internals
    def _render(self, n: int, *, breakdown: bool) -> int:
        start = self.bars_played
        states = [c.state() for c in self._channels.values()]
        self._renderer.render(start, n, states)
        layers = {r: c.to_dict() for r, c in self._channels.items()}
        for bar in range(start, start + n):
            self._history.append(BarRecord(bar=bar, layers=layers, breakdown=breakdown))
        if self.on_bars is not None:
            self.on_bars(self.bars_played, self.max_bars)
        return n

    def _update(self, role: str, **changes: Any) -> Channel:
        channel = replace(self.channel(role), **changes)
        self._channels[channel.role] = channel
        return channel

    def _role(self, role: Any) -> str:
        key = str(role).strip().strip("'\"").lower()
        known = set(self.palette.samples) | set(self._channels)
        if key not in known:
            raise ParameterError(
                f"unknown role {role!r}; this palette has: {', '.join(self.palette.samples)}"
            )
        return key

    def _sample_for(self, role: str) -> str:
        if role in self._channels:
            return self._channels[role].sample_id
        return self.palette.samples[role]

    def _pattern_for(self, role: str, kind: str, pattern: str | None) -> str | None:
        word = "" if pattern is None else str(pattern).strip().strip("'\"")
        if kind == "loop":
            if word.lower() not in _LOOP_PATTERN_WORDS:
                raise ParameterError(
                    f"{role} plays a loop, which carries its own rhythm; add it without a pattern, "
                    f"e.g. add('{role}', 0.6)"
                )
            return None
        if not word:
            return DEFAULT_PATTERNS.get(role, "four_on_floor")
        pattern_steps(word)
        return word

    def _load(self, sample_id: str) -> np.ndarray:
        """Audio for the renderer; loops are time-matched to the set tempo once and kept (in
        half or double time when the set's tempo is more than an octave from theirs)."""
        if sample_id not in self._prepared:
            info = self.index.get(sample_id)
            audio = self.index.load(sample_id, sr=self.grid.sr)
            if info.kind == "loop":
                audio = prepare_loop(audio, sr=self.grid.sr, bars=info.bars or 0, grid=self.grid,
                                     fold=True)
            self._prepared[sample_id] = audio
        return self._prepared[sample_id]
