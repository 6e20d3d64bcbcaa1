"""Every use of DSPy beyond its documented top-level API, fenced in one module.

rlmdj is tested against :data:`TESTED_DSPY` (the pin in ``pyproject.toml``). What it relies on
that DSPy does not promise, and why:

- **The Deno runner's command line.** To start the sandbox offline, :func:`runner_command`
  rebuilds the command DSPy's ``PythonInterpreter`` would build (permissions, positional
  arguments after ``runner.js``: an env-var list and ``--dspy-deno-dir``) and adds an import map
  that points the one ``https://deno.land`` module ``runner.js`` imports at a file shipped here
  (``_deno/import_map.json``). It needs the runner's location (:func:`runner_path`, next to
  ``dspy.primitives``).
- **Interpreter classes and results** from ``dspy.primitives``: ``PythonInterpreter``,
  ``LocalInterpreter``, ``FinalOutput``, ``CodeExecutionError``, ``CodeInterpreterError``, and
  the interpreter's ``deno_process`` attribute (killed to stop a hung sandbox), and the local
  interpreter's response queue ``_responses``, where ``None`` means "the worker is gone"
  (:func:`release_local_waiter`).
- **An LM's history entry** carries ``usage`` and ``cost`` (:func:`history_usage`).
- **The adapter call**: :class:`~rlmdj.dj.rlm.reask.ReaskingAdapter` overrides
  ``ChatAdapter.__call__``/``acall`` (``lm, lm_kwargs, signature, demos, inputs``) and catches
  ``AdapterParseError``.
- **Callbacks** on an LM wrapper: :func:`with_callbacks` is DSPy's own decorator of
  ``BaseLM.__call__``, so callbacks run for calls through :class:`~rlmdj.dj.rlm.lm.RecordingLM`.
- **The RLM's scaffold and history** (:class:`ScaffoldedRLM`, a ``dspy.RLM`` subclass): the
  action signature ``_build_signatures`` builds from ``ACTION_INSTRUCTIONS_TEMPLATE`` (fields
  ``variables_info, repl_history, iteration -> reasoning, code``), the per-call refresh
  ``_action_signature_for_current_factory``, the sandbox ``dspy`` facade ``_setup_facade``, the
  ``llm_query`` tools ``_make_llm_tools``, the inputs' ``_build_variables`` (``REPLVariable``'s
  fields), the per-turn ``_execute_iteration`` /
  ``_aexecute_iteration`` / ``_extract_fallback`` that receive the ``REPLHistory``, and
  ``REPLHistory``/``REPLEntry`` (``entries``, ``format``, ``append`` returning a plain
  history). The chat adapter's ``format_task_description`` (:func:`flat_task_description`).

``tests/dj/rlm/test_dspy_contract.py`` checks each of these against the installed DSPy and fails
with a message naming the assumption that broke: upgrade DSPy by changing the pin, running that
test, and adapting this module only.
"""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import dspy
from dspy import AdapterParseError
from dspy.primitives import (
    CodeExecutionError,
    CodeInterpreterError,
    FinalOutput,
    LocalInterpreter,
    PythonInterpreter,
)
from dspy.primitives.repl_types import REPLEntry, REPLHistory, REPLVariable
from dspy.utils.callback import BaseCallback, with_callbacks

__all__ = [
    "ACTION_FIELDS",
    "ADAPTER_CALL_PARAMETERS",
    "IMPORT_MAP",
    "AdapterParseError",
    "RLM_PARAMETERS",
    "TESTED_DSPY",
    "BaseCallback",
    "BriefVariable",
    "CodeExecutionError",
    "CodeInterpreterError",
    "FinalOutput",
    "LocalInterpreter",
    "PythonInterpreter",
    "REPLEntry",
    "REPLHistory",
    "ScaffoldedRLM",
    "WindowedHistory",
    "flat_task_description",
    "history_usage",
    "import_map_urls",
    "release_local_waiter",
    "runner_command",
    "runner_path",
    "tool_lines",
    "with_callbacks",
]

#: The DSPy versions this module was checked against (kept equal to the pin in pyproject.toml).
TESTED_DSPY = ">=3.4,<3.5"

