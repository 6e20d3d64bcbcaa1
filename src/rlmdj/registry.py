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

An entry may declare, beside its object:

- a **check**, ``check(cfg)``: what the entry needs from the composed config, raising
  ``ParameterError`` naming the key (``scorer=http`` needs ``scorer.url``). The preflight runs the
  checks of the entries a config selects, before anything is opened; lazy entries name theirs as
  ``"module:function"`` too, imported only when that entry is chosen;
- its **settings**: a dataclass subclassing its config group's schema (``DJConfig`` for a
  driver), with the settings of its own. Its group option (``dj=<name>``) then carries them
  (``dj.<setting>``), checked by Hydra like every other key (:mod:`rlmdj.experiments.options`).

Plug-ins outside rlmdj register the same way, from a module named in the ``rlmdj.plugins``
entry-point group (:func:`load_plugins`), which the ``rlmdj`` command imports before it composes.

The registries themselves live beside what they register:

==========================  ===============================================  =====================
registry                    where                                            chosen by
==========================  ===============================================  =====================
``JOBS``                    :mod:`rlmdj.experiments.registry`                ``experiment.name``
``ANALYSES``                :mod:`rlmdj.experiments.registry`                ``experiment.analysis``
``DRIVERS``                 :mod:`rlmdj.dj.drivers.registry`                 ``dj.driver``
``TOOLS``                   :mod:`rlmdj.dj.tools.registry`                   the model's code
``SCORERS``                 :mod:`rlmdj.scoring.factory`                     ``scorer.name``
==========================  ===============================================  =====================

Adding an extension is a recipe of two files; ``docs/architecture.md`` lists them.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from typing import Any, Generic, TypeVar, overload

from rlmdj.errors import ParameterError

__all__ = ["PLUGIN_GROUP", "Check", "Registry", "load_plugins", "load_target", "settings_type"]

T = TypeVar("T")
_REQUIRED: Any = object()

Check = Callable[[Any], None]
"""``check(cfg)``: raise :class:`~rlmdj.errors.ParameterError` naming the key of a bad value."""

PLUGIN_GROUP = "rlmdj.plugins"
_PLUGINS_LOADED: dict[str, str] = {}  # entry point name -> what it names, in load order
_plugins_scanned = False


def load_target(spec: str) -> Any:
    """The object ``"package.module:attribute"`` names (``attribute`` may be dotted)."""
    module_name, sep, attr = spec.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError(f"entry {spec!r} must look like 'package.module:attribute'")
    obj: Any = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def settings_type(node: Any, schema: type) -> type:
    """The dataclass a composed config node is typed as, when it subclasses ``schema``: an
    entry's own settings (``scorer=loud`` composes ``scorer`` as ``LoudConfig``); else ``schema``.
    A component binds its node to this type, so its own keys survive."""
    from omegaconf import DictConfig, OmegaConf

    kind = OmegaConf.get_type(node) if isinstance(node, DictConfig) else type(node)
    return kind if isinstance(kind, type) and issubclass(kind, schema) else schema


def load_plugins() -> list[str]:
    """Import every plug-in named in the ``rlmdj.plugins`` entry-point group, once per process.

    An entry point names a module (``toy = "my_pkg.rlmdj_plugin"``), imported for what it
    registers, or a function (``"my_pkg.plugin:setup"``), called with no arguments. The ``rlmdj``
    command calls this before it composes a config (and in every launcher worker), so a plug-in
    may add entries, checks and group options. A plug-in that fails to load is one line naming it.
    Returns the names loaded so far.
    """
    global _plugins_scanned
    if _plugins_scanned:
        return list(_PLUGINS_LOADED)
    _plugins_scanned = True
    from importlib.metadata import entry_points

    for ep in sorted(entry_points(group=PLUGIN_GROUP), key=lambda e: e.name):
        _PLUGINS_LOADED[ep.name] = ep.value
        try:
            loaded = ep.load()
            if callable(loaded):
                loaded()
        except Exception as exc:  # noqa: BLE001 - any failure of a plug-in is reported by its name
            raise ParameterError(f"plug-in {ep.name!r} ({ep.value}, entry point group {PLUGIN_GROUP}) "
                                 f"failed to load: {type(exc).__name__}: {exc}") from exc
    return list(_PLUGINS_LOADED)


