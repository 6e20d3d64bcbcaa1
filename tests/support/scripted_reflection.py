"""A scripted reflection model: answers GEPA's instruction-proposal requests with fixed texts.

GEPA asks its reflection model to "write a new instruction" for the assistant and reads the
answer from the ``` block of its reply (``InstructionProposalSignature.output_extractor``: from
the first to the last triple backtick, a language tag on the opening line skipped). The scripted
server answers each request with the next of ``proposals`` inside one such block; once they run
out, with numbered neutral variants of the last one, so a study that asks more often still gets
distinct candidates. A request in DSPy's chat format (a system message listing "Your output
fields are") is answered in that format instead, every output field holding the block.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from fake_openai import FakeOpenAI
from scripted import chat_fields

__all__ = ["ScriptedReflection", "extract_like_gepa", "fenced"]

_FIELD = re.compile(r"^\d+\. `(\w+)`", re.MULTILINE)


def fenced(text: str) -> str:
    """``text`` as GEPA's proposer wants it: a short preface, then the instruction in ``` fences."""
    return f"Here is the improved instruction.\n\n```\n{text.strip()}\n```\n"


def extract_like_gepa(reply: str) -> str:
    """What GEPA's default proposer takes from ``reply`` (its own extractor, imported lazily)."""
    from gepa.strategies.instruction_proposal import InstructionProposalSignature

    return InstructionProposalSignature.output_extractor(reply)["new_instruction"]


def _output_fields(body: dict[str, Any]) -> list[str]:
    for message in body.get("messages", []):
        text = str(message.get("content", ""))
        if message.get("role") == "system" and "Your output fields are" in text:
            return _FIELD.findall(text.split("Your output fields are", 1)[1].split("All interactions")[0])
    return []


class ScriptedReflection(FakeOpenAI):
    """:class:`FakeOpenAI` that proposes ``proposals`` in order; ``proposed`` lists what it sent.

    ``asked`` keeps the text of each request (what the reflection was shown: the parent's
    instructions and the feedback on its sets).
    """

    def __init__(self, proposals: Sequence[str], **kwargs: Any) -> None:
        super().__init__([], reply=self._propose, **kwargs)
        self.proposals = [p.strip() for p in proposals]
        self.proposed: list[str] = []
        self.asked: list[str] = []

    def _next(self) -> str:
        k = len(self.proposed)
        if k < len(self.proposals):
            return self.proposals[k]
        last = self.proposals[-1] if self.proposals else "Play a steady set."
        return f"{last}\n- Variant {k + 1 - len(self.proposals)}: name each block's purpose in a comment."

    def _propose(self, body: dict[str, Any]) -> str:
        # Called under the server's lock: requests are answered one at a time, in order.
        self.asked.append("\n".join(str(m.get("content", "")) for m in body.get("messages", [])))
        text = self._next()
        self.proposed.append(text)
        fields = _output_fields(body)
        if fields:
            return chat_fields({name: fenced(text) for name in fields})
        return fenced(text)
