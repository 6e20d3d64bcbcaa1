"""Run the ``rlmdj`` Hydra app in-process (multirun included) and read what it left in the store."""

from __future__ import annotations

import sys

import pytest
from hydra.core.global_hydra import GlobalHydra
from mlflow.tracking import MlflowClient


def run_cli(args: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """``rlmdj <args>`` in this process (the import cost is paid once per test session)."""
    from rlmdj.cli import main

    GlobalHydra.instance().clear()
    monkeypatch.setattr(sys, "argv", ["rlmdj", *args])
    try:
        main()
    finally:
        GlobalHydra.instance().clear()


def client_for(uri: str) -> tuple[MlflowClient, str]:
    client = MlflowClient(tracking_uri=uri)
    return client, client.get_experiment_by_name("rlmdj").experiment_id


def children(client: MlflowClient, exp: str, parent: str) -> list:
    return client.search_runs([exp], filter_string=f"tags.mlflow.parentRunId = '{parent}'", max_results=1000)


def parents(client: MlflowClient, exp: str) -> list:
    return client.search_runs([exp], filter_string="tags.`rlmdj.sweep` = 'parent'", max_results=100)
