"""Open the MLflow store a config names: local SQLite + artifact folder, or a server.

Experiments rlmdj creates are tagged as custom model development (not GenAI), carry a
description, and name ``<scorer>/OBJ`` as their primary metric. :func:`ui_command` and
:func:`run_url` say how to look at a run afterwards; the URL opens MLflow 3's model-training
layout, where the runs table is (the UI's GenAI/model-training switch is per browser).
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from omegaconf import DictConfig

from rlmdj.errors import EnvironmentProblem, RlmdjError
from rlmdj.tracking.health import (
    PID_START_TAG,
    STALE_TAG,
    check_server,
    close_stale_runs,
    process_tags,
)
from rlmdj.tracking.heap import collector_paused

if TYPE_CHECKING:  # mlflow is imported when a store is opened, not when rlmdj starts
    from mlflow.tracking import MlflowClient

__all__ = [
    "EXPERIMENT_TAGS", "UI_PORT", "claim_run", "experiment_tags", "mlflow_env_defaults", "open_store",
    "point_fluent_apis_at",
    "run_url", "store_problem", "ui_command",
]

UI_PORT = 5000
EXPERIMENT_KIND = "custom_model_development"
PRIMARY_METRIC_TAG = "mlflow.experiment.primaryMetric.name"
EXPERIMENT_TAGS = ("mlflow.experimentKind", "mlflow.note.content", PRIMARY_METRIC_TAG)
_DESCRIPTION = (
    "rlmdj sets: each run is one set played by a DJ on a palette, rendered and scored "
    "(`{metric}` is the primary metric; CE/CU/PC/PQ are its axes). Sweep parents hold the "
    "comparison of their conditions; open a run's artifacts for `run_card.html` (listen, "
    "timeline, window scores) and its Traces tab for the LLM's work."
)


def experiment_tags(scorer: str) -> dict[str, str]:
    """Tags that make MLflow's UI open the experiment on its runs, ranked by OBJ."""
    metric = f"{scorer}/OBJ"
    return {
        "mlflow.experimentKind": EXPERIMENT_KIND,
        "mlflow.note.content": _DESCRIPTION.format(metric=metric),
        PRIMARY_METRIC_TAG: metric,
    }


def mlflow_env_defaults() -> None:
    """MLflow's usage telemetry off for this process and the workers it starts, unless the user chose.

    MLflow reads the switch when it is imported, so this runs before; launcher workers inherit the
    environment. ``MLFLOW_DISABLE_TELEMETRY`` or ``DO_NOT_TRACK`` set by the user is left as it is.
    """
    if "MLFLOW_DISABLE_TELEMETRY" not in os.environ and "DO_NOT_TRACK" not in os.environ:
        os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"


def _is_local(uri: str) -> bool:
    return uri.startswith("sqlite:") or uri.startswith("file:") or "://" not in uri


def open_store(tracking: DictConfig, *, fluent: bool = True) -> tuple[MlflowClient, str]:
    """Client and experiment id for ``tracking.uri`` / ``tracking.experiment``.

    Creates the experiment (with ``artifact_location`` for local stores) on first use; two
    processes racing to create it both end up with the same experiment. ``fluent``: MLflow's
    fluent APIs write to this store too. The writer leaves that to the runs that write traces or
    prompts (:func:`point_fluent_apis_at`): pointing them imports OpenTelemetry's SDK, about
    0.15 s of CPU beside the set being played.
    """
    mlflow_env_defaults()
    uri = str(tracking.uri)
    if uri.startswith(("http://", "https://")):
        check_server(uri)  # seconds, not MLflow's minutes of retries, when the server is down
    # First use of a local store logs its table set-up at INFO; that is not news to a user.
    db_log = logging.getLogger("mlflow.store.db.utils")
    if db_log.getEffectiveLevel() < logging.WARNING:  # the writer process keeps its own, quieter
        db_log.setLevel(logging.WARNING)
    try:
        # MLflow and the store's own libraries (SQLAlchemy, alembic) are imported here.
        with collector_paused("mlflow"):
            import mlflow

            from rlmdj.tracking.scrubbing import ScrubbingClient

            if fluent:
                mlflow.set_tracking_uri(uri)
            with _store_lock(uri):
                client = ScrubbingClient(tracking_uri=uri)  # no secret reaches the store
                experiment_id = _experiment_id(client, tracking, uri)
    except RlmdjError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure to open a store is the environment's
        raise EnvironmentProblem(store_problem(uri, exc)) from exc
    close_stale_runs(client, experiment_id)  # runs left RUNNING by processes that died
    return client, experiment_id


def point_fluent_apis_at(uri: str) -> None:
    """MLflow's fluent APIs (spans, the prompt registry's experiment) write to the process's
    tracking URI: make it ``uri``, the store of the run about to use them."""
    import mlflow

    if mlflow.get_tracking_uri() != uri:
        mlflow.set_tracking_uri(uri)


# Tags an earlier end of a run leaves that no longer hold once the run is taken up again.
_END_TAGS = (STALE_TAG, "rlmdj.analysis_error")


