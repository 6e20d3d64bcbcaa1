"""The DSPy contract: every assumption rlmdj/dj/rlm/dspy_compat.py makes, checked against the installed
DSPy. A failure here names the assumption that broke; fix dspy_compat.py (and the pin), nothing else.
"""

from __future__ import annotations

import inspect
import re
from importlib.metadata import requires, version

import dspy
import pytest
from packaging.requirements import Requirement

from rlmdj.dj.rlm import dspy_compat as compat


def _dependencies() -> list[str]:
    """The source tree's pyproject.toml (the installed metadata may predate an edit)."""
    import tomllib
    from pathlib import Path

    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    if pyproject.is_file():
        return tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    return list(requires("rlmdj") or [])


def test_installed_dspy_is_in_the_pinned_and_tested_range():
    pins = [Requirement(r) for r in _dependencies() if Requirement(r).name == "dspy"]
    assert pins, "pyproject.toml must pin dspy"
    assert str(pins[0].specifier) == str(Requirement(f"dspy{compat.TESTED_DSPY}").specifier), (
        "the dspy pin in pyproject.toml and dspy_compat.TESTED_DSPY disagree")
    installed = version("dspy")
    assert pins[0].specifier.contains(installed), (
        f"DSPy {installed} is outside the tested range {pins[0].specifier}: run this file against it, "
        "adapt rlmdj/dj/rlm/dspy_compat.py, then move the pin")


def test_runner_js_is_where_dspy_keeps_it_and_imports_only_what_the_import_map_serves():
    from pathlib import Path

    runner = Path(compat.runner_path())
    assert runner.is_file(), f"DSPy's runner.js moved (looked at {runner})"
    source = runner.read_text()
    remote = sorted(set(re.findall(r'from\s+"(https?://[^"]+)"', source)))
    assert remote == compat.import_map_urls(), (
        f"runner.js imports {remote} from the network, the import map serves {compat.import_map_urls()}: "
        "update rlmdj/dj/rlm/_deno/import_map.json (and the shipped module) to the runner's imports")
    for url, target in __import__("json").loads(compat.IMPORT_MAP.read_text())["imports"].items():
        assert (compat.IMPORT_MAP.parent / target).is_file(), f"import map target for {url} is missing"


def test_our_command_line_matches_the_one_dspy_builds(tmp_path, monkeypatch):
    """The flags and positional arguments runner.js reads are the ones DSPy's default passes."""
    monkeypatch.setenv("DENO_DIR", str(tmp_path))
    try:
        default = compat.PythonInterpreter().deno_command
    except Exception as exc:  # noqa: BLE001 - no Deno executable on this machine
        pytest.skip(f"DSPy cannot build its default Deno command here: {exc}")
    ours = compat.runner_command(default[0], str(tmp_path))
    runner = compat.runner_path()
    assert runner in default, "DSPy's default command no longer runs runner.js from dspy.primitives"
    i = default.index(runner)
    tail = default[i + 1:]
    assert tail[0] == "" and all(a.startswith("--dspy-deno-dir=") for a in tail[1:]), (
        f"runner.js's positional arguments changed: DSPy now passes {tail}")
    flags = [a for a in default[1:i] if not a.startswith("--allow-read=")]
    assert flags == [a for a in ours[4:ours.index(runner)]
                     if not a.startswith(("--allow-read=", "--import-map="))], (
        f"DSPy's Deno flags changed to {flags}")
    assert ours[ours.index(runner) + 1:] == ["", f"--dspy-deno-dir={tmp_path}"]


def test_interpreters_and_results_we_use():
    for cls, params in ((compat.PythonInterpreter, ("deno_command", "tools", "output_fields")),
                        (compat.LocalInterpreter, ("tools", "output_fields"))):
        names = set(inspect.signature(cls.__init__).parameters)
        assert set(params) <= names, f"{cls.__name__}.__init__ lost {set(params) - names}"
    assert "deno_process" in vars(compat.PythonInterpreter(deno_command=["true"])), (
        "PythonInterpreter no longer exposes deno_process (used to kill a hung sandbox)")
    assert isinstance(compat.PythonInterpreter.execution_instructions, str)
    out = compat.FinalOutput({"summary": "x"})
    assert out.output == {"summary": "x"}
    assert issubclass(compat.CodeExecutionError, Exception)
    assert issubclass(compat.CodeInterpreterError, Exception)


def test_rlm_constructor_takes_what_we_pass():
    params = set(inspect.signature(dspy.RLM.__init__).parameters)
    missing = set(compat.RLM_PARAMETERS) - params
    assert not missing, f"dspy.RLM.__init__ no longer takes {missing}"


def test_adapter_call_signature_the_reasking_adapter_overrides():
    for method in (dspy.ChatAdapter.__call__, dspy.ChatAdapter.acall):
        names = list(inspect.signature(method).parameters)[1:]
        assert names[: len(compat.ADAPTER_CALL_PARAMETERS)] == list(compat.ADAPTER_CALL_PARAMETERS), (
            f"ChatAdapter.{method.__name__} now takes {names}")
    assert issubclass(compat.AdapterParseError, Exception)


def test_history_entries_carry_usage_and_cost():
    from dspy.utils import DummyLM

    lm = DummyLM([{"answer": "x"}])
    before = len(lm.history)
    lm("hi")
    entry = lm.history[-1]
    assert {"usage", "cost"} <= set(entry), f"LM history entries now hold {sorted(entry)}"
    usage, cost = compat.history_usage(lm, before)
    assert "prompt_tokens" in usage and cost is None
    assert compat.history_usage(lm, len(lm.history)) == ({}, None)


def test_recording_lm_runs_dspy_callbacks_and_keeps_history():
    from dspy.utils import DummyLM

    from rlmdj.dj.rlm.lm import RecordingLM
    from rlmdj.dj.rlm.transcript import Transcript

    seen: list[str] = []

    class Spy(compat.BaseCallback):
        def on_lm_start(self, call_id, instance, inputs):
            seen.append(f"start {type(instance).__name__}")

        def on_lm_end(self, call_id, outputs, exception=None):
            seen.append("end")

    transcript = Transcript()
    lm = RecordingLM(DummyLM([{"answer": "x"}]), transcript, "main", callbacks=[Spy()])
    out = lm("hi")
    assert out and seen[:1] == ["start RecordingLM"] and "end" in seen
    assert len(lm.history) == 1 and "usage" in lm.history[0]
    assert len(transcript.calls) == 1 and lm.calls == 1
