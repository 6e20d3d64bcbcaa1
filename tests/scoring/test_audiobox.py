"""audiobox-aesthetics in-process: checkpoint loading, windowing, numerics, and agreement of backends.

The encoder is shrunk (upstream builds it from a module-level config, which the fixture swaps)
so a randomly initialised checkpoint in the upstream format loads and scores in milliseconds
through the real loading path. test_audiobox_full.py covers the real architecture size.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
aes = pytest.importorskip("audiobox_aesthetics.model.aes")

from audiobox_aesthetics.model.wavlm import WavLMConfig  # noqa: E402

from rlmdj.scoring.audiobox import (  # noqa: E402
    CHECKPOINT_ENV,
    AudioboxScorer,
    CheckpointError,
    resolve_checkpoint,
    write_random_checkpoint,
)
from rlmdj.scoring.base import AXES  # noqa: E402
from rlmdj.scoring.resample import MODEL_SR, resample  # noqa: E402

TINY_NTH_LAYER = 3  # embeddings + 2 encoder layers

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*weight_norm.*:FutureWarning"),
    pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask:UserWarning"),
]


@pytest.fixture(scope="module")
def tiny_encoder():
    """Swap upstream's WavLM config for a 2-layer, 32-dim one while this module runs."""
    cfg = dict(aes.DEFAULT_AUDIO_CFG.__dict__)
    cfg.update(
        encoder_layers=2,
        encoder_embed_dim=32,
        encoder_ffn_embed_dim=64,
        encoder_attention_heads=2,
        conv_feature_layers="[(32,10,5)] + [(32,3,2)] * 4 + [(32,2,2)] * 2",
        conv_pos=16,
        conv_pos_groups=4,
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(aes, "DEFAULT_AUDIO_CFG", WavLMConfig(cfg))
        yield


@pytest.fixture(scope="module")
def ckpt(tiny_encoder, tmp_path_factory) -> Path:
    transform = {a: {"mean": 4.0 + i, "std": 1.0 + 0.25 * i} for i, a in enumerate(AXES)}
    return write_random_checkpoint(
        tmp_path_factory.mktemp("ckpt") / "checkpoint.pt",
        nth_layer=TINY_NTH_LAYER,
        seed=1,
        target_transform=transform,
    )


@pytest.fixture(scope="module")
def scorer(ckpt) -> AudioboxScorer:
    return AudioboxScorer(ckpt, device="cpu", batch_size=4)


def _audio(seconds: float, *, sr: int = 44_100, channels: int = 2, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sr))
    t = np.arange(n) / sr
    tone = 0.3 * np.sin(2 * np.pi * 220 * t)[:, None]
    return (tone + 0.05 * rng.standard_normal((n, channels))).astype(np.float32)


@pytest.mark.parametrize(
    ("seconds", "weights"),
    [(5, [0.5]), (10, [1.0]), (25, [1.0, 1.0, 0.5]), (120, [1.0] * 12)],
)
def test_windows_are_10s_hops_weighted_by_real_length(scorer, seconds, weights):
    audio = _audio(seconds, sr=MODEL_SR, channels=1, seed=seconds)
    result = scorer.score(audio, sr=MODEL_SR)
    assert [w.weight for w in result.windows] == pytest.approx(weights)
    assert [w.start_s for w in result.windows] == pytest.approx([10.0 * i for i in range(len(weights))])
    assert [w.duration_s for w in result.windows] == pytest.approx([10.0 * w for w in weights])
    for axis in AXES:
        expected = np.dot([w.scores[axis] for w in result.windows], weights) / sum(weights)
        assert result.scores[axis] == pytest.approx(expected, rel=1e-9)
    assert set(result.metrics()) == {f"audiobox/{a}" for a in (*AXES, "OBJ")}
    assert result.identity == scorer.identity and result.scorer == "audiobox"


def test_batch_size_does_not_change_scores(ckpt, scorer):
    audio = _audio(25, seed=3)
    one = AudioboxScorer(ckpt, device="cpu", batch_size=1).score(audio, sr=44_100)
    many = scorer.score(audio, sr=44_100)
    for a, b in zip(one.windows, many.windows, strict=True):
        assert a.scores == pytest.approx(b.scores, abs=1e-5)


