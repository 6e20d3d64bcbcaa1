"""Sample-accurate renderer: mixer channel states over bars in, a float32 stereo master out.

Offers
------
- :class:`ChannelState` — what one mixer channel does during the bars being rendered.
- :class:`Renderer` — renders contiguous blocks of bars into one master buffer.
- :func:`render_blocks` — convenience: a whole set from ``(n_bars, channels)`` blocks.

Semantics (sample positions always come from :class:`~rlmdj.audio.grid.Grid`, so nothing drifts):

- **One-shots** fire on their pattern steps at ``grid.step_start(bar, step)``. Each hit writes
  its *whole* sample into the master, so tails ring on over the bar line — and on after the
  channel is removed, muted or re-patterned. The gain is applied per hit at trigger time, like a
  velocity: a tail keeps the gain it was struck with, so a fader move on a one-shot channel can
  never click. A muted one-shot channel fires no hits.
- **Loops** are phase-continuous with the set's bar grid: a ``L``-bar loop plays its bar
  ``global_bar % L`` in every bar, however the set is cut into :meth:`Renderer.render` calls.
  Loops arrive already time-matched (:func:`rlmdj.audio.loops.prepare_loop`); the bar count is
  ``round(len(loop) / grid.samples_per_bar)``. A loop channel is a continuous fader: at the start
  of each call its gain ramps linearly over ``ramp_ms`` from the gain it had at the end of the
  previous call (0 for a loop that starts or is unmuted); a loop that is removed or muted fades
  out over ``ramp_ms`` after the boundary; swapping the sample crossfades old and new over the
  same ramp.
- Mixing is float32 addition; nothing is clipped or normalised here (see
  :mod:`rlmdj.audio.wavio`). Output is deterministic: same inputs, byte-identical master.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rlmdj.audio.grid import Grid
from rlmdj.audio.loops import loop_bars, loop_length_samples
from rlmdj.audio.valid import valid_audio
from rlmdj.audio.wavio import to_stereo
from rlmdj.errors import ParameterError

__all__ = ["KINDS", "ChannelState", "Renderer", "render_blocks"]

KINDS = ("loop", "oneshot")
# A prepared loop may differ from its exact bar length by rounding only; more means it was not
# time-matched to this grid and would drift against the bar line.
_LOOP_LENGTH_TOLERANCE = 2

Loader = Callable[[str], np.ndarray]


@dataclass(frozen=True)
class ChannelState:
    """One mixer channel during the bars being rendered.

    ``gain`` is linear 0..1 (already capped by the caller); ``steps`` are the 16th-note steps a
    one-shot fires on (``()`` for loops); a muted channel is silent but keeps its settings.
    """

    role: str
    sample_id: str
    kind: str
    gain: float
    steps: tuple[int, ...] = ()
    muted: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ParameterError(
                f"channel {self.role!r}: kind must be one of {', '.join(KINDS)}, got {self.kind!r}"
            )
        try:
            gain = float(self.gain)
        except (TypeError, ValueError):
            gain = math.nan
        if not (0.0 <= gain <= 1.0):
            raise ParameterError(
                f"channel {self.role!r}: gain must be a number in 0..1 (e.g. 0.8), got {self.gain!r}"
            )
        object.__setattr__(self, "gain", gain)
        try:
            if isinstance(self.steps, (str, bytes)):  # "04" would read as steps 0 and 4
                raise TypeError
            steps = tuple(int(s) for s in self.steps)
        except (TypeError, ValueError):
            raise ParameterError(
                f"channel {self.role!r}: steps must be a sequence of step numbers, got {self.steps!r}"
            ) from None
        if self.kind == "loop" and steps:
            raise ParameterError(
                f"channel {self.role!r} is a loop: loops play continuously and take no steps "
                f"(steps=()), got {steps!r}"
            )
        if len(set(steps)) != len(steps) or any(s < 0 for s in steps):
            raise ParameterError(
                f"channel {self.role!r}: steps must be distinct and >= 0, got {steps!r}"
            )
        object.__setattr__(self, "steps", steps)
        object.__setattr__(self, "muted", bool(self.muted))


@dataclass(frozen=True)
class _LoopVoice:
    """A loop channel's sample and the gain it ended the previous render call at."""

    sample_id: str
    gain: float


