"""Imports flow one way: no module of rlmdj imports itself back through others, each layer
imports only the layers below it, and every module imports on its own.

The static check reads every ``import`` (lazy ones inside functions included, since a lazy
import that closes a circle is still a circle) and reports each cycle by name. The layer checks
read the same imports plus lazy registry entries (``"rlmdj.x.y:function"`` strings), since a lazy
import upward is still a dependency upward: ``audio <- dj <- scoring / tracking <- experiments``
(analysis beside tracking). The dynamic check imports every module first, in a fresh interpreter
each time the rlmdj modules are cleared, so a module that only works when something else was
imported before it fails here.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "rlmdj"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _imports(name: str, path: Path) -> set[str]:
    """rlmdj modules ``name`` imports (module level, inside functions and under TYPE_CHECKING)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            candidates = [target] + [f"{target}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        else:
            continue
        found.update(c for c in candidates if c in MODULES and c != name)
    return found


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}

_ENTRY = re.compile(r"(rlmdj(?:\.\w+)+):\w+")


def _registry_entries(path: Path) -> set[str]:
    """rlmdj modules named by lazy ``"module:function"`` strings (registry entries)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            match = _ENTRY.fullmatch(node.value)
            if match and match.group(1) in MODULES:
                found.add(match.group(1))
    return found


LAYER_GRAPH = {name: GRAPH[name] | (_registry_entries(path) - {name}) for name, path in MODULES.items()}


def _reaching(prefix: str, forbidden: tuple[str, ...]) -> dict[str, list[str]]:
    """Modules under ``prefix`` that import (or lazily name) a module under ``forbidden``."""
    bad = {
        name: sorted(d for d in deps if d.startswith(forbidden))
        for name, deps in LAYER_GRAPH.items()
        if name == prefix or name.startswith(prefix + ".")
    }
    return {k: v for k, v in bad.items() if v}


def test_the_cycle_finder_finds_cycles() -> None:
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    cycles = _cycles(GRAPH)
    assert not cycles, "import cycles (split the shared data model into its own module): " + "; ".join(
        " <-> ".join(c) for c in cycles
    )


def test_audio_imports_nothing_above_it() -> None:
    """The sound engine knows nothing of DJs, scoring, tracking or experiments."""
    allowed = ("rlmdj.audio", "rlmdj.errors", "rlmdj.resources")
    bad = {
        name: sorted(d for d in deps if not d.startswith(allowed))
        for name, deps in GRAPH.items()
        if name.startswith("rlmdj.audio")
    }
    assert not {k: v for k, v in bad.items() if v}
    assert not _reaching("rlmdj.audio", ("rlmdj.dj", "rlmdj.scoring", "rlmdj.tracking",
                                         "rlmdj.analysis", "rlmdj.experiments", "rlmdj.cli"))


def test_dj_imports_nothing_above_it() -> None:
    """The DJ layer knows no scorer, tracker, analysis or job, even lazily: what it needs from
    them (the ears scorer) is injected by the experiments layer that assembles a run."""
    bad = _reaching("rlmdj.dj", ("rlmdj.scoring", "rlmdj.tracking", "rlmdj.analysis",
                                 "rlmdj.experiments", "rlmdj.cli"))
    assert not bad, f"rlmdj.dj reaches up (inject it from rlmdj.experiments instead): {bad}"


def test_scoring_tracking_and_analysis_import_no_jobs() -> None:
    """Jobs sit on top: the scorers, the tracking and the analyses never import them."""
    bad = {}
    for layer in ("rlmdj.scoring", "rlmdj.tracking", "rlmdj.analysis"):
        bad.update(_reaching(layer, ("rlmdj.experiments", "rlmdj.cli")))
    assert not bad, bad


def test_the_layer_scan_sees_lazy_imports_and_registry_entries(tmp_path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "def f():\n    from rlmdj.scoring.factory import build_scorer\n"
        "ENTRIES = {'x': 'rlmdj.experiments.jobs.run:run_job', 'doc': 'see rlmdj.tracking.run'}\n"
    )
    assert _imports("rlmdj.dj.m", module) == {"rlmdj.scoring.factory"}
    assert _registry_entries(module) == {"rlmdj.experiments.jobs.run"}


_ISOLATED = r"""
import importlib, json, sys
failures = {}
for name in json.loads(sys.argv[1]):
    for loaded in [m for m in sys.modules if m == "rlmdj" or m.startswith("rlmdj.")]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("rlmdj"):
            continue  # an optional dependency (torch, modal) that is not installed here
        failures[name] = repr(exc)
    except Exception as exc:
        failures[name] = repr(exc)
print(json.dumps(failures))
"""


def test_every_module_imports_on_its_own() -> None:
    names = [n for n in MODULES if n != "rlmdj.__main__"]
    proc = subprocess.run(
        [sys.executable, "-c", _ISOLATED, json.dumps(names)],
        capture_output=True, text=True, timeout=300, cwd=SRC.parent,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    failures = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not failures, failures
