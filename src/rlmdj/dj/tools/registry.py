"""What a DJ tool is: ONE function whose signature and docstring say everything about it.

A tool is written once, as a function of the tool layer and the model's arguments, and
registered with :func:`tool`::

    @tool(random_weight=0.22, targets=playing)
    def fader(t: ToolLayer, role: Role, gain: Gain) -> dict[str, Any]:
        \"\"\"Set a channel's gain (0..1): fader('hihat', 0.6).\"\"\"
        ...
        return {"action": ...}

From that one definition come:

- **argument validation** — the signature (how many arguments, which defaults) and each
  parameter's annotated :class:`ArgType` (``Role``, ``Gain``, ``Bars``, ``PatternName``,
  ``SampleChoice``, ``Text``), whose ``parse`` turns a model's value into a checked one or
  raises :class:`~rlmdj.errors.ParameterError`;
- **the description the model reads** — the docstring's first paragraph, given to
  ``dspy.RLM`` with the parameter names (typed ``Any``: the tool layer, not DSPy, validates);
- **its hint** — the docstring's ``Hint:`` line, or else a call built from the parameters'
  example values, filled with names from the session (``{playing}``, ``{oneshot}``,
  ``{pattern}``, ``{loop_alt}``, ``{patterns}``);
- **the random baseline's move** — ``random_weight`` (0: never drawn) and ``targets`` (the
  roles the tool can act on now); the random driver draws the other arguments from the
  annotated types' ``draw``;
- **its result's shape** — ``brief=True``: the result is the tool's own compact object,
  without the status envelope the mixer tools carry (``listen``, ``audition``);
- **what it does to the set** — ``changes_mix`` (it changes the mixer; default: it is a random
  move, ``random_weight > 0``) and ``passes_time`` (it renders bars: ``play``, ``breakdown``).
  The tools that change the mix without passing time are the moves an audition may try
  (:func:`mix_moves`), so a new mixer tool can be auditioned with no change elsewhere.

Tools live in :data:`TOOLS`, a :class:`~rlmdj.registry.Registry`; the built-ins are
registered by :mod:`rlmdj.dj.tools.mixer`, in the order the model's tool list shows them.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, get_args, get_origin, get_type_hints

from rlmdj.errors import ParameterError
from rlmdj.registry import Registry

if TYPE_CHECKING:
    import numpy as np

    from rlmdj.dj.session import Session

__all__ = [
    "SKIP",
    "ArgType",
    "Draw",
    "OptionalPattern",
    "Bars",
    "Gain",
    "PatternName",
    "Role",
    "SampleChoice",
    "TOOLS",
    "Text",
    "Tool",
    "check_tools",
    "mix_moves",
    "tool",
]

#: Returned by an :class:`ArgType` ``draw`` when no valid value exists (the move is skipped).
SKIP = object()


@dataclass(frozen=True)
class Draw:
    """What an argument draw may look at: the random generator, the session, the target role,
    the guardrails (gains are drawn under their caps; None: uncapped) and the gain range of
    each role (``(lo, hi)``; roles not listed draw from 0.30-0.60)."""

    rng: np.random.Generator
    session: Session
    role: str
    guardrails: Any = None
    gain_ranges: Mapping[str, tuple[float, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class ArgType:
    """How one kind of tool argument is checked, shown in a hint and drawn at random.

    ``parse(value, layer)`` returns the checked value or raises ParameterError (``None``: the
    value is passed on as given and the session checks it). ``example`` is the argument's text
    in a generated hint. ``draw(Draw)`` returns a random valid value, or :data:`SKIP`.
    """

    name: str
    example: str
    parse: Callable[[Any, Any], Any] | None = None
    draw: Callable[[Draw], Any] | None = None


def _parse_gain(value: Any, layer: Any) -> float:
    from rlmdj.dj.session import parse_gain

    if isinstance(value, bool):
        raise ParameterError(f"gain must be a number between 0 and 1, got {value!r} (e.g. 0.8)")
    return parse_gain(value)


def _parse_bars(value: Any, layer: Any) -> int:
    from rlmdj.dj.session import parse_bars

    if isinstance(value, bool):
        raise ParameterError(f"bars must be a whole number >= 1, got {value!r} (e.g. 8)")
    return parse_bars(value, limit=layer.session.max_bars)


def _random_gain(d: Draw) -> float:
    lo, hi = d.gain_ranges.get(d.role, (0.30, 0.60))
    gain = round(float(d.rng.uniform(lo, hi)), 2)
    return d.guardrails.cap_gain(d.role, gain) if d.guardrails is not None else gain


def _random_pattern(d: Draw) -> str:
    from rlmdj.audio.patterns import pattern_names

    return str(d.rng.choice(pattern_names()))


def _random_pattern_for_kind(d: Draw) -> str | None:
    kind = d.session.index.get(d.session.palette.samples[d.role]).kind
    return None if kind == "loop" else _random_pattern(d)


def _random_sample(d: Draw) -> Any:
    current = d.session.channels[d.role].sample_id
    choices = [s for s in d.session.alternatives(d.role) if s != current]
    return str(d.rng.choice(choices)) if choices else SKIP


Role = Annotated[Any, ArgType("role", "'{playing}'")]
Gain = Annotated[Any, ArgType("gain", "0.6", _parse_gain, _random_gain)]
Bars = Annotated[Any, ArgType("bars", "8", _parse_bars)]
PatternName = Annotated[Any, ArgType("pattern", "'{pattern}'", None, _random_pattern)]
OptionalPattern = Annotated[Any, ArgType("pattern", "'{pattern}'", None, _random_pattern_for_kind)]
SampleChoice = Annotated[Any, ArgType("sample id", "''", None, _random_sample)]
Text = Annotated[Any, ArgType("text", "''")]

_HINT = re.compile(r"^\s*Hint:\s*(.+?)\s*$", re.MULTILINE)


def _annotations(fn: Callable[..., Any]) -> dict[str, Any]:
    """Parameter annotations, evaluated one by one (a name imported only for type checking,
    such as the tool layer's class, is skipped rather than failing the whole tool)."""
    try:
        return get_type_hints(fn, include_extras=True)
    except NameError:
        pass
    out: dict[str, Any] = {}
    for key, value in inspect.get_annotations(fn).items():
        try:
            out[key] = eval(value, fn.__globals__) if isinstance(value, str) else value  # noqa: S307
        except NameError:
            continue
    return out


def _arg_type(annotation: Any) -> ArgType | None:
    if get_origin(annotation) is Annotated:
        return next((a for a in get_args(annotation)[1:] if isinstance(a, ArgType)), None)
    return None


class Tool:
    """One registered tool (see the module docstring); made by :func:`tool`."""

    def __init__(self, fn: Callable[..., dict[str, Any]], *, name: str | None = None,
                 random_weight: float = 0.0,
                 targets: Callable[[Session], list[str]] | None = None,
                 brief: bool = False, changes_mix: bool | None = None,
                 passes_time: bool = False) -> None:
        self.fn = fn
        self.brief = bool(brief)
        self.name = name or fn.__name__
        self.__module__ = fn.__module__
        doc = inspect.cleandoc(fn.__doc__ or "")
        if not doc:
            raise ValueError(f"tool {self.name!r} needs a docstring: it is what the model reads")
        self.description = doc.split("\n\n")[0].replace("\n", " ").strip()
        hints = _annotations(fn)
        params = list(inspect.signature(fn).parameters.values())[1:]  # drop the tool layer
        self.parameters: tuple[inspect.Parameter, ...] = tuple(params)
        self.arg_types: tuple[ArgType | None, ...] = tuple(_arg_type(hints.get(p.name)) for p in params)
        self.signature = inspect.Signature(params)
        found = _HINT.search(doc)
        self.hint_template = found.group(1) if found else self._generated_hint()
        self.random_weight = float(random_weight)
        self.targets = targets
        if self.random_weight > 0 and targets is None:
            raise ValueError(f"tool {self.name!r}: a random_weight needs targets (the roles it acts on)")
        self.passes_time = bool(passes_time)
        self.changes_mix = self.random_weight > 0 if changes_mix is None else bool(changes_mix)
        if self.random_weight > 0 and (self.passes_time or not self.changes_mix):
            raise ValueError(f"tool {self.name!r}: a random move changes the mix and passes no time "
                             "(the random DJ plays the bars itself)")

    def _generated_hint(self) -> str:
        examples = []
        for p, kind in zip(self.parameters, self.arg_types, strict=True):
            if p.default is not inspect.Parameter.empty:
                continue
            examples.append(kind.example if kind is not None else "''")
        return f"{self.name}({', '.join(examples)})"

    def hint(self, context: Mapping[str, str]) -> str:
        """The hint with the session's names filled in."""
        return self.hint_template.format_map(dict(context))

    def bind(self, args: Sequence[Any]) -> None:
        """Check the argument count against the signature (the model's mistake if wrong)."""
        try:
            self.signature.bind(*args)
        except TypeError as exc:
            raise ParameterError(f"{self.name}(): {exc}") from None

    def parse(self, layer: Any, args: Sequence[Any]) -> list[Any]:
        """``args`` checked by count and parsed by each parameter's type."""
        self.bind(args)
        return [kind.parse(value, layer) if kind is not None and kind.parse is not None else value
                for value, kind in zip(args, self.arg_types, strict=False)]

    def invoke(self, layer: Any, args: Sequence[Any]) -> dict[str, Any]:
        """Run the tool on ``layer`` with validated ``args``."""
        return self.fn(layer, *self.parse(layer, args))

    def sandbox_function(self, call: Callable[..., str]) -> Callable[..., str]:
        """The function the model's code calls: this tool's name, parameters and description,
        every argument typed ``Any`` (validation is the tool layer's, with its hints)."""
        name, signature = self.name, inspect.Signature(
            [p.replace(annotation=Any) for p in self.parameters], return_annotation=str)

        def function(*args: Any, **kwargs: Any) -> str:
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"{name}() {exc}") from None
            bound.apply_defaults()
            return call(name, *bound.args)

        function.__name__ = function.__qualname__ = name
        function.__doc__ = self.description
        function.__signature__ = signature  # type: ignore[attr-defined]
        function.__annotations__ = {**{p.name: Any for p in self.parameters}, "return": str}
        return function

    def __repr__(self) -> str:
        return f"Tool({self.name}{self.signature})"


