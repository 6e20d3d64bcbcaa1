"""The pack on disk: :func:`ensure_pack` (cached, built on first use) and :func:`generate_pack`.

The cache folder ``<cache_dir>/pack-v1-seed<seed>-n<variants>/`` holds 44.1 kHz stereo float WAV
files, ``<role>-NN.wav`` (:func:`sample_id`), and ``index.json``. It is built in a temporary
sibling folder and renamed into place, under a file lock, so concurrent processes never see half
a pack; a missing or damaged pack is rebuilt. Bump :data:`PACK_VERSION` whenever the audio of
any variant changes, so caches built by older code are not reused.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock

from rlmdj.audio.grid import DEFAULT_SR
from rlmdj.audio.pack.variants import PACK_ROLES, check_seed, render_variant
from rlmdj.audio.sample_info import LOOP_ROLES, SampleInfo
from rlmdj.audio.wavio import wav_bytes
from rlmdj.errors import ParameterError
from rlmdj.resources import cache_root

__all__ = ["PACK_VERSION", "pack_dir", "sample_id", "generate_pack", "ensure_pack"]

PACK_VERSION = 1
_INDEX = "index.json"
_FORMAT = "rlmdj-pack"


def pack_dir(cache_dir: str | Path | None, seed: int, variants_per_role: int) -> Path:
    """The folder a pack with these parameters lives in."""
    root = Path(cache_dir).expanduser() if cache_dir is not None else cache_root()
    return root / f"pack-v{PACK_VERSION}-seed{seed}-n{variants_per_role}"


def sample_id(role: str, variant: int, variants_per_role: int = 16) -> str:
    """Builtin id ``<role>-NN`` (zero-padded to the widest variant number, at least 2 digits)."""
    width = max(2, len(str(max(0, variants_per_role - 1))))
    return f"{role}-{variant:0{width}d}"


def generate_pack(
    dest: str | Path,
    *,
    seed: int = 0,
    variants_per_role: int = 16,
    sr: int = DEFAULT_SR,
    progress: bool = False,
) -> list[SampleInfo]:
    """Write every variant and ``index.json`` into ``dest`` (created; should be empty)."""
    n = _check_variants(variants_per_role)
    check_seed(seed)
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    jobs = [(role, v) for role in PACK_ROLES for v in range(n)]
    entries: list[dict] = []
    with _progress(progress, len(jobs), f"synthesising sample pack (seed {seed})") as advance:
        for role, v in jobs:
            audio, meta = render_variant(role, v, seed=seed, sr=sr)
            blob = wav_bytes(audio, sr=sr)
            sid = sample_id(role, v, n)
            name = f"{sid}.wav"
            (dest / name).write_bytes(blob)
            entry = SampleInfo(
                id=sid,
                role=role,
                kind="loop" if role in LOOP_ROLES else "oneshot",
                bars=meta["bars"],
                bpm=meta["bpm"],
                duration_s=len(audio) / sr,
                sr=sr,
                channels=2,
                sha256=hashlib.sha256(blob).hexdigest(),
                source="builtin",
                character=meta["character"],
                path=name,
            ).to_dict()
            entry["bytes"] = len(blob)
            entries.append(entry)
            advance()
    doc = {
        "format": _FORMAT,
        "version": PACK_VERSION,
        "seed": int(seed),
        "variants_per_role": n,
        "sr": sr,
        "samples": entries,
    }
    (dest / _INDEX).write_text(json.dumps(doc, indent=1))
    return _absolute(dest, entries)


def _check_variants(variants_per_role: int) -> int:
    try:
        n = int(variants_per_role)
    except (TypeError, ValueError):
        n = 0
    if n < 1 or n != variants_per_role:
        raise ParameterError(
            f"variants_per_role must be a positive integer, got {variants_per_role!r} (e.g. 16)"
        )
    return n


def _absolute(dest: Path, entries: list[dict]) -> list[SampleInfo]:
    return [SampleInfo.from_dict({**e, "path": str(dest / e["path"])}) for e in entries]


def _read_valid(dest: Path, seed: int, n: int) -> list[SampleInfo] | None:
    """The pack in ``dest`` if its index matches the parameters and every file is intact."""
    try:
        doc = json.loads((dest / _INDEX).read_text())
        ok = (
            doc.get("format") == _FORMAT
            and doc.get("version") == PACK_VERSION
            and doc.get("seed") == seed
            and doc.get("variants_per_role") == n
            and len(doc["samples"]) == n * len(PACK_ROLES)
        )
        if not ok:
            return None
        for e in doc["samples"]:
            if (dest / e["path"]).stat().st_size != e["bytes"]:
                return None
        return _absolute(dest, doc["samples"])
    except (OSError, ValueError, KeyError, TypeError, ParameterError):
        return None


@contextlib.contextmanager
def _progress(enabled: bool, total: int, label: str) -> Iterator:
    """A live bar on a terminal when ``enabled``; otherwise plain lines, one per 2 s and the last."""
    if not enabled or not sys.stderr.isatty():
        state = {"done": 0, "last": time.perf_counter()}

        def line() -> None:
            state["done"] += 1
            now = time.perf_counter()
            if state["done"] == total or now - state["last"] >= 2.0:
                print(f"{label} {state['done']}/{total}", file=sys.stderr, flush=True)
                state["last"] = now

        yield line
        return
    from rich.progress import Progress

    with Progress(transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda: bar.advance(task)


def _remove_abandoned(root: Path, name: str, *, older_than_s: float = 600.0) -> None:
    """Delete temporary folders left by a generation that was killed (not ones still in use)."""
    now = time.time()
    for leftover in root.glob(f".{name}.*-*"):
        with contextlib.suppress(OSError):
            if leftover.is_dir() and now - leftover.stat().st_mtime > older_than_s:
                shutil.rmtree(leftover, ignore_errors=True)


def ensure_pack(
    *,
    seed: int = 0,
    variants_per_role: int = 16,
    cache_dir: str | Path | None = None,
    progress: bool = False,
) -> list[SampleInfo]:
    """The built-in pack's samples, generated into the cache on first use and reused afterwards."""
    n = _check_variants(variants_per_role)
    check_seed(seed)
    dest = pack_dir(cache_dir, seed, n)
    found = _read_valid(dest, seed, n)
    if found is not None:
        return found
    root = dest.parent
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ParameterError(
            f"cannot create the sample cache folder {root}: {exc.strerror or exc}; "
            "point samples.cache_dir (or RLMDJ_CACHE_DIR) at a writable folder"
        ) from None
    with FileLock(root / f".{dest.name}.lock"):
        found = _read_valid(dest, seed, n)  # another process may have built it while we waited
        if found is not None:
            return found
        _remove_abandoned(root, dest.name)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.tmp-", dir=root))
        try:
            generate_pack(tmp, seed=seed, variants_per_role=n, progress=progress)
            if dest.exists():  # damaged or stale: move aside first, rename cannot replace a folder
                stale = root / f".{dest.name}.stale-{uuid.uuid4().hex[:8]}"
                os.rename(dest, stale)
                shutil.rmtree(stale, ignore_errors=True)
            os.rename(tmp, dest)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    found = _read_valid(dest, seed, n)
    if found is None:
        raise ParameterError(f"sample pack in {dest} could not be verified after generation")
    return found
