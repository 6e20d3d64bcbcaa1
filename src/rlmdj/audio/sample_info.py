"""What a sample is: :class:`SampleInfo`, the roles it can play and the kinds it can be.

The data model shared by the sample index (:mod:`rlmdj.audio.samples`), the built-in pack
(:mod:`rlmdj.audio.pack`) and user folders (:mod:`rlmdj.audio.folders`). It imports none of
them, so they all depend on it and never on each other in a circle.

Whether a sample is a loop or a one-shot is metadata of the sample (``kind``), decided when it is
indexed, never by whoever plays it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from rlmdj.errors import ParameterError

__all__ = [
    "AUDIO_SUFFIXES",
    "ONESHOT_ROLES",
    "LOOP_ROLES",
    "ALL_ROLES",
    "DEFAULT_ROLES",
    "KINDS",
    "SampleInfo",
    "required_kind",
]

ONESHOT_ROLES: tuple[str, ...] = ("kick", "hihat", "clap", "perc")
LOOP_ROLES: tuple[str, ...] = ("bassline", "texture", "synth")
ALL_ROLES: tuple[str, ...] = ONESHOT_ROLES + LOOP_ROLES
DEFAULT_ROLES: tuple[str, ...] = ("kick", "hihat", "bassline", "perc", "texture", "clap")
KINDS: tuple[str, ...] = ("loop", "oneshot")
AUDIO_SUFFIXES: tuple[str, ...] = (".wav", ".wave", ".flac", ".aif", ".aiff")


def required_kind(role: str) -> str:
    """The kind a palette slot for ``role`` must hold: ``"loop"`` or ``"oneshot"``."""
    if role in LOOP_ROLES:
        return "loop"
    if role in ONESHOT_ROLES:
        return "oneshot"
    raise ParameterError(f"unknown role {role!r}; valid roles: {', '.join(ALL_ROLES)}")


@dataclass(frozen=True)
class SampleInfo:
    """Metadata of one sample. ``bars``/``bpm`` are set for loops only; ``duration_s`` in seconds."""

    id: str
    role: str
    kind: str
    bars: int | None
    bpm: float | None
    duration_s: float
    sr: int
    channels: int
    sha256: str
    source: str
    character: str
    path: str

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ParameterError(
                f"sample {self.id!r}: kind must be one of {KINDS}, got {self.kind!r}"
            )
        if self.kind == "loop" and (not self.bars or not self.bpm):
            raise ParameterError(
                f"loop sample {self.id!r} needs bars and bpm, got {self.bars!r}, {self.bpm!r}"
            )

    def to_dict(self) -> dict:
        """Plain JSON-ready dict of every field."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> SampleInfo:
        """Inverse of :meth:`to_dict`; a missing field raises :class:`ParameterError`."""
        try:
            return cls(
                id=str(data["id"]),
                role=str(data["role"]),
                kind=str(data["kind"]),
                bars=None if data.get("bars") is None else int(data["bars"]),
                bpm=None if data.get("bpm") is None else float(data["bpm"]),
                duration_s=float(data["duration_s"]),
                sr=int(data["sr"]),
                channels=int(data["channels"]),
                sha256=str(data["sha256"]),
                source=str(data["source"]),
                character=str(data.get("character", "")),
                path=str(data["path"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ParameterError(f"bad sample entry {data!r}: {exc}") from None
