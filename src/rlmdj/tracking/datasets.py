"""What a run played from, as MLflow run inputs: the palette, the sample pack, screening candidates.

Logged with ``log_inputs``, so the runs table's Dataset column and the run's lineage name them:

- the palette: its name, digest of its samples, and every role's sample id and content hash;
- the sample pack: pack seed, variants per role and user folders, with a digest of the whole
  index (ids and content hashes), so two runs on different packs never look alike;
- a screening's candidates: the screening seed and a digest of every drawn palette.

Each input carries ``mlflow.data.context`` (``palette``, ``samples`` or ``screening``). Inputs are
described as plain data (:func:`dataset_inputs` makes MLflow's entities of them), so a run recorded
in the background describes them without importing MLflow.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["dataset_inputs", "index_digest", "log_screen_inputs", "log_set_inputs", "palette_dataset",
           "pack_dataset"]

_DIGEST_CHARS = 16


def _entity(name: str, digest: str, source: Mapping[str, Any], profile: Mapping[str, Any],
            schema: Mapping[str, Any]) -> dict[str, str]:
    """The fields of MLflow's ``Dataset``."""
    return {"name": name, "digest": digest[:_DIGEST_CHARS], "source_type": "rlmdj",
            "source": json.dumps(source, sort_keys=True, default=str),
            "schema": json.dumps(schema), "profile": json.dumps(profile, default=str)}


def _input(dataset: dict[str, str], context: str) -> dict[str, Any]:
    return {"dataset": dataset, "context": context}


def dataset_inputs(inputs: Sequence[Mapping[str, Any]]) -> list[Any]:
    """MLflow ``DatasetInput`` entities of inputs described by :func:`_input`."""
    from mlflow.entities import Dataset, DatasetInput, InputTag

    return [DatasetInput(dataset=Dataset(**i["dataset"]),
                         tags=[InputTag("mlflow.data.context", str(i["context"]))]) for i in inputs]


def index_digest(index: Any) -> str:
    """SHA-256 over the index's sample ids and content hashes, in id order."""
    h = hashlib.sha256()
    for sid in sorted(index.ids()):
        h.update(f"{sid}:{index.get(sid).sha256}\n".encode())
    return h.hexdigest()


def palette_dataset(palette: Any, index: Any) -> dict[str, str]:
    """The palette as a dataset: role → sample id and content hash."""
    rows = {role: {"id": sid, "sha256": index.get(sid).sha256} for role, sid in palette.samples.items()}
    return _entity(
        palette.name, palette.sha256,
        source={"palette": palette.name, "meta": {k: v for k, v in (palette.meta or {}).items()
                                                   if k in ("path", "seed", "screened_as", "rank")}},
        profile={"num_samples": len(rows), "samples": rows},
        schema={"columns": ["role", "id", "sha256"]},
    )


def pack_dataset(index: Any, samples_cfg: Any) -> dict[str, str]:
    """The sample index (built-in pack and user folders) as a dataset."""
    seed = int(samples_cfg.pack_seed)
    builtin = bool(samples_cfg.builtin)
    paths = [str(p) for p in samples_cfg.paths]
    name = f"sample-pack-s{seed}" if builtin else "sample-folders"
    if builtin and paths:
        name += "+folders"
    digest = index_digest(index)
    return _entity(
        name, digest,
        source={"builtin": builtin, "pack_seed": seed,
                "variants_per_role": int(samples_cfg.variants_per_role), "paths": paths},
        profile={"num_samples": len(index), "index_sha256": digest,
                 "roles": {r: len(index.ids(role=r)) for r in index.roles()}},
        schema={"columns": ["id", "role", "kind", "sha256"]},
    )


def log_set_inputs(run: Any, *, palette: Any, index: Any, samples: Any) -> None:
    """Log the palette and the sample pack as inputs of ``run`` (one call)."""
    run.log_inputs([
        _input(palette_dataset(palette, index), "palette"),
        _input(pack_dataset(index, samples), "samples"),
    ])


def log_screen_inputs(run: Any, *, seed: int, candidates: Sequence[Mapping[str, str]],
                      index: Any | None = None, samples: Any = None) -> None:
    """Log a screening's drawn palettes (and its sample pack) as inputs of ``run``."""
    h = hashlib.sha256()
    for c in candidates:
        h.update(json.dumps(dict(c), sort_keys=True).encode())
    screened = _entity(
        f"screen-s{seed}-candidates", h.hexdigest(),
        source={"screen_seed": seed, "n": len(candidates)},
        profile={"num_palettes": len(candidates)},
        schema={"columns": ["palette", "role", "id"]},
    )
    inputs = [_input(screened, "screening")]
    if index is not None and samples is not None:
        inputs.append(_input(pack_dataset(index, samples), "samples"))
    run.log_inputs(inputs)
