"""Bind a composed config node to its schema dataclass: the one way components read settings.

A component takes its schema dataclass (``EarsConfig``, ``ScorerConfig``, ``CompareConfig``...),
never a raw node with ``.get(key, default)``: :func:`bind` merges whatever it is given (a node of
the composed config, a partial dict from a test or notebook, ``None`` for an absent group) onto
the schema and converts it, so every value not set is the schema's and there is no second place
a default could be written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import is_dataclass
from typing import Any, TypeVar

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from rlmdj.errors import ParameterError

__all__ = ["bind"]

T = TypeVar("T")


def bind(node: Any, schema: type[T], key: str) -> T:
    """``node`` (DictConfig, mapping, a dataclass such as ``schema`` itself, or ``None``) as a
    ``schema`` instance.

    Values missing from ``node`` take the schema's defaults. Interpolations are resolved: a
    node's against the tree it belongs to, the schema's own (``${rlmdj.cache_dir:}``) in any
    case. A wrong key or type is one :class:`ParameterError` naming the full key:
    ``ears.max_listens: Value 'x' of type 'str' could not be converted to Integer``.
    """
    if node is None:
        node = {}
    elif not isinstance(node, DictConfig | Mapping) and not is_dataclass(node):
        raise ParameterError(f"{key} must be a mapping of settings, got {type(node).__name__}")
    if isinstance(node, DictConfig):  # resolved in its own tree before it leaves it
        try:
            node = OmegaConf.to_container(node, resolve=True)
        except OmegaConfBaseException as exc:
            where = _full_key(exc)  # a node of the composed tree names its own path
            raise _error(exc, where if where == key or where.startswith(key + ".") else _join(key, where)) from None
    try:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), node))  # type: ignore[return-value]
    except OmegaConfBaseException as exc:
        raise _error(exc, _join(key, _full_key(exc))) from None


def _full_key(exc: OmegaConfBaseException) -> str:
    return str(getattr(exc, "full_key", "") or "")


def _join(key: str, inner: str) -> str:
    return f"{key}.{inner}" if inner else key


def _error(exc: OmegaConfBaseException, where: str) -> ParameterError:
    """OmegaConf's message without its trailing ``full_key:``/``object_type=`` lines."""
    first = str(getattr(exc, "msg", None) or exc).splitlines()[0]
    return ParameterError(f"{where}: {first}")
