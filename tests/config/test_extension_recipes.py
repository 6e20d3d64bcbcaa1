"""The extension recipes of docs/architecture.md, each exercised with a toy extension.

Each test registers its toy the way the recipe says (one registry entry plus the code), runs it
through the same path a user's command takes, and leaves the registry as it found it. The DJ
tool recipe is tests/dj/tools/test_tool_registry.py.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from rlmdj.dj.drivers.base import DriverReport
from rlmdj.dj.drivers.registry import DRIVERS, build_driver
from rlmdj.errors import ParameterError
from rlmdj.experiments.registry import ANALYSES, JOBS, get_job
from rlmdj.scoring.base import ScoreResult
from rlmdj.scoring.factory import SCORERS, build_scorer


# ---------------------------------------------------------------- a scorer
class LoudnessScorer:
    """Toy scorer: every axis is the audio's RMS level on the 1-10 scale."""

    name = "loudness"
    identity = "loudness-v1"

    def __init__(self, weights: dict[str, float] | None = None) -> None:
        self.weights = weights

    def score(self, audio: np.ndarray, *, sr: int) -> ScoreResult:
        level = float(np.sqrt(np.mean(np.square(audio)))) if audio.size else 0.0
        value = 1.0 + 9.0 * min(1.0, level)
        kwargs = {"weights": self.weights} if self.weights else {}
        return ScoreResult(self.name, self.identity, {k: value for k in ("CE", "CU", "PC", "PQ")}, **kwargs)


def loudness_scorer(c: Any) -> LoudnessScorer:
    return LoudnessScorer(weights=dict(c.weights))


# ---------------------------------------------------------------- a driver
class FourOnTheFloorDriver:
    """Toy driver: the kick alone, the whole set."""

    name = "kick_only"

    def perform(self, session: Any) -> None:
        session.add("kick", 0.9, "four_on_floor")
        session.play(session.max_bars)

    def report(self) -> DriverReport:
        return DriverReport(metrics={"dj/operations": 1.0})


def kick_only_from_config(cfg: Any, *, ear_scorer: Any = None) -> FourOnTheFloorDriver:
    return FourOnTheFloorDriver()


def test_add_a_scorer(compose_cfg, tmp_path):
    with SCORERS.registered("loudness", loudness_scorer):
        cfg = compose_cfg("scorer.name=loudness")
        scorer = build_scorer(cfg.scorer)
        result = scorer.score(np.full(1000, 0.5, dtype=np.float32), sr=44_100)
        assert scorer.name == "loudness" and result.scores["CE"] == pytest.approx(5.5)
        # scorer.cache=true wraps any registered scorer, keyed by its identity.
        cached = build_scorer(compose_cfg("scorer.name=loudness", "scorer.cache=true",
                                          f"scorer.cache_dir={tmp_path}").scorer)
        assert cached.identity == "loudness-v1"
    with pytest.raises(ParameterError, match="unknown scorer 'loudness' for scorer.name"):
        build_scorer(compose_cfg("scorer.name=loudness").scorer)


@pytest.mark.slow  # plays, renders and scores a set end to end
def test_add_a_driver_and_play_a_run_with_it_and_the_toy_scorer(compose_cfg):
    from rlmdj.experiments.jobs.run import run_set

    with DRIVERS.registered("kick_only", kick_only_from_config), \
            SCORERS.registered("loudness", loudness_scorer):
        cfg = compose_cfg("dj.name=kick_only", "dj.driver=kick_only", "scorer.name=loudness",
                          "bars=4", "tracking.enabled=false")
        assert isinstance(build_driver(cfg), FourOnTheFloorDriver)
        outcome = run_set(cfg, quiet=True)
    assert outcome.status == "FINISHED"
    assert outcome.score is not None and outcome.score.scorer == "loudness"
    assert "kick_only" not in DRIVERS
    with pytest.raises(ParameterError, match="unknown dj driver 'kick_only' for dj.driver"):
        build_driver(cfg)


