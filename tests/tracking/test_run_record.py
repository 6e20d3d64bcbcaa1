"""What a default run leaves in MLflow: meaningful params, paths as tags, inputs, one audio copy."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from mlflow.tracking import MlflowClient

from rlmdj.experiments.jobs.run import run_set
from rlmdj.tracking.run import NullRun, TrackedRun


@pytest.fixture()
def finished(tmp_path, compose_cfg):
    cfg = compose_cfg("bars=16")
    outcome = run_set(cfg)
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns.db")
    return cfg, outcome, client, client.get_run(outcome.run_id)


@pytest.mark.slow
def test_run_is_named_described_and_versioned(finished):
    _, outcome, _, run = finished
    tags = run.data.tags
    # The palette drawn for replica 0 is "random-r0"; the name says the replica once.
    assert tags["rlmdj.palette"] == "random-r0"
    assert run.info.run_name == "reference·random·16b·r0" == outcome.run_name
    note = tags["mlflow.note.content"]
    assert "proxy/OBJ" in note and f"{outcome.score.obj:.3f}" in note and "audio/set.flac" in note
    assert tags["rlmdj.version"] and tags["rlmdj.versions.mlflow"] and tags["rlmdj.versions.dspy"]
    assert "rlmdj.versions.torch" in tags


@pytest.mark.slow
def test_params_hold_only_what_applies_and_paths_are_tags(finished):
    _, _, _, run = finished
    params, tags = run.data.params, run.data.tags
    assert "bars" in params and "scorer.name" in params and "palette.source" in params
    for key in params:
        assert not key.startswith(("paths.", "serve.", "experiment.screen.", "experiment.gap.",
                                   "replay.", "model.", "prompt.")), key
        assert key not in ("tracking.uri", "tracking.artifact_location", "samples.cache_dir")
    assert tags["rlmdj.path.paths.output_dir"].endswith("out")
    assert tags["rlmdj.path.tracking.uri"].startswith("sqlite:///")


@pytest.mark.slow
def test_palette_and_pack_are_run_inputs(finished):
    _, _, _, run = finished
    inputs = {[t.value for t in d.tags if t.key == "mlflow.data.context"][0]: d.dataset
              for d in run.inputs.dataset_inputs}
    assert set(inputs) == {"palette", "samples"}
    palette = inputs["palette"]
    assert palette.name == run.data.tags["rlmdj.palette"]
    assert run.data.tags["rlmdj.palette_hash"].startswith(palette.digest)
    assert inputs["samples"].name == "sample-pack-s0" and '"pack_seed": 0' in inputs["samples"].source


@pytest.mark.slow
def test_window_metrics_step_by_start_second_with_window_obj(finished):
    _, outcome, client, run = finished
    obj = client.get_metric_history(run.info.run_id, "proxy/window/OBJ")
    starts = [int(round(w.start_s)) for w in outcome.score.windows]
    assert [m.step for m in obj] == starts and starts[1] > 1
    weights = outcome.score.weights
    expected = [sum(weights[a] * w.scores[a] for a in weights) for w in outcome.score.windows]
    assert [m.value for m in obj] == pytest.approx(expected)


@pytest.mark.slow
def test_audio_is_stored_once_as_24_bit_flac_with_render_digest(finished):
    cfg, outcome, client, run = finished
    audio = {a.path for a in client.list_artifacts(run.info.run_id, "audio")}
    assert audio == {"audio/set.flac", "audio/preview.ogg"}
    local = client.download_artifacts(run.info.run_id, "audio/set.flac")
    info = sf.info(local)
    assert info.format == "FLAC" and info.subtype == "PCM_24"
    out_dir = Path(str(cfg.paths.output_dir))
    assert not [p for p in out_dir.rglob("*") if p.suffix in (".wav", ".flac", ".ogg", ".html", ".png")]
    data, _ = sf.read(local, dtype="float32")
    assert len(run.data.tags["rlmdj.render_sha256"]) == 64
    assert np.max(np.abs(data)) <= 1.0
    preview = Path(client.download_artifacts(run.info.run_id, "audio/preview.ogg")).stat().st_size
    minutes = info.duration / 60
    assert preview <= 1_000_000 * minutes


@pytest.mark.slow
def test_wav_format_keeps_the_float_render(tmp_path, compose_cfg):
    outcome = run_set(compose_cfg("bars=8", "render.artifact_format=wav"))
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns.db")
    local = client.download_artifacts(outcome.run_id, "audio/set.wav")
    data, _ = sf.read(local, dtype="float32")
    arr = np.ascontiguousarray(data, dtype="<f4")
    digest = hashlib.sha256(f"{arr.shape[0]}x{arr.shape[1]}:".encode())
    digest.update(arr.tobytes())
    assert client.get_run(outcome.run_id).data.tags["rlmdj.render_sha256"] == digest.hexdigest()


@pytest.mark.slow
def test_tracking_off_writes_the_artifacts_to_the_output_folder(tmp_path, compose_cfg):
    cfg = compose_cfg("bars=8", "tracking.enabled=false")
    outcome = run_set(cfg)
    assert outcome.run_id is None and outcome.status == "FINISHED"
    out_dir = Path(str(cfg.paths.output_dir))
    assert (out_dir / "audio" / "set.flac").is_file() and (out_dir / "run_card.html").is_file()
    assert outcome.wav_path == out_dir / "audio" / "set.flac"


class _CountingClient:
    """Wraps a real client; counts the write calls a run makes."""

    def __init__(self, inner: MlflowClient) -> None:
        self.inner = inner
        self.calls: list[str] = []

    def __getattr__(self, name):
        attr = getattr(self.inner, name)
        if name in ("log_batch", "log_artifacts", "log_artifact", "log_param", "set_tag", "log_metric"):
            def counted(*args, **kwargs):
                self.calls.append(name)
                return attr(*args, **kwargs)
            return counted
        return attr


def test_writes_are_batched_and_artifacts_uploaded_once(tmp_path):
    client = _CountingClient(MlflowClient(f"sqlite:///{tmp_path}/mlruns.db"))
    exp = client.create_experiment("e")
    with TrackedRun(client, exp) as run:
        run.log_params({f"p{i}": i for i in range(250)})
        run.set_tags({f"t{i}": i for i in range(30)})
        run.log_series("curve", [float(i) for i in range(1500)])
        run.log_text("hello", "notes/a.txt")
        run.log_json({"x": 1}, "notes/b.json")
        run.log_text("card", "card.html")
    assert client.calls.count("log_artifacts") == 1 and "log_artifact" not in client.calls
    assert client.calls.count("log_batch") == 3  # 250 params in 3 calls of <=100; metrics ride along
    got = client.get_run(run.run_id)
    assert len(got.data.params) == 250 and got.data.tags["t29"] == "29"
    assert len(client.get_metric_history(run.run_id, "curve")) == 1500
    assert {a.path for a in client.list_artifacts(run.run_id, "notes")} == {"notes/a.txt", "notes/b.json"}


def test_a_failed_run_still_sends_what_it_queued(tmp_path):
    client = MlflowClient(f"sqlite:///{tmp_path}/mlruns.db")
    exp = client.create_experiment("e")
    with pytest.raises(RuntimeError), TrackedRun(client, exp) as run:
        run.log_metrics({"m": 1.0})
        run.log_text("partial", "dj/transcript.json")
        raise RuntimeError("driver crashed")
    got = client.get_run(run.run_id)
    assert got.info.status == "FAILED" and got.data.metrics["m"] == 1.0
    assert [a.path for a in client.list_artifacts(run.run_id, "dj")] == ["dj/transcript.json"]


def test_null_run_sends_nothing(tmp_path):
    with NullRun() as run:
        run.log_params({"a": 1})
        run.log_text("x", "a.txt")
    assert run.status == "FINISHED"


def test_scrubbing_masks_text_but_leaves_inline_media_intact(tmp_path, monkeypatch):
    """A run card's base64 preview is neither searched (megabytes) nor corrupted by a chance match."""
    from rlmdj.tracking.scrubbing import scrub_file

    monkeypatch.setenv("OPENAI_API_KEY", "sk-proj-abcdefghijklmnopqrstuvwx")
    media = "data:audio/ogg;base64," + "QUtJQUFCQ0RFRkdISUpLTE1OT1A" * 2 + "AKIAABCDEFGHIJKLMNOP" + "A" * 200_000
    card = tmp_path / "run_card.html"
    card.write_text(f"<p>key sk-proj-abcdefghijklmnopqrstuvwx</p><audio src='{media}'></audio>", encoding="utf-8")
    clean = scrub_file(card)
    assert clean is not None and "sk-proj-abcdefghijklmnopqrstuvwx" not in clean
    assert media in clean
