"""Index user sample folders (``samples.paths``): role, loop or one-shot, tempo, stable ids.

Offers :func:`index_folders`, plus the rules it applies, :func:`role_from_names` and
:func:`loop_info`, and the keyword table :data:`ROLE_KEYWORDS`.

**Files.** ``.wav .wave .flac .aif .aiff`` (any case) found recursively under each path, in
sorted order; a path may also name a single file. A path that does not exist is an error. Files
that cannot be read, are empty, hold NaN/inf or values far beyond full scale
(:data:`MAX_SAMPLE_PEAK`; checked by reading the audio once, cached by content hash), have no
role keyword, or duplicate a file already indexed are skipped and listed in ``skipped`` as
``(path, reason)``; one warning per call names them (not one per file).

**Role.** Names are split into lower-case words at anything that is not a letter or digit and
between letters and digits (``BD_01`` -> ``bd 01``, ``Kick808`` -> ``kick 808``). The file name
(without extension) is checked first, then its folders from the nearest up to the indexed root
folder (included). Within a name the table is read top to bottom and the first role with a
matching keyword wins::

    kick      kick, bd, bassdrum
    hihat     hihat, hat, hh, cymbal
    clap      clap, snare, cp
    perc      perc, tom, rim, conga, bongo, shaker, cowbell
    bassline  bass, sub, 303
    texture   pad, texture, atmos, drone, noise, ambience
    synth     synth, lead, stab, arp, chord

A keyword matches a word equal to it or starting with it (``claps``, ``hats``); keywords of four
letters or more also match inside a word or inside the name with its separators removed
(``subkick`` -> kick, ``bass_drum`` -> kick). Two-letter keywords (``bd``, ``hh``, ``cp``) match
whole words only.

**Loop or one-shot.** A ``oneshot``/``one-shot``/``hit`` word makes a one-shot. Otherwise, with a
tempo in the name (``124bpm``, ``124 BPM``, ``bpm124``), a duration of 1, 2, 4, 8 or 16 bars at
that tempo (within 1%) makes a loop. A ``loop`` word also makes a loop: its tempo is the one in
the name, or the one that makes a bar count in the name (``4bars``) fit, or the tempo nearest
128 BPM (70-200) at which the duration is a whole number of bars. A file of a loop role
(bassline, texture, synth) lasting a whole number of 128 BPM bars is a loop too. Anything else
is a one-shot.

**Ids.** ``user:<role>-<slug of the file name>-<first 6 hex digits of the file's sha256>``:
stable across machines and folder moves, and never the raw path.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

from rlmdj.audio.sample_info import AUDIO_SUFFIXES, LOOP_ROLES, SampleInfo
from rlmdj.errors import ParameterError

__all__ = [
    "AUDIO_SUFFIXES",
    "MAX_SAMPLE_PEAK",
    "ROLE_KEYWORDS",
    "audio_problem",
    "index_folders",
    "role_from_names",
    "loop_info",
    "words",
    "user_sample_id",
]

log = logging.getLogger(__name__)

ROLE_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("kick", ("kick", "bd", "bassdrum")),
    ("hihat", ("hihat", "hat", "hh", "cymbal")),
    ("clap", ("clap", "snare", "cp")),
    ("perc", ("perc", "tom", "rim", "conga", "bongo", "shaker", "cowbell")),
    ("bassline", ("bass", "sub", "303")),
    ("texture", ("pad", "texture", "atmos", "drone", "noise", "ambience")),
    ("synth", ("synth", "lead", "stab", "arp", "chord")),
)
_ONESHOT_WORDS = ("oneshot", "hit")
_BAR_COUNTS = (1, 2, 4, 8, 16)
_TOLERANCE = 0.01
_BPM_RE = re.compile(
    r"(?<![\d.])(\d{2,3}(?:\.\d+)?)\s*[-_ ]?bpm|bpm\s*[-_ ]?(\d{2,3}(?:\.\d+)?)(?![\d.])", re.I
)
# Float files may run a little hot; beyond this a sample is broken, not loud (+24 dBFS).
MAX_SAMPLE_PEAK = 16.0
_CHECK_VERSION = "v1"
_BARS_RE = re.compile(r"(?<!\d)(\d{1,2})\s*[-_ ]?bars?(?![a-z])", re.I)


def words(name: str) -> list[str]:
    """Lower-case words of a file or folder name, split at non-alphanumerics and letter/digit edges."""
    return re.findall(r"[a-z]+|\d+", name.lower())


def _matches(keyword: str, word: str) -> bool:
    if word == keyword:
        return True
    if len(keyword) <= 2:
        return False
    return word.startswith(keyword) or (len(keyword) >= 4 and keyword in word)


def _role_of(name: str) -> str | None:
    ws = words(name)
    compact = "".join(ws)
    for role, keywords in ROLE_KEYWORDS:
        if any(_matches(k, w) for k in keywords for w in ws):
            return role
        if any(len(k) >= 4 and k in compact for k in keywords):
            return role
    return None


def role_from_names(names: Sequence[str]) -> str | None:
    """Role of the first name (file stem first, then folders nearest first) carrying a keyword."""
    for name in names:
        role = _role_of(name)
        if role is not None:
            return role
    return None


def _bar_s(bpm: float) -> float:
    return 240.0 / bpm


def _whole_bars(duration_s: float, bpm: float) -> int | None:
    bars = duration_s / _bar_s(bpm)
    for n in _BAR_COUNTS:
        if abs(bars - n) <= _TOLERANCE * n:
            return n
    return None


def loop_info(names: Sequence[str], duration_s: float, role: str) -> tuple[int, float] | None:
    """``(bars, bpm)`` if the sample is a loop by the rules in this module's docstring, else None."""
    text = " ".join(names)
    ws = {w for name in names for w in words(name)}
    if ws & set(_ONESHOT_WORDS) or re.search(r"one[-_ ]?shot", text, re.I):
        return None
    bpm = None
    m = _BPM_RE.search(text)
    if m:
        value = float(m.group(1) or m.group(2))
        if 40.0 <= value <= 300.0:
            bpm = value
    if bpm is not None:
        bars = _whole_bars(duration_s, bpm)
        if bars is not None:
            return bars, bpm
    if any(w.startswith("loop") for w in ws):
        if bpm is not None:
            return max(1, round(duration_s / _bar_s(bpm))), bpm
        m = _BARS_RE.search(text)
        if m and int(m.group(1)) > 0 and duration_s > 0:
            return int(m.group(1)), round(240.0 * int(m.group(1)) / duration_s, 3)
        candidates = [
            (abs(240.0 * n / duration_s - 128.0), n)
            for n in _BAR_COUNTS
            if duration_s > 0 and 70.0 <= 240.0 * n / duration_s <= 200.0
        ]
        if candidates:
            n = min(candidates)[1]
            return n, round(240.0 * n / duration_s, 3)
    if role in LOOP_ROLES:
        bars = _whole_bars(duration_s, 128.0)
        if bars is not None:
            return bars, 128.0
    return None


