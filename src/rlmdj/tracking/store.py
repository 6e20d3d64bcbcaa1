"""Open the MLflow store a config names: local SQLite + artifact folder, or a server."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from omegaconf import DictConfig

__all__ = ["open_store", "ui_command"]


def _is_local(uri: str) -> bool:
    return uri.startswith("sqlite:") or uri.startswith("file:") or "://" not in uri


def open_store(tracking: DictConfig) -> tuple[MlflowClient, str]:
    """Client and experiment id for ``tracking.uri`` / ``tracking.experiment``.

    Creates the experiment (with ``artifact_location`` for local stores) on first use; two
    processes racing to create it both end up with the same experiment.
    """
    uri = str(tracking.uri)
    mlflow.set_tracking_uri(uri)
    # First use of a local store logs its table set-up at INFO; that is not news to a user.
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
    with _store_lock(uri):
        client = MlflowClient(tracking_uri=uri)
        return client, _experiment_id(client, tracking, uri)


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

    with FileLock(db.with_name(db.name + ".lock")):
        # Opening the store here (inside the lock) runs MLflow's table creation/migration.
        MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
        yield


def _experiment_id(client: MlflowClient, tracking: DictConfig, uri: str) -> str:
    name = str(tracking.experiment)
    for attempt in range(5):
        found = client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        try:
            location = None
            if _is_local(uri) and tracking.get("artifact_location"):
                artifact_dir = Path(str(tracking.artifact_location)).resolve()
                artifact_dir.mkdir(parents=True, exist_ok=True)
                location = artifact_dir.as_uri()
            return client.create_experiment(name, artifact_location=location)
        except MlflowException:
            time.sleep(0.2 * (attempt + 1))  # another process created it first
    found = client.get_experiment_by_name(name)
    if found is None:
        raise RuntimeError(f"could not create or find MLflow experiment {name!r} at {uri}")
    return found.experiment_id


def ui_command(tracking: DictConfig) -> str:
    """The shell command that opens the MLflow UI on this store."""
    uri = str(tracking.uri)
    if _is_local(uri):
        return f"mlflow ui --backend-store-uri {uri}"
    return uri
