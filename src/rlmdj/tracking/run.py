"""One MLflow run's lifecycle: it always ends FINISHED, FAILED or KILLED, never RUNNING.

Uses ``MlflowClient`` with an explicit run id rather than the fluent API's global active run,
so parallel jobs in one process or many never log into each other's runs. Writes are retried
briefly when a shared SQLite store is momentarily locked by another writer.
"""

from __future__ import annotations

import contextlib
import json
import random
import signal
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, TypeVar

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

__all__ = ["NullRun", "TrackedRun"]

T = TypeVar("T")
_BATCH = 500
_PARAM_MAX = 6000


def _retrying(fn: Callable[[], T], *, attempts: int = 8) -> T:
    """Call ``fn``, retrying with jittered backoff while the store reports a lock."""
    for attempt in range(attempts):
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - only lock errors are retried
            text = str(exc).lower()
            if attempt == attempts - 1 or not ("locked" in text or "busy" in text):
                raise
            time.sleep(0.05 * 2**attempt + random.random() * 0.05)
    raise AssertionError("unreachable")


class TrackedRun:
    """Context manager around one MLflow run created with ``client``.

    On exit the run is FINISHED, or FAILED on an exception, or KILLED on Ctrl-C/SIGTERM.
    SIGTERM is turned into ``KeyboardInterrupt`` while the run is open (main thread only), so a
    terminated job still records its end state.
    """

    def __init__(
        self,
        client: MlflowClient,
        experiment_id: str,
        *,
        run_name: str | None = None,
        tags: Mapping[str, str] | None = None,
        parent_run_id: str | None = None,
    ) -> None:
        self.client = client
        self.experiment_id = experiment_id
        all_tags = dict(tags or {})
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        run = _retrying(
            lambda: client.create_run(experiment_id, tags=all_tags, run_name=run_name)
        )
        self.run_id: str = run.info.run_id
        self.status: str = "RUNNING"
        self._previous_sigterm: Any = None

    # ------------------------------------------------------------- logging
    def log_params(self, params: Mapping[str, Any]) -> None:
        items = [Param(str(k), str(v)[:_PARAM_MAX]) for k, v in params.items()]
        for i in range(0, len(items), 100):
            chunk = items[i : i + 100]
            _retrying(lambda c=chunk: self.client.log_batch(self.run_id, params=c))

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        items = [RunTag(str(k), str(v)) for k, v in tags.items() if v is not None]
        if items:
            _retrying(lambda: self.client.log_batch(self.run_id, tags=items))

    def log_metrics(self, metrics: Mapping[str, float], *, step: int = 0) -> None:
        now = int(time.time() * 1000)
        items = [Metric(str(k), float(v), now, step) for k, v in metrics.items()]
        self._log_metric_items(items)

    def log_series(self, key: str, values: Iterable[float]) -> None:
        """``values[i]`` as metric ``key`` at step ``i`` (per-bar or per-window curves)."""
        now = int(time.time() * 1000)
        self._log_metric_items([Metric(key, float(v), now, i) for i, v in enumerate(values)])

    def _log_metric_items(self, items: list[Metric]) -> None:
        for i in range(0, len(items), _BATCH):
            chunk = items[i : i + _BATCH]
            _retrying(lambda c=chunk: self.client.log_batch(self.run_id, metrics=c))

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        _retrying(lambda: self.client.log_artifact(self.run_id, str(path), artifact_path))

    def log_text(self, text: str, artifact_file: str) -> None:
        """Write ``text`` to ``artifact_file`` (a relative path inside the run's artifacts)."""
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / Path(artifact_file).name
            local.write_text(text, encoding="utf-8")
            parent = str(Path(artifact_file).parent)
            self.log_artifact(local, None if parent in ("", ".") else parent)

    def log_json(self, data: Any, artifact_file: str) -> None:
        self.log_text(json.dumps(data, indent=2, default=str), artifact_file)

    # ----------------------------------------------------------- lifecycle
    def end(self, status: str) -> None:
        if self.status == "RUNNING":
            _retrying(lambda: self.client.set_terminated(self.run_id, status))
            self.status = status

    def __enter__(self) -> TrackedRun:
        self._install_sigterm()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._restore_sigterm()
        if exc_type is None:
            self.end("FINISHED")
        elif issubclass(exc_type, KeyboardInterrupt):
            self.end("KILLED")
        else:
            self.end("FAILED")

    def _install_sigterm(self) -> None:
        def on_sigterm(signum: int, frame: FrameType | None) -> None:
            raise KeyboardInterrupt(f"terminated by signal {signum}")

        try:
            self._previous_sigterm = signal.signal(signal.SIGTERM, on_sigterm)
        except ValueError:  # not the main thread: leave signals alone
            self._previous_sigterm = None

    def _restore_sigterm(self) -> None:
        if self._previous_sigterm is not None:
            with contextlib.suppress(ValueError):
                signal.signal(signal.SIGTERM, self._previous_sigterm)
            self._previous_sigterm = None


class NullRun(TrackedRun):
    """Stands in for a tracked run when tracking is off: every log call is a no-op."""

    def __init__(self) -> None:  # noqa: D107 - nothing to create
        self.run_id = None  # type: ignore[assignment]
        self.status = "RUNNING"
        self._previous_sigterm = None

    def log_params(self, params: Mapping[str, Any]) -> None:
        pass

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        pass

    def _log_metric_items(self, items: list[Metric]) -> None:
        pass

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        pass

    def log_text(self, text: str, artifact_file: str) -> None:
        pass

    def end(self, status: str) -> None:
        self.status = status