TOOLS: Registry[Tool] = Registry("DJ tool", key="tool", example="status()")


def tool(fn: Callable[..., dict[str, Any]] | None = None, *, name: str | None = None,
         random_weight: float = 0.0, targets: Callable[[Session], list[str]] | None = None,
         brief: bool = False, changes_mix: bool | None = None, passes_time: bool = False,
         registry: Registry[Tool] = TOOLS, check: Callable[[Any], None] | None = None) -> Any:
    """Register a tool function (usable bare, ``@tool``, or with options, ``@tool(...)``).

    ``check(cfg)``: what the tool needs from the composed config, run before a set by every
    driver that offers the tools (:func:`check_tools`). Returns the :class:`Tool`; ``Tool.fn`` is
    the plain function.
    """

    def register(f: Callable[..., dict[str, Any]]) -> Tool:
        spec = Tool(f, name=name, random_weight=random_weight, targets=targets, brief=brief,
                    changes_mix=changes_mix, passes_time=passes_time)
        registry.register(spec.name, spec, check=check)
        return spec

    return register(fn) if fn is not None else register


def check_tools(cfg: Any, registry: Registry[Tool] = TOOLS) -> None:
    """Run the check of every registered tool that declares one: the preflight of a driver that
    acts through the tools (``dj=random``, ``dj=greedy``, ``dj=rlm``)."""
    for name in registry.names():
        registry.check(name, cfg)


def mix_moves(registry: Registry[Tool] = TOOLS) -> tuple[str, ...]:
    """The registered tools that change the mix and pass no time, in registration order: the
    moves an audition may apply (and the greedy DJ commits), read when asked, so a tool
    registered later is one of them."""
    return tuple(name for name in registry
                 if registry[name].changes_mix and not registry[name].passes_time)
