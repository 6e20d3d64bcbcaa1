"""``hydra/launcher=submitit_local``: the SLURM launcher's code path (submitit job arrays) on
this machine, against a SQLite store."""

from __future__ import annotations

import pytest
from launchers import sigterm_check, sweep_resume_check

pytest.importorskip("hydra_plugins.hydra_submitit_launcher",
                    reason="hydra/launcher=submitit_* needs submitit: pip install -e '.[slurm]'")
pytestmark = [pytest.mark.slow, pytest.mark.scale]


def _store(tmp_path) -> tuple[str, list[str]]:
    uri = f"sqlite:///{tmp_path}/mlruns.db"
    return uri, [f"tracking.artifact_location={tmp_path}/mlartifacts"]


def test_submitit_sweep_records_parent_and_children_and_resumes(tmp_path, process_group):
    uri, extra = _store(tmp_path)
    sweep_resume_check(["hydra/launcher=submitit_local"], uri, tmp_path, process_group, extra=extra)
    assert list((tmp_path / "multirun" / "a" / ".submitit").iterdir())  # jobs went through submitit


def test_submitit_sigterm_cancels_jobs_and_leaves_nothing_running(tmp_path, process_group):
    uri, extra = _store(tmp_path)
    out = sigterm_check(["hydra/launcher=submitit_local", "hydra.launcher.cancel_grace_s=20"], uri, tmp_path,
                        process_group, extra=extra)
    assert "cancelling 3 submitit job(s)" in out


def test_slurm_preset_composes_with_rlmdj_defaults():
    """``hydra/launcher=submitit_slurm`` is rlmdj's launcher with its defaults (no cluster here)."""
    from hydra import compose, initialize_config_dir

    from rlmdj.config import register_configs
    from rlmdj.resources import bundled_dir

    register_configs()
    with initialize_config_dir(config_dir=str(bundled_dir("conf")), version_base="1.3"):
        cfg = compose("config", overrides=["hydra/launcher=submitit_slurm", "hydra.launcher.partition=gpu"],
                      return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("rlmdj_submitit_launcher.submitit_launcher.RlmdjSlurmLauncher")
    assert (launcher.partition, launcher.cpus_per_task, launcher.mem_gb, launcher.array_parallelism) == ("gpu", 2, 8, 32)
    assert launcher.submitit_folder.endswith("/.submitit/%j")