def test_matches_upstream_predictor_on_same_checkpoint(ckpt, scorer, monkeypatch):
    """Upstream's AesPredictor (torchaudio stubbed with our resampler) gives the same numbers."""
    fake = types.ModuleType("torchaudio")
    fake.functional = types.SimpleNamespace(
        resample=lambda wav, orig_freq, new_freq: torch.from_numpy(
            resample(wav.numpy(), orig_sr=orig_freq, new_sr=new_freq).copy()
        )
    )
    monkeypatch.setitem(sys.modules, "torchaudio", fake)
    monkeypatch.delitem(sys.modules, "audiobox_aesthetics.infer", raising=False)
    try:
        from audiobox_aesthetics.infer import AesPredictor

        predictor = AesPredictor(checkpoint_pth=str(ckpt), precision="32")
    finally:  # never leave upstream's infer bound to the stub
        sys.modules.pop("audiobox_aesthetics.infer", None)
    predictor.model.to("cpu")
    predictor.device = torch.device("cpu")
    audio = _audio(25, channels=1, seed=5)
    upstream = predictor.forward([{"path": torch.from_numpy(audio.T.copy()), "sample_rate": 44_100}])[0]
    ours = scorer.score(audio, sr=44_100).scores
    assert ours == pytest.approx(upstream, abs=1e-5)


def test_hub_folder_and_torch_file_load_the_same_model(ckpt, scorer, tmp_path):
    transform = {a: {"mean": 4.0 + i, "std": 1.0 + 0.25 * i} for i, a in enumerate(AXES)}
    folder = write_random_checkpoint(
        tmp_path / "hub", fmt="hub", nth_layer=TINY_NTH_LAYER, seed=1, target_transform=transform
    )
    hub = AudioboxScorer(folder, device="cpu")
    assert hub.checkpoint.format == "hub" and scorer.checkpoint.format == "torch"
    audio = _audio(12, seed=7)
    assert hub.score(audio, sr=44_100).scores == pytest.approx(scorer.score(audio, sr=44_100).scores, abs=1e-6)
    assert hub.identity != scorer.identity  # different files, different hash


def test_identity_names_backend_hash_and_precision(ckpt, scorer):
    assert scorer.identity.startswith("audiobox/inprocess/audiobox-aesthetics/sha256:")
    assert scorer.identity.endswith("/fp32")
    assert scorer.checkpoint.sha256[:16] in scorer.identity


def test_bf16_is_close_and_distinguished(ckpt, scorer):
    low = AudioboxScorer(ckpt, device="cpu", precision="bf16")
    audio = _audio(10, seed=11)
    ref = scorer.score(audio, sr=44_100).scores
    got = low.score(audio, sr=44_100).scores
    assert got == pytest.approx(ref, abs=0.1)
    assert low.identity != scorer.identity and low.identity.endswith("/bf16")


def test_checkpoint_from_environment_variable(ckpt, scorer, monkeypatch):
    monkeypatch.setenv(CHECKPOINT_ENV, str(ckpt))
    assert AudioboxScorer(None, device="cpu").identity == scorer.identity


def test_offline_hub_failure_says_how_to_get_a_checkpoint(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    monkeypatch.delenv(CHECKPOINT_ENV, raising=False)
    with pytest.raises(CheckpointError) as info:
        resolve_checkpoint(None)
    message = str(info.value)
    assert "facebook/audiobox-aesthetics" in message
    assert CHECKPOINT_ENV in message and "scorer.checkpoint=" in message


def test_missing_and_corrupt_checkpoints_are_clear_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no audiobox checkpoint"):
        resolve_checkpoint(str(tmp_path / "nope.pt"))
    bad = tmp_path / "checkpoint.pt"
    bad.write_bytes(b"definitely not a checkpoint")
    with pytest.raises(CheckpointError, match="could not load"):
        AudioboxScorer(bad, device="cpu")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="neither config.json"):
        AudioboxScorer(empty, device="cpu")


