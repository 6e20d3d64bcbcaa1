"""Find and mask secrets in anything rlmdj writes: by key name and by what the value looks like.

Keys are never config values by design (models and scorers name the environment variable that
holds them), but a user can still put one on the command line (``+model.extra.api_key=sk-...``),
inside a header (``Authorization='Bearer sk-...'``) or in a URL (``http://user:sk-...@host``).
So every text that leaves the process (MLflow params, tags, notes, artifacts, transcripts,
Hydra's output files) goes through :func:`scrub_text` or :func:`scrub_value`:

- a value under a secret-looking key (``api_key``, ``hf_token``, ``client_secret``,
  ``Authorization``, ``password``...) is replaced whole by ``***``;
- anywhere in any text, provider key formats (``sk-...``, ``sk-ant-...``, ``hf_...``, ``ghp_...``,
  ``AKIA...``, ``AIza...``, ``xox?-...``, JWTs), ``Bearer``/``Basic`` credentials, the password
  in a URL's userinfo, ``key=value`` pairs with a secret-looking key, and the literal values of
  secret-named environment variables (``OPENAI_API_KEY``...) are masked.

Names of environment variables (``api_key_env: OPENAI_API_KEY``) and counters such as
``max_tokens`` stay visible.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["MASK", "is_secret_key", "scrub_document", "scrub_text", "scrub_value", "secret_env_values"]

MASK = "***"

_SECRET_LAST_WORDS = (
    "apikey", "secret", "password", "passwd", "pwd", "token", "credentials", "authorization",
    "auth", "cookie", "bearer", "privatekey",
)
_COUNTER_WORDS = ("max", "min", "num", "n", "total", "count", "used", "input", "output", "prompt",
                  "completion")
_SECRET_PAIRS = (("api", "key"), ("access", "key"), ("private", "key"), ("secret", "key"),
                 ("session", "key"), ("x", "key"))

# Provider key formats and credential shapes; each match is replaced by MASK (prefix kept where
# it helps a reader: "Bearer ***", "sk-***").
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # userinfo in a URL: scheme://user:password@host -> scheme://user:***@host
    # (also as Hydra escapes it in override_dirname: http\://user\:pass@host)
    # (the scheme is matched from the start of its run of scheme characters only, so a long
    # token costs one pass rather than one per character)
    (re.compile(r"(?<![A-Za-z0-9+.-])(?P<keep>[0-9+.-]*[A-Za-z][A-Za-z0-9+.-]*\\?://"
                r"[^\s/:@'\"\\]*\\?:)[^\s/@'\"]+(?=@)"),
     r"\g<keep>" + MASK),
    (re.compile(r"(?P<keep>\b(?:Bearer|Basic|Token)\s+)[A-Za-z0-9._~+/=-]{6,}", re.I), r"\g<keep>" + MASK),
    (re.compile(r"\bsk-(?:ant-|proj-|or-)?[A-Za-z0-9_-]{6,}"), "sk-" + MASK),
    (re.compile(r"\b(?:hf|ghp|gho|ghs|ghu|github_pat|glpat|xox[abprs])[_-][A-Za-z0-9_-]{10,}"), MASK),
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), MASK),
    (re.compile(r"\bAIza[0-9A-Za-z_-]{30,}"), MASK),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), MASK),
)
# key=value / key: value / "key": "value" with a secret-looking key (override strings, headers,
# query strings, YAML and JSON text). A key runs to the end of its run of key characters (the
# separator is none of them), so matching starts only where such a run starts (``pre``: the
# characters a key cannot start with): linear in the text, where trying every position of a
# long token was quadratic (seconds for a 10 kB token).
_PAIR = re.compile(
    r"(?<![A-Za-z0-9_.\-])(?P<pre>[0-9.\-]*)(?P<key>[A-Za-z_][A-Za-z0-9_.\-]*)"
    r"(?P<sep>\"?\s*[=:]\s*\"?'?)(?P<value>[^\s,'\"&}\]]+)"
)
_MIN_ENV_SECRET = 8


def _words(key: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9]+", key.lower()) if w]


def is_secret_key(key: str) -> bool:
    """``api_key``, ``hf_token``, ``client_secret``, ``Authorization``... but not ``max_tokens``
    or ``api_key_env`` (which names a variable rather than holding a key)."""
    key = str(key).rsplit(".", 1)[-1]
    words = _words(key)
    if not words or words[-1] in ("env", "var", "file", "path"):
        return False
    if words[0] in _COUNTER_WORDS:  # max_token, num_tokens, token_count: sizes, not secrets
        return False
    if words[-1] in _SECRET_LAST_WORDS or "".join(words[-2:]) in ("apikey", "privatekey"):
        return True
    return tuple(words[-2:]) in _SECRET_PAIRS


# The shell's working-directory variables: ``PWD`` ends in a secret-looking word, but masking its
# value would erase the launch folder from every recorded path.
_NOT_SECRET_ENV = frozenset({"PWD", "OLDPWD"})


def _looks_secret_env(name: str) -> bool:
    if name.upper() in _NOT_SECRET_ENV:
        return False
    words = _words(name)
    return bool(words) and (words[-1] in ("key", "token", "secret", "password", "passwd", "pat")
                            or is_secret_key(name))


def _environ() -> list[tuple[str, str]]:
    """A snapshot of the environment; another thread (MLflow's telemetry) may change it meanwhile."""
    for _ in range(5):
        try:
            return list(os.environ.items())
        except (KeyError, RuntimeError):
            continue
    return [(k, os.environ.get(k, "")) for k in list(os.environ.keys())]


def secret_env_values() -> list[str]:
    """Values of environment variables whose names look secret, longest first."""
    values = {v for k, v in _environ() if _looks_secret_env(k) and len(v.strip()) >= _MIN_ENV_SECRET}
    return sorted(values, key=len, reverse=True)


def scrub_text(text: str) -> str:
    """``text`` with every secret-looking substring masked (see the module docstring)."""
    if not text:
        return text
    for value in secret_env_values():
        if value in text:
            text = text.replace(value, MASK)
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)

    def pair(match: re.Match[str]) -> str:
        if not is_secret_key(match["key"]) or match["value"] in (MASK, "null", "None", ""):
            return match[0]
        return f"{match['pre']}{match['key']}{match['sep']}{MASK}"

    return _PAIR.sub(pair, text)


def scrub_value(value: Any, key: str = "") -> Any:
    """A copy of ``value`` (nested dicts/lists/strings) safe to log: secret keys masked whole,
    strings scrubbed by pattern. Non-string leaves (numbers, booleans, None) are kept."""
    if isinstance(value, Mapping):
        return {k: scrub_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(scrub_value(v, key) for v in value)
    if value not in (None, "", False) and key and is_secret_key(key) and not isinstance(value, bool):
        return MASK
    if isinstance(value, str):
        return scrub_text(value)
    return value


# Inline media (a run card's audio preview and timeline): base64 holds no text a person wrote,
# is slow to search (megabytes), and masking a chance match would corrupt the media.
_DATA_URI = re.compile(r"data:[\w.+/-]+;base64,[A-Za-z0-9+/=]+")


def scrub_document(text: str) -> str:
    """:func:`scrub_text` for documents that may inline media: ``data:...;base64,...`` runs are
    kept as they are, everything around them is scrubbed."""
    parts, last = [], 0
    for m in _DATA_URI.finditer(text):
        parts += [scrub_text(text[last:m.start()]), m.group(0)]
        last = m.end()
    parts.append(scrub_text(text[last:]))
    return "".join(parts)
