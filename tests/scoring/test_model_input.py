"""Audio preparation for the model: what to_model_input accepts and refuses (no torch)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rlmdj.errors import ParameterError
from rlmdj.scoring.resample import MAX_SR, MIN_SR, MODEL_SR, resample, to_model_input


def test_integer_pcm_is_refused_with_the_scaling_hint():
    """Cast to float, int16 PCM would reach the model at 32768x full scale and score as garbage."""
    pcm = (np.sin(np.arange(44_100) / 7) * 20_000).astype(np.int16)
    with pytest.raises(ParameterError, match="integer PCM.*32768"):
        to_model_input(pcm, sr=44_100)
    with pytest.raises(ParameterError, match="integer PCM"):
        to_model_input(pcm.astype(np.uint8), sr=44_100)
    with pytest.raises(ParameterError, match="float array"):
        to_model_input(np.zeros(100, dtype=bool), sr=44_100)


def test_scaled_floats_are_accepted_and_mixed_to_16k_mono():
    pcm = (np.sin(np.arange(44_100) / 7) * 20_000).astype(np.int16)
    stereo = np.stack([pcm, pcm], axis=1) / 32768.0
    mono = to_model_input(stereo, sr=44_100)
    assert mono.dtype == np.float32 and mono.shape == (MODEL_SR,)
    assert np.abs(mono).max() < 1.0


@pytest.mark.parametrize("sr", [MIN_SR - 1, MAX_SR + 1])
def test_absurd_rates_are_refused(sr: int) -> None:
    with pytest.raises(ParameterError, match="outside"):
        to_model_input(np.zeros(4000, dtype=np.float32), sr=sr)


# -- parity with torchaudio, pinned by vectors it produced (see data/README.md) ---------------

GOLDEN = np.load(Path(__file__).parent / "data" / "resample_golden.npz")
GOLDEN_META = json.loads(str(GOLDEN["meta"]))


@pytest.mark.parametrize("i", range(len(GOLDEN_META["cases"])),
                         ids=[c["name"] for c in GOLDEN_META["cases"]])
def test_resample_matches_torchaudio_golden_vectors(i: int) -> None:
    case = GOLDEN_META["cases"][i]
    expected = GOLDEN[f"out{i}"]
    got = resample(GOLDEN[f"in{i}"], orig_sr=case["orig_sr"], new_sr=case["new_sr"], **case["kwargs"])
    assert got.dtype == np.float32 and got.shape == expected.shape
    # float32 rounding only: a one-sample shift, a wrong rolloff or window moves samples by 1e-3+.
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
