"""Find and mask secrets in anything rlmdj writes: by key name and by what the value looks like.

Keys are never config values by design (models and scorers name the environment variable that
holds them), but a user can still put one on the command line (``+model.extra.api_key=sk-...``),
inside a header (``Authorization='Bearer sk-...'``) or in a URL (``http://user:sk-...@host``).
So every text that leaves the process (MLflow params, tags, notes, artifacts, transcripts,
Hydra's output files, the console) goes through :func:`scrub_text`, :func:`scrub_value`,
:func:`scrub_document` or :func:`scrub_key`:

- a value under a secret-looking key (``api_key``, ``hf_token``, ``client_secret``,
  ``Authorization``, ``password``...) is replaced whole by ``***``;
- anywhere in any text, provider key formats (``sk-...``, ``sk-ant-...``, ``hf_...``, ``ghp_...``,
  ``AKIA...``, ``AIza...``, ``xox?-...``, JWTs), the credential after ``Authorization:`` or
  ``Bearer`` (on the same line), the password in a URL's userinfo, ``key=value`` pairs with a
  secret-looking key, the literal values of secret environment variables and the values given
  on the command line under a secret-looking key (:func:`remember_override_secrets`) are masked.

What is not a secret stays byte for byte: names of environment variables
(``api_key_env: OPENAI_API_KEY``), counters (``max_tokens``), an ordinary word after ``basic``
or ``token``, and environment values that are paths, URLs without a password, numbers or short
words (``PWD``, set by every shell, holds the launch folder, not a password). Masking keeps a
document's syntax: a YAML file stays loadable and a JSON file parseable.
"""

from __future__ import annotations

import functools
import json
import os
import re
from collections.abc import Mapping
from typing import Any

__all__ = [
    "KEY_MASK", "MASK", "is_secret_key", "looks_like_secret_value", "remember_override_secrets",
    "scrub_document", "scrub_key", "scrub_text", "scrub_value", "secret_env_values",
]

MASK = "***"
# In MLflow keys (metric, param and tag names: letters, digits, ``_./ :-``) ``*`` is refused.
KEY_MASK = "masked"

_SECRET_LAST_WORDS = (
    "apikey", "secret", "password", "passwd", "pwd", "token", "credentials", "authorization",
    "auth", "cookie", "bearer", "privatekey",
)
_COUNTER_WORDS = ("max", "min", "num", "n", "total", "count", "used", "input", "output", "prompt",
                  "completion")
_SECRET_PAIRS = (("api", "key"), ("access", "key"), ("private", "key"), ("secret", "key"),
                 ("session", "key"), ("x", "key"))

