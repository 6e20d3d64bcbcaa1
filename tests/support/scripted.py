"""A scripted DSPy LM for tests: answers in DSPy's chat format from a list, no network.

Each script item is a Python code string (the RLM's next code block), a dict of output fields,
an exception instance (raised, as a provider failure would be), or a callable of the request
messages returning one of those.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import dspy

__all__ = ["ScriptedLM", "chat_fields"]


def chat_fields(fields: dict[str, str]) -> str:
    """Output fields formatted the way DSPy's ChatAdapter parses them."""
    parts = [f"[[ ## {name} ## ]]\n{value}" for name, value in fields.items()]
    return "\n\n".join([*parts, "[[ ## completed ## ]]"])


class ScriptedLM(dspy.BaseLM):
    """Returns scripted answers in order; ``calls`` counts requests, ``requests`` keeps them.

    When the script runs out it answers ``fallback`` (default: code that only prints), so a
    test can tell a run that needed more turns from one that stopped.
    """

    def __init__(self, script: Sequence[Any], *, fallback: Any = "print(status())",
                 on_call: Callable[[int], None] | None = None) -> None:
        super().__init__(model="scripted/dj", model_type="chat", cache=False, num_retries=0)
        self.script = list(script)
        self.fallback = fallback
        self.on_call = on_call
        self.calls = 0
        self.requests: list[Any] = []

    def __call__(self, prompt: Any = None, *, messages: Any = None, **kwargs: Any) -> list[str]:
        self.calls += 1
        self.requests.append(messages)
        if self.on_call is not None:
            self.on_call(self.calls)
        item = self.script.pop(0) if self.script else self.fallback
        if callable(item) and not isinstance(item, str):
            item = item(messages)
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, str):
            item = {"reasoning": "Next step of the set.", "code": f"```python\n{item}\n```"}
        text = chat_fields(item)
        prompt_chars = sum(len(str(m.get("content", ""))) for m in messages or [])
        self.history.append({"usage": {"prompt_tokens": prompt_chars // 4, "completion_tokens": len(text) // 4},
                             "cost": None})
        return [text]

    async def acall(self, prompt: Any = None, *, messages: Any = None, **kwargs: Any) -> list[str]:
        return self(prompt, messages=messages, **kwargs)
