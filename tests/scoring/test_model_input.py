"""Audio preparation for the model: what to_model_input accepts and refuses (no torch)."""

from __future__ import annotations

import numpy as np
import pytest

from rlmdj.errors import ParameterError
from rlmdj.scoring.resample import MAX_SR, MIN_SR, MODEL_SR, to_model_input


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
