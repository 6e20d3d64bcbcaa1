"""``hydra/launcher=ray``: sweeps as Ray tasks on a Ray cluster on 127.0.0.1 and on a private
local Ray, against an MLflow tracking server."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from launchers import RAY_LOOPBACK, sigterm_check, sweep_resume_check

pytest.importorskip("ray", reason="hydra/launcher=ray needs Ray: pip install -e '.[ray]'")
pytestmark = [pytest.mark.slow, pytest.mark.scale]

_HEAD = """
import signal, ray
ray.init(address="local", num_cpus=3, include_dashboard=False, log_to_driver=False)
print("GCS", ray.get_runtime_context().gcs_address, flush=True)
signal.sigwait({signal.SIGTERM, signal.SIGINT})
ray.shutdown()
"""


@pytest.fixture()
def ray_cluster(process_group, tmp_path):
    """A Ray head on 127.0.0.1 in its own process (the cluster outlives each sweep's driver)."""
    proc = process_group([sys.executable, "-c", _HEAD], cwd=tmp_path, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, env={**os.environ, **RAY_LOOPBACK})
    deadline = time.time() + 120
    for line in proc.stdout:
        if line.startswith("GCS "):
            address = line.split()[1]
            assert address.startswith("127.0.0.1:"), address
            return address
        if time.time() > deadline:
            break
    pytest.fail("Ray head did not start")


def test_ray_sweep_records_parent_and_children_and_resumes(tracking_server, ray_cluster, tmp_path,
                                                          process_group):
    """Jobs as tasks on the cluster; the resume runs on a private local Ray (address=null)."""
    sweep_resume_check(
        ["hydra/launcher=ray", f"hydra.launcher.address={ray_cluster}"], tracking_server["uri"], tmp_path,
        process_group, resume_launcher=["hydra/launcher=ray", "hydra.launcher.num_cpus=2"],
    )
    assert any(tracking_server["artifacts"].rglob("run_card.html"))  # through the server's store


def test_ray_sigterm_cancels_tasks_and_leaves_nothing_running(tracking_server, ray_cluster, tmp_path,
                                                              process_group):
    out = sigterm_check(["hydra/launcher=ray", f"hydra.launcher.address={ray_cluster}",
                         "hydra.launcher.cancel_grace_s=20"], tracking_server["uri"], tmp_path, process_group)
    assert "cancelling 3 job(s)" in out