def _slug(stem: str, limit: int = 40) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", stem.lower()).strip("-")
    return slug[:limit].rstrip("-") or "sample"


def user_sample_id(role: str, stem: str, sha256: str) -> str:
    """``user:<role>-<slug>-<6 hex>``: stable, readable, independent of where the file lives."""
    return f"user:{role}-{_slug(stem)}-{sha256[:6]}"


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _walk(root: Path) -> Iterator[Path]:
    if root.is_file():
        yield root
        return
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for name in sorted(filenames):
            if name.lower().endswith(AUDIO_SUFFIXES) and not name.startswith("._"):
                yield Path(dirpath) / name


def _names(path: Path, root: Path) -> list[str]:
    """File stem, then folder names from the nearest up to ``root`` (included)."""
    names = [path.stem]
    if root.is_file():
        return names
    rel_parents = path.relative_to(root).parents
    names += [p.name for p in rel_parents if p.name]
    names.append(root.resolve().name)
    return names


def index_folders(
    paths: Sequence[str | Path], *, progress: bool = False
) -> tuple[list[SampleInfo], list[tuple[str, str]]]:
    """Index audio files under ``paths``: ``(samples, skipped)`` with ``skipped`` = (path, reason)."""
    import soundfile as sf

    roots = [Path(p).expanduser() for p in paths]
    missing = [str(r) for r in roots if not r.exists()]
    if missing:
        raise ParameterError(
            f"sample path(s) not found: {', '.join(missing)} (samples.paths must name existing folders or files)"
        )
    files = [(f, root) for root in roots for f in _walk(root)]
    samples: list[SampleInfo] = []
    skipped: list[tuple[str, str]] = []
    seen: dict[str, str] = {}

    def skip(path: Path, reason: str) -> None:
        skipped.append((str(path), reason))  # reported once, below, not once per file

    bar = None
    if progress and len(files) > 50:
        from rich.progress import Progress

        bar = Progress(transient=True)
        bar.start()
        task = bar.add_task("indexing sample folders", total=len(files))
    try:
        for path, root in files:
            if bar is not None:
                bar.advance(task)
            names = _names(path, root)
            role = role_from_names(names)
            if role is None:
                skip(
                    path,
                    "no role keyword in file or folder names (see rlmdj.audio.folders.ROLE_KEYWORDS)",
                )
                continue
            try:
                size = path.stat().st_size
            except OSError as exc:  # e.g. a dangling symlink
                skip(path, f"unreadable file: {exc.strerror or exc}")
                continue
            if size == 0:
                skip(path, "empty file (0 bytes)")
                continue
            try:
                info = sf.info(str(path))
            except Exception as exc:  # libsndfile reports corrupt files in several ways
                skip(path, f"unreadable audio: {exc}")
                continue
            if info.frames <= 0 or info.samplerate <= 0:
                skip(path, "empty audio file")
                continue
            duration = info.frames / info.samplerate
            sha = _sha256(path)
            sid = user_sample_id(role, path.stem, sha)
            if sid in seen:
                skip(path, f"duplicate of {seen[sid]} (same name and content, id {sid})")
                continue
            problem = audio_problem(path, sha)
            if problem is not None:
                skip(path, problem)
                continue
            seen[sid] = str(path)
            loop = loop_info(names, duration, role)
            samples.append(
                SampleInfo(
                    id=sid,
                    role=role,
                    kind="loop" if loop else "oneshot",
                    bars=loop[0] if loop else None,
                    bpm=float(loop[1]) if loop else None,
                    duration_s=duration,
                    sr=int(info.samplerate),
                    channels=int(info.channels),
                    sha256=sha,
                    source="user",
                    character="user",
                    path=str(path.resolve()),
                )
            )
    finally:
        if bar is not None:
            bar.stop()
    if skipped:
        shown = "; ".join(f"{Path(p).name} ({r})" for p, r in skipped[:5])
        more = f"; and {len(skipped) - 5} more" if len(skipped) > 5 else ""
        warnings.warn(f"skipped {len(skipped)} sample file(s): {shown}{more} "
                      "(`rlmdj experiment=samples` lists them all)", stacklevel=2)
    return samples, skipped


