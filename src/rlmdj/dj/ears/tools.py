"""The ``listen`` and ``audition`` DJ tools (registered in :data:`~rlmdj.dj.tools.mixer.TOOLS`).

They reach the set's :class:`~rlmdj.dj.ears.Ears` through the tool layer's services
(``services={"ears": ears}``) and are offered to the model only when ears are on: a driver lists
them in ``ToolLayer(tools=...)`` (see :func:`tool_names`). Their results skip the status
envelope the mixer tools carry, so each is one compact JSON object of at most ``ears.max_chars``
characters. An audition applies its moves on a fork of the set through a throwaway tool layer
with fresh guardrails of the set's settings (:func:`~rlmdj.dj.ears.listener.render_ahead`), so a
move is validated exactly as the real tool would validate it, guardrails apply, and nothing
reaches the real set or its counters.
"""

from __future__ import annotations

import json
from typing import Any

from rlmdj.dj.ears import Ears, compact
from rlmdj.dj.tools.mixer import TOOLS, ToolLayer, tool
from rlmdj.dj.tools.registry import Bars, Text
from rlmdj.errors import ParameterError

__all__ = ["EAR_TOOLS", "audition", "listen", "tool_names"]

EAR_TOOLS: tuple[str, ...] = ("listen", "audition")


def tool_names(ears: bool) -> list[str]:
    """The tools a DJ is offered: every registered tool but the ear tools, which come last and
    only with ears (so a tool registered elsewhere is offered as before)."""
    return [name for name in TOOLS if name not in EAR_TOOLS] + list(EAR_TOOLS if ears else ())


def _ears(t: ToolLayer) -> Ears:
    ears = t.services.get("ears")
    if ears is None:
        raise ParameterError("this DJ has no ears (ears=off); keep playing, e.g. play(8)")
    return ears


def _brief(ears: Ears, body: dict[str, Any]) -> dict[str, Any]:
    """``body`` cut to the characters budget as the tool layer will print it (``ok`` first)."""
    text = compact({"ok": True, **body}, max_chars=ears.settings.max_chars)
    out = json.loads(text)
    out.pop("ok", None)
    return out


@tool(brief=True)
def listen(t: ToolLayer, bars: Bars = 8) -> dict[str, Any]:
    """Score the last bars you played: listen(8) gives OBJ (higher is better), CE/CU/PC/PQ, the change since your last listen, loudness, low/mid/high balance and the two roles that clash most.

    Hint: listen(8)
    """
    ears = _ears(t)
    return _brief(ears, ears.listen(t.session, bars))


@tool(brief=True)
def audition(t: ToolLayer, moves: Text, bars: Bars = 4) -> dict[str, Any]:
    """Hear moves before committing them: audition([["pattern", "perc", "gallop"], ["fader", "hihat", 0.6]], 4) scores the next 4 bars with and without the moves and returns delta OBJ and per score; nothing changes and no time passes.

    Hint: audition([["pattern", "{oneshot}", "{pattern}"]], 4)
    """
    ears = _ears(t)
    return _brief(ears, ears.audition(t.session, moves, bars, guardrails=t.guardrails))

