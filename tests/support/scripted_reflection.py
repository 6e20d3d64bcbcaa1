"""A scripted reflection model: answers GEPA's instruction-proposal requests with fixed texts.

GEPA asks its reflection model to "write a new instruction" for the assistant and reads the
answer from the ``` block of its reply (``InstructionProposalSignature.output_extractor``: from
the first to the last triple backtick, a language tag on the opening line skipped). The scripted
server answers each request with the next of ``proposals`` inside one such block: a text, or a
function of the instructions the request shows (the parent's), since GEPA mutates the parent it
picked. Once they run out it answers numbered neutral variants of the parent, so a study that
asks more often still gets distinct candidates. A request in DSPy's chat format (a system
message listing "Your output fields are") is answered in that format, each output field
holding the block.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from fake_openai import FakeOpenAI
from scripted import chat_fields

__all__ = ["Proposal", "ScriptedReflection", "current_instruction", "extract_like_gepa", "fenced"]

Proposal = str | Callable[[str], str]
_FIELD = re.compile(r"^\d+\. `(\w+)`", re.MULTILINE)
_SHOWN = "following instructions to perform a task for me:\n```\n"
_SHOWN_END = "\n```\n\nThe following are examples"


def fenced(text: str) -> str:
    """``text`` as GEPA's proposer wants it: a short preface, then the instruction in ``` fences."""
    return f"Here is the improved instruction.\n\n```\n{text.strip()}\n```\n"


def extract_like_gepa(reply: str) -> str:
    """What GEPA's default proposer takes from ``reply`` (its own extractor, imported lazily)."""
    from gepa.strategies.instruction_proposal import InstructionProposalSignature

    return InstructionProposalSignature.output_extractor(reply)["new_instruction"]


def current_instruction(prompt: str) -> str:
    """The instructions GEPA's default proposal prompt shows (the parent's), '' if none: read
    between its own fences, which the instructions' inner ``` blocks do not end."""
    start = prompt.find(_SHOWN)
    end = prompt.find(_SHOWN_END, start)
    return prompt[start + len(_SHOWN):end] if start >= 0 and end > start else ""


def _output_fields(body: dict[str, Any]) -> list[str]:
    for message in body.get("messages", []):
        text = str(message.get("content", ""))
        if message.get("role") == "system" and "Your output fields are" in text:
            return _FIELD.findall(text.split("Your output fields are", 1)[1].split("All interactions")[0])
    return []


class ScriptedReflection(FakeOpenAI):
    """:class:`FakeOpenAI` that proposes ``proposals`` in order (module docstring).

    ``proposed`` lists the texts sent, ``shown`` the parent instructions each request showed,
    ``asked`` the whole text of each request (what the reflection read: the parent and the
    feedback on its sets).
    """

    def __init__(self, proposals: Sequence[Proposal], **kwargs: Any) -> None:
        super().__init__([], reply=self._propose, **kwargs)
        self.proposals = list(proposals)
        self.proposed: list[str] = []
        self.shown: list[str] = []
        self.asked: list[str] = []

    def _next(self, parent: str) -> str:
        k = len(self.proposed)
        if k < len(self.proposals):
            item = self.proposals[k]
            return (item(parent) if callable(item) else item).strip()
        base = parent or "Play a steady set."
        return f"{base.rstrip()}\n- Variant {k + 1 - len(self.proposals)}: name each block's purpose in a comment."

    def _propose(self, body: dict[str, Any]) -> str:
        # Called under the server's lock: requests are answered one at a time, in order.
        asked = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
        self.asked.append(asked)
        self.shown.append(current_instruction(asked))
        text = self._next(self.shown[-1])
        self.proposed.append(text)
        fields = _output_fields(body)
        if fields:
            return chat_fields({name: fenced(text) for name in fields})
        return fenced(text)