def test_add_a_job_and_an_analysis(compose_cfg):
    calls: list[str] = []

    def hello_job(cfg: Any) -> float:
        calls.append(str(cfg.bars))
        return 1.5

    def count_analysis(client: Any, experiment_id: str, parent: str, config: Any, *, out_dir: Any) -> int:
        return 7

    with JOBS.registered("hello", hello_job), ANALYSES.registered("count", count_analysis):
        cfg = compose_cfg("experiment.name=hello", "experiment.analysis=count", "bars=8")
        # The entry point runs exactly this: the job experiment.name names.
        assert get_job(str(cfg.experiment.name))(cfg) == 1.5 and calls == ["8"]
        from rlmdj.experiments.registry import run_analysis

        assert run_analysis("count", None, "0", "p", cfg, out_dir=None) == 7
    with pytest.raises(ParameterError, match="unknown experiment job 'hello' for experiment.name"):
        get_job("hello")


# ------------------------------------------------------ the registry's checks, in process
def test_a_check_declared_with_an_entry_runs_when_the_config_selects_it(compose_cfg):
    from rlmdj.experiments.cli.preflight import preflight
    from rlmdj.validation import number

    def check(cfg: Any) -> None:
        number(cfg, "bars", lo=8, example=8)

    with DRIVERS.registered("kick_only", kick_only_from_config, check=check):
        preflight(compose_cfg("dj.name=kick_only", "dj.driver=kick_only", "bars=8"))
        with pytest.raises(ParameterError, match=r"^bars must be at least 8, got 4"):
            preflight(compose_cfg("dj.name=kick_only", "dj.driver=kick_only", "bars=4"))
        preflight(compose_cfg("bars=4"))  # another driver selected: the check is not run
    assert DRIVERS.check_of("reference") is None and "kick_only" not in DRIVERS


def test_lazy_checks_are_imported_only_for_the_entry_chosen():
    from rlmdj.registry import Registry

    reg: Registry = Registry("thing", key="x.name", entries={"a": "json:dumps", "b": "json:loads"},
                             checks={"a": "rlmdj.no_such_module:check"})
    assert reg.check_of("b") is None  # b's check: none; a's module is never imported
    with pytest.raises(ModuleNotFoundError):
        reg.check_of("a")
    with pytest.raises(ParameterError, match="unknown thing 'c' for x.name"):
        reg.check("c", {})
    with pytest.raises(ValueError, match="no entry"):
        Registry("thing", key="x.name", checks={"z": "json:dumps"})
    from rlmdj.config.dj import DJConfig

    lazy: Registry = Registry("thing", key="x.name", entries={"a": "json:dumps", "b": "json:loads"},
                              settings={"a": "rlmdj.config.dj:DJConfig"})
    assert lazy.with_settings() == ["a"] and lazy.settings_of("a") is DJConfig
    assert lazy.settings_of("b") is None


def test_no_component_is_named_in_the_preflight():
    """The preflight dispatches through the registries: no driver, scorer, job or analysis is
    named in it (a string equal to a registered name, outside its docstrings and URI schemes)."""
    import ast
    from pathlib import Path

    import rlmdj.experiments.cli.preflight as module
    from rlmdj.dj.drivers.registry import DRIVERS as drivers
    from rlmdj.scoring.factory import SCORERS as scorers

    names = {*drivers, *scorers, *JOBS, *ANALYSES}
    tree = ast.parse(Path(module.__file__).read_text())
    skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.Assign)
            and any(getattr(t, "id", "").endswith("_SCHEMES") for t in node.targets)
            for n in ast.walk(node)}
    skip |= {id(node.body[0].value) for node in ast.walk(tree)
             if isinstance(node, ast.Module | ast.FunctionDef) and ast.get_docstring(node) is not None}
    named = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and id(n) not in skip
             and isinstance(n.value, str) and n.value in names}
    assert named == set()


def test_builtins_are_registered_once():
    """A built-in is one lazy entry: no module registers it a second time when imported."""
    import re
    from pathlib import Path

    src = Path(__file__).resolve().parents[2] / "src" / "rlmdj"
    decorated = [str(p.relative_to(src)) for p in src.rglob("*.py")
                 if re.search(r"^@(job|JOBS\.register|DRIVERS\.register|SCORERS\.register|ANALYSES\.register)\(",
                              p.read_text(), re.M)]
    assert decorated == []
    JOBS.load_all()  # importing every job module registers nothing twice


