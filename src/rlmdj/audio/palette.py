"""Palettes: one sample id per role, stored as JSON files under ``palettes/``.

Offers :class:`Palette` (load, save without silent overwrites, a content hash of its samples),
:func:`random_palette` (seeded, role-correct: loops for bassline/texture/synth, one-shots for the
drums), :func:`validate_palette` (every slot exists, has the right role and kind) and
:func:`find_palette` / :func:`list_palettes` (names to files, ``curated/`` included).

File format::

    {"name": "example", "samples": {"kick": "kick-00", "bassline": "bassline-02"}, "meta": {}}
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rlmdj.audio.samples import ALL_ROLES, DEFAULT_ROLES, SampleIndex, required_kind
from rlmdj.errors import ParameterError

__all__ = ["Palette", "random_palette", "validate_palette", "find_palette", "list_palettes"]

_CURATED = "curated"


@dataclass(frozen=True)
class Palette:
    """A named choice of one sample id per role; ``meta`` holds provenance (seed, scores...)."""

    name: str
    samples: dict[str, str]
    meta: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.samples, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.samples.items()
        ):
            raise ParameterError(
                f"palette {self.name!r}: samples must map role names to sample ids, e.g. "
                f'{{"kick": "kick-00"}}, got {self.samples!r}'
            )
        if not isinstance(self.meta, dict):
            raise ParameterError(
                f"palette {self.name!r}: meta must be an object, got {self.meta!r}"
            )
        object.__setattr__(self, "samples", dict(self.samples))
        object.__setattr__(self, "meta", dict(self.meta))

    def __hash__(self) -> int:
        return hash((self.name, self.sha256))

    @property
    def sha256(self) -> str:
        """Hash of the samples only (canonical JSON): renaming a palette keeps its identity."""
        canonical = json.dumps(self.samples, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def to_json(self) -> str:
        """The palette file's text."""
        return (
            json.dumps({"name": self.name, "samples": self.samples, "meta": self.meta}, indent=2)
            + "\n"
        )

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write to ``path``: a file (``.json`` added if missing) or a folder (existing, or written
        with a trailing slash) to hold ``<name>.json``.

        Refuses to replace an existing file unless ``overwrite=True``, so a screening run cannot
        clobber curated palettes.
        """
        target = Path(path)
        if target.is_dir() or str(path).endswith(("/", os.sep)):
            target = target / f"{self.name}.json"
        elif target.suffix != ".json":
            target = target.with_name(target.name + ".json")
        target.parent.mkdir(parents=True, exist_ok=True)
        text = self.to_json()
        if not overwrite:
            try:
                with open(target, "x", encoding="utf-8") as fh:
                    fh.write(text)
            except FileExistsError:
                raise ParameterError(
                    f"palette file {target} exists; choose another name or pass overwrite=True"
                ) from None
            return target
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    @classmethod
    def load(cls, path: str | Path) -> Palette:
        """Read a palette file; bad JSON or a missing ``samples`` object raises ParameterError."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ParameterError(
                f"cannot read palette file {path}: {exc.strerror or exc}"
            ) from None
        except UnicodeDecodeError as exc:
            raise ParameterError(
                f"palette file {path} is not UTF-8 text (byte {exc.start}: {exc.reason}); "
                "save it as UTF-8 JSON"
            ) from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ParameterError(
                f"palette file {path} is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("samples"), dict):
            raise ParameterError(
                f'palette file {path} needs a "samples" object mapping roles to sample ids, e.g. '
                '{"name": "mine", "samples": {"kick": "kick-00", "hihat": "hihat-02"}}'
            )
        return cls(
            name=str(data.get("name") or path.stem),
            samples=data["samples"],
            meta=data.get("meta") or {},
        )


def _role_rng(seed: int, role: str) -> np.random.Generator:
    # one stream per role: adding a role to a palette leaves the other roles' picks unchanged
    return np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(role.encode())]))


def random_palette(
    index: SampleIndex, *, roles: Sequence[str] = DEFAULT_ROLES, seed: int, name: str | None = None
) -> Palette:
    """One sample per role, drawn with ``seed`` among samples of that role and the right kind."""
    if int(seed) < 0:
        raise ParameterError(f"palette seed must be a non-negative integer, got {seed!r}")
    if isinstance(roles, str):
        roles = [roles]
    samples: dict[str, str] = {}
    for role in roles:
        kind = required_kind(role)
        eligible = index.ids(role=role, kind=kind)
        if not eligible:
            others = index.ids(role=role)
            why = f" (only {len(others)} of the wrong kind)" if others else ""
            raise ParameterError(
                f"no {kind} sample with role {role!r} in the index{why}; add one to samples.paths "
                f"or enable the built-in pack, or drop {role!r} from palette.roles "
                f"(`rlmdj experiment=samples` lists what is indexed)"
            )
        samples[role] = eligible[int(_role_rng(seed, role).integers(len(eligible)))]
    return Palette(
        name=name or f"random-{seed}", samples=samples, meta={"source": "random", "seed": int(seed)}
    )


def _choices(index: SampleIndex, role: str) -> str:
    ids = index.ids(role=role, kind=required_kind(role))
    shown = ", ".join(ids[:24]) + (f" ... ({len(ids)} in all)" if len(ids) > 24 else "")
    return f"valid {required_kind(role)}s for {role}: {shown or '(none indexed)'}"


def validate_palette(palette: Palette, index: SampleIndex) -> None:
    """Raise ParameterError listing every slot that is unknown, of another role or the wrong kind."""
    problems = []
    for role, sid in palette.samples.items():
        if role not in ALL_ROLES:
            problems.append(f"unknown role {role!r} (valid roles: {', '.join(ALL_ROLES)})")
            continue
        if sid not in index:
            problems.append(f"{role}: sample {sid!r} is not in the index; {_choices(index, role)}")
            continue
        info = index.get(sid)
        if info.role != role:
            problems.append(f"{role}: {sid!r} is a {info.role} sample; {_choices(index, role)}")
        elif info.kind != required_kind(role):
            problems.append(
                f"{role}: {sid!r} is a {info.kind} but {role} needs a {required_kind(role)}; {_choices(index, role)}"
            )
    if problems:
        raise ParameterError(
            f"palette {palette.name!r} is not playable:\n  " + "\n  ".join(problems)
        )


def list_palettes(search_dirs: Sequence[str | Path]) -> dict[str, Path]:
    """Palette names to files: ``<dir>/<name>.json`` as ``name``, curated ones as ``curated/<name>``.

    Earlier folders win when two hold the same name.
    """
    found: dict[str, Path] = {}
    for d in search_dirs:
        d = Path(d)
        for prefix, folder in (("", d), (f"{_CURATED}/", d / _CURATED)):
            if folder.is_dir():
                for f in sorted(folder.glob("*.json")):
                    found.setdefault(prefix + f.stem, f)
    return found


def find_palette(name: str, search_dirs: Sequence[str | Path]) -> Path:
    """File of palette ``name``: an existing path, else ``<dir>/<name>.json`` or ``<dir>/curated/<name>.json``."""
    direct = Path(name).expanduser()
    if direct.is_file():
        return direct
    stem = name[:-5] if name.endswith(".json") else name
    for d in search_dirs:
        for candidate in (Path(d) / f"{stem}.json", Path(d) / _CURATED / f"{stem}.json"):
            if candidate.is_file():
                return candidate
    available = list_palettes(search_dirs)
    dirs = ", ".join(str(d) for d in search_dirs) or "(no folders given)"
    raise ParameterError(
        f"palette {name!r} not found in {dirs}; available: {', '.join(available) or '(none)'}"
    )
