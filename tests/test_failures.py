"""One line per failure of the input or the environment; bugs keep their traceback."""

from __future__ import annotations

import errno

import pytest
from omegaconf import OmegaConf

from rlmdj.errors import EnvironmentProblem, ParameterError
from rlmdj.failures import DEBUG_HINT, debug_requested, explain

pytestmark = pytest.mark.hardening


@pytest.fixture
def cfg(tmp_path):
    return OmegaConf.create({
        "paths": {"output_dir": str(tmp_path / "out")},
        "samples": {"cache_dir": str(tmp_path / "cache"), "paths": [str(tmp_path / "kit")]},
        "scorer": {"cache_dir": str(tmp_path / "cache" / "scores")},
        "tracking": {"uri": f"sqlite:///{tmp_path}/store/mlruns.db",
                     "artifact_location": str(tmp_path / "art")},
    })


@pytest.mark.parametrize(("where", "key"), [
    ("out/set.flac", "paths.output_dir"),
    ("cache/pack/kick.wav", "samples.cache_dir"),
    ("cache/scores/x.sqlite", "scorer.cache_dir"),  # the most specific folder wins
    ("art/abc/artifacts/run_card.html", "tracking.artifact_location"),
    ("store/mlruns.db", "tracking.uri"),
])
def test_disk_errors_name_the_config_key(cfg, tmp_path, where, key):
    exc = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / where))
    message, code = explain(exc, cfg)
    assert message.startswith(f"{key}: No space left on device") and code == 1
    assert f"point {key} at another disk" in message and DEBUG_HINT in message


def test_a_failed_copy_names_its_destination(cfg, tmp_path):
    exc = OSError(errno.ENOSPC, "No space left on device", "/tmp/staging/card.html",
                  None, str(tmp_path / "art/r/artifacts/card.html"))
    message, _ = explain(exc, cfg)
    assert message.startswith("tracking.artifact_location:") and "/art/r/artifacts/card.html" in message


def test_read_only_and_permission_errors(cfg, tmp_path):
    message, _ = explain(OSError(errno.EROFS, "Read-only file system", str(tmp_path / "out/x")), cfg)
    assert "read-only" in message and "paths.output_dir" in message


def test_input_and_environment_problems_are_one_line():
    assert explain(ParameterError("bars must be between 1 and 4096")) == (
        "bars must be between 1 and 4096", 2)
    message, code = explain(EnvironmentProblem("tracking.uri=x: no server\nsecond line"))
    assert code == 1 and "\n" not in message


def test_secrets_never_reach_the_message():
    message, _ = explain(EnvironmentProblem("tracking.uri=http://me:hunter2hunter2@host: down"))
    assert "hunter2hunter2" not in message


def test_bugs_are_not_explained():
    assert explain(ZeroDivisionError("division by zero")) is None
    assert explain(KeyError("x")) is None


@pytest.mark.parametrize(("argv", "env", "expected"), [
    ([], {}, False),
    ([], {"RLMDJ_DEBUG": "1"}, True),
    (["hydra.verbose=true"], {}, True),
    (["hydra.verbose=[rlmdj]"], {}, True),
    (["hydra.verbose=false"], {}, False),
    (["bars=4"], {"RLMDJ_DEBUG": "0"}, False),
])
def test_debug_is_asked_for_by_env_or_hydra_verbose(argv, env, expected):
    assert debug_requested(argv, env) is expected


def test_refused_calls_after_the_end_are_counted_not_traced(make_session):
    from rlmdj.dj.rlm.accounting import driver_metrics
    from rlmdj.dj.tools.mixer import SetComplete, ToolLayer

    session = make_session(4)
    tools = ToolLayer(session)
    tools.call("add", "kick", 0.9, "four_on_floor")
    tools.call("play", 4)
    assert session.finished
    for _ in range(500):
        with pytest.raises(SetComplete):
            tools.call("fader", "kick", 0.5)
    refused = [t for t in tools.trace if "set complete" in str(t["result"].get("error", ""))]
    assert len(refused) == 1 and len(tools.trace) == 3
    metrics = driver_metrics(lms={}, tools=tools, guardrails=None, sandbox_restarts=0,
                             wall_s=1.0, audio_s=1.0)
    assert metrics["dj/tool_calls_after_end"] == 500


@pytest.mark.parametrize(("path", "key"), [
    ("outputs/2026-01-01/10-00-00-123/.hydra/config.yaml", "hydra.run.dir"),
    ("multirun/2026-01-01/10-00-00-123/multirun.yaml", "hydra.sweep.dir"),
])
def test_hydra_output_folders_are_named_too(path, key):
    message, code = explain(OSError(errno.EROFS, "Read-only file system", path))
    assert message.startswith(f"{key}: Read-only file system") and code == 1
