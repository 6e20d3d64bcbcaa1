"""One registry pattern for every extension point: jobs, DJ drivers, DJ tools, scorers, analyses.

A :class:`Registry` maps a name (what a config key or the model says) to an object (a job
function, a driver builder, a scorer builder, a tool spec). Entries come two ways:

- **lazy**, as an entry-point style table ``name -> "package.module:attribute"``, given when the
  registry is made. The module is imported on first use only, so ``rlmdj --help`` or an offline
  run never imports DSPy, torch or MLflow for extensions it does not use. A missing module or
  attribute is a bug and raises at once (nothing is swallowed);
- **eager**, with :meth:`Registry.register`, as a decorator or a call, from the module that
  defines the object (the DJ tools are registered this way) or from a test or a plug-in.

Looking up an unknown name raises :class:`~rlmdj.errors.ParameterError` naming the config key
and the available names, which is the message a user sees for ``dj=rlmm``.

The registries themselves live beside what they register:

==========================  ===============================================  =====================
registry                    where                                            chosen by
==========================  ===============================================  =====================
``JOBS``                    :mod:`rlmdj.experiments.registry`                ``experiment.name``
``ANALYSES``                :mod:`rlmdj.experiments.registry`                ``experiment.analysis``
``DRIVERS``                 :mod:`rlmdj.dj.drivers.registry`                          ``dj.driver``
``TOOLS``                   :mod:`rlmdj.dj.tools.mixer`                            the model's code
``SCORERS``                 :mod:`rlmdj.scoring.factory`                     ``scorer.name``
==========================  ===============================================  =====================

Adding an extension is a recipe of one or two files; ``docs/architecture.md`` lists them.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any, Generic, TypeVar, overload

from rlmdj.errors import ParameterError

__all__ = ["Registry", "load_target"]

T = TypeVar("T")
_REQUIRED: Any = object()


def load_target(spec: str) -> Any:
    """The object ``"package.module:attribute"`` names (``attribute`` may be dotted)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"entry {spec!r} must look like 'package.module:attribute'")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class Registry(MutableMapping[str, T], Generic[T]):
    """Named extensions of one kind, in registration order.

    ``kind`` says what is registered (``"dj driver"``) and ``key`` the config key that picks
    one (``"dj.driver"``); both appear in the error for an unknown name, with ``example`` (a
    working override such as ``"dj=reference"``). ``entries`` are the lazy built-ins.

    It is a mutable mapping, so tests can add an entry for their duration with
    ``monkeypatch.setitem(REGISTRY, name, obj)`` or :meth:`registered`.
    """

    def __init__(self, kind: str, *, key: str, example: str = "",
                 entries: Mapping[str, str] | None = None) -> None:
        self.kind = kind
        self.key = key
        self.example = example
        self._lazy: dict[str, str] = dict(entries or {})
        self._loaded: dict[str, T] = {}
        self._order: list[str] = list(self._lazy)

    # ------------------------------------------------------------- register
    @overload
    def register(self, name: str) -> Callable[[T], T]: ...

    @overload
    def register(self, name: str, obj: T, *, replace: bool = False) -> T: ...

    def register(self, name: str, obj: Any = None, *, replace: bool = False) -> Any:
        """Register ``obj`` as ``name``; without ``obj``, a decorator that does it.

        A name already taken is an error unless ``replace=True``, except that a module named
        by a lazy entry may register the object that entry points at (so a ``@register``
        decorator and the lazy table can describe the same thing).
        """
        if obj is None:
            def decorator(target: T) -> T:
                self.register(name, target, replace=replace)
                return target

            return decorator
        if not name or not isinstance(name, str):
            raise ValueError(f"a {self.kind} needs a non-empty name, got {name!r}")
        if name in self._loaded and not replace and self._loaded[name] is not obj:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        if name in self._lazy and not replace and name not in self._loaded:
            module = self._lazy[name].partition(":")[0]
            if getattr(obj, "__module__", None) != module:
                raise ValueError(f"{self.kind} {name!r} is already declared as {self._lazy[name]!r}")
        self._loaded[name] = obj
        if name not in self._order:
            self._order.append(name)
        return obj

    def unregister(self, name: str) -> None:
        """Remove ``name`` (lazy or loaded); unknown names are ignored."""
        self._lazy.pop(name, None)
        self._loaded.pop(name, None)
        if name in self._order:
            self._order.remove(name)

    @contextlib.contextmanager
    def registered(self, name: str, obj: T) -> Iterator[T]:
        """Register ``obj`` for the duration of a ``with`` block (tests, notebooks)."""
        previous_lazy, previous = self._lazy.get(name), self._loaded.get(name)
        position = self._order.index(name) if name in self._order else None
        self.register(name, obj, replace=True)
        try:
            yield obj
        finally:
            self.unregister(name)
            if previous_lazy is not None:
                self._lazy[name] = previous_lazy
            if previous is not None:
                self._loaded[name] = previous
            if position is not None:
                self._order.insert(position, name)

    # --------------------------------------------------------------- lookup
    def get(self, name: str, default: Any = _REQUIRED) -> T:  # type: ignore[override]
        """The entry called ``name``; unknown names raise ParameterError listing the choices.

        (Unlike ``dict.get`` there is no silent default: pass ``default`` explicitly to get it.)
        """
        try:
            return self[name]
        except KeyError:
            if default is not _REQUIRED:
                return default
            hint = f" (e.g. {self.example})" if self.example else ""
            raise ParameterError(
                f"unknown {self.kind} {name!r} for {self.key}; available: "
                f"{', '.join(self.names())}{hint}"
            ) from None

    def names(self) -> list[str]:
        """Registered names in registration order (lazy ones included, nothing imported)."""
        return list(self._order)

    def load_all(self) -> dict[str, T]:
        """Every entry, importing lazy ones."""
        return {name: self[name] for name in self._order}

    # ------------------------------------------------------ mapping protocol
    def __getitem__(self, name: str) -> T:
        if name in self._loaded:
            return self._loaded[name]
        if name not in self._lazy:
            raise KeyError(name)
        obj = load_target(self._lazy[name])
        self._loaded[name] = obj
        return obj

    def __setitem__(self, name: str, obj: T) -> None:
        self.register(name, obj, replace=True)

    def __delitem__(self, name: str) -> None:
        if name not in self._order:
            raise KeyError(name)
        self.unregister(name)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, name: object) -> bool:
        return name in self._order

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, key={self.key!r}, names={self.names()!r})"
