"""``rlmdj experiment=compare`` through the CLI: rescore-then-compare on either scorer, the
documented filter commands typed into bash as written, and settings refused before anything
opens."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.slow  # sweeps, a scorer server on 127.0.0.1, the CLI end to end

REPO = Path(__file__).resolve().parents[3]
DOCS = (REPO / "README.md", REPO / "docs" / "experiments.md", REPO / "conf" / "experiment" / "compare.yaml")
# A stand-in for audiobox behind the real scoring API (deterministic, from window RMS).
SERVER = """
import threading
from rlmdj.scoring.serving.server import ServerThread, create_app
from rlmdj.scoring.serving.service import ScoringService
from rms_scorer import RmsScorer
with ServerThread(create_app(ScoringService(RmsScorer()))) as srv:
    print(srv.url, flush=True)
    threading.Event().wait()
"""


def _env() -> dict[str, str]:
    """``rlmdj`` on PATH (for bash), this checkout and the test helpers importable (for the test server)."""
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests" / "support")])}


def rlmdj(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).parent / "rlmdj"), *args], cwd=cwd, env=_env(),
                          capture_output=True, text=True, timeout=timeout)


def bash(line: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", line], cwd=cwd, env=_env(), capture_output=True, text=True,
                          timeout=300)


SWEEP = ["-m", "dj=reference,random", "replica=range(2)", "bars=8", "progress=false"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, pack_cache_dir: Path) -> dict:
    """A finished 2 x 2 sweep in the default store of its launch folder (tracking.* unset, so
    the documented commands run there as written)."""
    cwd = tmp_path_factory.mktemp("compare-cli")
    done = rlmdj([*SWEEP, f"hydra.sweep.dir={cwd}/sweep"], cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    client = MlflowClient(f"sqlite:///{cwd}/mlruns.db")
    exp = client.get_experiment_by_name("rlmdj").experiment_id
    [parent] = client.search_runs([exp], filter_string="tags.`rlmdj.sweep` = 'parent'")
    return {"cwd": cwd, "client": client, "exp": exp, "parent": parent.info.run_id}


def _delta(client: MlflowClient, exp: str, parent: str, metric: str) -> float:
    kids = client.search_runs([exp], filter_string=f"tags.mlflow.parentRunId = '{parent}'")
    by_dj: dict[str, list[float]] = {}
    for k in kids:
        by_dj.setdefault(k.data.tags["rlmdj.cond.dj"], []).append(k.data.metrics[metric])
    assert {dj: len(v) for dj, v in by_dj.items()} == {"reference": 2, "random": 2}
    return sum(by_dj["random"]) / 2 - sum(by_dj["reference"]) / 2


def test_rescore_then_compare_on_either_scorer(store: dict, process_group) -> None:
    cwd, client, exp, parent = store["cwd"], store["client"], store["exp"], store["parent"]
    server = process_group([sys.executable, "-c", SERVER], env=_env(), stdout=subprocess.PIPE, text=True)
    url = server.stdout.readline().strip()
    assert url.startswith("http://127.0.0.1:"), url
    done = rlmdj(["experiment=rescore", f"experiment.rescore.parent={parent[:8]}", "scorer=http",
                  f"scorer.url={url}", "scorer.cache=false", "progress=false"], cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "4 of 4 finished runs scored with audiobox/http/rms-v1" in done.stdout

    # On the rescore's scorer: its numbers, paired over both replicas, nothing left out.
    done = rlmdj(["experiment=compare", f"experiment.compare.parent={parent}",
                  "experiment.compare.primary=audiobox/OBJ"], cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "scorer audiobox/http/rms-v1" in done.stdout and "excluded" not in done.stdout
    got = client.get_run(parent).data.metrics
    assert got["compare/random/delta_OBJ"] == pytest.approx(_delta(client, exp, parent, "audiobox/OBJ"))
    assert got["compare/random/n"] == 2

    # By default: the scorer the runs were played with, and a note naming the other one.
    done = rlmdj(["experiment=compare", f"experiment.compare.parent={parent}"], cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "scorer proxy-v" in done.stdout
    assert "experiment.compare.scorer=audiobox" in " ".join(done.stdout.split())
    proxy_delta = _delta(client, exp, parent, "proxy/OBJ")
    assert client.get_run(parent).data.metrics["compare/random/delta_OBJ"] == pytest.approx(proxy_delta)
    assert proxy_delta != pytest.approx(_delta(client, exp, parent, "audiobox/OBJ"))

    # A resumed sweep re-runs nothing and still ends with its analysis.
    done = rlmdj([*SWEEP, "experiment.resume=true", f"hydra.sweep.dir={cwd}/sweep2"], cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "sweep analysis skipped" not in done.stderr and "verdict: random vs reference" in done.stdout
    assert "rlmdj.analysis_error" not in client.get_run(parent).data.tags


def _documented_filter_commands(path: Path) -> list[str]:
    """Every ``rlmdj experiment=compare`` line of ``path`` that passes a filter, as written."""
    lines = [re.sub(r"^#\s*", "", line.strip()) for line in path.read_text().splitlines()]
    return [line for line in lines if line.startswith("rlmdj experiment=compare")
            and "experiment.compare.filter=" in line]


def test_the_documented_filter_commands_work_as_typed_in_bash(store: dict) -> None:
    client, exp = store["client"], store["exp"]
    commands = {path.name: _documented_filter_commands(path) for path in DOCS}
    assert commands["README.md"], "README.md shows no compare filter command"
    for name, lines in commands.items():
        for line in lines:
            before = {r.info.run_id for r in client.search_runs([exp])}
            done = bash(line, store["cwd"])
            assert done.returncode == 0, f"{name}: {line}\n{done.stderr[-3000:]}"
            [new] = [r for r in client.search_runs([exp]) if r.info.run_id not in before]
            where = new.data.tags["rlmdj.compare.filter"]
            assert where.startswith("tags.`rlmdj.dj` "), where  # the backticks reached MLflow
            by = re.search(r"experiment\.compare\.by=\[(\w+)\]", line)
            assert by and new.data.tags["rlmdj.compare.group_by"] == by.group(1)


@pytest.mark.parametrize("setting", ["experiment.compare.alpha=0", "experiment.compare.power=1",
                                     "experiment.compare.alpha=1", "experiment.compare.delta=0",
                                     "experiment.compare.max_inline_mb=-1", "experiment.compare.test=z",
                                     "experiment.compare.unit=run"])
def test_settings_out_of_range_fail_in_one_line_before_anything_opens(tmp_path: Path, setting: str) -> None:
    key = setting.split("=", 1)[0]
    runs = [["experiment=compare", setting]]
    if key in ("experiment.compare.alpha", "experiment.compare.power"):  # a sweep's analysis reads them too
        runs.append([*SWEEP, setting, f"hydra.sweep.dir={tmp_path}/sweep"])
    for args in runs:
        done = rlmdj(args, tmp_path)
        assert done.returncode == 2, done.stderr[-3000:]
        [line] = done.stderr.strip().splitlines()
        assert line.startswith(f"rlmdj: error: {key} must be "), line
        assert not (tmp_path / "mlruns.db").exists()  # no store, so no run, was opened
