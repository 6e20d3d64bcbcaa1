"""Keep secrets off the terminal: ``sys.stdout`` and ``sys.stderr`` masked while rlmdj runs.

Hydra echoes each launched job's overrides (``#0 : +model.extra.api_key=sk-...``), jobs print
their condition, sweeps print verdicts and comparisons: all of them name what was on the command
line. Rather than scrub each of those writers, :func:`masked_console` wraps the two streams once
so every line passes through :func:`rlmdj.secrets.scrub_text` (Hydra's logging handlers, rich
consoles and ``print`` all write to them). Text is held until a line ends (or the stream is
flushed), so a secret written in pieces is masked whole; ANSI styling is left as it is.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, TextIO

from rlmdj.secrets import scrub_text

__all__ = ["MaskedStream", "masked_console"]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def _scrub_styled(text: str) -> str:
    """Scrub the text between ANSI escape codes (``\\x1b[1msk-...`` has no word boundary)."""
    if "\x1b" not in text:
        return scrub_text(text)
    parts, last = [], 0
    for m in _ANSI.finditer(text):
        parts += [scrub_text(text[last:m.start()]), m.group(0)]
        last = m.end()
    parts.append(scrub_text(text[last:]))
    return "".join(parts)


class MaskedStream:
    """A text stream that masks secrets line by line before writing to ``stream``."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        cut = max(self._pending.rfind("\n"), self._pending.rfind("\r"))
        if cut >= 0:
            done, self._pending = self._pending[:cut + 1], self._pending[cut + 1:]
            self.stream.write(_scrub_styled(done))
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self._pending:
            pending, self._pending = self._pending, ""
            self.stream.write(_scrub_styled(pending))
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    def __getattr__(self, name: str) -> Any:  # encoding, errors, buffer, reconfigure...
        return getattr(self.stream, name)


@contextmanager
def masked_console() -> Iterator[None]:
    """``sys.stdout``/``sys.stderr`` masked inside the block (already masked streams are kept)."""
    saved = sys.stdout, sys.stderr
    if not isinstance(sys.stdout, MaskedStream):
        sys.stdout = MaskedStream(sys.stdout)  # type: ignore[assignment]
    if not isinstance(sys.stderr, MaskedStream):
        sys.stderr = MaskedStream(sys.stderr)  # type: ignore[assignment]
    try:
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            if isinstance(stream, MaskedStream):
                with suppress(OSError, ValueError):  # the terminal or pipe went away
                    stream.flush()
        sys.stdout, sys.stderr = saved
