"""``rlmdj experiment=samples``: the listing a user needs to write a palette by hand."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rlmdj.audio.samples import build_index
from rlmdj.experiments.jobs.samples import samples_report
from rlmdj.experiments.registry import get_job

pytestmark = pytest.mark.pipeline

RLMDJ = str(Path(sys.executable).parent / "rlmdj")
SR = 44100


@pytest.fixture
def kit(tmp_path: Path) -> Path:
    root = tmp_path / "kit"
    root.mkdir()
    rng = np.random.default_rng(1)
    sf.write(root / "kick_01.wav", 0.3 * rng.standard_normal(8820), SR, subtype="PCM_24")
    n = int(round(4 * 240 / 124 * SR))
    sf.write(root / "bass_loop_124bpm.wav", 0.3 * np.sin(np.arange(n) * 0.01), SR)
    (root / "snare_empty.wav").write_bytes(b"")
    sf.write(root / "mystery.wav", 0.1 * rng.standard_normal(4410), SR)
    return root


def test_report_lists_ids_by_role_skips_and_palettes(kit: Path, tmp_path: Path) -> None:
    with pytest.warns(UserWarning):
        index = build_index(builtin=False, paths=[kit])
    palette_file = tmp_path / "mine.json"
    palette_file.write_text('{"samples": {}}')
    text = samples_report(index, {"mine": palette_file}, width=200)
    for sample in index:
        assert sample.id in text
    assert "kick — 1 sample(s), 1 usable as oneshot" in text
    assert "bassline — 1 sample(s), 1 usable as loop" in text
    assert "perc: no samples" in text
    bass = next(s for s in index if s.role == "bassline")
    assert (bass.bars, bass.bpm) == (4, 124.0)
    assert "skipped — 2 file(s)" in text and "empty file (0 bytes)" in text
    assert "no role keyword" in text and "mine" in text


def test_job_is_registered() -> None:
    assert get_job("samples").__name__ == "samples_job"


@pytest.mark.slow  # the CLI in a subprocess
def test_cli_lists_user_samples_without_logging_a_run(
    kit: Path, tmp_path: Path, pack_cache_dir: Path
) -> None:
    env = dict(os.environ, COLUMNS="200")
    proc = subprocess.run(
        [RLMDJ, "experiment=samples", f"samples.paths=[{kit}]", "samples.builtin=false",
         "progress=false"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "user:kick-kick-01-" in proc.stdout and "user:bassline-bass-loop-124bpm-" in proc.stdout
    assert "snare_empty.wav" in proc.stdout
    assert not (tmp_path / "mlruns.db").exists()
