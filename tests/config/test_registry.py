"""The one registry pattern: lazy entries, eager registration, clear errors for unknown names."""

from __future__ import annotations

import sys

import pytest

from rlmdj.errors import ParameterError
from rlmdj.registry import Registry, load_target


def test_lazy_entry_is_imported_only_when_used():
    reg: Registry = Registry("thing", key="x.name", entries={"dumps": "json:dumps"})
    assert reg.names() == ["dumps"] and "dumps" in reg
    import json

    assert reg.get("dumps") is json.dumps


def test_unknown_name_names_the_key_and_the_choices():
    reg: Registry = Registry("dj driver", key="dj.driver", example="dj=reference",
                             entries={"reference": "json:dumps"})
    with pytest.raises(ParameterError, match=r"unknown dj driver 'refrence' for dj.driver; "
                                             r"available: reference \(e.g. dj=reference\)"):
        reg.get("refrence")


def test_a_broken_lazy_entry_fails_loudly():
    reg: Registry = Registry("job", key="experiment.name", entries={"x": "rlmdj.no_such_module:f"})
    with pytest.raises(ModuleNotFoundError):
        reg.get("x")
    with pytest.raises(AttributeError):
        load_target("json:no_such_function")


def test_register_decorator_order_and_duplicates():
    reg: Registry = Registry("tool", key="tool")

    @reg.register("b")
    def b() -> None: ...

    reg.register("a", len)
    assert reg.names() == ["b", "a"] and reg["a"] is len
    with pytest.raises(ValueError, match="already registered"):
        reg.register("a", max)
    reg.register("a", max, replace=True)
    assert reg["a"] is max


def test_registered_is_undone_and_restores_what_was_there():
    reg: Registry = Registry("scorer", key="scorer.name", entries={"proxy": "json:dumps"})
    with reg.registered("toy", len):
        assert reg.get("toy") is len
    assert "toy" not in reg
    with reg.registered("proxy", len):
        assert reg.get("proxy") is len
    import json

    assert reg.get("proxy") is json.dumps and reg.names() == ["proxy"]


def test_monkeypatch_setitem_works(monkeypatch):
    reg: Registry = Registry("driver", key="dj.driver")
    monkeypatch.setitem(reg, "toy", len)
    assert reg.get("toy") is len
    monkeypatch.undo()
    assert "toy" not in reg


def test_builtin_tables_resolve():
    """Every built-in lazy entry points at a real object (a renamed function fails here)."""
    from rlmdj.dj.drivers.registry import DRIVERS
    from rlmdj.experiments.registry import ANALYSES, JOBS
    from rlmdj.scoring.factory import SCORERS

    for registry in (JOBS, ANALYSES, DRIVERS, SCORERS):
        for name, obj in registry.load_all().items():
            assert callable(obj), (registry.kind, name)
    assert set(JOBS) >= {"run", "serve", "replay", "compare", "screen_palettes", "samples"}
    assert "rlmdj.experiments.jobs.run" in sys.modules


def test_get_with_an_explicit_default_behaves_like_dict_get():
    reg: Registry = Registry("thing", key="x")
    assert reg.get("missing", None) is None and reg.get("missing", 0) == 0
