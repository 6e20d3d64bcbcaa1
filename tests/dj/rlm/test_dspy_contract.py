"""The DSPy contract: every assumption rlmdj/dj/rlm/dspy_compat.py makes, checked against the installed
DSPy. A failure here names the assumption that broke; fix dspy_compat.py (and the pin), nothing else.
"""

from __future__ import annotations

import inspect
import queue
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

    pyproject = Path(__file__).resolve().parents[3] / "pyproject.toml"
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
    local = compat.LocalInterpreter()
    assert isinstance(getattr(local, "_responses", None), queue.Queue), (
        "LocalInterpreter no longer keeps its worker's answers in _responses (release_local_waiter)")
    compat.release_local_waiter(local)
    with pytest.raises(compat.CodeInterpreterError, match="exited"):
        local._receive(None, "no answer")  # the marker reads as "the worker is gone"
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


# ------------------------------------------------------------ scaffold and history
def _method_parameters(name: str) -> list[str]:
    return list(inspect.signature(getattr(dspy.RLM, name)).parameters)


def test_rlm_methods_the_scaffolded_rlm_overrides_keep_their_parameters():
    expected = {
        "_build_signatures": ["self"],
        "_action_signature_for_current_factory": ["self", "factory", "sub_agent_rules"],
        "_setup_facade": ["self", "repl", "budget", "interpreter_factory"],
        "_make_llm_tools": ["self", "budget", "max_workers"],
        "_build_variables": ["self", "input_args"],
        "_extract_fallback": ["self", "variables", "history", "output_field_names"],
    }
    for name, params in expected.items():
        assert _method_parameters(name) == params, f"dspy.RLM.{name} now takes {_method_parameters(name)}"
    for name in ("_execute_iteration", "_aexecute_iteration"):
        assert _method_parameters(name)[:4] == ["self", "repl", "variables", "history"], (
            f"dspy.RLM.{name} no longer takes the history third: {_method_parameters(name)}")


def test_stock_scaffold_is_untouched_and_has_the_action_fields():
    from dspy.predict import rlm as rlm_module

    template = rlm_module.ACTION_INSTRUCTIONS_TEMPLATE
    assert "llm_query" in template and "EXPLORE FIRST" in template, "DSPy's RLM scaffold text changed"
    stock = dspy.RLM("question -> answer")
    ours = compat.ScaffoldedRLM("question -> answer")
    assert list(stock.generate_action.signature.fields) == list(compat.ACTION_FIELDS)
    adapter = dspy.ChatAdapter()
    assert adapter.format_system_message(ours.generate_action.signature) == \
        adapter.format_system_message(stock.generate_action.signature), "scaffold=dspy must be DSPy's own text"


def test_tool_lines_are_the_ones_dspy_lists():
    def echo(text: str) -> str:
        """Echo the text back."""
        return text

    rlm = dspy.RLM("question -> answer", tools=[echo])
    docs = rlm._format_tool_docs(rlm.tools)
    assert docs.splitlines()[2:] == compat.tool_lines(rlm.tools), f"DSPy now lists tools as {docs!r}"


def test_adapter_builds_the_system_message_with_format_task_description():
    class Flat(dspy.ChatAdapter):
        def format_task_description(self, signature):
            return compat.flat_task_description(signature)

    signature = dspy.Signature("question -> answer", "Line one.\nLine two.")
    text = Flat().format_system_message(signature)
    assert text.endswith("your objective is:\nLine one.\nLine two."), text[-120:]
    messages = Flat().format(signature, demos=[], inputs={"question": "q"})
    assert messages[0] == {"role": "system", "content": text}


def test_history_entries_and_append_as_the_window_reads_them():
    history = compat.REPLHistory(max_output_chars=50).append(code="print(1)", output="1")
    assert type(history.append(code="x", output="y")) is compat.REPLHistory
    assert list(inspect.signature(compat.REPLEntry.format).parameters) == ["self", "index", "max_output_chars"]
    window = compat.WindowedHistory(entries=[*history.entries] * 3, max_output_chars=50, window=1, ledger="L")
    signature = dspy.Signature({}, "x").append("repl_history", dspy.InputField(), type_=compat.REPLHistory)
    user = dspy.ChatAdapter().format(signature, demos=[], inputs={"repl_history": window})[-1]["content"]
    assert "L\n=== Step 3 ===" in user and "=== Step 1 ===" not in user, "the adapter no longer shows format()"


def test_scaffolded_rlm_runs_lean_with_a_window():
    """Each override takes effect in a real forward pass (DSPy's local interpreter, a scripted LM)."""
    from scripted import ScriptedLM

    def echo(text: str) -> str:
        """Echo the text back."""
        return text

    lm = ScriptedLM(["print(echo(text='one'))", "print(llm_query('hi'))", "x = 3\nprint(x)",
                     "SUBMIT(answer='done')"])
    rlm = compat.ScaffoldedRLM(
        "question -> answer", instructions=lambda inputs, lines: "\n".join(["LEAN " + ",".join(inputs), *lines]),
        fields={"code": "Python"}, sub_lm_tools=False, window=1, ledger=lambda folded, k: f"LEDGER {len(folded)}",
        max_iters=6, tools=[echo], interpreter_factory=compat.LocalInterpreter)
    with dspy.context(lm=lm):
        out = rlm(question="q")
    assert out.answer == "done" and lm.calls == 4
    system, user = lm.requests[0][0]["content"], lm.requests[0][1]["content"]
    assert "LEAN question\n" in system and "- `echo(text: string)` - Echo the text back." in system
    assert "Sub-agents" not in system and "llm_query" not in system and "`code` (str): Python" in system
    assert "`question` (str, 1 characters):" in user
    third = lm.requests[2][1]["content"]
    assert "LEDGER 1\n=== Step 2 ===" in third and "echo(text='one')" not in third
    assert "NameError: name 'llm_query' is not defined" in third
    assert len(out.trajectory) == 4  # the record keeps every step
