"""Broken sample audio is found when indexed (once, cached) and reported once; replay leaves
no temp folder behind."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rlmdj.audio import folders
from rlmdj.audio.folders import index_folders

pytestmark = pytest.mark.hardening

SR = 44100


@pytest.fixture
def kit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RLMDJ_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "kit"
    root.mkdir()
    rng = np.random.default_rng(0)
    good = 0.3 * rng.standard_normal(SR // 4)
    sf.write(root / "kick_good.wav", good, SR, subtype="FLOAT")
    nan = good.copy()
    nan[100] = np.nan
    sf.write(root / "kick_nan.wav", nan, SR, subtype="FLOAT")
    inf = good.copy()
    inf[5] = np.inf
    sf.write(root / "hat_inf.wav", inf, SR, subtype="FLOAT")
    sf.write(root / "clap_huge.wav", good * 1e30, SR, subtype="FLOAT")
    sf.write(root / "perc_hot.wav", good * 2.0, SR, subtype="FLOAT")  # hot but usable
    return root


def test_non_finite_and_absurd_samples_are_skipped_with_reasons(kit: Path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        samples, skipped = index_folders([kit])
    assert sorted(Path(s.path).name for s in samples) == ["kick_good.wav", "perc_hot.wav"]
    reasons = {Path(p).name: r for p, r in skipped}
    assert set(reasons) == {"kick_nan.wav", "hat_inf.wav", "clap_huge.wav"}
    assert "NaN or infinite" in reasons["kick_nan.wav"] and "NaN or infinite" in reasons["hat_inf.wav"]
    assert "far beyond full scale" in reasons["clap_huge.wav"]
    # One report for all of them, not one warning plus one log line per file.
    mine = [w for w in caught if "sample file(s)" in str(w.message)]
    assert len(mine) == 1 and "clap_huge.wav" in str(mine[0].message)


def test_the_audio_check_is_cached_by_content(kit: Path, monkeypatch: pytest.MonkeyPatch):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        first = index_folders([kit])[1]

    def no_read(*args, **kwargs):
        raise AssertionError("audio read again although its check is cached")

    monkeypatch.setattr(sf, "read", no_read)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        again = index_folders([kit])[1]
    assert again == first
    assert folders.MAX_SAMPLE_PEAK >= 2.0


def test_samples_listing_shows_each_skipped_file_once(kit: Path, tmp_path: Path):
    from rlmdj.audio.samples import build_index
    from rlmdj.experiments.jobs.samples import samples_report

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        index = build_index(builtin=False, paths=[kit])
    text = samples_report(index, {}, width=250)
    assert text.count("clap_huge.wav") == 1 and text.count("kick_nan.wav") == 1


@pytest.mark.slow
@pytest.mark.sandbox
def test_replay_leaves_no_temp_folder(tmp_path, monkeypatch, compose_cfg):
    import tempfile

    from scripted import ScriptedLM

    from rlmdj.dj.rlm import lm as lm_module
    from rlmdj.experiments.jobs.replay import replay_job
    from rlmdj.experiments.jobs.run import run_set

    main = ScriptedLM(["print(add('kick', 0.9, 'four_on_floor'))\nprint(play(8))"])
    monkeypatch.setattr(lm_module, "build_lm", lambda settings, *, replica=0, role="model": (
        ScriptedLM([], fallback={"direction": "hold"}) if role == "critic model" else main))
    outcome = run_set(compose_cfg("dj=rlm", "model=openai", "prompt=baseline", "bars=8",
                                  "model.backoff_s=0", "dj.sandbox.timeout_s=60"))
    assert outcome.status == "FINISHED"
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    replay_job(compose_cfg("experiment=replay", f"experiment.replay.run_id={outcome.run_id}"))
    assert [p.name for p in tmp.iterdir() if p.name.startswith("rlmdj-replay-")] == []
