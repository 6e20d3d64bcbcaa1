"""Exact replay of a recorded RLM run: recorded LM responses served back in order.

:class:`ReplaySource` holds a transcript's successful responses, one queue per LM label
(``main``, ``critic``, ``sub``). :class:`ReplayLM` answers each request with the next recorded
response after checking that the request is the one recorded. Any difference — another prompt,
more calls than recorded — is a divergence: it raises :class:`ReplayDivergence`, and every
later call raises too, so a diverged replay can never finish as if it had matched. After the
set, :meth:`ReplaySource.check_complete` reports recorded calls the replay never asked for.
:func:`replay_config` is what a recorded run keeps of its config for the replay to reuse.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import dspy

from rlmdj.dj.rlm.transcript import Transcript, messages_sha256
from rlmdj.errors import RlmdjError

__all__ = ["REPLAYED_GROUPS", "ReplayDivergence", "ReplayLM", "ReplaySource", "replay_config"]


class ReplayDivergence(RlmdjError):
    """The replay asked for something the transcript does not hold."""


def _first_difference(a: Any, b: Any) -> str:
    if isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            if x != y:
                xs, ys = str(x.get("content", x) if isinstance(x, dict) else x), \
                    str(y.get("content", y) if isinstance(y, dict) else y)
                j = next((k for k, (p, q) in enumerate(zip(xs, ys, strict=False)) if p != q), min(len(xs), len(ys)))
                return (f"message {i} differs at character {j}: recorded {xs[max(0, j - 60):j + 60]!r} "
                        f"vs now {ys[max(0, j - 60):j + 60]!r}")
        if len(a) != len(b):
            return f"recorded {len(a)} messages, now {len(b)}"
    return "request differs"


class ReplaySource:
    """The recorded responses of ``transcript``, consumed in order per LM label."""

    def __init__(self, transcript: Transcript) -> None:
        self.transcript = transcript
        self._queues: dict[str, list[dict[str, Any]]] = {}
        for call in transcript.successful():
            self._queues.setdefault(call["lm"], []).append(call)
        self._next: dict[str, int] = dict.fromkeys(self._queues, 0)
        self.divergence: str | None = None
        self._lock = threading.Lock()

    def answer(self, label: str, messages: Any) -> Any:
        with self._lock:
            if self.divergence is not None:
                raise ReplayDivergence(f"replay already diverged: {self.divergence}")
            queue = self._queues.get(label, [])
            i = self._next.get(label, 0)
            if i >= len(queue):
                ended = next((c["error"] for c in reversed(self.transcript.calls) if c["error"]), None)
                why = f" (the recorded run's last LM error: {ended})" if ended else ""
                self._diverge(f"{label} LM call #{i + 1} was never recorded; the transcript holds {len(queue)}{why}")
            recorded = queue[i]
            if recorded["messages_sha256"] != messages_sha256(messages):
                self._diverge(
                    f"{label} LM call #{i + 1} (transcript seq {recorded['seq']}) asks for a different "
                    f"request: {_first_difference(recorded['messages'], messages)}"
                )
            self._next[label] = i + 1
            return recorded["outputs"]

    def _diverge(self, why: str) -> None:
        self.divergence = why
        raise ReplayDivergence(why)

    def unused(self) -> dict[str, int]:
        """Recorded responses per label that the replay has not asked for."""
        return {k: len(q) - self._next.get(k, 0) for k, q in self._queues.items() if len(q) > self._next.get(k, 0)}

    def check_complete(self) -> None:
        """Raise if the replay diverged or left recorded calls unused."""
        if self.divergence is not None:
            raise ReplayDivergence(self.divergence)
        left = self.unused()
        if left:
            self._diverge(f"replay finished with recorded LM calls never asked for: {left}")


class ReplayLM(dspy.BaseLM):
    """A DSPy LM that answers from a :class:`ReplaySource` instead of a provider."""

    def __init__(self, source: ReplaySource, label: str, model: str = "replay") -> None:
        super().__init__(model=model, model_type="chat", cache=False, num_retries=0)
        self.source = source
        self.label = label

    def __call__(self, prompt: Any = None, *, messages: Any = None, **kwargs: Any) -> Any:
        request = messages if messages is not None else [{"role": "user", "content": prompt}]
        # Compare what was recorded: the JSON form of the request.
        return self.source.answer(self.label, json.loads(json.dumps(request, default=str)))

    async def acall(self, prompt: Any = None, *, messages: Any = None, **kwargs: Any) -> Any:
        return self(prompt, messages=messages, **kwargs)


REPLAYED_GROUPS: tuple[str, ...] = ("dj", "guardrails", "samples", "render", "palette", "ears")


def replay_config(cfg: Any) -> dict[str, Any]:
    """The config groups a replay must reuse to reproduce the set (resolved where possible)."""
    from omegaconf import OmegaConf

    out: dict[str, Any] = {}
    for key in ("bars", "bpm", "replica"):
        if key in cfg:
            out[key] = cfg[key]
    for group in REPLAYED_GROUPS:
        if group not in cfg:
            continue
        try:
            out[group] = OmegaConf.to_container(cfg[group], resolve=True)
        except Exception:  # noqa: BLE001 - e.g. ${hydra:...} outside a Hydra app
            out[group] = OmegaConf.to_container(cfg[group], resolve=False)
    ears = out.get("ears")
    if isinstance(ears, dict) and ears.get("enabled") and not ears.get("scorer") and "scorer" in cfg:
        ears["scorer"] = str(cfg.scorer.name)  # a replay hears through the same kind of scorer
    return out
