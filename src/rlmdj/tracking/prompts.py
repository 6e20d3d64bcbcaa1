"""The DJ prompt in MLflow's Prompt Registry: ``rlmdj-<prompt>``, one version per distinct text.

The text registered is the exact system message the set sends: the prompt file with what
surrounds it (the RLM's field structure, scaffold and tool list), so two runs that read the same
prompt file under different scaffolds (``dj.scaffold=lean`` / ``dspy``) are two versions and
never pool in a comparison. A run reuses the latest version when the text is the same and
registers a new one when it changed, and links that version to the run (the run's "Prompts"
section and the prompt's "Runs"). The run is tagged ``rlmdj.prompt_version``
(``rlmdj-baseline v3``), which comparisons and the run card print, and ``rlmdj.prompt_sha256``,
the text's SHA-256 (the version carries it too).

On a local SQLite store, registration is serialised with a file lock so parallel sweep jobs
that start with a changed prompt create one new version between them, not one each.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["PROMPT_PREFIX", "find_version", "register_prompt", "registry_name"]

PROMPT_PREFIX = "rlmdj-"
_SHA_TAG = "rlmdj.prompt_sha256"


def registry_name(prompt: str) -> str:
    """``rlmdj-<prompt>``, with characters the registry refuses replaced by ``-``."""
    return PROMPT_PREFIX + (re.sub(r"[^A-Za-z0-9_.-]+", "-", prompt).strip("-") or "custom")


@contextlib.contextmanager
def _registry_lock(client: Any) -> Iterator[None]:
    uri = str(getattr(client, "tracking_uri", "") or "")
    if not uri.startswith("sqlite:///"):
        yield
        return
    from filelock import FileLock

    db = Path(uri.removeprefix("sqlite:///"))
    with FileLock(db.with_name(db.name + ".prompts.lock"), timeout=60):
        yield


def find_version(client: Any, name: str, text: str) -> Any | None:
    """The newest registered version of ``name`` whose template is ``text``, or ``None``."""
    try:
        versions = list(client.search_prompt_versions(name, max_results=1000))
    except Exception:  # noqa: BLE001 - no such prompt yet (the error type depends on the store)
        return None
    same = [v for v in versions if v.template == text]
    return max(same, key=lambda v: int(v.version)) if same else None


def register_prompt(run: Any, *, name: str, text: str) -> Any:
    """Register (or reuse) ``text`` as ``rlmdj-<name>``, link it to ``run``; the version."""
    client = run.client
    full = registry_name(name)
    sha = hashlib.sha256(text.encode()).hexdigest()
    with _registry_lock(client):
        version = find_version(client, full, text)
        if version is None:
            import mlflow

            # The registry files a new prompt under the fluent API's experiment (its Prompts tab).
            mlflow.set_experiment(experiment_id=run.experiment_id)
            version = client.register_prompt(
                full, text, commit_message=f"system text of prompt={name} as first sent by run {run.run_id}",
                tags={_SHA_TAG: sha, "rlmdj.source_run": str(run.run_id)},
            )
    client.link_prompt_version_to_run(run.run_id, version)
    run.set_tags({"rlmdj.prompt_version": f"{full} v{version.version}",
                  "rlmdj.prompt_uri": f"prompts:/{full}/{version.version}", _SHA_TAG: sha})
    return version
