"""The real aesthetics scorer: Meta's audiobox-aesthetics model, run in this process.

* :func:`resolve_checkpoint` -- a local checkpoint (file or folder) or a Hugging Face hub id ->
  local files; offline hub failures become a :class:`CheckpointError` saying how to get one.
* :func:`load_model` -- builds ``audiobox_aesthetics.model.aes.AesMultiOutput`` from either
  upstream format (``checkpoint.pt`` with ``state_dict``/``model_cfg``/``target_transform``, or a
  hub folder with ``config.json`` + ``model.safetensors``) and hashes the weights.
* :class:`AudioboxScorer` -- the :class:`~rlmdj.scoring.base.Scorer`: 16 kHz mono, 10 s windows
  with a 10 s hop (last one zero-padded and masked), batched through the model on CUDA when
  present, de-normalised per axis and averaged with weights by real length, as upstream's
  ``AesPredictor`` does -- without its torchaudio dependency (see :mod:`rlmdj.scoring.resample`).

Install: ``pip install torch`` then ``pip install --no-deps audiobox-aesthetics`` (its declared
dependencies pull torchaudio, which the model does not need), plus ``huggingface-hub`` and
``safetensors``.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rlmdj.config.scorer import ScorerConfig
from rlmdj.errors import ParameterError
from rlmdj.scoring.base import (
    AXES,
    DEFAULT_WEIGHTS,
    ScoreResult,
    WindowScore,
    plan_windows,
    weighted_average,
)
from rlmdj.scoring.resample import MODEL_SR, to_model_input

__all__ = [
    "CHECKPOINT_ENV",
    "DEFAULT_HUB_ID",
    "WINDOW_S",
    "PRECISIONS",
    "CheckpointError",
    "CheckpointInfo",
    "AudioboxScorer",
    "resolve_checkpoint",
    "load_model",
    "write_random_checkpoint",
]

CHECKPOINT_ENV = "RLMDJ_AUDIOBOX_CHECKPOINT"
DEFAULT_HUB_ID = "facebook/audiobox-aesthetics"
WINDOW_S = 10.0
PRECISIONS = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
# Keys of upstream's checkpoint ``model_cfg`` that AesMultiOutput takes (as its infer.py reads them).
_MODEL_CFG_KEYS = (
    "proj_num_layer",
    "proj_ln",
    "proj_act_fn",
    "proj_dropout",
    "nth_layer",
    "use_weighted_layer_sum",
    "precision",
    "normalize_embed",
    "output_dim",
)
_OBTAIN_HINT = (
    "To score offline, fetch the checkpoint on a machine with network access, either\n"
    "  hf download facebook/audiobox-aesthetics --local-dir ~/models/audiobox-aesthetics\n"
    "(a folder with config.json + model.safetensors) or\n"
    "  curl -LO https://dl.fbaipublicfiles.com/audiobox-aesthetics/checkpoint.pt\n"
    "copy it here, and point rlmdj at it with scorer.checkpoint=/path/to/it "
    f"or `export {CHECKPOINT_ENV}=/path/to/it`."
)

# WavLM's weight_norm and mask dtypes raise deprecation noise on every forward; harmless here.
warnings.filterwarnings("ignore", message=".*weight_norm.*is deprecated", category=FutureWarning)
warnings.filterwarnings("ignore", message="Support for mismatched key_padding_mask", category=UserWarning)


class CheckpointError(ParameterError):
    """The audiobox checkpoint cannot be found, downloaded or read; the message says how to fix it."""


@dataclass(frozen=True)
class CheckpointInfo:
    """Where the weights came from and their content hash (``sha256`` of the weight files)."""

    source: str
    path: str
    format: str
    sha256: str


def _require_torch() -> Any:
    try:
        import torch
        from audiobox_aesthetics.model import aes  # noqa: F401
    except ImportError as exc:
        raise ParameterError(
            f"scorer=audiobox needs torch and audiobox-aesthetics ({exc}). Install with\n"
            "  pip install torch && pip install --no-deps audiobox-aesthetics && "
            "pip install huggingface-hub safetensors\n"
            "or use scorer=http / scorer=modal to score on a server."
        ) from exc
    return torch


def resolve_checkpoint(spec: str | os.PathLike[str] | None = None) -> tuple[Path, str]:
    """Local path of the checkpoint named by ``spec`` and the source it came from.

    ``spec`` is a checkpoint file, a folder holding one, or a hub id (``owner/name``). ``None``
    or empty means ``$RLMDJ_AUDIOBOX_CHECKPOINT``, else the official hub id.
    """
    raw = str(spec) if spec not in (None, "") else os.environ.get(CHECKPOINT_ENV) or DEFAULT_HUB_ID
    path = Path(raw).expanduser()
    if path.exists():
        return path.resolve(), str(path.resolve())
    looks_like_path = raw.startswith((".", "/", "~")) or raw.count("/") != 1 or "\\" in raw
    if looks_like_path or not re.fullmatch(r"[\w.-]+/[\w.-]+", raw):
        raise CheckpointError(f"no audiobox checkpoint at {raw!r}.\n{_OBTAIN_HINT}")
    try:
        from huggingface_hub import snapshot_download

        local = snapshot_download(repo_id=raw, allow_patterns=["config.json", "model.safetensors"])
    except Exception as exc:  # offline, unknown repo, gated... all need the same advice
        raise CheckpointError(
            f"could not fetch audiobox checkpoint {raw!r} from the Hugging Face hub "
            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}).\n{_OBTAIN_HINT}"
        ) from exc
    return Path(local), f"hf://{raw}"


def _sha256(files: list[Path]) -> str:
    digest = hashlib.sha256()
    for f in files:
        with open(f, "rb") as fh:
            for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _checkpoint_files(path: Path) -> tuple[str, list[Path]]:
    """Detect the checkpoint format at ``path``: ``hub`` folder or upstream ``torch`` file."""
    if path.is_file():
        if path.suffix == ".safetensors":
            return _checkpoint_files(path.parent)
        return "torch", [path]
    if (path / "config.json").is_file() and (path / "model.safetensors").is_file():
        return "hub", [path / "model.safetensors", path / "config.json"]
    if (path / "checkpoint.pt").is_file():
        return "torch", [path / "checkpoint.pt"]
    raise CheckpointError(
        f"{path} holds neither config.json + model.safetensors nor checkpoint.pt.\n{_OBTAIN_HINT}"
    )


def load_model(spec: str | os.PathLike[str] | None = None) -> tuple[Any, CheckpointInfo]:
    """Build AesMultiOutput (eval mode, CPU) from the checkpoint ``spec`` names, and its identity."""
    torch = _require_torch()
    from audiobox_aesthetics.model.aes import AesMultiOutput

    path, source = resolve_checkpoint(spec)
    fmt, files = _checkpoint_files(path)
    try:
        if fmt == "hub":
            model = AesMultiOutput.from_pretrained(str(files[0].parent))
        else:
            ckpt = torch.load(files[0], map_location="cpu", weights_only=True)
            missing = [k for k in _MODEL_CFG_KEYS if k not in ckpt.get("model_cfg", {})]
            if "state_dict" not in ckpt or "target_transform" not in ckpt or missing:
                raise CheckpointError(
                    f"{files[0]} is not an audiobox-aesthetics checkpoint: it needs state_dict, "
                    f"model_cfg (with {', '.join(_MODEL_CFG_KEYS)}) and target_transform; "
                    f"missing model_cfg keys: {missing}"
                )
            kwargs = {k: ckpt["model_cfg"][k] for k in _MODEL_CFG_KEYS}
            model = AesMultiOutput(**kwargs, target_transform=ckpt["target_transform"])
            state = {re.sub(r"^model\.", "", k): v for k, v in ckpt["state_dict"].items()}
            model.load_state_dict(state)
    except CheckpointError:
        raise
    except Exception as exc:
        raise CheckpointError(
            f"could not load audiobox checkpoint {files[0]} ({type(exc).__name__}: {exc})"
        ) from exc
    transform = getattr(model, "target_transform", None) or {}
    if any(axis not in transform for axis in AXES):
        raise CheckpointError(f"{files[0]} lacks target_transform mean/std for axes {AXES}")
    model.eval()
    return model, CheckpointInfo(source=source, path=str(files[0]), format=fmt, sha256=_sha256(files))


def write_random_checkpoint(
    path: str | os.PathLike[str],
    *,
    fmt: str = "torch",
    seed: int = 0,
    nth_layer: int = 13,
    target_transform: dict[str, dict[str, float]] | None = None,
) -> Path:
    """Write a randomly initialised checkpoint in an upstream format; returns what to load.

    For tests and benchmarks, where the real weights cannot be downloaded: the architecture (and
    so the compute) is the real one unless a caller has swapped upstream's encoder config.
    ``fmt="torch"`` writes ``checkpoint.pt`` as upstream's training does (``state_dict`` keys
    prefixed ``model.``, ``model_cfg``, ``target_transform``); ``fmt="hub"`` writes the
    ``config.json`` + ``model.safetensors`` folder ``from_pretrained`` reads.
    """
    torch = _require_torch()
    from audiobox_aesthetics.model.aes import AesMultiOutput

    if fmt not in ("torch", "hub"):
        raise ParameterError(f"fmt={fmt!r}; use 'torch' or 'hub'")
    transform = target_transform or {a: {"mean": 5.5, "std": 1.5} for a in AXES}
    cfg = {
        "proj_num_layer": 1,
        "proj_ln": False,
        "proj_act_fn": "gelu",
        "proj_dropout": 0.0,
        "nth_layer": nth_layer,
        "use_weighted_layer_sum": True,
        "precision": "32",
        "normalize_embed": True,
        "output_dim": 1,
    }
    torch.manual_seed(seed)
    model = AesMultiOutput(**cfg, target_transform=transform)
    out = Path(path)
    if fmt == "hub":
        model.save_pretrained(str(out))
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    state = {f"model.{k}": v for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, "model_cfg": cfg, "target_transform": transform}, out)
    return out


def _pick_device(torch: Any, device: str) -> Any:
    if device in ("auto", "", None):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ParameterError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError(f"device={device!r} but CUDA is not available; use device=auto or cpu")
    return dev


class AudioboxScorer:
    """audiobox-aesthetics in this process.

    ``precision`` is ``fp32`` (reference numbers), ``fp16`` or ``bf16`` (autocast; faster on
    GPUs, numbers differ slightly, so precision is part of :attr:`identity`). ``batch_size``
    windows go through the model at once; results do not depend on it beyond float rounding.
    """

    name = "audiobox"

    def __init__(
        self,
        checkpoint: str | os.PathLike[str] | None = None,
        *,
        device: str = ScorerConfig.device,
        precision: str = ScorerConfig.precision,
        batch_size: int = ScorerConfig.batch_size,
        weights: dict[str, float] | None = None,
    ) -> None:
        if precision not in PRECISIONS:
            raise ParameterError(f"precision={precision!r}; use one of {sorted(PRECISIONS)}")
        if int(batch_size) < 1:
            raise ParameterError(f"batch_size must be >= 1, got {batch_size}")
        torch = _require_torch()
        self._torch = torch
        self.device = _pick_device(torch, device)
        self.precision = precision
        self.batch_size = int(batch_size)
        self.weights = dict(weights or DEFAULT_WEIGHTS)
        model, self.checkpoint = load_model(checkpoint)
        dtype = getattr(torch, PRECISIONS[precision])
        # AesMultiOutput.forward autocasts with these two attributes; set them from our config
        # (upstream derives them from the checkpoint, where they never enable autocast).
        model.precision = dtype
        model.enable_autocast = dtype != torch.float32
        self._model = model.to(self.device)
        self._transform = {
            a: (float(model.target_transform[a]["mean"]), float(model.target_transform[a]["std"]))
            for a in AXES
        }
        self._lock = threading.Lock()
        # ``on_windows(done, total)`` after each batch: long sets report windows k/N.
        self.on_windows: Callable[[int, int], None] | None = None

    @property
    def model_identity(self) -> str:
        """Model + weights + numerics: what a server reports as ``model``."""
        return f"audiobox-aesthetics/sha256:{self.checkpoint.sha256[:16]}/{self.precision}"

    @property
    def identity(self) -> str:
        return f"audiobox/inprocess/{self.model_identity}"

    def score(self, audio: np.ndarray, *, sr: int) -> ScoreResult:
        """Score float audio ``(frames,)`` or ``(frames, channels)`` at ``sr`` Hz."""
        return self.score_model_input(to_model_input(audio, sr=sr))

    def score_model_input(self, mono16k: np.ndarray) -> ScoreResult:
        """Score float32 mono audio already at 16 kHz (see :func:`~rlmdj.scoring.resample.to_model_input`)."""
        return self.score_model_input_batch([mono16k])[0]

    def score_batch(self, items: Sequence[tuple[np.ndarray, int]]) -> list[ScoreResult]:
        """Score several sets ``(audio, sr)`` together; each result equals scoring that set alone."""
        return self.score_model_input_batch([to_model_input(audio, sr=sr) for audio, sr in items])

    def score_model_input_batch(self, sets: Sequence[np.ndarray]) -> list[ScoreResult]:
        """Score several 16 kHz mono sets with their windows pooled, ``batch_size`` per forward pass.

        Windows of all sets are laid end to end and cut into passes, so short sets share a pass
        instead of each running a part-empty one. Every window's numbers are independent of
        which other windows share its pass (see :meth:`_forward`), so a set scored in a batch
        gets exactly the result it gets alone.
        """
        xs = [np.asarray(x, dtype=np.float32) for x in sets]
        plans = [plan_windows(len(x), sr=MODEL_SR, window_s=WINDOW_S, hop_s=WINDOW_S) for x in xs]
        flat = [(k, w) for k, plan in enumerate(plans) for w in plan]
        if not flat:
            return []
        length = flat[0][1].length
        rows: list[dict[str, float]] = []
        for b0 in range(0, len(flat), self.batch_size):
            batch = flat[b0 : b0 + self.batch_size]
            wav = np.zeros((len(batch), 1, length), dtype=np.float32)
            mask = np.zeros((len(batch), 1, length), dtype=bool)
            for i, (k, w) in enumerate(batch):
                wav[i, 0, : w.valid] = xs[k][w.start : w.start + w.valid]
                mask[i, 0, : w.valid] = True
            cols = self._forward(wav, mask)
            for i in range(len(batch)):
                rows.append(
                    {a: float(np.float32(cols[a][i]) * np.float32(self._transform[a][1]) + np.float32(self._transform[a][0])) for a in AXES}
                )
            if self.on_windows is not None:
                self.on_windows(len(rows), len(flat))
        results = []
        at = 0
        for plan in plans:
            mine, at = rows[at : at + len(plan)], at + len(plan)
            per_window = [
                WindowScore(start_s=w.start / MODEL_SR, duration_s=w.valid / MODEL_SR, weight=w.weight, scores=r)
                for w, r in zip(plan, mine, strict=True)
            ]
            results.append(ScoreResult(
                scorer=self.name, identity=self.identity, scores=weighted_average(mine, [w.weight for w in plan]),
                windows=per_window, weights=dict(self.weights),
            ))
        return results

    def _forward(self, wav: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
        """Raw model outputs per axis for one pass of windows ``(n, 1, samples)``.

        On CPU the pass goes through the model one window at a time: PyTorch's CPU kernels
        round differently with the batch shape and a row's place in it (about 1e-8 here, e.g.
        SIMD versus scalar tails in WavLM's gated position bias), which would make a set's
        scores depend on the sets it shared a request with. Batching gains nothing on CPU
        (docs/scoring.md); on GPUs the pass runs as one batch.
        """
        torch = self._torch
        chunks = [slice(i, i + 1) for i in range(len(wav))] if self.device.type == "cpu" else [slice(None)]
        out: dict[str, list[np.ndarray]] = {a: [] for a in AXES}
        with self._lock, torch.inference_mode():
            for part in chunks:
                preds = self._model({
                    "wav": torch.from_numpy(np.ascontiguousarray(wav[part])).to(self.device),
                    "mask": torch.from_numpy(np.ascontiguousarray(mask[part])).to(self.device),
                })
                for a in AXES:
                    out[a].append(preds[a].float().reshape(-1).cpu().numpy())
        return {a: np.concatenate(v) for a, v in out.items()}
