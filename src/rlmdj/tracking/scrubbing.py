"""An ``MlflowClient`` that never writes a secret: params, tags, run names, metric, param and
tag keys and text artifacts pass through :mod:`rlmdj.secrets` on their way into the store.

:func:`rlmdj.tracking.store.open_store` returns this client and the sequential sweeper's parent
log builds one (:func:`scrubbing_client`), so every writer in rlmdj (single runs, sweep parents,
comparisons, sequential rounds) is covered at one boundary instead of at each call site. Keys
stay valid MLflow keys (a secret in a condition name becomes ``masked``). Text-like artifact
files (``.json``, ``.yaml``, ``.html``, ``.txt``...) that contain a secret are uploaded from a
scrubbed copy that keeps their syntax; audio and images are uploaded as they are.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

from rlmdj.secrets import MASK, is_secret_key, scrub_document, scrub_key, scrub_text

__all__ = ["ScrubbingClient", "TEXT_SUFFIXES", "scrub_file", "scrubbing_client"]

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
    clean = scrub_document(text, path.name)  # inline base64 media is left alone
    return clean if clean != text else None


def scrubbing_client(tracking_uri: str) -> ScrubbingClient:
    """The client for writing to the store at ``tracking_uri`` from outside :func:`open_store`."""
    return ScrubbingClient(tracking_uri=tracking_uri)


def _value(key: str, value: Any) -> str:
    """A param or tag value as text: masked whole under a secret-looking key
    (``rlmdj.condition.model.extra.api_key``), else scrubbed by pattern."""
    text = str(value)
    if is_secret_key(key) and text not in ("", "None", "null", MASK):
        return MASK
    return scrub_text(text)


class ScrubbingClient(MlflowClient):
    """``MlflowClient`` with secret scrubbing on every write of text."""

    def create_run(self, experiment_id: str, start_time: int | None = None,
                   tags: dict[str, Any] | None = None, run_name: str | None = None) -> Any:
        clean = {scrub_key(k): _value(k, v) for k, v in (tags or {}).items()}
        return super().create_run(experiment_id, start_time=start_time, tags=clean,
                                  run_name=scrub_text(run_name) if run_name else run_name)

    def log_param(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> Any:
        return super().log_param(run_id, scrub_key(key), _value(key, value), synchronous=synchronous)

    def set_tag(self, run_id: str, key: str, value: Any, synchronous: bool | None = None) -> Any:
        return super().set_tag(run_id, scrub_key(key), _value(key, value), synchronous=synchronous)

    def log_metric(self, run_id: str, key: str, value: float, *args: Any, **kwargs: Any) -> Any:
        return super().log_metric(run_id, scrub_key(key), value, *args, **kwargs)

    def update_run(self, run_id: str, status: str | None = None, name: str | None = None) -> None:
        return super().update_run(run_id, status=status, name=scrub_text(name) if name else name)

    def log_batch(self, run_id: str, metrics: Sequence[Metric] = (), params: Sequence[Param] = (),
                  tags: Sequence[RunTag] = (), synchronous: bool | None = None) -> Any:
        metrics = [m if (key := scrub_key(m.key)) == m.key else
                   Metric(key, m.value, m.timestamp, m.step, model_id=m.model_id,
                          dataset_name=m.dataset_name, dataset_digest=m.dataset_digest, run_id=m.run_id)
                   for m in metrics]
        params = [Param(scrub_key(p.key), _value(p.key, p.value)) for p in params]
        tags = [RunTag(scrub_key(t.key), _value(t.key, t.value)) for t in tags]
        return super().log_batch(run_id, metrics=metrics, params=params, tags=tags,
                                 synchronous=synchronous)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        return super().log_text(run_id, scrub_document(text, artifact_file), artifact_file)

    def log_artifacts(self, run_id: str, local_dir: str, artifact_path: str | None = None, *,
                      scrubbed: Collection[str] = ()) -> None:
        """Upload ``local_dir``; ``scrubbed``: files in it (relative paths) that were masked as
        they were written, sent without reading them again (a run card is most of a megabyte)."""
        root = Path(local_dir)
        done = {Path(name).as_posix() for name in scrubbed}
        dirty = {p: clean for p in root.rglob("*")
                 if p.relative_to(root).as_posix() not in done and (clean := scrub_file(p)) is not None}
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
