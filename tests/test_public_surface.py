"""Every package's ``__init__`` names its public surface: its docstring names each module and
subpackage it holds, and a package that re-exports names lists every one of them in ``__all__``."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "rlmdj"
INITS = sorted(PACKAGE.rglob("__init__.py"))


@pytest.mark.parametrize("init", INITS, ids=lambda p: str(p.parent.relative_to(PACKAGE.parent)))
def test_the_docstring_names_every_module(init: Path) -> None:
    doc = ast.get_docstring(ast.parse(init.read_text())) or ""
    members = [p.stem for p in init.parent.glob("*.py") if p.stem not in ("__init__", "__main__")]
    members += [d.name for d in init.parent.iterdir() if (d / "__init__.py").is_file()]
    missing = sorted(m for m in members if not re.search(rf"\b{re.escape(m)}\b", doc))
    assert missing == [], f"{init}: the docstring does not name {missing}"


def _imported_names(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):  # top-level and inside try (optional dependencies)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("rlmdj"):
            names.update(alias.asname or alias.name for alias in node.names)
    return names


def _all(tree: ast.Module) -> set[str] | None:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__all__" for t in node.targets):
            return set(ast.literal_eval(node.value))
    return None


@pytest.mark.parametrize("init", INITS, ids=lambda p: str(p.parent.relative_to(PACKAGE.parent)))
def test_a_package_that_reexports_lists_it_in_all(init: Path) -> None:
    tree = ast.parse(init.read_text())
    imported = _imported_names(tree)
    if not imported:
        return
    listed = _all(tree)
    assert listed is not None, f"{init} re-exports {sorted(imported)} without __all__"
    assert imported <= listed, f"{init}: __all__ lacks {sorted(imported - listed)}"