def _check_cache(sha: str) -> Path:
    from rlmdj.resources import cache_root

    return cache_root() / "sample-checks" / _CHECK_VERSION / sha[:2] / f"{sha}.txt"


def audio_problem(path: Path, sha: str) -> str | None:
    """Why the audio in ``path`` cannot be mixed (NaN/inf, or a peak far beyond full scale),
    or None. Reads the whole file once; the verdict is cached by content hash."""
    cache = _check_cache(sha)
    try:
        verdict = cache.read_text(encoding="utf-8")
        return verdict or None
    except OSError:
        pass
    import numpy as np
    import soundfile as sf

    try:
        data, _ = sf.read(str(path), dtype="float64", always_2d=True)
    except Exception as exc:  # noqa: BLE001 - libsndfile reports corrupt data in several ways
        return f"unreadable audio: {exc}"
    verdict = ""
    if not np.all(np.isfinite(data)):
        verdict = "audio contains NaN or infinite values"
    elif data.size:
        peak = float(np.max(np.abs(data)))
        if peak > MAX_SAMPLE_PEAK:
            verdict = (f"peak {peak:.3g} is far beyond full scale (1.0; limit {MAX_SAMPLE_PEAK:g}): "
                       "it would drown the mix; re-export it normalised")
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(f"{cache.name}.{os.getpid()}.tmp")
        tmp.write_text(verdict, encoding="utf-8")
        os.replace(tmp, cache)
    except OSError:
        log.debug("could not cache the check of %s", path, exc_info=True)
    return verdict or None
