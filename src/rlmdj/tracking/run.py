"""One MLflow run's lifecycle: it always ends FINISHED, FAILED or KILLED, never RUNNING.

Uses ``MlflowClient`` with an explicit run id rather than the fluent API's global active run,
so parallel jobs in one process or many never log into each other's runs. Writes are retried
briefly when a shared SQLite store is momentarily locked by another writer.

Writes are batched: params, tags and metrics are queued and sent with as few ``log_batch``
calls as MLflow's limits allow (100 params, 100 tags, 1000 entities per call), and artifacts
are written into a staging folder that is uploaded in one ``log_artifacts`` call when the run
ends (or at :meth:`TrackedRun.flush`). Whatever was queued is sent before the run's end state,
so a failed or interrupted run still holds what it produced.
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import signal
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:  # mlflow is imported when a run is opened, not when rlmdj starts
    from mlflow.entities import Metric, Param, RunTag

from rlmdj.secrets import scrub_document
from rlmdj.tracking.health import process_tags

__all__ = ["NullRun", "TrackedRun"]

T = TypeVar("T")
_MAX_PARAMS = 100
_MAX_TAGS = 100
_MAX_ENTITIES = 1000
_PARAM_MAX = 6000
_TAG_MAX = 8000


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


def _batches(params: Sequence[Param], tags: Sequence[RunTag], metrics: Sequence[Metric]
             ) -> Iterable[tuple[list[Param], list[RunTag], list[Metric]]]:
    """Split into ``log_batch`` calls within MLflow's per-request limits, as few as possible."""
    p, t, m = list(params), list(tags), list(metrics)
    while p or t or m:
        bp, p = p[:_MAX_PARAMS], p[_MAX_PARAMS:]
        bt, t = t[:_MAX_TAGS], t[_MAX_TAGS:]
        room = _MAX_ENTITIES - len(bp) - len(bt)
        bm, m = m[:room], m[room:]
        yield bp, bt, bm