class Registry(MutableMapping[str, T], Generic[T]):
    """Named extensions of one kind, in registration order.

    ``kind`` says what is registered (``"dj driver"``) and ``key`` the config key that picks
    one (``"dj.driver"``); both appear in the error for an unknown name, with ``example`` (a
    working override such as ``"dj=reference"``). ``entries`` are the lazy built-ins, ``checks``
    and ``settings`` theirs (``name -> "module:attribute"``, imported when asked for).

    It is a mutable mapping, so tests can add an entry for their duration with
    ``monkeypatch.setitem(REGISTRY, name, obj)`` or :meth:`registered`.
    """

    def __init__(self, kind: str, *, key: str, example: str = "",
                 entries: Mapping[str, str] | None = None,
                 checks: Mapping[str, str] | None = None,
                 settings: Mapping[str, str] | None = None) -> None:
        self.kind = kind
        self.key = key
        self.example = example
        self._lazy: dict[str, str] = dict(entries or {})
        self._loaded: dict[str, T] = {}
        self._order: list[str] = list(self._lazy)
        self._checks: dict[str, Check | str] = dict(checks or {})
        self._settings: dict[str, type | str] = dict(settings or {})
        for name in (*self._checks, *self._settings):
            if name not in self._lazy:
                raise ValueError(f"{kind} {name!r} has a check or settings but no entry")

    # ------------------------------------------------------------- register
    @overload
    def register(self, name: str, *, replace: bool = False, check: Check | str | None = None,
                 settings: type | str | None = None) -> Callable[[T], T]: ...

    @overload
    def register(self, name: str, obj: T, *, replace: bool = False, check: Check | str | None = None,
                 settings: type | str | None = None) -> T: ...

    def register(self, name: str, obj: Any = None, *, replace: bool = False,
                 check: Check | str | None = None, settings: type | str | None = None) -> Any:
        """Register ``obj`` as ``name``; without ``obj``, a decorator that does it.

        ``check`` (a function of the composed config, or ``"module:function"``) is what the
        preflight runs when a config selects ``name``; ``settings`` the entry's own settings
        (module docstring). A name already taken is an error unless ``replace=True``.
        """
        if obj is None:
            def decorator(target: T) -> T:
                self.register(name, target, replace=replace, check=check, settings=settings)
                return target

            return decorator
        if not name or not isinstance(name, str):
            raise ValueError(f"a {self.kind} needs a non-empty name, got {name!r}")
        if name in self._loaded and not replace and self._loaded[name] is not obj:
            raise ValueError(f"{self.kind} {name!r} is already registered")
        if name in self._lazy and not replace and name not in self._loaded:
            raise ValueError(f"{self.kind} {name!r} is already declared as {self._lazy[name]!r}")
        self._loaded[name] = obj
        if check is not None:
            self._checks[name] = check
        if settings is not None:
            self._settings[name] = settings
        if name not in self._order:
            self._order.append(name)
        return obj

    def unregister(self, name: str) -> None:
        """Remove ``name`` (lazy or loaded, with its check and settings); unknown names are ignored."""
        for table in (self._lazy, self._loaded, self._checks, self._settings):
            table.pop(name, None)
        if name in self._order:
            self._order.remove(name)

    @contextlib.contextmanager
    def registered(self, name: str, obj: T, *, check: Check | str | None = None,
                   settings: type | str | None = None) -> Iterator[T]:
        """Register ``obj`` (with its ``check`` and ``settings``) for the duration of a ``with``
        block (tests, notebooks); what was there before comes back."""
        tables = (self._lazy, self._loaded, self._checks, self._settings)
        previous = [dict(table) for table in tables]
        order = list(self._order)
        self._checks.pop(name, None)
        self._settings.pop(name, None)
        self.register(name, obj, replace=True, check=check, settings=settings)
        try:
            yield obj
        finally:
            for table, before in zip(tables, previous, strict=True):
                table.clear()
                table.update(before)
            self._order[:] = order

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
            raise self._unknown(name) from None

    def _unknown(self, name: str) -> ParameterError:
        hint = f" (e.g. {self.example})" if self.example else ""
        return ParameterError(f"unknown {self.kind} {name!r} for {self.key}; available: "
                              f"{', '.join(self.names())}{hint}")

    def check_of(self, name: str) -> Check | None:
        """The check ``name`` declares (imported now if lazy), or None; unknown names raise."""
        if name not in self._order:
            raise self._unknown(name)
        check = self._checks.get(name)
        if isinstance(check, str):
            check = self._checks[name] = load_target(check)
        return check

    def check(self, name: str, cfg: Any) -> None:
        """Run the check ``name`` declares on ``cfg`` (nothing if it declares none)."""
        check = self.check_of(name)
        if check is not None:
            check(cfg)

    def settings_of(self, name: str) -> type | None:
        """The settings dataclass ``name`` declares (imported now if lazy), or None."""
        settings = self._settings.get(name)
        if isinstance(settings, str):
            settings = self._settings[name] = load_target(settings)
        return settings

    def with_settings(self) -> list[str]:
        """Names that declare settings of their own (nothing imported)."""
        return [name for name in self._order if name in self._settings]

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
