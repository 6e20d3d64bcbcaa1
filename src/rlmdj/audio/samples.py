"""The sample index: every sample rlmdj can play, referred to by id, never by path.

Offers :class:`SampleIndex` (lookup by id, listing by role and kind, cached loading as float32
stereo at any sample rate, JSON round trip) and :func:`build_index`, which combines the built-in
synthesised pack (:mod:`rlmdj.audio.pack`) with user sample folders (:mod:`rlmdj.audio.folders`).
:class:`SampleInfo`, the role tables and :func:`required_kind` live in
:mod:`rlmdj.audio.sample_info` and are re-exported here.
"""

from __future__ import annotations

import difflib
import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from math import gcd
from pathlib import Path

import numpy as np

from rlmdj.audio.folders import index_folders
from rlmdj.audio.pack import ensure_pack
from rlmdj.audio.sample_info import (
    ALL_ROLES,
    AUDIO_SUFFIXES,
    DEFAULT_ROLES,
    KINDS,
    LOOP_ROLES,
    ONESHOT_ROLES,
    SampleInfo,
    required_kind,
)
from rlmdj.errors import ParameterError

__all__ = [
    "AUDIO_SUFFIXES",
    "ONESHOT_ROLES",
    "LOOP_ROLES",
    "ALL_ROLES",
    "DEFAULT_ROLES",
    "KINDS",
    "SampleInfo",
    "SampleIndex",
    "build_index",
    "required_kind",
]

_CACHE_SIZE = 128  # decoded samples kept in memory per index (a palette is 6-7 of them)


def _looks_like_path(text: str) -> bool:
    return "/" in text or "\\" in text or text.lower().endswith(AUDIO_SUFFIXES)


class SampleIndex:
    """Samples by id, with role/kind listings and an LRU cache of decoded audio.

    ``skipped`` lists ``(path, reason)`` for files that were found but could not be indexed.
    """

    def __init__(
        self, samples: Iterable[SampleInfo], skipped: Sequence[tuple[str, str]] = ()
    ) -> None:
        self._samples: dict[str, SampleInfo] = {}
        for info in samples:
            if info.id in self._samples:
                raise ParameterError(
                    f"duplicate sample id {info.id!r} ({info.path} and {self._samples[info.id].path})"
                )
            self._samples[info.id] = info
        self.skipped: list[tuple[str, str]] = [(str(p), str(r)) for p, r in skipped]
        self._cache: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    # -- lookup -----------------------------------------------------------------------------

    def get(self, sample_id: str) -> SampleInfo:
        """The sample with id ``sample_id``; an unknown id raises with close matches and choices."""
        try:
            return self._samples[sample_id]
        except (KeyError, TypeError):
            raise ParameterError(self._unknown_message(sample_id)) from None

    def _unknown_message(self, sample_id: object) -> str:
        text = str(sample_id)
        if _looks_like_path(text):
            by_path = [
                s.id
                for s in self._samples.values()
                if s.path == text or Path(s.path).name == Path(text).name
            ]
            hint = f" (that file is indexed as {', '.join(by_path)})" if by_path else ""
            return (
                f"{text!r} looks like a file path; samples are referred to by id, not path{hint}. "
                f"Add its folder to samples.paths and use its id, e.g. one of: {', '.join(self.ids()[:5])}"
            )
        msg = f"unknown sample id {text!r}"
        close = difflib.get_close_matches(text, list(self._samples), n=5, cutoff=0.5)
        if close:
            msg += f"; did you mean {', '.join(close)}?"
        role = self._guess_role(text)
        if role is not None:
            ids = self.ids(role=role)
            shown = ", ".join(ids[:20]) + (f" ... ({len(ids)} in all)" if len(ids) > 20 else "")
            msg += f" rlmdj lists ids with role {role}: {shown or '(none indexed)'}"
        else:
            counts = ", ".join(f"{r} ({len(self.ids(role=r))})" for r in self.roles())
            msg += f" Indexed roles: {counts or '(index is empty)'}"
        return msg

    def _guess_role(self, text: str) -> str | None:
        bare = text.removeprefix("user:").lower()
        for role in sorted(ALL_ROLES, key=len, reverse=True):
            if bare.startswith(role):
                return role
        for role in ALL_ROLES:
            if role in bare:
                return role
        return None

    def ids(self, role: str | None = None, kind: str | None = None) -> list[str]:
        """Sorted ids, optionally only those of ``role`` and/or ``kind`` (``loop``/``oneshot``)."""
        if role is not None and role not in ALL_ROLES:
            raise ParameterError(f"unknown role {role!r}; valid roles: {', '.join(ALL_ROLES)}")
        if kind is not None and kind not in KINDS:
            raise ParameterError(f"unknown kind {kind!r}; valid kinds: {', '.join(KINDS)}")
        return sorted(
            s.id
            for s in self._samples.values()
            if (role is None or s.role == role) and (kind is None or s.kind == kind)
        )

    def roles(self) -> list[str]:
        """Roles that have at least one sample, in the canonical role order."""
        present = {s.role for s in self._samples.values()}
        return [r for r in ALL_ROLES if r in present]

    def __len__(self) -> int:
        return len(self._samples)

    def __contains__(self, sample_id: object) -> bool:
        return sample_id in self._samples

    def __iter__(self) -> Iterator[SampleInfo]:
        return iter(sorted(self._samples.values(), key=lambda s: s.id))

    def __repr__(self) -> str:
        return (
            f"SampleIndex({len(self)} samples, roles={self.roles()}, skipped={len(self.skipped)})"
        )

    # -- audio ------------------------------------------------------------------------------

    def load(self, sample_id: str, *, sr: int = 44100) -> np.ndarray:
        """Audio of ``sample_id`` as read-only float32 ``(frames, 2)`` at ``sr`` Hz.

        Mono files are duplicated to both channels, files with more than two channels keep the
        first two. Results are cached per ``(id, sr)``; copy before modifying.
        """
        info = self.get(sample_id)
        sr = int(sr)
        if sr < 8000:
            raise ParameterError(f"sample rate must be >= 8000 Hz, got {sr!r}")
        key = (sample_id, sr)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        audio = _read_stereo(info, sr)
        audio.setflags(write=False)
        with self._lock:
            self._cache[key] = audio
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return audio

    # -- JSON -------------------------------------------------------------------------------

    def to_json(self) -> str:
        """The index as JSON: ``{"samples": [...], "skipped": [[path, reason], ...]}``."""
        return json.dumps(
            {"samples": [s.to_dict() for s in self], "skipped": [list(x) for x in self.skipped]},
            indent=1,
        )

    @classmethod
    def from_json(cls, text: str) -> SampleIndex:
        """Inverse of :meth:`to_json`; malformed text raises :class:`ParameterError`."""
        try:
            data = json.loads(text)
            samples = data["samples"]
        except (json.JSONDecodeError, TypeError, KeyError) as exc:
            raise ParameterError(f"not a sample index JSON document: {exc}") from None
        return cls(
            (SampleInfo.from_dict(s) for s in samples), [tuple(x) for x in data.get("skipped", [])]
        )


