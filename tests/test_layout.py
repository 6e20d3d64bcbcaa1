"""The structure rules hold: small source folders and modules, no test files among the sources, and
a test tree that mirrors the source tree with unique basenames (test folders have no __init__.py,
so pytest imports every test file by its basename)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
TESTS = REPO / "tests"
MAX_MODULES_PER_FOLDER = 12
MAX_MODULE_LINES = 450
# Test folders that mirror no package: the helpers the tests import, and files tests read.
NOT_MIRRORED = {"support", "data"}
# tests/<first>/... mirrors src/<root>/...; tests/plugins holds the Hydra plugins' tests.
MIRROR_ROOTS = {"plugins": SRC / "hydra_plugins"}


def _skipped(path: Path) -> bool:
    return any(part == "__pycache__" or part.startswith(".") for part in path.parts)


def source_modules() -> list[Path]:
    return sorted(p for p in SRC.rglob("*.py") if not _skipped(p.relative_to(SRC)))


def mirrored_test_folders() -> list[Path]:
    """Folders under tests/ that must name a package (support and data folders left out)."""
    found = []
    for path in sorted(TESTS.rglob("*")):
        rel = path.relative_to(TESTS)
        if path.is_dir() and not _skipped(rel) and not NOT_MIRRORED & set(rel.parts):
            found.append(rel)
    return found


def mirrored_package(rel: Path) -> Path:
    """The source folder tests/<rel> stands for."""
    root = MIRROR_ROOTS.get(rel.parts[0])
    if root is not None:
        return root.joinpath(*rel.parts[1:])
    return SRC / "rlmdj" / rel


def test_no_source_folder_holds_more_than_twelve_modules() -> None:
    per_folder = Counter(p.parent.relative_to(SRC).as_posix() for p in source_modules())
    crowded = {f: n for f, n in per_folder.items() if n > MAX_MODULES_PER_FOLDER}
    assert not crowded, f"folders over {MAX_MODULES_PER_FOLDER} modules (add a subpackage): {crowded}"


def test_no_source_module_is_over_450_lines() -> None:
    long = {p.relative_to(REPO).as_posix(): n for p in source_modules()
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines (split them): {long}"


def test_no_source_file_is_named_like_a_test() -> None:
    named = [p.relative_to(REPO).as_posix() for p in source_modules()
             if p.name.startswith("test_") or p.stem.endswith("_test")]
    assert not named, f"test files among the sources (move them under tests/): {named}"


def test_every_test_folder_names_a_source_package() -> None:
    orphans = {f"tests/{rel.as_posix()}": mirrored_package(rel).relative_to(REPO).as_posix()
               for rel in mirrored_test_folders() if not mirrored_package(rel).is_dir()}
    assert not orphans, (
        f"test folders that mirror no package (folder: the missing package): {orphans}; put tests in "
        "the folder of the package they test, helpers in tests/support")


def test_test_basenames_are_unique() -> None:
    names = Counter(p.name for p in TESTS.rglob("*.py")
                    if not _skipped(p.relative_to(TESTS)) and p.name not in ("conftest.py", "__init__.py"))
    twins = sorted(name for name, n in names.items() if n > 1)
    where = {name: sorted(p.relative_to(REPO).as_posix() for p in TESTS.rglob(name)) for name in twins}
    assert not twins, f"test modules share a basename (pytest imports them by it): {where}"
