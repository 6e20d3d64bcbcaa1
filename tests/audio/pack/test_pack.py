"""The built-in pack: enough variants, exact loop lengths, deterministic bytes, cached and reused."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rlmdj.audio.grid import Grid
from rlmdj.audio.pack import PACK_ROLES, ensure_pack, pack_dir, render_variant
from rlmdj.audio.samples import LOOP_ROLES, ONESHOT_ROLES, SampleIndex
from rlmdj.errors import ParameterError


def _band_share(audio: np.ndarray, lo_hz: float, hi_hz: float, sr: int = 44100) -> float:
    """Fraction of the spectral power of ``audio`` between ``lo_hz`` and ``hi_hz``."""
    power = np.abs(np.fft.rfft(audio.mean(axis=1))) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / sr)
    return float(power[(freqs >= lo_hz) & (freqs < hi_hz)].sum() / power.sum())


def _clean_ids(index: SampleIndex, role: str) -> list[str]:
    return [i for i in index.ids(role=role) if index.get(i).character == "clean"]


def test_every_role_has_sixteen_variants_of_the_right_kind(sample_index: SampleIndex) -> None:
    for role in PACK_ROLES:
        ids = sample_index.ids(role=role)
        assert len(ids) >= 16, role
        kind = "loop" if role in LOOP_ROLES else "oneshot"
        assert ids == sample_index.ids(role=role, kind=kind)
    assert sample_index.ids(role="kick")[:4] == ["kick-00", "kick-01", "kick-02", "kick-03"]


def test_loops_last_exactly_their_bars_at_128_bpm(sample_index: SampleIndex) -> None:
    grid = Grid(bpm=128.0, sr=44100)
    for sid in sample_index.ids(kind="loop"):
        info = sample_index.get(sid)
        assert info.bars in (1, 2, 4) and info.bpm == 128.0
        frames = sf.info(info.path).frames
        assert frames == grid.bar_start(info.bars), sid
        assert info.duration_s == pytest.approx(info.bars * 1.875, abs=1e-4)
    assert {sample_index.get(s).bars for s in sample_index.ids(kind="loop")} == {1, 2, 4}


def test_oneshots_are_short_without_bars(sample_index: SampleIndex) -> None:
    for sid in sample_index.ids(kind="oneshot"):
        info = sample_index.get(sid)
        assert info.bars is None and info.bpm is None
        assert 0.05 < info.duration_s <= 1.0, sid


def test_files_are_stereo_float_44k1_and_hashes_match(sample_index: SampleIndex) -> None:
    for info in sample_index:
        meta = sf.info(info.path)
        assert (meta.samplerate, meta.channels, meta.subtype) == (44100, 2, "FLOAT")
        assert (info.sr, info.channels, info.source) == (44100, 2, "builtin")
        assert hashlib.sha256(Path(info.path).read_bytes()).hexdigest() == info.sha256


def test_characters_spread_between_clean_and_damaged(sample_index: SampleIndex) -> None:
    for role in PACK_ROLES:
        chars = [sample_index.get(i).character for i in sample_index.ids(role=role)]
        assert chars.count("clean") >= 6, role
        assert len(set(chars) - {"clean"}) >= 6, (role, chars)


def test_clean_elements_sit_where_techno_puts_them(sample_index: SampleIndex) -> None:
    for sid in _clean_ids(sample_index, "kick"):
        assert _band_share(sample_index.load(sid), 20, 250) > 0.6, sid
    for sid in _clean_ids(sample_index, "hihat"):
        assert _band_share(sample_index.load(sid), 5000, 22050) > 0.8, sid
    for sid in _clean_ids(sample_index, "bassline"):
        assert _band_share(sample_index.load(sid), 20, 500) > 0.8, sid


def test_damaged_variants_are_measurably_damaged(sample_index: SampleIndex) -> None:
    by_char: dict[str, list[np.ndarray]] = {}
    for info in sample_index:
        by_char.setdefault(info.character, []).append(sample_index.load(info.id))
    for audio in by_char["quiet"]:
        assert np.abs(audio).max() < 0.05
    for audio in by_char["dc_offset"]:
        assert audio.mean() > 0.1
    for audio in by_char["harsh"]:
        assert np.count_nonzero(np.abs(audio) >= 0.999) > 20  # flat-topped: clipped
    for audio in by_char["thin"]:
        assert _band_share(audio, 20, 300) < 0.05
    for audio in by_char["muddy"]:
        assert _band_share(audio, 2000, 22050) < 0.02
    for audio in by_char["clean"]:
        assert 0.5 < np.abs(audio).max() < 0.95 and abs(float(audio.mean())) < 0.02


def test_loops_repeat_without_a_seam(sample_index: SampleIndex) -> None:
    for role in LOOP_ROLES:
        for sid in _clean_ids(sample_index, role):
            audio = sample_index.load(sid)
            typical = np.percentile(np.abs(np.diff(audio, axis=0)).max(axis=1), 99.9)
            assert np.abs(audio[0] - audio[-1]).max() <= typical + 1e-3, sid


def test_bass_notes_start_on_the_grid() -> None:
    audio, meta = render_variant("bassline", 0, seed=0)
    grid = Grid(bpm=128.0, sr=44100)
    env = np.abs(audio[:, 0])
    # loudness in the first 30 ms of each step: steps with a note stand far above silent ones
    level = np.array(
        [
            env[grid.step_start(b, s) : grid.step_start(b, s) + 1300].max()
            for b in range(meta["bars"])
            for s in range(16)
        ]
    )
    assert level.max() > 0.5
    assert np.count_nonzero(level > 0.3 * level.max()) >= 4 * meta["bars"]


# The default pack (seed 0, 16 variants) is what every set and screen plays by default: its
# bytes may change only on purpose, with PACK_VERSION bumped so cached packs are rebuilt.
# CONTENT is the digest over ``id:sha256`` lines in id order (what runs log as the pack
# dataset's digest); META covers the kind, character, bars and tempo of each sample.
_DEFAULT_PACK_CONTENT = "3d66425ae23fb671f502db3a816a19b8317136578c2ad988aef9a59af46afbf7"
_DEFAULT_PACK_META = "98db65758f8bc51579aad3bacaff0f7758fd689cfe59d6fe88dd783dce607f10"


def test_default_pack_bytes_are_pinned(pack_cache_dir: Path, sample_index: SampleIndex) -> None:
    pack = sorted(ensure_pack(seed=0, variants_per_role=16, cache_dir=pack_cache_dir),
                  key=lambda s: s.id)
    content = hashlib.sha256("".join(f"{s.id}:{s.sha256}\n" for s in pack).encode())
    meta = hashlib.sha256(
        "".join(f"{s.id}:{s.kind}:{s.character}:{s.bars}:{s.bpm}\n" for s in pack).encode()
    )
    assert len(pack) == 16 * len(PACK_ROLES)
    assert content.hexdigest() == _DEFAULT_PACK_CONTENT
    assert meta.hexdigest() == _DEFAULT_PACK_META
    # the index's hashes are the files' hashes, so pinning the index pins the audio
    for s in pack[:: len(PACK_ROLES)]:
        assert hashlib.sha256(Path(s.path).read_bytes()).hexdigest() == s.sha256


def test_same_seed_same_bytes_other_seed_other_bytes(
    tmp_path: Path, sample_index: SampleIndex
) -> None:
    small = {s.id: s for s in ensure_pack(seed=0, variants_per_role=2, cache_dir=tmp_path)}
    assert len(small) == 2 * len(PACK_ROLES)
    for sid, info in small.items():  # seeded per variant: a smaller pack is a byte-exact prefix
        assert Path(info.path).read_bytes() == Path(sample_index.get(sid).path).read_bytes()
    other = {s.id: s for s in ensure_pack(seed=1, variants_per_role=2, cache_dir=tmp_path)}
    differing = [sid for sid in small if small[sid].sha256 != other[sid].sha256]
    assert len(differing) == len(small)
    a, _ = render_variant("texture", 3, seed=5)
    b, _ = render_variant("texture", 3, seed=5)
    assert np.array_equal(a, b)


def test_second_call_reuses_the_cached_pack(
    pack_cache_dir: Path, sample_index: SampleIndex
) -> None:
    folder = pack_dir(pack_cache_dir, 0, 16)
    mtimes = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    start = time.perf_counter()
    again = ensure_pack(seed=0, variants_per_role=16, cache_dir=pack_cache_dir)
    assert time.perf_counter() - start < 1.0
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == mtimes
    assert [s.to_dict() for s in again] == [sample_index.get(s.id).to_dict() for s in again]
    assert not [p for p in pack_cache_dir.iterdir() if ".tmp-" in p.name]


def test_damaged_cache_is_rebuilt(tmp_path: Path) -> None:
    first = ensure_pack(seed=3, variants_per_role=1, cache_dir=tmp_path)
    folder = pack_dir(tmp_path, 3, 1)
    Path(first[0].path).unlink()
    assert [s.sha256 for s in ensure_pack(seed=3, variants_per_role=1, cache_dir=tmp_path)] == [
        s.sha256 for s in first
    ]
    (folder / "index.json").write_text("{not json")
    rebuilt = ensure_pack(seed=3, variants_per_role=1, cache_dir=tmp_path)
    assert [s.sha256 for s in rebuilt] == [s.sha256 for s in first]
    Path(first[-1].path).write_bytes(b"truncated")
    assert (
        Path(ensure_pack(seed=3, variants_per_role=1, cache_dir=tmp_path)[-1].path).stat().st_size
        > 100
    )
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == [
        folder.name
    ]


@pytest.mark.slow  # three processes each build a pack
def test_concurrent_processes_share_one_whole_pack(tmp_path: Path) -> None:
    code = (
        "import sys; from rlmdj.audio.pack import ensure_pack; "
        "print(len(ensure_pack(seed=4, variants_per_role=1, cache_dir=sys.argv[1])))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert [p.returncode for p in procs] == [0, 0] and outs == ["7", "7"]
    assert [p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")] == [
        "pack-v1-seed4-n1"
    ]


def test_default_cache_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RLMDJ_CACHE_DIR", str(tmp_path))
    assert pack_dir(None, 7, 16) == tmp_path / "pack-v1-seed7-n16"
    assert os.fspath(pack_dir("~/x", 0, 2)).endswith("x/pack-v1-seed0-n2")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"variants_per_role": 0}, "variants_per_role"),
        ({"seed": -1}, "seed"),
        ({"variants_per_role": 2.5}, "variants"),
    ],
)
def test_bad_pack_parameters_are_refused(tmp_path: Path, kwargs: dict, message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        ensure_pack(cache_dir=tmp_path, **kwargs)


def test_oneshot_and_loop_roles_cover_the_pack() -> None:
    assert set(PACK_ROLES) == set(ONESHOT_ROLES) | set(LOOP_ROLES)
    with pytest.raises(ParameterError, match="unknown role"):
        render_variant("vocals", 0)


def test_unusable_cache_folder_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(ParameterError, match="samples.cache_dir"):
        ensure_pack(variants_per_role=1, cache_dir=blocker / "cache")


def test_folders_left_by_a_killed_generation_are_cleaned_up(tmp_path: Path) -> None:
    leftover = tmp_path / ".pack-v1-seed6-n1.tmp-dead"
    leftover.mkdir()
    (leftover / "kick-00.wav").write_bytes(b"half")
    os.utime(leftover, (time.time() - 3600, time.time() - 3600))
    ensure_pack(seed=6, variants_per_role=1, cache_dir=tmp_path)
    assert not leftover.exists()