def claim_run(client: MlflowClient, run_id: str) -> None:
    """Make this process the owner of ``run_id`` and mark it RUNNING (a resumed sweep's parent).

    The run's host and pid tags name the process that started it. Left in place, the stale-run
    cleanup of the next process to open the store (the sweep's own jobs) finds that process dead
    and marks the run FAILED while it runs. Ownership moves first, then the status, so the cleanup
    never sees the run RUNNING under a dead owner; failure tags from the earlier end are removed.
    """
    mine = process_tags()
    for key, value in mine.items():
        client.set_tag(run_id, key, value)
    stale = [*_END_TAGS, *([] if PID_START_TAG in mine else [PID_START_TAG])]
    tags = client.get_run(run_id).data.tags
    for key in stale:
        if key in tags:
            client.delete_tag(run_id, key)
    client.update_run(run_id, status="RUNNING")


def store_problem(uri: str, exc: BaseException) -> str:
    """One line for a store that cannot be opened or written: the key, the cause, a fix."""
    from rlmdj.secrets import scrub_text

    lines = [ln for ln in str(exc).strip().splitlines() if not ln.startswith("(raised as a result")]
    cause = (lines or [type(exc).__name__])[0][:300]
    if "disk is full" in str(exc).lower() or "no space left" in str(exc).lower():
        cause = "the disk holding the store is full"
    if isinstance(exc, OSError) and exc.strerror:
        cause = f"{exc.strerror}" + (f": {exc.filename}" if exc.filename else "")
    scheme = uri.split("://", 1)[0] if "://" in uri else ""
    if scheme and scheme not in _KNOWN_SCHEMES:
        fix = "use sqlite:///path/to/mlruns.db, a folder, or http://host:5000"
    else:
        fix = "check that the path exists, is writable and the disk has space, or choose another tracking.uri"
    return f"tracking.uri={scrub_text(uri)}: MLflow could not use this store ({scrub_text(cause)}); {fix}"


_KNOWN_SCHEMES = ("sqlite", "file", "http", "https", "postgresql", "mysql", "mssql", "databricks")


@contextmanager
def _store_lock(uri: str) -> Iterator[None]:
    """Serialise first use of a SQLite store: MLflow creates and migrates its tables on open,
    and two processes doing that at once fail ("table already exists")."""
    if not uri.startswith("sqlite:///"):
        yield
        return
    db = Path(uri.removeprefix("sqlite:///"))
    db.parent.mkdir(parents=True, exist_ok=True)
    from filelock import FileLock
    from mlflow.tracking import MlflowClient

    with FileLock(db.with_name(db.name + ".lock")):
        # Opening the store here (inside the lock) runs MLflow's table creation/migration.
        MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
        yield


def _scorer_name(tracking: DictConfig) -> str:
    root = tracking._get_root() if hasattr(tracking, "_get_root") else None
    try:
        return str(root.scorer.name) if root is not None and "scorer" in root else "proxy"
    except Exception:  # noqa: BLE001 - a bare tracking node (tests) has no scorer
        return "proxy"


def _experiment_id(client: MlflowClient, tracking: DictConfig, uri: str) -> str:
    from mlflow.exceptions import MlflowException

    name = str(tracking.experiment)
    tags = experiment_tags(_scorer_name(tracking))
    for attempt in range(5):
        found = client.get_experiment_by_name(name)
        if found is not None:
            if "mlflow.experimentKind" not in found.tags:
                # Created by an older rlmdj (or by hand): open it on the runs from now on.
                for key, value in tags.items():
                    if key not in found.tags:
                        client.set_experiment_tag(found.experiment_id, key, value)
            return found.experiment_id
        try:
            location = None
            if _is_local(uri) and tracking.get("artifact_location"):
                artifact_dir = Path(str(tracking.artifact_location)).resolve()
                artifact_dir.mkdir(parents=True, exist_ok=True)
                location = artifact_dir.as_uri()
            return client.create_experiment(name, artifact_location=location, tags=tags)
        except MlflowException:
            time.sleep(0.2 * (attempt + 1))  # another process created it first
    found = client.get_experiment_by_name(name)
    if found is None:
        raise RuntimeError(f"could not create or find MLflow experiment {name!r} at {uri}")
    return found.experiment_id


def _mlflow_executable() -> str:
    """``mlflow`` when that is this environment's, else the absolute path of the venv's own."""
    own = Path(sys.executable).parent / "mlflow"
    on_path = shutil.which("mlflow")
    if on_path and own.exists() and Path(on_path).resolve() == own.resolve():
        return "mlflow"
    return str(own) if own.exists() else (on_path or "mlflow")


def ui_command(tracking: DictConfig, *, port: int = UI_PORT) -> str:
    """A shell command that opens the MLflow UI on this store, from any shell.

    Names the venv's own ``mlflow`` by absolute path when the environment is not active, and
    quotes paths, so the line can be pasted anywhere. A server store needs no command: its URI.
    """
    uri = str(tracking.uri)
    if not _is_local(uri):
        return uri
    exe = shlex.quote(_mlflow_executable())
    return f"{exe} ui --backend-store-uri {shlex.quote(uri)} --port {port}"


def run_url(tracking: DictConfig, experiment_id: str, run_id: str, *, port: int = UI_PORT) -> str:
    """The run's page: on the tracking server, or on the UI that :func:`ui_command` starts.

    MLflow 3's UI chooses its GenAI or model-training layout from a browser-wide switch (the
    experiment's kind tag alone does not move it); ``workflowType=machine_learning`` in the URL
    opens the model-training layout, where runs, their metrics and artifacts are.
    """
    uri = str(tracking.uri)
    base = f"http://127.0.0.1:{port}" if _is_local(uri) else uri.rstrip("/")
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}?workflowType=machine_learning"
