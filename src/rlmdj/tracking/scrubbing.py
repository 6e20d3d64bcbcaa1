"""An ``MlflowClient`` that never writes a secret: params, tags, run names and text artifacts
pass through :func:`rlmdj.secrets.scrub_text` on their way into the store.

:func:`rlmdj.tracking.store.open_store` returns this client, so every writer in rlmdj (single
runs, sweep parents, comparisons) is covered at one boundary instead of at each call site.
Text-like artifact files (``.json``, ``.yaml``, ``.html``, ``.txt``...) that contain a secret
are uploaded from a scrubbed copy; audio and images are uploaded as they are.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlflow.entities import Param, RunTag
from mlflow.tracking import MlflowClient

from rlmdj.secrets import scrub_document, scrub_text

__all__ = ["ScrubbingClient", "TEXT_SUFFIXES", "scrub_file"]

TEXT_SUFFIXES = frozenset({
    ".json", ".yaml", ".yml", ".txt", ".md", ".html", ".htm", ".csv", ".log", ".py", ".toml",
    ".ini", ".cfg", ".xml", ".jsonl",
})
_MAX_TEXT_BYTES = 256 * 1024 * 1024


def scrub_file(path: Path) -> str | None:
    """The scrubbed text of a text-like file when it differs from the file, else ``None``."""
    if path.suffix.lower() not in TEXT_SUFFIXES or not path.is_file():
        return None
    if path.stat().st_size > _MAX_TEXT_BYTES:
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None
    clean = scrub_document(text)  # inline base64 media is left alone
    return clean if clean != text else None


class ScrubbingClient(MlflowClient):
    """``MlflowClient`` with secret scrubbing on every write of text."""

    def create_run(self, experiment_id: str, start_time: int | None = None,
                   tags: dict[str, Any] | None = None, run_name: str | None = None) -> Any:
        clean = {k: scrub_text(str(v)) for k, v in (tags or {}).items()}
        return super().create_run(experiment_id, start_time=start_time, tags=clean,
                                  run_name=scrub_text(run_name) if run_name else run_name)

    def log_param(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> Any:
        return super().log_param(run_id, key, scrub_text(str(value)), synchronous=synchronous)

    def set_tag(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> Any:
        return super().set_tag(run_id, key, scrub_text(str(value)), synchronous=synchronous)

    def update_run(self, run_id: str, status: str | None = None, name: str | None = None) -> None:
        return super().update_run(run_id, status=status, name=scrub_text(name) if name else name)

    def log_batch(self, run_id: str, metrics: Sequence[Any] = (), params: Sequence[Param] = (),
                  tags: Sequence[RunTag] = (), synchronous: bool | None = None) -> Any:
        params = [Param(p.key, scrub_text(str(p.value))) for p in params]
        tags = [RunTag(t.key, scrub_text(str(t.value))) for t in tags]
        return super().log_batch(run_id, metrics=metrics, params=params, tags=tags,
                                 synchronous=synchronous)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        return super().log_text(run_id, scrub_text(text), artifact_file)

    def log_artifacts(self, run_id: str, local_dir: str, artifact_path: str | None = None) -> None:
        root = Path(local_dir)
        dirty = {p: clean for p in root.rglob("*") if (clean := scrub_file(p)) is not None}
        if not dirty:
            return super().log_artifacts(run_id, local_dir, artifact_path)
        # Upload a copy with the text files scrubbed; other files are linked, not copied.
        with tempfile.TemporaryDirectory(prefix="rlmdj-scrub-") as tmp:
            copy = Path(tmp) / "artifacts"
            for src in root.rglob("*"):
                dest = copy / src.relative_to(root)
                if src.is_dir():
                    dest.mkdir(parents=True, exist_ok=True)
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                if src in dirty:
                    dest.write_text(dirty[src], encoding="utf-8")
                else:
                    try:
                        os.link(src, dest)
                    except OSError:
                        shutil.copyfile(src, dest)
            return super().log_artifacts(run_id, str(copy), artifact_path)

    def log_artifact(self, run_id: str, local_path: str, artifact_path: str | None = None) -> None:
        path = Path(local_path)
        clean = scrub_file(path)
        if clean is None:
            return super().log_artifact(run_id, local_path, artifact_path)
        with tempfile.TemporaryDirectory(prefix="rlmdj-scrub-") as tmp:
            copy = Path(tmp) / path.name
            copy.write_text(clean, encoding="utf-8")
            return super().log_artifact(run_id, str(copy), artifact_path)
