"""The LM transcript: every request and response of a run, in order, with usage.

A transcript is what makes an RLM run reproducible without the model: :mod:`rlmdj.dj.rlm.replay`
serves its recorded responses back in order. It also carries what a replay needs to rebuild
the set (prompt text, palette, set parameters). Secrets never enter it: request options that
look like credentials are dropped, and :func:`scrub` removes any environment value of a
known key variable that might have slipped into a message.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlmdj.errors import ParameterError

__all__ = ["FORMAT", "Transcript", "messages_sha256", "scrub"]

FORMAT = "rlmdj-transcript/1"
# Credential-like names: "token" only as a whole last word (HF_TOKEN, access_token), so counts
# and limits such as max_tokens or prompt_tokens are kept.
_SECRET_KEY = re.compile(r"(api[_-]?key|secret|password|authorization|bearer|(^|[_-])token$)", re.I)
_KEPT_OPTIONS = {"temperature", "max_tokens", "max_completion_tokens", "n", "rollout_id", "top_p", "seed", "stop"}


def messages_sha256(messages: Any) -> str:
    """Stable digest of a request's messages (what replay compares)."""
    return hashlib.sha256(json.dumps(messages, sort_keys=True, default=str).encode()).hexdigest()


def _secret_values() -> list[str]:
    return [v for k, v in os.environ.items() if _SECRET_KEY.search(k) and v and len(v) >= 8]


def scrub(value: Any) -> Any:
    """``value`` with credential-like keys removed and secret environment values masked."""
    secrets = _secret_values()

    def walk(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items() if not (isinstance(k, str) and _SECRET_KEY.search(k))}
        if isinstance(v, list | tuple):
            return [walk(x) for x in v]
        if isinstance(v, str):
            for s in secrets:
                if s in v:
                    v = v.replace(s, "***")
            return v
        return v

    return walk(value)


@dataclass
class Transcript:
    """Ordered LM calls (``calls``) plus run metadata (``meta``); thread-safe appends."""

    meta: dict[str, Any] = field(default_factory=dict)
    calls: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def append(
        self,
        *,
        lm: str,
        model: str,
        messages: Any,
        options: dict[str, Any],
        outputs: Any = None,
        usage: dict[str, Any] | None = None,
        cost: float | None = None,
        error: str | None = None,
        attempt: int = 0,
        wall_s: float = 0.0,
    ) -> dict[str, Any]:
        entry = {
            "lm": lm,
            "model": model,
            "attempt": attempt,
            "messages_sha256": messages_sha256(messages),
            "messages": scrub(_jsonable(messages)),
            "options": scrub({k: _jsonable(v) for k, v in options.items() if k in _KEPT_OPTIONS}),
            "outputs": scrub(_jsonable(outputs)),
            "usage": _jsonable(usage or {}),
            "cost": cost,
            "error": error,
            "wall_s": round(wall_s, 4),
            "ended_at": round(time.time(), 6),  # wall clock, for the run's trace
        }
        with self._lock:
            entry["seq"] = len(self.calls)
            self.calls.append(entry)
        return entry

    def successful(self, lm: str | None = None) -> list[dict[str, Any]]:
        """Calls that returned a response (failed attempts are kept for the record only)."""
        return [c for c in self.calls if c["error"] is None and (lm is None or c["lm"] == lm)]

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, "meta": scrub(self.meta), "calls": self.calls}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Transcript:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ParameterError(f"not a transcript (invalid JSON: {exc})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ParameterError(f"not an rlmdj transcript (expected format {FORMAT!r})")
        return cls(meta=dict(data.get("meta") or {}), calls=list(data.get("calls") or []))

    @classmethod
    def load(cls, path: str | Path) -> Transcript:
        p = Path(path)
        if not p.is_file():
            raise ParameterError(f"transcript file {str(p)!r} does not exist (e.g. experiment.replay.transcript=path/to/transcript.json)")
        return cls.from_json(p.read_text())

    def save(self, path: str | Path) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(self.to_json())
        return p


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))
