"""``rlmdj experiment=rerun``: play a recorded run's configuration again, as a new run.

``experiment.rerun.run_id=<id>`` reads the FINISHED run's ``config.yaml`` artifact from the store
at ``tracking.uri`` and plays it through the normal run pipeline as a new run tagged
``rlmdj.rerun_of=<id>``, in the original's MLflow experiment. ``experiment.rerun.parent=<id>``
does so for every FINISHED job of a sweep, under a new parent run that gets the reproduction
table and verdict (:mod:`rlmdj.analysis.studies.reproduction`).

Where each setting comes from:

- what the run played and how it was scored (every key the config hash reads), and the
  operational settings it ran with (scorer endpoint, timeouts): the record. Changing one of the
  hashed keys on the command line is refused: that is a new run, not a rerun;
- where results and caches go (``paths``, ``tracking``, ``*cache_dir``) and the hash-free keys
  given on the command line: this launch, so a rerun works from any folder and any store;
- input files (``palette.path``, ``prompt.path``, ``samples.paths``): where they were recorded
  while they still exist there, else rebased from the original launch folder onto this one
  (a line says so; the config hash then changes with the path);
- a value the record holds masked as a secret (``***``): the command line, which alone may set it.

One warning line each says when the installed code commit, the sample pack or the palette's
content differ from the record: then the set may differ. Everything is checked (the record, the
overrides, the preflight of every job) before a run is opened.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import tempfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from rlmdj.errors import ParameterError
from rlmdj.secrets import MASK
from rlmdj.tracking.identity import hashed_key
from rlmdj.tracking.params import is_path_key

__all__ = ["RERUN_TAG", "Prepared", "Recorded", "drift_warnings", "load_recorded", "masked_keys", "prepare",
           "rerun_config", "rerun_job"]

RERUN_TAG = "rlmdj.rerun_of"
# Where results go and how the job is orchestrated: always this launch's.
_LAUNCH_GROUPS = ("paths", "tracking", "experiment", "hydra", "progress")
# Lists of folders the run read: each entry is treated as an input path.
_PATH_LISTS = ("samples.paths",)
# Tags of a sweep's job that its rerun keeps, so reruns line up with the originals.
_JOB_TAGS = ("rlmdj.condition", "rlmdj.sweep_job")
_COND_PREFIX = "rlmdj.cond."
_ADOPTED_PREFIX = "rlmdj.adopted."


@dataclass
class Recorded:
    """A FINISHED run as the store holds it: the run (tags, metrics, inputs) and its config."""

    run: Any
    config: dict[str, Any]
    experiment: str

    @property
    def run_id(self) -> str:
        return str(self.run.info.run_id)

    @property
    def tags(self) -> dict[str, str]:
        return dict(self.run.data.tags)

    def pack_digest(self) -> str | None:
        """SHA-256 of the sample index the run played from (its ``samples`` input)."""
        for item in getattr(self.run.inputs, "dataset_inputs", None) or []:
            if any(t.key == "mlflow.data.context" and t.value == "samples" for t in item.tags):
                try:
                    return str(json.loads(item.dataset.profile or "{}")["index_sha256"])
                except (KeyError, ValueError):
                    return str(item.dataset.digest)
        return None


@dataclass
class Prepared:
    """One rerun, checked and ready to play: its config, the record, and lines to print first."""

    recorded: Recorded
    cfg: DictConfig
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    job_tags: dict[str, str] = field(default_factory=dict)


# ----------------------------------------------------------------------------- reading the store
def _reader(cfg: DictConfig) -> Any:
    """A client for the store at ``tracking.uri`` that creates nothing (no file, no experiment)."""
    uri = str(cfg.tracking.uri)
    if not cfg.tracking.enabled:
        raise ParameterError("experiment=rerun reads the recorded run from the store: set tracking.enabled=true")
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).is_file():
        raise ParameterError(f"tracking.uri={uri}: no store there to read the run from; point tracking.uri "
                             "at the store that holds it")
    import logging

    from mlflow.tracking import MlflowClient

    from rlmdj.tracking.store import mlflow_env_defaults

    mlflow_env_defaults()
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # one small file per run
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
    return MlflowClient(tracking_uri=uri)


def _finished_run(client: Any, run_id: str, key: str) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        run = client.get_run(run_id)
    except MlflowException:
        raise ParameterError(f"{key}={run_id}: no such run in this store ({client.tracking_uri}); "
                             "give the full run id, and tracking.uri=... for another store") from None
    if run.info.status != "FINISHED":
        raise ParameterError(f"{key}={run_id}: the run is {run.info.status}, not FINISHED; only a finished "
                             "run can be rerun")
    return run


def load_recorded(client: Any, run_id: str, key: str, workdir: Path) -> Recorded:
    """The FINISHED run ``run_id`` and its ``config.yaml``; ParameterError naming ``key`` otherwise."""
    run = _finished_run(client, run_id, key)
    try:
        local = client.download_artifacts(run_id, "config.yaml", str(workdir))
    except Exception:  # noqa: BLE001 - MLflow raises several types for a missing artifact
        hint = (" (it is a sweep's parent: use experiment.rerun.parent=" + run_id + ")"
                if run.data.tags.get("rlmdj.sweep") == "parent" else "")
        raise ParameterError(f"{key}={run_id}: the run has no config.yaml artifact to play again{hint}") from None
    config = OmegaConf.to_container(OmegaConf.load(local), resolve=False)
    experiment = client.get_experiment(run.info.experiment_id).name
    return Recorded(run=run, config=dict(config), experiment=str(experiment))  # type: ignore[arg-type]


# ------------------------------------------------------------------------- the rerun's config
def command_line_keys() -> list[str]:
    """Keys the command line sets (``tracking.uri``, ``scorer`` for ``scorer=http``); none outside Hydra."""
    try:
        from hydra.core.hydra_config import HydraConfig

        task = list(HydraConfig.get().overrides.task)
    except ValueError:
        return []
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return [o.key_or_group for o in OverridesParser.create().parse_overrides(task)]


def check_overrides(given: Sequence[str], *, masked: Sequence[str] = ()) -> None:
    """A command-line key that would change what the run plays is refused, in one line; a key
    the record holds masked (``masked``) is the exception, since only the command line has it."""
    for key in given:
        if _covers(key, masked) or any(m.startswith(key + ".") for m in masked):
            continue
        if key.split(".", 1)[0] not in _LAUNCH_GROUPS and hashed_key(key):
            raise ParameterError(
                f"experiment=rerun plays the recorded configuration, and {key} would change it; start "
                f"a new run with the change instead (only where results go and operational settings "
                "such as tracking.*, paths.*, scorer.timeout_s can be set on a rerun)")


def _covers(key: str, given: Sequence[str]) -> bool:
    return any(key == g or key.startswith(g + ".") for g in given)


def masked_keys(config: Mapping[str, Any], prefix: str = "") -> list[str]:
    """Keys whose recorded value was masked as a secret (``***``): a rerun cannot play them back."""
    found: list[str] = []
    for name, value in config.items():
        key = f"{prefix}{name}"
        if key.split(".", 1)[0] in _LAUNCH_GROUPS or is_path_key(key):
            continue
        if isinstance(value, Mapping):
            found += masked_keys(value, f"{key}.")
        elif isinstance(value, list):
            found += [f"{key}[{i}]" for i, v in enumerate(value) if isinstance(v, str) and MASK in v]
        elif isinstance(value, str) and MASK in value:
            found.append(key)
    return found


def _unmasked(key: str, value: Any, launch: Any, given: Sequence[str]) -> Any:
    """``value`` with each masked secret replaced by this launch's value, which must have been
    given on the command line; otherwise a ParameterError naming the key."""
    if isinstance(value, str) and MASK in value:
        if _covers(key, given):
            return launch
        raise ParameterError(
            f"{key} was recorded masked ({MASK}), so a rerun cannot play it back; give it again on the "
            f"command line ({key}=<value>) or start a new run")
    if isinstance(value, Mapping):
        here = launch if isinstance(launch, Mapping) else {}
        return {k: _unmasked(f"{key}.{k}", v, here.get(k), given) for k, v in value.items()}
    if isinstance(value, list):
        here = launch if isinstance(launch, list) else []
        return [_unmasked(f"{key}[{i}]", v, here[i] if i < len(here) else None, given) for i, v in enumerate(value)]
    return value


def rerun_config(cfg: DictConfig, recorded: Recorded, *, given: Sequence[str] = ()) -> tuple[DictConfig, list[str]]:
    """``cfg`` (this launch) with the recorded run's settings (see the module docstring), and
    notes, one line each, on what was moved or left out."""
    new = copy.deepcopy(cfg)
    notes: list[str] = []
    ignored: list[str] = []
    old_root = str((recorded.config.get("paths") or {}).get("root_dir") or "")
    new_root = str(new.paths.root_dir)

    def keep_launch(key: str) -> bool:
        return (key.split(".", 1)[0] in _LAUNCH_GROUPS or (is_path_key(key) and not hashed_key(key))
                or _covers(key, given))

    def rebase(key: str, value: Any) -> Any:
        if not isinstance(value, str) or not value or Path(value).expanduser().exists():
            return value
        for root in (old_root, MASK):  # MASK: records whose launch folder was masked
            if root and value.startswith(root + "/"):
                moved = new_root + value[len(root):]
                if Path(moved).exists():
                    notes.append(f"{key}: {value} is not here; using {moved} (the config hash changes with it)")
                    return moved
        return value

    def apply(node: DictConfig, data: Mapping[str, Any], prefix: str) -> None:
        for name, value in data.items():
            key = f"{prefix}{name}"
            if keep_launch(key):
                continue
            if name not in node:
                ignored.append(key)
                continue
            if (isinstance(value, Mapping) and OmegaConf.is_dict(node[name])
                    and OmegaConf.get_type(node, name) not in (dict, None)):
                apply(node[name], value, f"{key}.")  # a schema group: key by key
                continue
            if is_path_key(key):
                value = rebase(key, value)
            elif key in _PATH_LISTS and isinstance(value, list):
                value = [rebase(f"{key}[{i}]", v) for i, v in enumerate(value)]
            else:
                launch = node[name]
                if OmegaConf.is_config(launch):
                    launch = OmegaConf.to_container(launch, resolve=True)
                value = _unmasked(key, value, launch, given)
            node[name] = value  # a leaf, a list or a free-form table (model.extra): whole

    apply(new, recorded.config, "")
    with open_dict(new):
        new.experiment.name = "run"
        if not _covers("tracking.experiment", given):
            new.tracking.experiment = recorded.experiment
    if ignored:
        notes.append("recorded settings this code no longer has, ignored: " + ", ".join(ignored))
    return new, notes


def drift_warnings(recorded: Recorded, index: Any, palette: Any) -> list[str]:
    """What differs from the record and may change the set: code commit, sample pack, palette."""
    from rlmdj.tracking.datasets import index_digest
    from rlmdj.tracking.versions import code_tags

    tags = recorded.tags
    lines = []
    was, now = tags.get("rlmdj.git_commit"), code_tags().get("rlmdj.git_commit")
    if was and was != now:
        lines.append(f"the installed code is at commit {now or 'unknown'}, the run was recorded at {was}: "
                     "the set may differ")
    pack = recorded.pack_digest()
    digest = index_digest(index)
    if pack and not digest.startswith(pack):
        lines.append(f"the sample pack differs from the recorded one (index digest {digest[:16]}, recorded "
                     f"{pack[:16]}): the samples.* settings or the sample folders changed")
    was_palette = tags.get("rlmdj.palette_hash")
    if was_palette and was_palette != palette.sha256:
        lines.append(f"palette {palette.name!r} differs from the recorded one (content hash {palette.sha256[:12]}, "
                     f"recorded {was_palette[:12]})")
    return lines


def prepare(cfg: DictConfig, client: Any, run_id: str, key: str, workdir: Path, *,
            given: Sequence[str] = ()) -> Prepared:
    """The rerun of ``run_id``: its config, checked as a run is (preflight), and its warnings."""
    from rlmdj.experiments.assemble import load_index, resolve_palette
    from rlmdj.experiments.cli.preflight import preflight

    recorded = load_recorded(client, run_id, key, workdir)
    check_overrides(given, masked=masked_keys(recorded.config))
    new, notes = rerun_config(cfg, recorded, given=given)
    preflight(new, "run")
    index = load_index(new)  # built by the preflight; the run reuses it too
    warnings = drift_warnings(recorded, index, resolve_palette(new, index))
    return Prepared(recorded=recorded, cfg=new, notes=notes, warnings=warnings)


# --------------------------------------------------------------------------------- playing
def _reproduction(prepared: Prepared, outcome: Any, client: Any) -> Any:
    from rlmdj.analysis.studies.reproduction import Reproduction

    recorded = prepared.recorded
    tags = recorded.tags
    rerun_tags = client.get_run(outcome.run_id).data.tags if outcome.run_id else {}
    scorer = tags.get("rlmdj.scorer")
    same_scorer = outcome.score is not None and outcome.score.scorer == scorer
    metric = f"{scorer}/OBJ" if scorer else None
    original_obj = recorded.run.data.metrics.get(metric) if metric else None
    row = Reproduction(
        original=recorded.run_id, rerun=outcome.run_id, status=outcome.status,
        condition=tags.get("rlmdj.condition", "–"), replica=tags.get("rlmdj.replica", "–"),
        render_original=tags.get("rlmdj.render_sha256"), render_rerun=rerun_tags.get("rlmdj.render_sha256"),
        config_original=tags.get("rlmdj.config_hash"), config_rerun=outcome.config_hash,
        metric=metric if same_scorer else None, obj_original=original_obj if same_scorer else None,
        obj_rerun=outcome.score.obj if same_scorer else None,
    )
    if outcome.run_id:
        client.set_tag(outcome.run_id, "rlmdj.rerun.render_identical", str(row.same_render).lower())
        client.set_tag(outcome.run_id, "rlmdj.rerun.config_identical", str(row.same_config).lower())
    return row


def _warn(lines: Sequence[str], *, of: int = 1) -> None:
    """Each distinct line once (with how many jobs it concerns, in a sweep's rerun)."""
    for text, n in Counter(lines).items():
        count = f" ({n} of {of} jobs)" if of > 1 else ""
        print(f"rlmdj: warning: rerun: {text}{count}", file=sys.stderr, flush=True)


def _rerun_one(cfg: DictConfig, client: Any, run_id: str, given: Sequence[str]) -> float | None:
    from rlmdj.experiments.cli.summary import print_run_summary
    from rlmdj.experiments.jobs.run import run_set
    from rlmdj.tracking import open_store

    with tempfile.TemporaryDirectory(prefix="rlmdj-rerun-") as tmp:
        prepared = prepare(cfg, client, run_id, "experiment.rerun.run_id", Path(tmp), given=given)
    _warn(prepared.notes + prepared.warnings)
    outcome = run_set(prepared.cfg, extra_tags={RERUN_TAG: run_id})
    writer, _ = open_store(prepared.cfg.tracking)
    row = _reproduction(prepared, outcome, writer)
    print(f"rerun of {run_id}: {row.line()}", flush=True)
    print_run_summary(prepared.cfg, outcome)
    return outcome.score.obj if outcome.score is not None else None


def _sweep_jobs(client: Any, parent: Any) -> list[tuple[str, dict[str, str]]]:
    """``(run id, job tags)`` of the sweep's FINISHED jobs in job order, runs it adopted included."""
    pid = parent.info.run_id
    kids = client.search_runs([parent.info.experiment_id], max_results=10_000,
                              filter_string=f"tags.mlflow.parentRunId = '{pid}' and attributes.status = 'FINISHED'")
    jobs: list[tuple[str, dict[str, str]]] = []
    for kid in kids:
        t = kid.data.tags
        jobs.append((kid.info.run_id, {k: v for k, v in t.items() if k.startswith(_COND_PREFIX) or k in _JOB_TAGS}))
    for key, raw in parent.data.tags.items():  # resumed sweeps reuse runs of earlier sweeps
        if key.startswith(_ADOPTED_PREFIX):
            info = json.loads(raw)
            condition = {str(k): str(v) for k, v in (info.get("condition") or {}).items()}
            jobs.append((str(info["run_id"]), {
                **{_COND_PREFIX + k: v for k, v in condition.items()},
                "rlmdj.condition": ",".join(f"{k}={v}" for k, v in sorted(condition.items())) or "all",
                "rlmdj.sweep_job": str(info.get("job", ""))}))

    def order(item: tuple[str, dict[str, str]]) -> tuple[int, str]:
        num = item[1].get("rlmdj.sweep_job", "")
        return (int(num) if num.isdigit() else 1 << 30, item[0])

    return sorted(jobs, key=order)


def _rerun_sweep(cfg: DictConfig, client: Any, parent_id: str, given: Sequence[str]) -> None:
    from rlmdj.analysis.studies.reproduction import (
        log_reproduction,
        print_reproduction,
        reproduction_verdict,
    )
    from rlmdj.experiments.cli.summary import print_ui_lines
    from rlmdj.experiments.jobs.run import run_set
    from rlmdj.tracking import open_store
    from rlmdj.tracking.health import process_tags

    key = "experiment.rerun.parent"
    parent = _finished_run(client, parent_id, key)
    jobs = _sweep_jobs(client, parent)
    if not jobs:
        raise ParameterError(f"{key}={parent_id}: the run has no FINISHED jobs to rerun (is it a sweep's parent?)")
    prepared: list[Prepared] = []
    with tempfile.TemporaryDirectory(prefix="rlmdj-rerun-") as tmp:
        for i, (run_id, tags) in enumerate(jobs):
            p = prepare(cfg, client, run_id, f"{key}={parent_id}: job run", Path(tmp) / str(i), given=given)
            p.job_tags = tags
            prepared.append(p)
    n = len(prepared)
    _warn([line for p in prepared for line in p.notes + p.warnings], of=n)
    writer, experiment_id = open_store(prepared[0].cfg.tracking)
    swept = parent.data.tags.get("rlmdj.swept_keys", "")
    new_parent = writer.create_run(parent.info.experiment_id, run_name=f"rerun of {parent.info.run_name}", tags={
        "rlmdj.sweep": "parent", RERUN_TAG: parent_id, "rlmdj.swept_keys": swept, "rlmdj.analysis": "rerun",
        **process_tags()}).info.run_id
    out_dir = Path(str(cfg.paths.output_dir))
    print(f"rerun: sweep {parent_id} ({n} jobs) under new parent run {new_parent}", flush=True)
    rows = []
    try:
        for k, p in enumerate(prepared, 1):
            with open_dict(p.cfg):
                p.cfg.paths.output_dir = str(out_dir / f"rerun-{k}")
            outcome = run_set(p.cfg, parent_run_id=new_parent, quiet=True,
                              extra_tags={RERUN_TAG: p.recorded.run_id, **p.job_tags})
            row = _reproduction(p, outcome, writer)
            rows.append(row)
            label = f"{row.condition} replica={row.replica}"
            print(f"rerun {k}/{n} · {label}: {row.line()}", flush=True)
        verdict = reproduction_verdict(rows)
        log_reproduction(writer, new_parent, rows, verdict, out_dir / "rerun",
                         title=f"Rerun of sweep {parent_id}")
    except KeyboardInterrupt:
        writer.set_terminated(new_parent, "KILLED")
        raise
    except BaseException:
        writer.set_terminated(new_parent, "FAILED")
        raise
    writer.set_terminated(new_parent, "FINISHED")
    print_reproduction(rows, verdict)
    print_ui_lines(cfg, parent.info.experiment_id or experiment_id, new_parent)


def rerun_job(cfg: DictConfig) -> float | None:
    """Play a recorded run (``experiment.rerun.run_id``) or a sweep's jobs (``.parent``) again."""
    r = cfg.experiment.rerun
    if bool(r.run_id) == bool(r.parent):
        raise ParameterError("experiment=rerun needs exactly one of experiment.rerun.run_id=<run id> "
                             "or experiment.rerun.parent=<sweep parent run id>")
    given = command_line_keys()
    client = _reader(cfg)
    if r.run_id:
        return _rerun_one(cfg, client, str(r.run_id), given)
    _rerun_sweep(cfg, client, str(r.parent), given)
    return None