# A provider key starts a token: after neither a letter nor a digit (``_`` may precede it, as in a
# metric name ``api_key_sk-...``; ``desk-...`` or ``task-...`` are words, not keys).
_START = r"(?<![A-Za-z0-9])"
# Provider key formats and credential shapes; each match is replaced by MASK (prefix kept where
# it helps a reader: "sk-***").
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # userinfo in a URL: scheme://user:password@host -> scheme://user:***@host
    # (also as Hydra escapes it in override_dirname: http\://user\:pass@host)
    # (the scheme is matched from the start of its run of scheme characters only, so a long
    # token costs one pass rather than one per character)
    (re.compile(r"(?<![A-Za-z0-9+.-])(?P<keep>[0-9+.-]*[A-Za-z][A-Za-z0-9+.-]*\\?://"
                r"[^\s/:@'\"\\]*\\?:)[^\s/@'\"]+(?=@)"),
     r"\g<keep>" + MASK),
    (re.compile(_START + r"sk-(?:ant-|proj-|or-)?[A-Za-z0-9_-]{6,}"), "sk-" + MASK),
    # Hugging Face and GitHub tokens are letters and digits after the prefix (``hf_energy_ratio``,
    # an audio feature, is not one).
    (re.compile(_START + r"(?:hf|ghp|gho|ghs|ghu|ghr)_[A-Za-z0-9]{20,}"), MASK),
    (re.compile(_START + r"(?:github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,}"
                r"|xox[abprs]-[A-Za-z0-9-]{10,})"), MASK),
    (re.compile(_START + r"(?:AKIA|ASIA)[0-9A-Z]{16}\b"), MASK),
    (re.compile(_START + r"AIza[0-9A-Za-z_-]{30,}"), MASK),
    (re.compile(_START + r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"), MASK),
)
_SCHEMES = ("bearer", "basic", "token", "digest", "negotiate")
# An HTTP credential after an Authorization header's name (``Authorization: Basic dXNl...``,
# ``Authorization='Bearer sk-...'``, ``"Authorization": "Token ..."``): the scheme is kept, the
# credential (to the end of its token, never past the line) masked.
_AUTH_HEADER = re.compile(
    r"(?P<keep>(?<![A-Za-z0-9_-])(?:proxy-)?authorization[\"']?[ \t]*[:=][ \t]*[\"']?"
    r"(?:(?:" + "|".join(_SCHEMES) + r")[ \t]+)?)(?P<cred>[^\s\"',;&}\]]+)",
    re.I,
)
# ``Bearer <token>`` anywhere, on one line, when the token looks like one (see _credential_like).
_BEARER = re.compile(r"(?P<keep>(?<![A-Za-z0-9_-])bearer[ \t]+)(?P<cred>[A-Za-z0-9._~+/-]+=*)", re.I)
# key=value / key: value / "key": "value" with a secret-looking key (override strings, headers,
# query strings, YAML and JSON text), key and value on one line. A key runs to the end of its
# run of key characters (the separator is none of them), so matching starts only where such a
# run starts (``pre``: the characters a key cannot start with): linear in the text, where trying
# every position of a long token was quadratic (seconds for a 10 kB token).
_PAIR = re.compile(
    r"(?<![A-Za-z0-9_.\-])(?P<pre>[0-9.\-]*)(?P<key>[A-Za-z_][A-Za-z0-9_.\-]*)"
    r"(?P<sep>\"?[ \t]*[=:][ \t]*\"?'?)(?P<value>[^\s,;'\"&}\]]+)"
)
_NOT_VALUES = (MASK, "null", "None", "~", "")
_MIN_ENV_SECRET = 8
# Below this length a value of letters only is a word ("disabled", "four_on_floor"), not a secret.
_MIN_WORD_SECRET = 16
# Environment variables whose names merely look secret: the shell's working directories.
_NOT_SECRET_ENV = frozenset({"PWD", "OLDPWD"})


def _words(key: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9]+", key.lower()) if w]


def is_secret_key(key: str) -> bool:
    """``api_key``, ``hf_token``, ``client_secret``, ``Authorization``... but not ``max_tokens``
    or ``api_key_env`` (which names a variable rather than holding a key)."""
    return _is_secret_name(str(key).rsplit(".", 1)[-1])


@functools.lru_cache(maxsize=4096)  # a run asks about the same few hundred names again and again
def _is_secret_name(key: str) -> bool:
    words = _words(key)
    if not words or words[-1] in ("env", "var", "file", "path"):
        return False
    if words[0] in _COUNTER_WORDS:  # max_token, num_tokens, token_count: sizes, not secrets
        return False
    if words[-1] in _SECRET_LAST_WORDS or "".join(words[-2:]) in ("apikey", "privatekey"):
        return True
    return tuple(words[-2:]) in _SECRET_PAIRS


def _looks_secret_env(name: str) -> bool:
    if name.upper() in _NOT_SECRET_ENV:
        return False
    words = _words(name)
    return bool(words) and (words[-1] in ("key", "token", "secret", "password", "passwd", "pat")
                            or is_secret_key(name))


def looks_like_secret_value(value: str) -> bool:
    """Whether an environment value can be a secret: not a path, a URL without a password, a
    number or a short word. Masking such a value everywhere would mask ordinary text with it."""
    v = value.strip()
    if len(v) < _MIN_ENV_SECRET:
        return False
    if v[0] in "/~." or re.match(r"[A-Za-z]:[\\/]", v):  # a path (absolute, home, relative, Windows)
        return False
    if re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s@]*", v):  # a URL with no userinfo
        return False
    try:
        float(v)
    except ValueError:
        pass
    else:
        return False
    return not (len(v) < _MIN_WORD_SECRET and re.fullmatch(r"[A-Za-z]+(?:[_-][A-Za-z]+)*", v))


