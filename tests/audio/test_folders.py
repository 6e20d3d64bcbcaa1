"""User sample folders: roles from names, loops from tempo and length, broken files skipped."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rlmdj.audio.folders import index_folders, loop_info, role_from_names
from rlmdj.audio.samples import build_index
from rlmdj.errors import ParameterError

SR = 44100


def _noise(seconds: float, channels: int = 2, sr: int = SR) -> np.ndarray:
    rng = np.random.default_rng(0)
    return (0.2 * rng.standard_normal((int(round(seconds * sr)), channels))).astype(np.float32)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "samples"
    (root / "loops").mkdir(parents=True)
    (root / "Hats").mkdir()
    (root / "misc").mkdir()
    sf.write(root / "kick_01.wav", _noise(0.4), SR, subtype="PCM_16")
    sf.write(root / "loops" / "bass_124bpm_4bars.wav", _noise(4 * 240 / 124, channels=1), SR)
    sf.write(root / "Hats" / "closed 02.flac", _noise(0.1, sr=48000), 48000, format="FLAC")
    sf.write(root / "misc" / "vocal_chop.wav", _noise(0.5), SR)
    (root / "misc" / "broken_snare.wav").write_bytes(b"RIFF\x00\x00garbage that is not audio" * 3)
    (root / "readme.txt").write_text("not audio, ignored")
    return root


def test_folder_is_indexed_with_roles_kinds_and_skips(folder: Path) -> None:
    with pytest.warns(UserWarning) as caught:
        samples, skipped = index_folders([folder])
    by_role = {s.role: s for s in samples}
    assert set(by_role) == {"kick", "bassline", "hihat"}
    assert by_role["kick"].kind == "oneshot" and by_role["kick"].bars is None
    bass = by_role["bassline"]
    assert (bass.kind, bass.bars, bass.bpm, bass.channels) == ("loop", 4, 124.0, 1)
    assert by_role["hihat"].sr == 48000 and by_role["hihat"].kind == "oneshot"
    reasons = {Path(p).name: r for p, r in skipped}
    assert set(reasons) == {"vocal_chop.wav", "broken_snare.wav"}
    assert "no role keyword" in reasons["vocal_chop.wav"]
    assert "unreadable" in reasons["broken_snare.wav"]
    assert any("broken_snare.wav" in str(w.message) for w in caught)


def test_user_ids_are_stable_slugs_not_paths(folder: Path, tmp_path: Path) -> None:
    with pytest.warns(UserWarning):
        samples, _ = index_folders([folder])
    for s in samples:
        assert re.fullmatch(r"user:[a-z]+-[a-z0-9-]+-[0-9a-f]{6}", s.id), s.id
        assert s.id.endswith(s.sha256[:6]) and "/" not in s.id and s.source == "user"
    assert {s.id.split("-")[0] for s in samples} == {"user:kick", "user:bassline", "user:hihat"}
    moved = tmp_path / "elsewhere"
    folder.rename(moved)
    with pytest.warns(UserWarning):
        again, _ = index_folders([moved])
    assert sorted(s.id for s in again) == sorted(s.id for s in samples)


def test_build_index_counts_skipped_files_and_loads_user_audio(folder: Path) -> None:
    with pytest.warns(UserWarning):
        index = build_index(builtin=False, paths=[str(folder)])
    assert len(index) == 3 and len(index.skipped) == 2
    hat = index.ids(role="hihat")[0]
    assert index.load(hat).shape == (4410, 2)  # 0.1 s at 48 kHz, resampled to 44.1 kHz
    bass = index.ids(role="bassline", kind="loop")[0]
    assert index.load(bass).shape[1] == 2  # mono file, stereo out


@pytest.mark.parametrize(
    ("names", "role"),
    [
        (["BD_01"], "kick"),
        (["Kick808"], "kick"),
        (["bass_drum"], "kick"),  # kick's row comes before bassline's
        (["open hh"], "hihat"),
        (["Snare 3"], "clap"),
        (["rimshot"], "perc"),
        (["sub_growl"], "bassline"),
        (["dark atmos"], "texture"),
        (["chords_fm"], "synth"),
        (["hit 01", "Pads", "library"], "texture"),  # no keyword in the file: nearest folder
        (["clap_01", "Kicks"], "clap"),  # the file name beats the folder
        (["override", "misc"], None),
    ],
)
def test_role_keywords(names: list[str], role: str | None) -> None:
    assert role_from_names(names) == role


def test_loop_rules() -> None:
    bar_124 = 240 / 124
    assert loop_info(["perc_124bpm"], 2 * bar_124, "perc") == (2, 124.0)
    assert loop_info(["perc 124 BPM"], 2 * bar_124 * 1.005, "perc") == (2, 124.0)  # within 1%
    assert loop_info(["perc_124bpm"], 1.5 * bar_124, "perc") is None  # not whole bars
    assert loop_info(["perc_124bpm_oneshot"], 2 * bar_124, "perc") is None
    assert loop_info(["stab", "loops"], 4.0, "synth") == (2, 120.0)  # tempo nearest 128
    assert loop_info(["groove loop 8 bars"], 16.0, "perc") == (8, 120.0)
    assert loop_info(["bass"], 3.75, "bassline") == (2, 128.0)  # loop role, whole 128 BPM bars
    assert loop_info(["kick"], 3.75, "kick") is None


def test_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="not found"):
        index_folders([tmp_path / "nope"])


def test_empty_and_dangling_files_are_skipped_with_a_clear_reason(tmp_path: Path) -> None:
    root = tmp_path / "kit"
    root.mkdir()
    sf.write(root / "kick_ok.wav", _noise(0.2), SR)
    (root / "kick_empty.wav").write_bytes(b"")
    (root / "kick_gone.wav").symlink_to(tmp_path / "nowhere.wav")
    with pytest.warns(UserWarning):
        samples, skipped = index_folders([root])
    assert [s.role for s in samples] == ["kick"]
    reasons = {Path(p).name: r for p, r in skipped}
    assert reasons["kick_empty.wav"] == "empty file (0 bytes)"
    assert reasons["kick_gone.wav"].startswith("unreadable file")