# ----------------------------------------------- plug-ins from outside rlmdj, through the CLI
TOY_PLUGIN = '''\
"""A plug-in outside rlmdj: a tool, a scorer, a driver, a job and an analysis, each with its check."""

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from omegaconf import OmegaConf

from rlmdj.config.dj import DJConfig
from rlmdj.config.experiment import ExperimentConfig
from rlmdj.config.scorer import ScorerConfig
from rlmdj.dj.drivers.base import DriverReport
from rlmdj.dj.drivers.registry import DRIVERS
from rlmdj.dj.tools.mixer import ToolLayer
from rlmdj.dj.tools.registry import Gain, Role, tool
from rlmdj.errors import ParameterError
from rlmdj.experiments.cli.preflight import check_common
from rlmdj.experiments.registry import ANALYSES, JOBS
from rlmdj.scoring.base import ScoreResult
from rlmdj.scoring.factory import SCORERS
from rlmdj.validation import number, setting


def mark(line: str) -> None:
    with open(os.environ["TOY_MARKS"], "a") as f:
        f.write(line + "\\n")


# a tool
def check_nudge(cfg: Any) -> None:
    if not setting(cfg, "guardrails.gain_cap"):
        raise ParameterError("guardrails.gain_cap must be true: nudge moves gains under the caps")


@tool(random_weight=50.0, targets=lambda s: list(s.channels), check=check_nudge)
def nudge(t: ToolLayer, role: Role, gain: Gain) -> dict[str, Any]:
    """Move a channel's gain halfway to a target: nudge('hihat', 0.6)."""
    mark("tool nudge")
    ch = t.session.channel(role)
    ch = t.session.fader(ch.role, t.guardrails.cap_gain(ch.role, (ch.gain + gain) / 2))
    return {"action": f"{ch.role} gain {ch.gain:g}"}


# a scorer, with a setting of its own
@dataclass
class LoudnessConfig(ScorerConfig):
    ceiling: float = 1.0


class LoudnessScorer:
    name = "loudness"
    identity = "loudness-v1"

    def __init__(self, ceiling: float) -> None:
        self.ceiling = ceiling

    def score(self, audio: np.ndarray, *, sr: int) -> ScoreResult:
        mark(f"scorer ceiling={self.ceiling:g}")
        level = min(self.ceiling, float(np.sqrt(np.mean(np.square(audio)))) if audio.size else 0.0)
        return ScoreResult(self.name, self.identity, {k: 1.0 + 9.0 * level for k in ("CE", "CU", "PC", "PQ")})


def loudness_scorer(c: LoudnessConfig) -> LoudnessScorer:
    return LoudnessScorer(c.ceiling)


def check_loudness(cfg: Any) -> None:
    number(cfg, "scorer.ceiling", lo=0.01, hi=1, example=1.0)


SCORERS.register("loudness", loudness_scorer, check=check_loudness, settings=LoudnessConfig)


# a driver, with a setting of its own
@dataclass
class KickConfig(DJConfig):
    velocity: float = 0.9


class KickOnlyDriver:
    name = "kick_only"

    def __init__(self, velocity: float) -> None:
        self.velocity = velocity

    def perform(self, session: Any) -> None:
        mark(f"driver velocity={self.velocity:g}")
        session.add("kick", self.velocity, "four_on_floor")
        session.play(session.max_bars)

    def report(self) -> DriverReport:
        return DriverReport(metrics={"dj/operations": 1.0})


def kick_only(cfg: Any, *, ear_scorer: Any = None) -> KickOnlyDriver:
    settings = OmegaConf.to_object(cfg.dj)
    return KickOnlyDriver(settings.velocity)


def check_kick_only(cfg: Any) -> None:
    number(cfg, "dj.velocity", lo=0, hi=1, example=0.9)


DRIVERS.register("kick_only", kick_only, check=check_kick_only, settings=KickConfig)


# a job, with settings of its own (experiment.hello.*)
@dataclass
class HelloSettings:
    times: int = 1


@dataclass
class HelloExperiment(ExperimentConfig):
    hello: HelloSettings = field(default_factory=HelloSettings)


def hello_job(cfg: Any) -> float:
    mark(f"job hello times={cfg.experiment.hello.times}")
    return 1.0


def check_hello(cfg: Any) -> None:
    number(cfg, "experiment.hello.times", lo=1, hi=10, integer=True, example=1)
    check_common(cfg)


JOBS.register("hello", hello_job, check=check_hello, settings=HelloExperiment)


# an analysis
def count_analysis(client: Any, experiment_id: str, parent: str, config: Any, *, out_dir: Any) -> int:
    runs = client.search_runs([experiment_id], filter_string=f"tags.mlflow.parentRunId = '{parent}'")
    mark(f"analysis count={len(runs)}")
    return len(runs)


def check_count(cfg: Any) -> None:
    number(cfg, "experiment.compare.alpha", lo=0.001, hi=0.1, example=0.05)


ANALYSES.register("count", count_analysis, check=check_count)
'''


