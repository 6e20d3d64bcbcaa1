"""A tiny OpenAI-compatible chat-completions server on 127.0.0.1 for offline end-to-end tests.

It answers ``POST .../chat/completions`` with scripted assistant messages in DSPy's ChatAdapter
format (the RLM's next code block, or the critic's direction), reports token usage, and can be
told to answer ``429`` a few times first, or to take ``delay_s`` per answer. Every request body is
kept with the usage reported for it, so a test can check what actually went over the wire
(model, sampling options, headers without secrets, tokens).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from scripted import chat_fields

__all__ = ["FakeOpenAI"]

CRITIC_MARKER = "coach a techno DJ"


class FakeOpenAI:
    """Scripted chat-completions server; use as a context manager, read ``base_url``.

    ``script``: the main LM's code blocks, in order (then ``fallback``). Critic requests (their
    system prompt is the critic signature's) get ``{"direction": critic_says}``. ``fail_first``:
    that many requests are answered ``429`` with ``Retry-After: 0`` before any succeeds.
    ``usages[i]`` is the usage reported for ``requests[i]`` (``None`` for a refused one),
    ``times[i]`` when it arrived (``time.time()``). ``reply``: instead of the script, a function
    of the request body returning the whole assistant message, for a server whose answer depends
    on what it is asked (the instructions in the system message, say); it is called under the
    server's lock, one request at a time.
    """

    def __init__(self, script: Sequence[str], *, fallback: str = "print(status())",
                 critic_says: str = "hold the groove", fail_first: int = 0,
                 delay_s: float = 0.0,
                 reply: Callable[[dict[str, Any]], str] | None = None) -> None:
        self.script = list(script)
        self.reply = reply
        self.fallback = fallback
        self.critic_says = critic_says
        self.fail_first = fail_first
        self.delay_s = delay_s
        self.requests: list[dict[str, Any]] = []
        self.usages: list[dict[str, int] | None] = []
        self.times: list[float] = []
        self.headers: list[dict[str, str]] = []
        self.rejected = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _answer(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.requests.append(body)
            self.usages.append(None)
            self.times.append(time.time())
            if self.rejected < self.fail_first:
                self.rejected += 1
                return 429, {"error": {"message": "rate limited, slow down", "type": "rate_limit_error",
                                       "code": "rate_limit_exceeded"}}
            text_in = json.dumps(body.get("messages", []))
            if CRITIC_MARKER in text_in:
                content = chat_fields({"direction": self.critic_says})
            elif self.reply is not None:
                content = self.reply(body)
            else:
                code = self.script.pop(0) if self.script else self.fallback
                content = chat_fields({"reasoning": "Next step of the set.", "code": f"```python\n{code}\n```"})
            prompt_tokens = max(1, len(text_in) // 4)
            completion_tokens = max(1, len(content) // 4)
            usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                     "total_tokens": prompt_tokens + completion_tokens}
            self.usages[-1] = usage
        if self.delay_s:
            time.sleep(self.delay_s)
        return 200, {
            "id": f"chatcmpl-{len(self.requests)}",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": body.get("model", "local-model"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": content}}],
            "usage": usage,
        }

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    server.headers.append(dict(self.headers))
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    status, payload = 404, {"error": {"message": f"no route {self.path}"}}
                else:
                    status, payload = server._answer(body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.end_headers()
                self.wfile.write(data)

        return Handler
