"""A scripted DJ model that plays better or worse depending on one idea in its instructions.

Prompt optimisation needs a model whose sets measurably change with the instructions it reads.
:func:`dj_reply` answers the RLM's requests (DSPy's chat format, as :mod:`fake_openai` serves
them) with code chosen by the system message:

- neither → kick and hihat, with every 8-bar block ending in 2 bars with both muted (the
  habit the instructions can change);
- :data:`GOOD_IDEA` → the full groove from the first block on, held, never muted;
- :data:`BAD_IDEA` → half of every block muted.

The proxy scorer pulls every axis towards its floor by the silent share of the set and barely
tells a two-layer groove from a six-layer one, so silence is the lever. Measured over 6 replicas
x 2 palettes (example, example_synth) at 16 bars, paired by replica: better - neutral +1.14 OBJ
(SD of the differences 0.32: 3.6 SD), worse - neutral -1.29 (SD 0.04), one neutral text - another
exactly 0. Replicas spread by about 0.3 OBJ with the better idea (its lead-in is the only silence)
and by about 0.02 otherwise (the drop-outs' total length does not depend on the lead-in).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from collections import Counter
from typing import Any

from fake_openai import CRITIC_MARKER, FakeOpenAI
from scripted import chat_fields

__all__ = ["BAD_IDEA", "GOOD_IDEA", "IdeaDJ", "dj_code", "dj_reply", "first_turn", "idea_of", "replica_seed",
           "with_idea"]

GOOD_IDEA = "long holds at the peak"
BAD_IDEA = "cut everything to silence often"

_LINES = {
    "good": f"- Keep {GOOD_IDEA}: bring every layer in early and hold the full groove.",
    "bad": f"- {BAD_IDEA.capitalize()}: mute every channel for half of each block.",
    "neutral": "- Name the purpose of each block in a comment ({n}).",
}

_ITERATION = re.compile(r"\[\[ ## iteration ## \]\]\s*(\d+)\s*/")

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
    """``good``, ``bad`` or ``neutral``: the idea the request's system message holds (``bad``
    when it holds both: a worse rewrite of a better parent plays worse)."""
    system = _system(body).lower()
    if BAD_IDEA in system:  # the worse idea spoils a text that also holds the better one
        return "bad"
    if GOOD_IDEA in system:
        return "good"
    return "neutral"


def _inputs(body: dict[str, Any]) -> str:
    """The set's inputs (palette, plan): the last user message up to the history."""
    users = [_text(m) for m in body.get("messages", []) if m.get("role") == "user"]
    return users[-1].split("[[ ## repl_history ## ]]")[0] if users else ""


def first_turn(body: dict[str, Any]) -> bool:
    """Whether the request opens a set (the RLM's iteration field reads ``1/<max>``)."""
    users = [_text(m) for m in body.get("messages", []) if m.get("role") == "user"]
    found = _ITERATION.search(users[-1]) if users else None
    return found is not None and found.group(1) == "1"


def replica_seed(body: dict[str, Any], replica: int) -> int:
    """The noise seed of a set: its inputs and its replica, never the instructions (so two texts
    with the same idea play the same set, and paired differences between them are exactly 0)."""
    key = json.dumps([_inputs(body), replica])
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")


def dj_code(idea: str, seed: int = 0, jitter: float = 0.04) -> str:
    """The code block the scripted DJ writes for ``idea``; ``seed`` draws the set's noise: 0-2
    silent bars before the first layer (about 0.25 OBJ apart at 16 bars) and the gains' jitter."""
    rng = random.Random(seed)
    hesitate = rng.choice([0, 1, 2])

    def gain(centre: float) -> str:
        return f"{centre + rng.uniform(-jitter, jitter):.3f}"

    gains = {"kick": gain(0.9), "hihat": gain(0.56), "bass": gain(0.66), "perc": gain(0.42),
             "clap": gain(0.46), "texture": gain(0.36)}
    code = _STEP + (f"if _step == 0:\n    print(play({hesitate}))\n" if hesitate else "")
    code += _BASE.format(**gains)
    if idea == "good":
        return code + _FULL.format(**gains) + "print(play(8))"
    return code + _DROP.format(**({"on": 4, "off": 4} if idea == "bad" else {"on": 6, "off": 2}))


def dj_reply(body: dict[str, Any], replica: int = 0) -> str:
    """The whole assistant message for one RLM request of replica ``replica``, in DSPy's format."""
    code = dj_code(idea_of(body), replica_seed(body, replica))
    return chat_fields({"reasoning": "Next block of the set.", "code": f"```python\n{code}\n```"})


class IdeaDJ(FakeOpenAI):
    """:class:`FakeOpenAI` answering with :func:`dj_reply`.

    The requests carry no replica number (DSPy keeps ``rollout_id`` to its cache key), so the
    server counts: the k-th set opened with the same instructions and inputs is replica k, and
    its later turns are answered as replica k. Replica r of a parent and of a child prompt thus
    share their noise, as a real model's replicas share their seed. Sets are assumed to be
    played one at a time. ``sets()`` counts the sets opened per idea, ``ideas()`` the requests.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__([], reply=self._reply, **kwargs)
        self._opened: Counter[tuple[str, str]] = Counter()
        self._current: dict[tuple[str, str], int] = {}
        self.opened: list[tuple[str, int]] = []  # (idea, replica) of every set opened, in order

    def _reply(self, body: dict[str, Any]) -> str:
        # Called under the server's lock.
        key = (_system(body), _inputs(body))
        if first_turn(body) or key not in self._current:
            self._current[key] = self._opened[key]
            self._opened[key] += 1
            self.opened.append((idea_of(body), self._current[key]))
        return dj_reply(body, self._current[key])

    def sets(self) -> dict[str, int]:
        """Sets opened by the idea their instructions held."""
        return dict(Counter(idea for idea, _ in self.opened))

    def ideas(self) -> dict[str, int]:
        """Main-LM requests by the idea their instructions held (critic requests left out)."""
        counts = {"good": 0, "bad": 0, "neutral": 0}
        for body in list(self.requests):
            if CRITIC_MARKER not in json.dumps(body.get("messages", [])):
                counts[idea_of(body)] += 1
        return counts
