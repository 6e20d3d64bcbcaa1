"""The real architecture size (WavLM base, ~94M parameters) through the real loading path.

Random weights: the numbers mean nothing, but loading, hashing and one 10 s window of compute
are those of the released checkpoint (about 8 s on a 2-core CPU, checkpoint writing included).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("audiobox_aesthetics.model.aes")

from rlmdj.scoring.audiobox import AudioboxScorer, write_random_checkpoint  # noqa: E402

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*weight_norm.*:FutureWarning"),
    pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask:UserWarning"),
]


def test_full_size_random_checkpoint_loads_and_scores(tmp_path):
    path = write_random_checkpoint(tmp_path / "checkpoint.pt", seed=0)
    assert path.stat().st_size > 300e6  # the real model's size, not a toy
    scorer = AudioboxScorer(path, device="cpu", batch_size=2)
    rng = np.random.default_rng(0)
    result = scorer.score(0.1 * rng.standard_normal((16_000 * 8, 2)).astype(np.float32), sr=16_000)
    assert [w.weight for w in result.windows] == pytest.approx([0.8])
    assert all(np.isfinite(v) for v in result.scores.values())
    assert set(result.scores) == {"CE", "CU", "PC", "PQ"}