@pytest.fixture
def toy_plugin(tmp_path, pack_cache_dir):
    """A package outside rlmdj, on PYTHONPATH, named in the ``rlmdj.plugins`` entry-point group
    by its distribution's metadata (what ``pip install`` of a package declaring it writes)."""
    site = tmp_path / "site"
    (site / "toy_rlmdj").mkdir(parents=True)
    (site / "toy_rlmdj" / "__init__.py").write_text("")
    (site / "toy_rlmdj" / "plugin.py").write_text(TOY_PLUGIN)
    dist = site / "toy_rlmdj-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-rlmdj\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[rlmdj.plugins]\ntoy = toy_rlmdj.plugin\n")
    work = tmp_path / "work"
    work.mkdir()
    marks = tmp_path / "marks.txt"

    def run(*args: str):
        import os
        import subprocess
        import sys
        from pathlib import Path

        env = {k: v for k, v in os.environ.items() if k not in ("HYDRA_FULL_ERROR", "RLMDJ_DEBUG")}
        env.update(PYTHONPATH=os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")])),
                   TOY_MARKS=str(marks))
        rlmdj = str(Path(sys.executable).parent / "rlmdj")
        proc = subprocess.run([rlmdj, *args, "progress=false"], cwd=work, env=env, capture_output=True,
                              text=True, timeout=600)
        lines = marks.read_text().splitlines() if marks.exists() else []
        marks.unlink(missing_ok=True)
        return proc, lines

    return work, run


def _runs(store) -> list:
    from mlflow.tracking import MlflowClient

    if not store.exists():
        return []
    client = MlflowClient(tracking_uri=f"sqlite:///{store}")
    return client.search_runs([e.experiment_id for e in client.search_experiments()])


@pytest.mark.slow  # the rlmdj command in a subprocess, with a plug-in
@pytest.mark.parametrize(("args", "ran"), [
    (["dj=random", "bars=8"], "tool nudge"),
    (["scorer=loudness", "scorer.ceiling=0.5", "bars=4"], "scorer ceiling=0.5"),
    (["dj=kick_only", "dj.velocity=0.5", "bars=4"], "driver velocity=0.5"),
    (["experiment=hello", "experiment.hello.times=3"], "job hello times=3"),
    (["-m", "replica=0,1", "bars=4", "experiment.analysis=count"], "analysis count=2"),
], ids=["tool", "scorer", "driver", "job", "analysis"])
def test_a_plugin_extension_runs_through_the_cli(toy_plugin, args, ran):
    work, run = toy_plugin
    proc, marks = run(*args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert ran in marks, (marks, proc.stderr[-2000:])


@pytest.mark.slow  # the rlmdj command in a subprocess, with a plug-in
@pytest.mark.parametrize(("args", "key"), [
    (["dj=random", "guardrails.gain_cap=false"], "guardrails.gain_cap"),
    (["scorer=loudness", "scorer.ceiling=2"], "scorer.ceiling"),
    (["dj=kick_only", "dj.velocity=1.5"], "dj.velocity"),
    (["experiment=hello", "experiment.hello.times=0"], "experiment.hello.times"),
    (["-m", "replica=0,1", "experiment.analysis=count", "experiment.compare.alpha=0.5"],
     "experiment.compare.alpha"),
], ids=["tool", "scorer", "driver", "job", "analysis"])
def test_a_plugin_check_refuses_a_bad_value_in_one_line_before_any_run(toy_plugin, args, key):
    work, run = toy_plugin
    proc, marks = run(*args)
    assert proc.returncode == 2, proc.stderr[-3000:]
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("rlmdj: error:")]
    assert len(errors) == 1 and key in errors[0] and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert marks == []  # nothing of the extension ran
    assert _runs(work / "mlruns.db") == []
    assert not (work / "outputs").exists() and not (work / "multirun").exists()
