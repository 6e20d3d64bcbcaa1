"""SampleIndex: lookup by id with helpful errors, listings, cached stereo loading, JSON round trip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rlmdj.audio.samples import SampleIndex, SampleInfo, build_index
from rlmdj.errors import ParameterError


def _info(path: Path, sid: str = "user:kick-x-abcdef", **kw) -> SampleInfo:
    meta = sf.info(str(path))
    fields = dict(
        id=sid, role="kick", kind="oneshot", bars=None, bpm=None, duration_s=meta.duration, sr=meta.samplerate,
        channels=meta.channels, sha256="abcdef" + "0" * 58, source="user", character="user", path=str(path),
    )  # fmt: skip
    fields.update(kw)
    return SampleInfo(**fields)


def test_unknown_id_names_close_matches_and_the_roles_ids(sample_index: SampleIndex) -> None:
    with pytest.raises(ParameterError) as err:
        sample_index.get("kick-3")
    text = str(err.value)
    assert "kick-03" in text and "rlmdj lists ids with role kick:" in text and "kick-15" in text


def test_a_path_is_answered_with_the_id_rule(sample_index: SampleIndex) -> None:
    path = sample_index.get("hihat-02").path
    with pytest.raises(ParameterError, match="referred to by id") as err:
        sample_index.get(path)
    assert "hihat-02" in str(err.value)  # and it says which id that file has
    with pytest.raises(ParameterError, match="referred to by id"):
        sample_index.get("samples/kick.wav")


def test_listings_are_sorted_and_filtered(sample_index: SampleIndex) -> None:
    loops = sample_index.ids(kind="loop")
    assert loops == sorted(loops) and all(sample_index.get(i).kind == "loop" for i in loops)
    assert sample_index.ids(role="texture", kind="oneshot") == []
    assert sample_index.roles() == ["kick", "hihat", "clap", "perc", "bassline", "texture", "synth"]
    assert len(sample_index) == len(sample_index.ids()) == 7 * 16
    assert "synth-00" in sample_index and "synth-99" not in sample_index
    assert [s.id for s in sample_index] == sample_index.ids()
    with pytest.raises(ParameterError, match="valid roles"):
        sample_index.ids(role="vocal")
    with pytest.raises(ParameterError, match="valid kinds"):
        sample_index.ids(kind="one-shot")


def test_load_gives_cached_read_only_float32_stereo(sample_index: SampleIndex) -> None:
    audio = sample_index.load("kick-00")
    assert audio.dtype == np.float32 and audio.ndim == 2 and audio.shape[1] == 2
    assert sample_index.load("kick-00") is audio
    with pytest.raises(ValueError):
        audio[0, 0] = 1.0
    info = sample_index.get("kick-00")
    assert len(audio) == round(info.duration_s * 44100)


def test_load_resamples_to_the_requested_rate(sample_index: SampleIndex) -> None:
    full = sample_index.load("bassline-00")
    half = sample_index.load("bassline-00", sr=22050)
    assert abs(len(half) - len(full) / 2) <= 1
    assert np.abs(half).max() == pytest.approx(np.abs(full).max(), rel=0.1)
    with pytest.raises(ParameterError):
        sample_index.load("bassline-00", sr=100)


def test_mono_files_load_as_stereo(tmp_path: Path) -> None:
    path = tmp_path / "mono.wav"
    sf.write(path, np.linspace(-0.5, 0.5, 4800, dtype=np.float32), 48000)
    index = SampleIndex([_info(path)])
    audio = index.load("user:kick-x-abcdef")
    assert audio.shape == (4410, 2) and np.array_equal(audio[:, 0], audio[:, 1])


def test_json_round_trip_keeps_every_field(sample_index: SampleIndex) -> None:
    again = SampleIndex.from_json(sample_index.to_json())
    assert [s.to_dict() for s in again] == [s.to_dict() for s in sample_index]
    with pytest.raises(ParameterError, match="not a sample index"):
        SampleIndex.from_json("[1, 2")


def test_duplicate_ids_and_loops_without_tempo_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.wav"
    sf.write(path, np.zeros(100, dtype=np.float32), 44100)
    with pytest.raises(ParameterError, match="duplicate sample id"):
        SampleIndex([_info(path), _info(path)])
    with pytest.raises(ParameterError, match="needs bars and bpm"):
        _info(path, kind="loop")


def test_build_index_needs_some_samples(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ParameterError, match="no samples"):
        build_index(builtin=False, paths=[tmp_path / "empty"])
    with pytest.raises(ParameterError, match="not found"):
        build_index(builtin=False, paths=[tmp_path / "missing"])


def test_build_index_combines_pack_and_user_folders(tmp_path: Path) -> None:
    user = tmp_path / "mine"
    user.mkdir()
    sf.write(user / "kick_big.wav", np.zeros((2000, 2), dtype=np.float32) + 0.1, 44100)
    index = build_index(
        variants_per_role=1, cache_dir=tmp_path / "cache", paths=[user], progress=True
    )
    assert len(index.ids(role="kick")) == 2
    assert {index.get(i).source for i in index.ids(role="kick")} == {"builtin", "user"}
