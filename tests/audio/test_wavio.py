"""Levels and files: peak normalisation, WAV round trips, previews, refusals."""

from __future__ import annotations

import io
import math
import warnings

import numpy as np
import pytest
import soundfile as sf

from rlmdj.audio.wavio import (
    normalize_peak,
    peak_dbfs,
    read_audio,
    to_stereo,
    write_preview,
    write_wav,
)
from rlmdj.errors import ParameterError

SR = 44_100


def tone(peak: float = 0.8, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    left = np.sin(2 * np.pi * 440 * t)
    right = 0.5 * np.sin(2 * np.pi * 660 * t)
    return (peak * np.stack([left, right], axis=1)).astype(np.float32)


def test_peak_dbfs() -> None:
    assert peak_dbfs(np.array([0.5, -1.0], dtype=np.float32)) == pytest.approx(0.0)
    assert peak_dbfs(np.full((10, 2), 0.5)) == pytest.approx(-6.0206, abs=1e-4)
    assert peak_dbfs(np.zeros((10, 2))) == -math.inf


@pytest.mark.parametrize("peak", [0.01, 0.5, 3.0])
def test_normalize_to_minus_one_dbfs(peak: float) -> None:
    x = tone(peak)
    y = normalize_peak(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert peak_dbfs(y) == pytest.approx(-1.0, abs=0.01)
    np.testing.assert_allclose(y / y.max(), x / x.max(), atol=1e-6)  # shape kept: no clipping
    assert peak_dbfs(x) == pytest.approx(20 * math.log10(peak), abs=1e-3)  # input untouched


def test_normalize_none_only_attenuates_overs() -> None:
    quiet = tone(0.3)
    np.testing.assert_array_equal(normalize_peak(quiet, target_dbfs=None), quiet)
    loud = tone(2.5)
    y = normalize_peak(loud, target_dbfs=None)
    assert np.max(np.abs(y)) <= 1.0
    assert peak_dbfs(y) == pytest.approx(0.0, abs=0.01)
    np.testing.assert_allclose(y, loud / 2.5, atol=1e-6)  # scaled, never clipped


def test_normalize_keeps_silence_and_refuses_boosting_past_full_scale() -> None:
    silence = np.zeros((100, 2), dtype=np.float32)
    np.testing.assert_array_equal(normalize_peak(silence), silence)
    with pytest.raises(ParameterError, match="<= 0 dBFS"):
        normalize_peak(tone(), target_dbfs=3.0)


@pytest.mark.parametrize("subtype, atol", [("FLOAT", 0.0), ("PCM_24", 2.0**-22), ("PCM_16", 2.0**-14)])
def test_wav_round_trip(tmp_path, subtype: str, atol: float) -> None:
    x = tone(0.9)
    path = write_wav(tmp_path / "sub" / "set.wav", x, sr=SR, subtype=subtype)
    assert path.is_file() and sf.info(str(path)).subtype == subtype
    y, sr = read_audio(path)
    assert sr == SR and y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_allclose(y, x, atol=atol, rtol=0)


def test_pcm_write_attenuates_overs_instead_of_clipping(tmp_path) -> None:
    x = tone(1.6)
    with pytest.warns(RuntimeWarning, match="attenuated"):
        path = write_wav(tmp_path / "loud.wav", x, sr=SR, subtype="PCM_24")
    y, _ = read_audio(path)
    assert np.max(np.abs(y)) <= 1.0
    np.testing.assert_allclose(y, x / 1.6, atol=2.0**-21)


def test_float_write_keeps_the_signal_exact(tmp_path) -> None:
    x = tone(1.6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = write_wav(tmp_path / "f.wav", x, sr=SR)
    np.testing.assert_array_equal(read_audio(path)[0], x)


def test_wav_bytes_are_deterministic(tmp_path) -> None:
    x = tone()
    a = write_wav(tmp_path / "a.wav", x, sr=SR, subtype="PCM_24").read_bytes()
    b = write_wav(tmp_path / "b.wav", x, sr=SR, subtype="PCM_24").read_bytes()
    assert a == b


@pytest.mark.parametrize("subtype", ["MP3", "PCM_8", "float64", ""])
def test_unknown_subtype_is_refused(tmp_path, subtype: str) -> None:
    with pytest.raises(ParameterError, match="FLOAT, PCM_24, PCM_16"):
        write_wav(tmp_path / "x.wav", tone(), sr=SR, subtype=subtype)
    assert not (tmp_path / "x.wav").exists()


def test_bad_audio_and_rate_are_refused(tmp_path) -> None:
    with pytest.raises(ParameterError, match="NaN"):
        write_wav(tmp_path / "x.wav", np.full((10, 2), np.nan), sr=SR)
    with pytest.raises(ParameterError, match="sample rate"):
        write_wav(tmp_path / "x.wav", tone(), sr=0)


def test_ogg_preview_reads_back(tmp_path) -> None:
    x = tone(0.5, seconds=1.0)
    path = write_preview(tmp_path / "p.ogg", x, sr=SR)
    y, sr = read_audio(path)
    assert sr == SR and y.shape[1] == 2
    assert abs(len(y) - len(x)) < SR // 10
    assert peak_dbfs(y) == pytest.approx(peak_dbfs(x), abs=1.0)


def test_mp3_preview_or_clear_refusal(tmp_path) -> None:
    try:
        path = write_preview(tmp_path / "p.mp3", tone(0.5), sr=SR, fmt="mp3")
    except ParameterError as exc:
        assert "ogg" in str(exc)
    else:
        assert read_audio(path)[1] == SR


def test_unknown_preview_format_is_refused(tmp_path) -> None:
    with pytest.raises(ParameterError, match="ogg"):
        write_preview(tmp_path / "p.aac", tone(), sr=SR, fmt="aac")


def test_read_audio_mono_and_missing(tmp_path) -> None:
    sf.write(str(tmp_path / "m.wav"), np.linspace(-0.5, 0.5, 100), SR, subtype="FLOAT")
    y, sr = read_audio(tmp_path / "m.wav")
    assert y.shape == (100, 1) and sr == SR
    with pytest.raises(FileNotFoundError):
        read_audio(tmp_path / "nope.wav")
    (tmp_path / "junk.wav").write_bytes(b"not audio at all")
    with pytest.raises(ParameterError, match="could not read"):
        read_audio(tmp_path / "junk.wav")


def test_to_stereo() -> None:
    mono = np.arange(5, dtype=np.float64)
    for x in (mono, mono[:, None]):
        y = to_stereo(x)
        assert y.shape == (5, 2) and y.dtype == np.float32
        np.testing.assert_array_equal(y[:, 0], y[:, 1])
    st = tone()
    np.testing.assert_array_equal(to_stereo(st), st)
    with pytest.raises(ParameterError, match="stereo"):
        to_stereo(np.zeros((5, 3)))


def _chunks(data: bytes) -> dict[bytes, bytes]:
    import struct

    found, pos = {}, 12
    while pos + 8 <= len(data):
        name, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        found[name] = data[pos + 8 : pos + 8 + size]
        pos += 8 + size + (size & 1)
    return found


def test_float_wav_bytes_depend_on_the_audio_alone(tmp_path) -> None:
    """libsndfile stamps float WAVs with a PEAK chunk holding the write time: it is zeroed."""
    from rlmdj.audio.wavio import wav_bytes

    x = tone()
    data = wav_bytes(x, sr=SR)
    chunks = _chunks(data)
    assert {b"fmt ", b"data", b"PEAK"} <= set(chunks)
    assert int.from_bytes(chunks[b"PEAK"][4:8], "little") == 0  # after the version word
    assert write_wav(tmp_path / "s.wav", x, sr=SR).read_bytes() == data
    np.testing.assert_array_equal(sf.read(io.BytesIO(data), dtype="float32")[0], x)