def _read_stereo(info: SampleInfo, sr: int) -> np.ndarray:
    import soundfile as sf
    from scipy.signal import resample_poly

    try:
        data, file_sr = sf.read(info.path, dtype="float32", always_2d=True)
    except (OSError, RuntimeError, sf.LibsndfileError) as exc:
        raise ParameterError(f"cannot read sample {info.id!r} from {info.path}: {exc}") from None
    if data.shape[1] == 1:
        data = np.repeat(data, 2, axis=1)
    elif data.shape[1] > 2:
        data = data[:, :2]
    if int(file_sr) != sr:
        g = gcd(int(file_sr), sr)
        data = resample_poly(data, sr // g, int(file_sr) // g, axis=0)
    return np.ascontiguousarray(data, dtype=np.float32)


def build_index(
    *,
    builtin: bool = True,
    pack_seed: int = 0,
    variants_per_role: int = 16,
    cache_dir: str | Path | None = None,
    paths: Sequence[str | Path] = (),
    progress: bool = False,
) -> SampleIndex:
    """Index the built-in pack (generated into ``cache_dir`` on first use) and user ``paths``.

    ``cache_dir`` is the cache root (default ``$RLMDJ_CACHE_DIR`` or ``~/.cache/rlmdj``); the
    pack lives in ``<cache_dir>/pack-v1-seed<seed>-n<variants>/``. User folders are scanned
    recursively; files that cannot be indexed end up in ``index.skipped``.
    """
    samples: list[SampleInfo] = []
    skipped: list[tuple[str, str]] = []
    if builtin:
        samples.extend(
            ensure_pack(
                seed=pack_seed,
                variants_per_role=variants_per_role,
                cache_dir=cache_dir,
                progress=progress,
            )
        )
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if paths:
        user, user_skipped = index_folders(paths, progress=progress)
        samples.extend(user)
        skipped.extend(user_skipped)
    if not samples:
        raise ParameterError(
            "no samples: the built-in pack is off (samples.builtin=false) and samples.paths "
            f"{list(map(str, paths))} held no usable audio; enable the pack or add a folder"
        )
    return SampleIndex(samples, skipped)