class Renderer:
    """Renders a set bar block by bar block into one preallocated float32 stereo master.

    ``grid`` fixes tempo and rate; ``max_bars`` is the set length (rendering past it is refused);
    ``load(sample_id)`` returns float32 (frames, 2) audio at ``grid.sr`` — loops already prepared
    to an exact number of bars. ``ramp_ms`` (milliseconds) is the loop gain ramp; ``tail_s``
    (seconds) is headroom past the last bar for ringing tails (grown on demand if a hit is longer).
    """

    def __init__(
        self,
        grid: Grid,
        max_bars: int,
        load: Loader,
        *,
        ramp_ms: float = 5.0,
        tail_s: float = 4.0,
    ) -> None:
        if isinstance(max_bars, bool) or not isinstance(max_bars, (int, np.integer)) or max_bars < 1:
            raise ParameterError(f"max_bars must be a positive integer (e.g. 64), got {max_bars!r}")
        if not (math.isfinite(float(ramp_ms)) and 0.0 <= float(ramp_ms) <= 1000.0):
            raise ParameterError(f"ramp_ms must be within 0..1000 ms (e.g. 5.0), got {ramp_ms!r}")
        if not (math.isfinite(float(tail_s)) and 0.0 <= float(tail_s) <= 60.0):
            raise ParameterError(f"tail_s must be within 0..60 s (e.g. 4.0), got {tail_s!r}")
        if not callable(load):
            raise ParameterError(f"load must be a callable sample_id -> audio, got {load!r}")
        self._grid = grid
        self._max_bars = int(max_bars)
        self._load = load
        self._ramp_samples = int(round(float(ramp_ms) * grid.sr / 1000.0))
        self._set_samples = grid.bars_to_samples(self._max_bars)
        headroom = int(math.ceil(float(tail_s) * grid.sr))
        self._master = np.zeros((self._set_samples + headroom, 2), dtype=np.float32)
        # Loop copies are done at most one bar at a time through this buffer, so a loop never
        # needs a temporary as long as the set.
        self._scratch = np.empty((int(math.ceil(grid.samples_per_bar)) + 2, 2), dtype=np.float32)
        self._bars = 0
        self._loops: dict[str, _LoopVoice] = {}
        self._written_end = 0  # one past the last master sample any hit has written to

    @property
    def grid(self) -> Grid:
        return self._grid

    @property
    def max_bars(self) -> int:
        return self._max_bars

    @property
    def bars_rendered(self) -> int:
        """Bars rendered so far; the next :meth:`render` call must start here."""
        return self._bars

    @property
    def ramp_samples(self) -> int:
        """Loop gain ramp length in samples (``ramp_ms`` at ``grid.sr``)."""
        return self._ramp_samples

    def fork(self) -> Renderer:
        """An independent renderer that continues from this point; this one is left untouched.

        Used to render bars ahead and throw them away (auditions). The copy keeps the loop
        voices and every tail ringing past the last rendered bar, so its next bars are exactly
        what this renderer would render; audio before the fork point reads as silence in it.
        """
        twin = copy.copy(self)
        a = self._grid.bar_start(self._bars)
        twin._master = np.zeros(self._master.shape, dtype=np.float32)  # untouched pages stay free
        end = max(a, self._written_end)  # past this the master is still silent: nothing to copy
        twin._master[a:end] = self._master[a:end]
        twin._scratch = np.empty_like(self._scratch)
        twin._loops = dict(self._loops)
        return twin

    def segment(self, start_bar: int, end_bar: int) -> np.ndarray:
        """Bars ``[start_bar, end_bar)`` of the master (rendered ones only), float32 (frames, 2), a copy."""
        if not 0 <= start_bar <= end_bar <= self._bars:
            raise ParameterError(
                f"bars {start_bar}..{end_bar} are not within the {self._bars} rendered bar(s)"
            )
        g = self._grid
        return self._master[g.bar_start(start_bar) : g.bar_start(end_bar)].copy()

    def audio(self) -> np.ndarray:
        """The master so far: float32 (``grid.bars_to_samples(bars_rendered)``, 2), a copy.

        Tails ringing past the last rendered bar are not included (they are kept and appear
        once the following bars are rendered). Not normalised and not clipped.
        """
        return self._master[: self._grid.bars_to_samples(self._bars)].copy()

    # -- rendering -------------------------------------------------------------------------

    def render(self, start_bar: int, n_bars: int, channels: Sequence[ChannelState]) -> None:
        """Render bars ``[start_bar, start_bar + n_bars)`` with constant channel states.

        Calls must be contiguous (``start_bar == bars_rendered``) and stay within ``max_bars``.
        Loop gains ramp at ``start_bar`` from the previous call's state of the same role (the
        ramp is shortened to the block if ``ramp_ms`` is longer than it).
        """
        for name, value in (("start_bar", start_bar), ("n_bars", n_bars)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise ParameterError(f"{name} must be an integer number of bars, got {value!r}")
        if start_bar != self._bars:
            raise ParameterError(
                f"render calls must be contiguous: next block starts at bar {self._bars}, "
                f"got start_bar={start_bar}"
            )
        if n_bars < 1:
            raise ParameterError(f"n_bars must be >= 1, got {n_bars}")
        if start_bar + n_bars > self._max_bars:
            raise ParameterError(
                f"bars {start_bar}..{start_bar + n_bars - 1} run past the end of the set "
                f"(max_bars={self._max_bars}); at most {self._max_bars - start_bar} bar(s) remain"
            )
        channels = tuple(channels)
        roles: set[str] = set()
        for ch in channels:
            if not isinstance(ch, ChannelState):
                raise ParameterError(f"channels must be ChannelState objects, got {ch!r}")
            if ch.role in roles:
                raise ParameterError(f"role {ch.role!r} appears twice in one block; one channel per role")
            roles.add(ch.role)
            bad = [s for s in ch.steps if s >= self._grid.steps_per_bar]
            if bad:
                raise ParameterError(
                    f"channel {ch.role!r}: steps {bad} are outside 0..{self._grid.steps_per_bar - 1}"
                )

        grid = self._grid
        a = grid.bar_start(start_bar)
        b = grid.bar_start(start_bar + n_bars)
        ramp = min(self._ramp_samples, b - a)
        loaded: dict[str, np.ndarray] = {}

        def get(sample_id: str) -> np.ndarray:
            if sample_id not in loaded:
                loaded[sample_id] = self._checked(sample_id, self._load(sample_id))
            return loaded[sample_id]

        new_loops: dict[str, _LoopVoice] = {}
        for ch in channels:
            if ch.kind == "oneshot":
                if not ch.muted and ch.gain > 0.0 and ch.steps:
                    self._fire(get(ch.sample_id), ch.gain, ch.steps, start_bar, n_bars)
                continue
            gain = 0.0 if ch.muted else ch.gain
            prev = self._loops.get(ch.role)
            from_gain = 0.0
            if prev is not None and prev.sample_id == ch.sample_id:
                from_gain = prev.gain
            elif prev is not None and prev.gain > 0.0:  # swapped sample: fade the old one out
                self._play_loop(get(prev.sample_id), prev.gain, 0.0, a, a + ramp, ramp)
            if from_gain > 0.0 or gain > 0.0:
                self._play_loop(get(ch.sample_id), from_gain, gain, a, b, ramp)
            new_loops[ch.role] = _LoopVoice(ch.sample_id, gain)
        for role, prev in self._loops.items():
            if role not in new_loops and prev.gain > 0.0:  # removed (or turned one-shot)
                self._play_loop(get(prev.sample_id), prev.gain, 0.0, a, a + ramp, ramp)
        self._loops = new_loops
        self._bars = start_bar + n_bars

    def _checked(self, sample_id: str, audio: np.ndarray) -> np.ndarray:
        """Loaded audio as contiguous float32 (frames, 2); refuses what :func:`valid_audio` refuses."""
        return to_stereo(valid_audio(audio, what=f"sample {sample_id!r}", dtype=np.float32))

    def _ensure_length(self, end: int) -> None:
        """Grow the master (rarely: only a hit longer than the tail headroom needs it)."""
        if end > self._master.shape[0]:
            grown = np.zeros((end + self._grid.sr, 2), dtype=np.float32)
            grown[: self._master.shape[0]] = self._master
            self._master = grown

    def _fire(
        self, sample: np.ndarray, gain: float, steps: tuple[int, ...], start_bar: int, n_bars: int
    ) -> None:
        """Add the whole ``sample`` at ``gain`` at every step of every bar in the block."""
        hit = sample * np.float32(gain)
        n = hit.shape[0]
        step_start = self._grid.step_start
        positions = [step_start(bar, s) for bar in range(start_bar, start_bar + n_bars) for s in steps]
        self._ensure_length(max(positions) + n)
        self._written_end = max(self._written_end, max(positions) + n)
        master = self._master
        for pos in positions:
            master[pos : pos + n] += hit

    def _play_loop(
        self, loop: np.ndarray, g0: float, g1: float, a: int, b: int, ramp: int
    ) -> None:
        """Add ``loop`` over samples ``[a, b)``: gain ramps g0 -> g1 over ``ramp`` samples, then g1."""
        grid = self._grid
        bars = loop_bars(loop.shape[0], grid)
        expected = loop_length_samples(bars, grid)
        if abs(loop.shape[0] - expected) > _LOOP_LENGTH_TOLERANCE:
            raise ParameterError(
                f"loop of {loop.shape[0]} samples is not a whole number of bars at {grid.bpm:g} BPM "
                f"(nearest: {bars} bar(s) = {expected} samples); prepare it with "
                "rlmdj.audio.loops.prepare_loop"
            )
        start = a
        if ramp > 0 and g0 != g1:
            env = (g0 + (g1 - g0) * (np.arange(1, ramp + 1, dtype=np.float64) / ramp)).astype(
                np.float32
            )[:, None]
            self._add_loop_region(loop, bars, a, a + ramp, env)
            start = a + ramp
        if g1 > 0.0 and start < b:
            self._add_loop_region(loop, bars, start, b, np.float32(g1))

    def _add_loop_region(
        self, loop: np.ndarray, bars: int, a: int, b: int, gain: np.ndarray | np.float32
    ) -> None:
        """Add ``loop * gain`` to master ``[a, b)``, aligned to the bar grid, one bar at a time.

        The loop's cycle ``c`` starts at ``grid.bar_start(c * bars)``; master sample ``p`` in
        that cycle plays loop sample ``p - cycle_start`` (wrapping, for the +-1 sample rounding
        between the loop's and the set's bar lengths). ``gain`` is a scalar or a (b - a, 1)
        envelope.
        """
        grid = self._grid
        master, scratch = self._master, self._scratch
        n_loop = loop.shape[0]
        spb = grid.samples_per_bar
        envelope = isinstance(gain, np.ndarray) and gain.ndim == 2
        p = a
        while p < b:
            bar = int(p // spb)
            while grid.bar_start(bar + 1) <= p:
                bar += 1
            while grid.bar_start(bar) > p:
                bar -= 1
            cycle_start = grid.bar_start((bar // bars) * bars)
            q = min(b, grid.bar_start(bar + 1))
            while p < q:
                s = (p - cycle_start) % n_loop
                take = min(q - p, n_loop - s)
                g = gain[p - a : p - a + take] if envelope else gain
                tmp = scratch[:take]
                np.multiply(loop[s : s + take], g, out=tmp)
                master[p : p + take] += tmp
                p += take


def render_blocks(
    grid: Grid,
    blocks: Sequence[tuple[int, Sequence[ChannelState]]],
    load: Loader,
    *,
    ramp_ms: float = 5.0,
    tail_s: float = 4.0,
) -> np.ndarray:
    """Render ``(n_bars, channels)`` blocks in order and return the float32 (frames, 2) master."""
    blocks = list(blocks)
    if not blocks:
        raise ParameterError("blocks is empty; give at least one (n_bars, channels) block")
    try:
        total = sum(int(n) for n, _ in blocks)
    except (TypeError, ValueError):
        raise ParameterError("blocks must be (n_bars, channels) pairs, e.g. [(4, [kick])]") from None
    renderer = Renderer(grid, max(total, 1), load, ramp_ms=ramp_ms, tail_s=tail_s)
    for n_bars, channels in blocks:
        renderer.render(renderer.bars_rendered, n_bars, channels)
    return renderer.audio()