def _environ() -> list[tuple[str, str]]:
    """A snapshot of the environment; another thread (MLflow's telemetry) may change it meanwhile."""
    for _ in range(5):
        try:
            return list(os.environ.items())
        except (KeyError, RuntimeError):
            continue
    return [(k, os.environ.get(k, "")) for k in list(os.environ.keys())]


# The last environment judged and its secret values: every text a run logs is scrubbed (hundreds
# per run), and judging each variable by name and value again each time cost more than the run's
# recording itself. A changed environment (a key set meanwhile) is judged afresh.
_JUDGED: dict[tuple[tuple[str, str], ...], tuple[str, ...]] = {}


def secret_env_values() -> list[str]:
    """Values of environment variables that look secret by name and by value, longest first."""
    env = tuple(_environ())
    values = _JUDGED.get(env)
    if values is None:
        found = {v for k, v in env if _looks_secret_env(k) and looks_like_secret_value(v)}
        values = tuple(sorted(found, key=len, reverse=True))
        _JUDGED.clear()
        _JUDGED[env] = values
    return list(values)


# Values given on the command line under a secret-looking key (see remember_override_secrets).
_REMEMBERED: set[str] = set()


def _leaves(value: Any) -> list[str]:
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _leaves(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _leaves(v)]
    text = getattr(value, "text", value)  # Hydra's QuotedString
    return [text] if isinstance(text, str) else []


def _override_values(override: str, raw: str) -> list[str]:
    """The values an override sets or sweeps (``a,b``, ``choice(a,'b c')``, ``[a,b]``), as text."""
    try:
        from hydra.core.override_parser.overrides_parser import OverridesParser

        (parsed,) = OverridesParser.create().parse_overrides([override])
        values = parsed.sweep_iterator() if parsed.is_sweep_override() else [parsed.value()]
        return _leaves(list(values))
    except Exception:  # noqa: BLE001 - a malformed or glob override: its text is all there is
        return [v.strip("'\"") for v in raw.split(",")]


def remember_override_secrets(overrides: list[str] | tuple[str, ...]) -> None:
    """Mask, from now on and wherever they appear, the values that ``overrides`` set under a
    secret-looking key (``+model.extra.api_key=a,b``): a sweep also shows a condition by its
    value alone (``a vs b``), where no key says it is a secret."""
    for override in overrides:
        key, sep, raw = str(override).partition("=")
        if not sep or not is_secret_key(key.lstrip("+~").strip()):
            continue
        for value in _override_values(str(override), raw):
            scheme, _, credential = value.partition(" ")
            if scheme.lower() in _SCHEMES and credential:  # "Bearer xyz": the credential
                value = credential
            if looks_like_secret_value(value):
                _REMEMBERED.add(value.strip())


def _mask_values(text: str, values: list[str]) -> str:
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text


def _credential_like(token: str) -> bool:
    """A bearer token is long and random-looking; ``Bearer tokens`` or ``bearer authentication``
    in a sentence is not one."""
    return len(token) >= 8 and (any(c.isdigit() for c in token) or len(token) >= 20)


def scrub_text(text: str) -> str:
    """``text`` with every secret-looking substring masked (see the module docstring)."""
    if not text:
        return text
    text = _mask_values(text, secret_env_values())
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    # After the shapes, so a remembered "sk-..." reads "sk-***" like any other.
    text = _mask_values(text, sorted(_REMEMBERED, key=len, reverse=True))

    def header(match: re.Match[str]) -> str:
        if match["cred"] in _NOT_VALUES or match["cred"].lower() in _SCHEMES:
            return match[0]
        return match["keep"] + MASK

    def bearer(match: re.Match[str]) -> str:
        return match["keep"] + MASK if _credential_like(match["cred"]) else match[0]

    def pair(match: re.Match[str]) -> str:
        value = match["value"]
        if (not is_secret_key(match["key"]) or value in _NOT_VALUES
                or value.lower() in _SCHEMES):  # "Authorization: Bearer ***": masked above
            return match[0]
        return f"{match['pre']}{match['key']}{match['sep']}{MASK}"

    text = _AUTH_HEADER.sub(header, text)
    text = _BEARER.sub(bearer, text)
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