#: ``dspy.RLM`` constructor parameters rlmdj passes (DSPy 3.3 changed this constructor).
RLM_PARAMETERS = ("signature", "max_iters", "max_llm_calls", "max_output_chars", "verbose", "tools",
                  "sub_lm", "interpreter_factory")

#: ``ChatAdapter.__call__`` parameters the re-asking adapter passes on.
ADAPTER_CALL_PARAMETERS = ("lm", "lm_kwargs", "signature", "demos", "inputs")

IMPORT_MAP = Path(__file__).with_name("_deno") / "import_map.json"


def release_local_waiter(interpreter: Any) -> None:
    """Wake an execution of DSPy's ``LocalInterpreter`` still waiting on its killed worker.

    ``shutdown()`` kills the worker and closes its pipes; the reader thread that should then
    queue the end-of-stream marker (``None``) can die on the closed pipe instead, and the
    execution, which has no deadline, waits forever on a thread the interpreter joins at exit
    (the command then never ends). Queueing the marker ourselves ends it with DSPy's own "worker
    exited" error; a second marker after the reader's own is never read.
    """
    responses = getattr(interpreter, "_responses", None)
    if responses is not None:
        responses.put(None)


def runner_path() -> str:
    """DSPy's Pyodide runner (``runner.js`` beside ``dspy.primitives``), resolved."""
    import dspy.primitives

    return os.path.realpath(os.path.join(os.path.dirname(dspy.primitives.__file__), "runner.js"))


def import_map_urls() -> list[str]:
    """The remote module URLs the shipped import map serves from this package."""
    return sorted(json.loads(IMPORT_MAP.read_text())["imports"])


def runner_command(executable: str, cache_dir: str) -> list[str]:
    """The Deno command line that starts DSPy's runner with Deno's cache at ``cache_dir``.

    The same permissions as DSPy's default command (read access to the runner and the cache
    only; no network, env or writes), the same positional arguments after the runner (no env
    vars, then the cache folder), plus the import map. ``env`` sets Deno's cache folder and
    turns off package.json discovery for this process only.
    """
    runner = runner_path()
    return [
        "env",
        f"DENO_DIR={cache_dir}",
        "DENO_NO_PACKAGE_JSON=1",
        executable,
        "run",
        "--no-config",
        "--no-lock",
        "--node-modules-dir=false",
        f"--import-map={IMPORT_MAP}",
        f"--allow-read={runner},{cache_dir}",
        runner,
        "",  # the env-var names the runner may read: none
        f"--dspy-deno-dir={cache_dir}",
    ]


def history_usage(lm: Any, before: int) -> tuple[dict[str, Any], float | None]:
    """Token usage and cost of ``lm``'s newest call, if it added a history entry after index
    ``before`` (an LM that keeps no history gives ``({}, None)``)."""
    history = getattr(lm, "history", None) or []
    if len(history) <= before:
        return {}, None
    entry = history[-1] if isinstance(history[-1], dict) else {}
    usage = dict(entry.get("usage") or {})
    cost = entry.get("cost")
    return usage, float(cost) if isinstance(cost, int | float) else None


# ----------------------------------------------------------------- scaffold and history
#: The action signature's fields, in order, as ``dspy.RLM._build_signatures`` makes them.
ACTION_FIELDS = ("variables_info", "repl_history", "iteration", "reasoning", "code")


class WindowedHistory(REPLHistory):
    """A ``REPLHistory`` shown as ``ledger`` plus its last ``window`` entries, verbatim and
    numbered as they were. Shown only: ``append`` returns a plain history with every entry."""

    window: int = 3
    ledger: str = ""

    def format(self) -> str:
        if len(self.entries) <= self.window:
            return super().format()
        start = len(self.entries) - self.window
        shown = (e.format(index=start + i, max_output_chars=self.max_output_chars)
                 for i, e in enumerate(self.entries[start:]))
        return "\n".join([self.ledger, *shown])


class BriefVariable(REPLVariable):
    """An input variable as the lean scaffold shows it: name, type, length, then the value."""

    def format(self) -> str:
        return f"`{self.name}` ({self.type_name}, {self.total_length:,} characters):\n{self.preview}"


def flat_task_description(signature: Any) -> str:
    """``ChatAdapter.format_task_description`` without its eight-space indent on every line."""
    return "In adhering to this structure, your objective is:\n" + textwrap.dedent(signature.instructions).strip()


