"""A sweep's jobs are composed once per group choices and per process, to the config Hydra composes;
joblib's workers start before the parent run opens."""

from __future__ import annotations

import contextlib
import copy
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.types import RunMode
from inprocess import children, client_for, parents
from omegaconf import OmegaConf

from rlmdj.config import register_configs, register_resolvers
from rlmdj.experiments.sweep import worker
from rlmdj.experiments.sweep.worker import CachingConfigLoader
from rlmdj.resources import bundled_dir

MASTER = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "bars=16", "replica=range(4)"]
JOBS = [
    ["replica=3"],
    ["replica=1", "dj=random"],
    ["dj=random", "bars=8", "replica=2"],
    ["experiment=ab", "replica=0"],
    ["+model.extra.temperature=0.5", "replica=1"],
    ["++bars=4", "palette=random", "replica=2"],
    ["hydra.job.name=other", "replica=1"],  # Hydra's own bookkeeping: composed in full
]


@pytest.fixture()
def loaders(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    register_resolvers()
    register_configs()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(bundled_dir("conf")), version_base="1.3"):
        inner = GlobalHydra.instance().config_loader()
        master = inner.load_configuration("config", MASTER, RunMode.MULTIRUN)
        yield inner, CachingConfigLoader(inner), master
    GlobalHydra.instance().clear()


def _same(a, b) -> None:
    assert OmegaConf.to_container(a, resolve=False) == OmegaConf.to_container(b, resolve=False)
    assert OmegaConf.is_struct(a) == OmegaConf.is_struct(b)
    assert OmegaConf.is_readonly(a.hydra) == OmegaConf.is_readonly(b.hydra)


@pytest.mark.parametrize("job", JOBS, ids=[" ".join(j) for j in JOBS])
def test_a_job_composes_to_hydras_config(loaders, job) -> None:
    inner, caching, master = loaders
    expected = inner.load_sweep_config(master, list(job))
    first = caching.load_sweep_config(master, list(job))
    _same(first, expected)
    first.bars = 99  # a job's config is its own: the next job's is not touched
    _same(caching.load_sweep_config(master, list(job)), expected)


def test_jobs_differing_in_plain_values_compose_once(loaders, monkeypatch) -> None:
    inner, caching, master = loaders
    composed = []
    real = inner.load_configuration

    def counting(*args, **kwargs):
        composed.append(kwargs.get("overrides", args[1] if len(args) > 1 else None))
        return real(*args, **kwargs)

    monkeypatch.setattr(inner, "load_configuration", counting)
    for replica in range(4):
        cfg = caching.load_sweep_config(master, [f"replica={replica}", "bars=8"])
        assert cfg.replica == replica and cfg.bars == 8
        assert list(cfg.hydra.overrides.task) == [f"replica={replica}", "bars=8"]
        assert cfg.hydra.job.override_dirname == f"bars=8,replica={replica}"
    caching.load_sweep_config(master, ["dj=random", "replica=0"])
    assert len(composed) == 2  # one per combination of group choices
    copied = copy.deepcopy(caching)  # pickled to the workers as Hydra's context is
    assert copied.token == caching.token


@pytest.mark.parametrize("job", [["bars=eight"], ["dj=nosuch"], ["nosuch=1"], ["replica=range(2)"]])
def test_a_bad_job_fails_as_hydra_fails(loaders, job) -> None:
    inner, caching, master = loaders
    with pytest.raises(Exception) as hydra_error:
        inner.load_sweep_config(master, list(job))
    with pytest.raises(type(hydra_error.value)) as ours:
        caching.load_sweep_config(master, list(job))
    assert str(ours.value) == str(hydra_error.value)


def test_another_multiruns_configs_are_not_reused(loaders) -> None:
    inner, caching, master = loaders
    caching.load_sweep_config(master, ["replica=0"])
    later = CachingConfigLoader(inner)
    later.load_sweep_config(master, ["replica=0"])
    assert {k[0] for k in worker._COMPOSED} == {later.token}  # the earlier sweep's are dropped


def test_a_composed_config_is_kept_pickled_and_copied_afresh_for_each_job(loaders) -> None:
    inner, caching, master = loaders
    first = caching.load_sweep_config(master, ["replica=0"])
    assert [type(v) for v in worker._COMPOSED.values()] == [bytes]
    first.bars = 99  # a job changing its copy changes nothing for the next job
    assert caching.load_sweep_config(master, ["replica=1"]).bars != 99


def test_a_warming_worker_keeps_the_configs_the_sweep_composed(loaders, monkeypatch) -> None:
    """The sweep checks its jobs before the workers start: a worker is sent those configs with its
    context and composes none of its own for jobs of the same group choices."""
    inner, caching, master = loaders
    caching.load_sweep_config(master, ["replica=0"])  # the sweep's check of its jobs
    context = worker.pack_context({"instances": {}}, caching, master, ["replica=0"])
    monkeypatch.setattr(worker, "_COMPOSED", {})  # a worker process: nothing composed yet
    state, loader, got_master, overrides = worker.unpack_context(context)
    assert state == {"instances": {}} and overrides == ["replica=0"] and loader.token == caching.token
    composed = []
    real = loader.inner.load_configuration
    monkeypatch.setattr(loader.inner, "load_configuration", lambda *a, **k: composed.append(a) or real(*a, **k))
    job = loader.load_sweep_config(got_master, ["replica=2"])
    assert composed == []
    _same(job, inner.load_sweep_config(master, ["replica=2"]))
    loader.load_sweep_config(got_master, ["dj=random", "replica=1"])  # other group choices
    assert len(composed) == 1