def test_bad_audio_and_settings_are_parameter_errors(scorer, ckpt):
    from rlmdj.errors import ParameterError

    with pytest.raises(ParameterError, match="NaN"):
        scorer.score(np.full(16_000, np.nan, dtype=np.float32), sr=16_000)
    with pytest.raises(ParameterError, match="empty"):
        scorer.score(np.zeros(0, dtype=np.float32), sr=16_000)
    with pytest.raises(ParameterError, match="outside"):
        scorer.score(np.zeros(100, dtype=np.float32), sr=10)
    with pytest.raises(ParameterError, match="precision"):
        AudioboxScorer(ckpt, precision="fp8")


def test_inprocess_service_and_server_give_identical_numbers(scorer):
    """One checkpoint, three paths: in-process, the Modal handler (service) and HTTP."""
    from rlmdj.scoring.client import HttpScorer, encode_wav
    from rlmdj.scoring.serving.server import ServerThread, create_app
    from rlmdj.scoring.serving.service import ScoringService

    audio = _audio(23.5, seed=13)
    direct = scorer.score(audio, sr=44_100)
    service = ScoringService(scorer)
    handled = service.score_upload(encode_wav(audio, sr=44_100))
    with ServerThread(create_app(service)) as server, HttpScorer(server.url, retries=0) as client:
        remote = client.score(audio, sr=44_100)
        remote_file = client.score_wav(encode_wav(audio, sr=44_100))
        assert client.identity == f"audiobox/http/{scorer.model_identity}"
    assert handled["model"] == scorer.model_identity
    assert handled["scores"] == direct.scores
    assert remote.scores == direct.scores and remote_file.scores == direct.scores
    assert [w.scores for w in remote.windows] == [w.scores for w in direct.windows]
    assert [w["scores"] for w in handled["windows"]] == [w.scores for w in direct.windows]


def test_batched_sets_are_bit_identical_to_scoring_each_alone(ckpt):
    """Windows of four sets pooled 3 per forward pass (passes mix sets) give every set exactly
    the numbers it gets alone, and the same as one window per pass."""
    pooled = AudioboxScorer(ckpt, device="cpu", batch_size=3)
    single = AudioboxScorer(ckpt, device="cpu", batch_size=1)
    sets = [(_audio(s, seed=20 + i), 44_100) for i, s in enumerate((25.0, 7.0, 31.0, 10.0))]
    batched = pooled.score_batch(sets)
    assert len(batched) == 4
    for (audio, sr), got in zip(sets, batched, strict=True):
        for alone in (pooled.score(audio, sr=sr), single.score(audio, sr=sr)):
            assert got.scores == alone.scores  # exact, not approx
            assert [w.scores for w in got.windows] == [w.scores for w in alone.windows]
            assert [(w.start_s, w.weight) for w in got.windows] == [(w.start_s, w.weight) for w in alone.windows]
    assert [len(r.windows) for r in batched] == [3, 1, 4, 1]


@pytest.mark.slow
def test_score_batch_over_http_fails_only_the_bad_set(scorer):
    """POST /score_batch through the client, 2 sets per request: good sets equal in-process
    scores exactly; a set the server refuses (too long) comes back as that set's own error."""
    from rlmdj.scoring.client import HttpScorer, ScorerRequestError
    from rlmdj.scoring.serving.server import ServerThread, create_app
    from rlmdj.scoring.serving.service import ScoringService, UploadLimits

    service = ScoringService(scorer, limits=UploadLimits(max_duration_s=30.0))
    sets = [(_audio(12.0, seed=31), 44_100), (_audio(35.0, seed=32), 44_100),
            (_audio(4.0, seed=33), 22_050), (_audio(21.0, seed=34), 44_100)]
    with ServerThread(create_app(service)) as server, \
            HttpScorer(server.url, retries=0, max_batch_sets=2) as client:
        outcomes = client.score_batch_outcomes(sets)
    assert isinstance(outcomes[1], ScorerRequestError) and outcomes[1].status == 413
    assert "set1.wav" in str(outcomes[1]) and "limit" in str(outcomes[1])
    for i in (0, 2, 3):
        alone = scorer.score(*sets[i][:1], sr=sets[i][1])
        assert outcomes[i].scores == alone.scores
        assert [w.scores for w in outcomes[i].windows] == [w.scores for w in alone.windows]