def tool_lines(tools: dict[str, Any]) -> list[str]:
    """One line per tool as DSPy's stock scaffold lists it: `` - `name(arg: type)` - desc``."""
    lines = []
    for tool in tools.values():
        params = ", ".join(f"{n}: {s.get('type', 'Any')}" for n, s in (tool.args or {}).items())
        desc = (tool.desc or "No description").replace("\n", "  ")
        lines.append(f"- `{tool.name}({params})` - {desc}")
    return lines


class ScaffoldedRLM(dspy.RLM):
    """``dspy.RLM`` with rlmdj's scaffold and a bounded history.

    ``instructions``: the lean action instructions, built from the input names and the tool
    lines (None: DSPy's stock scaffold, unchanged). With lean instructions no sandbox ``dspy``
    facade is installed (no sub-agents), and ``llm_query`` exists only when ``sub_lm`` is set.
    ``fields``: lean descriptions of the action fields. ``window``: show the last ``window``
    steps verbatim and the earlier ones as ``ledger(folded_entries, window)`` (None: all).
    """

    def __init__(
        self,
        signature: Any,
        *,
        instructions: Callable[[Sequence[str], Sequence[str]], str] | None = None,
        fields: dict[str, str] | None = None,
        sub_lm_tools: bool = True,
        window: int | None = None,
        ledger: Callable[[Sequence[REPLEntry], int], str] | None = None,
        **kwargs: Any,
    ) -> None:
        self._lean = instructions
        self._lean_fields = dict(fields or {})
        self._sub_lm_tools = sub_lm_tools or instructions is None
        self._window = window
        self._ledger = ledger
        super().__init__(signature, **kwargs)

    # scaffold ------------------------------------------------------------------
    def _build_signatures(self) -> tuple[Any, Any]:
        action, extract = super()._build_signatures()
        if self._lean is None:
            return action, extract
        text = self._lean(list(self.signature.input_fields), tool_lines(self._user_tools))
        task = self.signature.instructions
        lean = action.with_instructions(f"{task}\n\n{text}" if task else text)
        for name, desc in self._lean_fields.items():
            lean = lean.with_updated_fields(name, desc=desc)
        return lean, extract

    def _action_signature_for_current_factory(self, factory: Any, sub_agent_rules: str) -> Any:
        if self._lean is None:
            return super()._action_signature_for_current_factory(factory, sub_agent_rules)
        return getattr(self.generate_action, "signature", self._action_signature)

    def _setup_facade(self, repl: Any, budget: Any, interpreter_factory: Any) -> str:
        if self._lean is None:
            return super()._setup_facade(repl, budget, interpreter_factory)
        return ""

    def _make_llm_tools(self, budget: Any = None, max_workers: int = 8) -> dict[str, Callable]:
        return super()._make_llm_tools(budget, max_workers) if self._sub_lm_tools else {}

    def _build_variables(self, **input_args: Any) -> list[REPLVariable]:
        variables = super()._build_variables(**input_args)
        if self._lean is None:
            return variables
        return [BriefVariable(name=v.name, type_name=v.type_name, desc=v.desc, constraints=v.constraints,
                              total_length=v.total_length, preview=v.preview) for v in variables]

    # history -------------------------------------------------------------------
    def shown(self, history: REPLHistory) -> REPLHistory:
        """``history`` as the model is shown it."""
        k = self._window
        if k is None or len(history.entries) <= k or self._ledger is None:
            return history
        folded = history.entries[: len(history.entries) - k]
        return WindowedHistory(entries=list(history.entries), max_output_chars=history.max_output_chars,
                               window=k, ledger=self._ledger(folded, k))

    def _execute_iteration(self, repl: Any, variables: Any, history: REPLHistory, *args: Any) -> Any:
        return super()._execute_iteration(repl, variables, self.shown(history), *args)

    async def _aexecute_iteration(self, repl: Any, variables: Any, history: REPLHistory, *args: Any) -> Any:
        return await super()._aexecute_iteration(repl, variables, self.shown(history), *args)

    def _extract_fallback(self, variables: Any, history: REPLHistory, output_field_names: Any) -> Any:
        return super()._extract_fallback(variables, self.shown(history), output_field_names)
