"""A scripted DJ model that plays better or worse depending on one idea in its instructions.

Prompt optimisation needs a model whose sets measurably change with the instructions it reads.
:func:`dj_reply` answers the RLM's requests (DSPy's chat format, as :mod:`fake_openai` serves
them) with code chosen by the system message:

- neither → kick and hihat, with every 8-bar block ending in 2 bars with both muted (the
  habit the instructions can change);
- :data:`GOOD_IDEA` → the full groove from the first block on, held, never muted;
- :data:`BAD_IDEA` → half of every block muted.

The proxy scorer pulls every axis towards its floor by the silent share of the set and barely
tells a two-layer groove from a six-layer one, so silence is the lever: over 12 random palettes
at 16 bars the better text gains about +1.3 OBJ and the worse loses about 1.2, many times the
spread of the paired differences (figures in tests/optimize/test_scripted_servers.py).

The code keeps its own step counter (variables persist between RLM turns), so the answer
depends on nothing but the request. Gains carry a small jitter seeded by the instructions, the
inputs (palette and plan) and the replica's ``rollout_id``, so two prompts with no idea differ
by noise only, and the same request always gets the same answer (a resumed study replays
exactly).
"""

from __future__ import annotations

import hashlib
import json
import random
from typing import Any

from fake_openai import FakeOpenAI
from scripted import chat_fields

__all__ = ["BAD_IDEA", "GOOD_IDEA", "IdeaDJ", "dj_code", "dj_reply", "idea_of", "with_idea"]

GOOD_IDEA = "long holds at the peak"
BAD_IDEA = "cut everything to silence often"

_LINES = {
    "good": f"- Keep {GOOD_IDEA}: bring every layer in early and hold the full groove.",
    "bad": f"- {BAD_IDEA.capitalize()}: mute every channel for half of each block.",
    "neutral": "- Name the purpose of each block in a comment ({n}).",
}

_STEP = "try:\n    _step += 1\nexcept NameError:\n    _step = 0\n"
_BASE = ("if _step == 0:\n"
         "    print(add('kick', {kick}, 'four_on_floor'))\n"
         "    print(add('hihat', {hihat}, 'offbeat_8ths'))\n")
_FULL = ("for _role, _gain, _pat in [('bassline', {bass}, ''), ('perc', {perc}, 'syncopated_a'),\n"
         "                           ('clap', {clap}, 'backbeat'), ('texture', {texture}, '')]:\n"
         "    print(add(_role, _gain, _pat))\n")
_DROP = ("print(play({on}))\n"
         "for _role in ['kick', 'hihat']:\n"
         "    print(mute(_role))\n"
         "print(play({off}))\n"
         "for _role in ['kick', 'hihat']:\n"
         "    print(unmute(_role))\n")


def with_idea(base: str, idea: str, n: int = 1) -> str:
    """``base`` instructions plus one line holding ``idea`` (``good``, ``bad``, or ``neutral`` no. n)."""
    return f"{base.rstrip()}\n\n{_LINES[idea].format(n=n)}\n"


def _text(message: dict[str, Any]) -> str:
    content = message.get("content", "")
    if isinstance(content, list):  # OpenAI content parts
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content)


def _system(body: dict[str, Any]) -> str:
    return "\n".join(_text(m) for m in body.get("messages", []) if m.get("role") == "system")


def idea_of(body: dict[str, Any]) -> str:
    """``good``, ``bad`` or ``neutral``: the idea the request's system message holds."""
    system = _system(body).lower()
    if GOOD_IDEA in system:
        return "good"
    if BAD_IDEA in system:
        return "bad"
    return "neutral"


def _seed(body: dict[str, Any]) -> int:
    """Same instructions, inputs and replica → same seed; the history (turns so far) is left out."""
    users = [_text(m) for m in body.get("messages", []) if m.get("role") == "user"]
    inputs = users[-1].split("[[ ## repl_history ## ]]")[0] if users else ""
    key = json.dumps([_system(body), inputs, body.get("rollout_id"), body.get("seed")], default=str)
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")


def dj_code(idea: str, seed: int = 0, jitter: float = 0.04) -> str:
    """The code block the scripted DJ writes for ``idea``, gains jittered by ``seed``."""
    rng = random.Random(seed)

    def gain(centre: float) -> str:
        return f"{centre + rng.uniform(-jitter, jitter):.3f}"

    gains = {"kick": gain(0.9), "hihat": gain(0.56), "bass": gain(0.66), "perc": gain(0.42),
             "clap": gain(0.46), "texture": gain(0.36)}
    code = _STEP + _BASE.format(**gains)
    if idea == "good":
        return code + _FULL.format(**gains) + "print(play(8))"
    return code + _DROP.format(**({"on": 4, "off": 4} if idea == "bad" else {"on": 6, "off": 2}))


def dj_reply(body: dict[str, Any]) -> str:
    """The whole assistant message for one RLM request, in DSPy's chat format."""
    code = dj_code(idea_of(body), _seed(body))
    return chat_fields({"reasoning": "Next block of the set.", "code": f"```python\n{code}\n```"})


class IdeaDJ(FakeOpenAI):
    """:class:`FakeOpenAI` answering with :func:`dj_reply`; ``ideas()`` counts main requests."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__([], reply=dj_reply, **kwargs)

    def ideas(self) -> dict[str, int]:
        """Main-LM requests by the idea their instructions held (critic requests left out)."""
        counts = {"good": 0, "bad": 0, "neutral": 0}
        for body in list(self.requests):
            if "coach a techno DJ" not in json.dumps(body.get("messages", [])):
                counts[idea_of(body)] += 1
        return counts