class TrackedRun:
    """Context manager around one MLflow run created with ``client``.

    On exit the queued writes are sent and the run is FINISHED, or FAILED on an exception, or
    KILLED on Ctrl-C/SIGTERM. SIGTERM is turned into ``KeyboardInterrupt`` while the run is
    open (main thread only), so a terminated job still records its end state.
    """

    tracked = True  # False for NullRun: nothing goes to a store
    write_error: str | None = None  # a background recorder's store failure (one line)

    def __init__(
        self,
        client: Any,
        experiment_id: str,
        *,
        run_name: str | None = None,
        tags: Mapping[str, str] | None = None,
        parent_run_id: str | None = None,
    ) -> None:
        self.client = client
        self.experiment_id = experiment_id
        # Host and pid let the next rlmdj close this run FAILED if the process dies with it open
        # (killed, power loss, a store on a full disk that cannot record the end).
        all_tags = {**process_tags(),
                    **{k: str(v) for k, v in (tags or {}).items() if v is not None}}
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        run = _retrying(
            lambda: client.create_run(experiment_id, tags=all_tags, run_name=run_name)
        )
        self.run_id: str = run.info.run_id
        self.run_name: str = run.info.run_name
        self.status: str = "RUNNING"
        self._previous_sigterm: Any = None
        self._params: dict[str, str] = {}
        self._tags: dict[str, str] = {}
        # (key, value, timestamp ms, step): MLflow's Metric is built when sent, so a run with
        # tracking off (NullRun) never imports MLflow.
        self._metrics: list[tuple[str, float, int, int]] = []
        self._staging = Path(tempfile.mkdtemp(prefix="rlmdj-artifacts-"))
        self._staged = False
        self._scrubbed: set[str] = set()  # staged files log_text wrote (masked as written)

    # ------------------------------------------------------------- queueing
    def log_params(self, params: Mapping[str, Any]) -> None:
        self._params.update({str(k): str(v)[:_PARAM_MAX] for k, v in params.items()})

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        self._tags.update({str(k): str(v)[:_TAG_MAX] for k, v in tags.items() if v is not None})

    def set_name(self, name: str) -> None:
        """Rename the run (the name shown in the runs table)."""
        self.run_name = name
        self.set_tags({"mlflow.runName": name})

    def set_description(self, text: str) -> None:
        """The run's description (MLflow's note, shown on the run page and as a tooltip)."""
        self.set_tags({"mlflow.note.content": text})

    def log_metrics(self, metrics: Mapping[str, float], *, step: int = 0) -> None:
        now = int(time.time() * 1000)
        self._metrics += [(str(k), float(v), now, int(step)) for k, v in metrics.items()]

    def log_series(self, key: str, values: Iterable[float], steps: Iterable[int] | None = None) -> None:
        """``values[i]`` as metric ``key`` at step ``steps[i]`` (default ``i``): per-bar or
        per-window curves."""
        now = int(time.time() * 1000)
        values = list(values)
        steps = list(range(len(values))) if steps is None else [int(s) for s in steps]
        self._metrics += [(key, float(v), now, s) for v, s in zip(values, steps, strict=True)]

    def artifact_path(self, artifact_file: str) -> Path:
        """A local path to write ``artifact_file`` to; it is uploaded with the run's artifacts."""
        dest = self._stage(artifact_file)
        # Whatever is written here, or beside it through its folder, is checked when sent.
        folder = self._staged_name(dest.parent)
        for name in list(self._scrubbed):  # a copy: the audio is staged from other threads
            if not folder or name.startswith(folder + "/"):
                self._scrubbed.discard(name)
        return dest

    def _stage(self, artifact_file: str) -> Path:
        dest = self._staging / artifact_file
        dest.parent.mkdir(parents=True, exist_ok=True)
        self._staged = True
        return dest

    def _staged_name(self, path: Path) -> str | None:
        """``path`` relative to the staging folder, as the upload lists it ("" for the folder);
        None outside it."""
        try:
            name = path.resolve().relative_to(self._staging.resolve()).as_posix()
        except ValueError:
            return None
        return "" if name == "." else name

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        """Queue a copy of the file ``path`` under ``artifact_path`` (a folder) for upload."""
        src = Path(path)
        dest = self.artifact_path(f"{artifact_path}/{src.name}" if artifact_path else src.name)
        if src.resolve() != dest.resolve():
            shutil.copyfile(src, dest)

    def log_text(self, text: str, artifact_file: str) -> None:
        """Write ``text`` to ``artifact_file`` (a relative path inside the run's artifacts);
        secrets are masked (also when tracking is off and the file stays in the output folder)."""
        dest = self._stage(artifact_file)
        dest.write_text(scrub_document(text, artifact_file), encoding="utf-8")
        name = self._staged_name(dest)
        if name:
            self._scrubbed.add(name)

    def log_json(self, data: Any, artifact_file: str) -> None:
        self.log_text(json.dumps(data, indent=2, default=str), artifact_file)

    def log_inputs(self, inputs: Sequence[Mapping[str, Any]]) -> None:
        """Datasets described as plain data (:mod:`rlmdj.tracking.datasets`), logged in one call."""
        from rlmdj.tracking.datasets import dataset_inputs

        _retrying(lambda: self.client.log_inputs(self.run_id, datasets=dataset_inputs(inputs)))

    def register_prompt(self, name: str, text: str) -> Any:
        """Register (or reuse) the prompt version for ``text``, linked to this run."""
        from rlmdj.tracking.prompts import register_prompt
        from rlmdj.tracking.store import point_fluent_apis_at

        point_fluent_apis_at(self.client.tracking_uri)  # the prompt is filed under an experiment
        return register_prompt(self, name=name, text=text)

    def log_trace(self, record: Any, prompt: Any | None) -> None:
        """Write a set's trace (:class:`~rlmdj.tracking.traces.SetTrace`) linked to this run and
        ``prompt``'s version, and tag the run with its id."""
        from rlmdj.tracking.store import point_fluent_apis_at
        from rlmdj.tracking.traces import log_set_trace

        point_fluent_apis_at(self.client.tracking_uri)  # spans go to the process's tracking URI
        trace_id = log_set_trace(record, experiment_id=self.experiment_id, run_id=self.run_id)
        if prompt is not None:
            self.client.link_prompt_versions_to_trace([prompt], trace_id)
        self.set_tags({"rlmdj.trace_id": trace_id})

    # --------------------------------------------------------------- sending
    def flush(self, *, artifacts: bool = True) -> None:
        """Send what is queued: params, tags and metrics batched, then the staged artifacts."""
        from mlflow.entities import Metric, Param, RunTag

        params = [Param(k, v) for k, v in self._params.items()]
        tags = [RunTag(k, v) for k, v in self._tags.items()]
        metrics = [Metric(*m) for m in self._metrics]
        self._params, self._tags, self._metrics = {}, {}, []
        for bp, bt, bm in _batches(params, tags, metrics):
            _retrying(lambda bp=bp, bt=bt, bm=bm: self.client.log_batch(
                self.run_id, metrics=bm, params=bp, tags=bt))
        if artifacts and self._staged:
            _retrying(lambda: self.client.log_artifacts(self.run_id, str(self._staging)))
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging.mkdir(parents=True, exist_ok=True)
            self._staged = False
            self._scrubbed.clear()

    # ----------------------------------------------------------- lifecycle
    def end(self, status: str) -> None:
        if self.status == "RUNNING":
            try:
                self.flush()
            finally:
                _retrying(lambda: self.client.set_terminated(self.run_id, status))
                self.status = status
                shutil.rmtree(self._staging, ignore_errors=True)

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
    """Stands in for a tracked run when tracking is off: nothing is sent anywhere.

    Artifacts that would have been uploaded are written under ``keep_dir`` instead (Hydra's
    output folder), so a run without a store still leaves its audio and card on disk.
    """

    tracked = False

    def __init__(self, keep_dir: str | Path | None = None) -> None:  # noqa: D107 - nothing to create
        self.client = None
        self.experiment_id = None  # type: ignore[assignment]
        self.run_id = None  # type: ignore[assignment]
        self.run_name = ""
        self.status = "RUNNING"
        self._previous_sigterm = None
        self._params, self._tags, self._metrics = {}, {}, []
        self._keep = Path(keep_dir) if keep_dir is not None else None
        self._staging = self._keep or Path(tempfile.mkdtemp(prefix="rlmdj-discard-"))
        self._staged = False
        self._scrubbed = set()

    def flush(self, *, artifacts: bool = True) -> None:
        self._params, self._tags, self._metrics = {}, {}, []

    def log_inputs(self, inputs: Sequence[Mapping[str, Any]]) -> None:
        return None

    def register_prompt(self, name: str, text: str) -> Any:
        return None

    def log_trace(self, record: Any, prompt: Any | None) -> None:
        return None

    def end(self, status: str) -> None:
        self.status = status
        if self._keep is None:
            shutil.rmtree(self._staging, ignore_errors=True)