def test_a_config_naming_a_redefined_class_is_kept_as_it_is(tmp_path, monkeypatch) -> None:
    """A worker that found its plugins after unpacking a config holds classes that were redefined
    since: such a config cannot be pickled, and is copied the slow way instead of failing the job."""
    import dataclasses
    import types

    module = types.ModuleType("redefined_schema")
    monkeypatch.setitem(sys.modules, "redefined_schema", module)

    @dataclasses.dataclass
    class Conf:
        bars: int = 32

    Conf.__module__, Conf.__qualname__ = "redefined_schema", "Conf"
    module.Conf = Conf
    cfg = OmegaConf.structured(Conf)
    assert isinstance(worker._kept(cfg), bytes)
    module.Conf = dataclasses.make_dataclass("Conf", [("bars", int, 32)])  # the module ran again
    kept = worker._kept(cfg)
    assert kept is cfg
    copied = worker._copied(kept)
    assert copied == cfg and copied is not cfg and OmegaConf.get_type(copied) is Conf


REPO = Path(__file__).resolve().parents[3]


def _started_at(pid_start_ticks: str) -> float:
    """Epoch seconds a process started, from its start time in clock ticks since boot."""
    boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                if line.startswith("btime"))
    return boot + int(pid_start_ticks) / os.sysconf("SC_CLK_TCK")


def _descendants_running(root: int, needle: str) -> set[int]:
    """Processes under ``root`` whose command line holds ``needle``."""
    parent_of, found = {}, set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            parent_of[int(stat.parent.name)] = int(fields[1])
        except (OSError, ValueError, IndexError):
            continue
    for pid in parent_of:
        ancestor = parent_of.get(pid)
        while ancestor not in (None, 0, 1, root):
            ancestor = parent_of.get(ancestor)
        if ancestor == root:
            try:
                if needle in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                    found.add(pid)
            except OSError:
                continue
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/stat").is_file(), reason="process start times from /proc")
def test_joblib_workers_start_before_the_parent_run(store) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rlmdj.cli", "-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
         "bars=8", "replica=range(4)", "experiment.analysis=none", *store["overrides"]],
        cwd=store["dir"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    writers: set[int] = set()
    workers: dict[int, str] = {}  # pid -> start time in clock ticks since boot
    while proc.poll() is None:  # the run writers and workers the sweep started
        writers |= _descendants_running(proc.pid, "rlmdj.tracking.writer")
        for pid in _descendants_running(proc.pid, "loky") - set(workers):
            with contextlib.suppress(OSError, IndexError):
                workers[pid] = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
        time.sleep(0.1)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, out[-2000:] + err[-2000:]
    # No writer process: the sweep's process, which imports MLflow for its parent run anyway,
    # records every job's run in its own threads, shared by both workers.
    assert writers == set()
    client, exp = client_for(store["uri"])
    [parent] = parents(client, exp)
    kids = children(client, exp, parent.info.run_id)
    assert len(kids) == 4 and {k.info.status for k in kids} == {"FINISHED"}
    assert {k.data.tags["rlmdj.pid"] for k in kids} == {str(proc.pid)} == {parent.data.tags["rlmdj.pid"]}
    # The workers were up while the store and the parent opened.
    assert len(workers) >= 2
    for started in workers.values():
        assert _started_at(started) < parent.info.start_time / 1000


def test_a_workers_plugins_are_found_once_not_per_job(monkeypatch) -> None:
    """The launcher restores Hydra's singletons before each job; the restore keeps the plugins."""
    from hydra.core.plugins import Plugins
    from hydra.core.singleton import Singleton

    monkeypatch.setattr(Singleton, "set_state", Singleton.__dict__["set_state"])  # undone after
    monkeypatch.setattr(Singleton, "_instances", dict(Singleton._instances))
    state = Singleton.get_state()  # as the launcher pickles it: without the plugins
    assert Plugins not in state["instances"]
    scans = []
    monkeypatch.setattr(Plugins, "_scan_all_plugins", lambda self, *a, **k: scans.append(1) or ([], []))
    Singleton.set_state(copy.deepcopy(state))
    assert len(scans) == 1  # Hydra's own restore rediscovers them for every job
    worker._keep_plugins()
    worker._keep_plugins()  # once per process, however often a worker warms
    found = Plugins.instance()
    for _ in range(3):
        Singleton.set_state(copy.deepcopy(state))
        assert Plugins.instance() is found
    assert len(scans) == 1
    assert Singleton._instances[Plugins] is found and set(state["instances"]) <= set(Singleton._instances)