def scrub_key(key: str) -> str:
    """An MLflow key (a metric, param or tag name, or a condition inside one) with secrets
    masked as :data:`KEY_MASK`, so it stays a valid key."""
    clean = scrub_text(key)
    return key if clean == key else clean.replace(MASK, KEY_MASK)


# Inline media (a run card's audio preview and timeline): base64 holds no text a person wrote,
# is slow to search (megabytes), and masking a chance match would corrupt the media.
_DATA_URI = re.compile(r"data:[\w.+/-]+;base64,[A-Za-z0-9+/=]+")


def _scrub_around_media(text: str) -> str:
    parts, last = [], 0
    for m in _DATA_URI.finditer(text):
        parts += [scrub_text(text[last:m.start()]), m.group(0)]
        last = m.end()
    parts.append(scrub_text(text[last:]))
    return "".join(parts)


def _scrub_tree(data: Any, key: str = "") -> Any:
    """:func:`scrub_value` that masks secrets in mapping keys too (a parsed document's)."""
    if isinstance(data, Mapping):
        return {(scrub_text(k) if isinstance(k, str) else k): _scrub_tree(v, str(k))
                for k, v in data.items()}
    if isinstance(data, list):
        return [_scrub_tree(v, key) for v in data]
    return scrub_value(data, key)


# A mask that is a whole plain scalar (``cwd: ***``, ``- ***``), which YAML reads as an alias.
_LONE_MASK = re.compile(r"(?:(?<=[\s\[{,])|^)\*\*\*(?=[\s,\]}]|$)", re.M)


def _yaml_kept(original: str, masked: str) -> str:
    """``masked`` if it is still YAML, else with lone masks quoted (``cwd: '***'``), else the
    scrubbed document dumped again (a mask that starts a longer scalar: ``***/outputs``)."""
    import yaml

    try:
        data = yaml.safe_load(original)
    except yaml.YAMLError:
        return masked  # not YAML to begin with: text masking is all there is to keep
    for candidate in (masked, _LONE_MASK.sub(f"'{MASK}'", masked)):
        try:
            yaml.safe_load(candidate)
            return candidate
        except yaml.YAMLError:
            continue
    return yaml.safe_dump(_scrub_tree(data), sort_keys=False, allow_unicode=True,
                          default_flow_style=False, width=10**6)


def _json_indent(text: str) -> int | None:
    m = re.search(r"\n( +)\S", text)
    return len(m.group(1)) if m else None


def _json_kept(original: str, masked: str) -> str:
    """``masked`` if it is still JSON, else the scrubbed document dumped again (a mask in place
    of a number or ``true`` is not JSON)."""
    try:
        data = json.loads(original)
    except ValueError:
        return masked
    try:
        json.loads(masked)
        return masked
    except ValueError:
        pass
    return json.dumps(_scrub_tree(data), indent=_json_indent(original), ensure_ascii=False)


def scrub_document(text: str, name: str = "") -> str:
    """:func:`scrub_text` for a whole document (a file or artifact called ``name``) that keeps
    its syntax: a ``.yaml``/``.yml`` document stays loadable, ``.json`` parseable and each line of
    ``.jsonl`` parseable; inline ``data:...;base64,...`` media is left as it is."""
    masked = _scrub_around_media(text)
    if masked == text:
        return text
    suffix = os.path.splitext(name)[1].lower()
    if suffix in (".yaml", ".yml"):
        return _yaml_kept(text, masked)
    if suffix == ".json":
        return _json_kept(text, masked)
    if suffix == ".jsonl":
        return "\n".join(scrub_document(line, "line.json") for line in text.split("\n"))
    return masked
