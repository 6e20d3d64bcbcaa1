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
  the interpreter's ``deno_process`` attribute (killed to stop a hung sandbox).
- **An LM's history entry** carries ``usage`` and ``cost`` (:func:`history_usage`).
- **The adapter call**: :class:`~rlmdj.dj.rlm.reask.ReaskingAdapter` overrides
  ``ChatAdapter.__call__``/``acall`` (``lm, lm_kwargs, signature, demos, inputs``) and catches
  ``AdapterParseError``.
- **Callbacks** on an LM wrapper: :func:`with_callbacks` is DSPy's own decorator of
  ``BaseLM.__call__``, so callbacks run for calls through :class:`~rlmdj.dj.rlm.lm.RecordingLM`.

``tests/dj/test_dspy_contract.py`` checks each of these against the installed DSPy and fails
with a message naming the assumption that broke: upgrade DSPy by changing the pin, running that
test, and adapting this module only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from dspy import AdapterParseError
from dspy.primitives import (
    CodeExecutionError,
    CodeInterpreterError,
    FinalOutput,
    LocalInterpreter,
    PythonInterpreter,
)
from dspy.utils.callback import BaseCallback, with_callbacks

__all__ = [
    "ADAPTER_CALL_PARAMETERS",
    "IMPORT_MAP",
    "AdapterParseError",
    "RLM_PARAMETERS",
    "TESTED_DSPY",
    "BaseCallback",
    "CodeExecutionError",
    "CodeInterpreterError",
    "FinalOutput",
    "LocalInterpreter",
    "PythonInterpreter",
    "history_usage",
    "import_map_urls",
    "runner_command",
    "runner_path",
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
