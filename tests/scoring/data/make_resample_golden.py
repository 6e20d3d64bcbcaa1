"""Write ``resample_golden.npz``: float32 inputs and torchaudio's ``functional.resample`` of them.

Run with torchaudio installed (``pip install torchaudio``), from the repository root::

    python tests/scoring/data/make_resample_golden.py

When torchaudio's compiled extension does not load against the installed torch (the resampler
itself is pure PyTorch), pass the wheel's source instead: ``--functional PATH`` names
``torchaudio/functional/functional.py``, whose ``resample`` and kernel helpers are run as they are.
"""

from __future__ import annotations

import argparse
import ast
import json
import math
import warnings
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from torch import Tensor

HERE = Path(__file__).resolve().parent
_FUNCTIONS = ("_get_sinc_resample_kernel", "_apply_sinc_resample_kernel", "resample")

# (name, orig_sr, new_sr, input shape, kind, extra keyword arguments)
CASES = [
    ("noise-44100", 44_100, 16_000, (4_410,), "noise", {}),
    ("noise-48000", 48_000, 16_000, (4_800,), "noise", {}),
    ("chirp-22050", 22_050, 16_000, (2_205,), "chirp", {}),
    ("noise-11025-up", 11_025, 16_000, (1_103,), "noise", {}),
    ("noise-8000-up", 8_000, 16_000, (800,), "noise", {}),
    ("noise-96000", 96_000, 16_000, (9_600,), "noise", {}),
    ("impulse-44100", 44_100, 16_000, (1_000,), "impulse", {}),
    ("length-1", 44_100, 16_000, (1,), "noise", {}),
    ("length-2", 44_100, 16_000, (2,), "noise", {}),
    ("length-7", 44_100, 16_000, (7,), "noise", {}),
    ("length-441", 44_100, 16_000, (441,), "noise", {}),
    ("batch-2x1000", 44_100, 16_000, (2, 1_000), "noise", {}),
    ("same-rate", 16_000, 16_000, (500,), "noise", {}),
    ("width-16-rolloff-0.9", 44_100, 16_000, (2_000,), "noise", {"lowpass_filter_width": 16, "rolloff": 0.9}),
]


def _signal(kind: str, shape: tuple[int, ...], sr: int, rng: np.random.Generator) -> np.ndarray:
    n = shape[-1]
    if kind == "noise":
        return (0.5 * rng.standard_normal(shape)).astype(np.float32)
    if kind == "chirp":
        t = np.arange(n) / sr
        return (0.8 * np.sin(2 * np.pi * (100.0 + 0.5 * (sr / 2) / t[-1] * t) * t)).astype(np.float32)
    x = np.zeros(shape, dtype=np.float32)
    x[..., n // 3] = 1.0
    return x


def _resample_from_source(path: Path):
    """``resample`` as defined in torchaudio's ``functional.py`` (its helpers included)."""
    tree = ast.parse(path.read_text())
    body = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name in _FUNCTIONS]
    assert {n.name for n in body} == set(_FUNCTIONS), "torchaudio moved its resampler"
    namespace = {"torch": torch, "math": math, "warnings": warnings, "Optional": Optional,
                 "Tensor": Tensor, "_CPU": torch.device("cpu")}
    exec(compile(ast.Module(body=body, type_ignores=[]), str(path), "exec"), namespace)
    return namespace["resample"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--functional", type=Path, help="torchaudio/functional/functional.py")
    parser.add_argument("--torchaudio-version", help="the version that source came from")
    args = parser.parse_args()
    if args.functional is None:
        import torchaudio
        from torchaudio.functional import resample

        version = torchaudio.__version__
    else:
        resample = _resample_from_source(args.functional)
        version = args.torchaudio_version or "unknown"
    rng = np.random.default_rng(20261127)
    arrays, meta = {}, []
    for i, (name, orig, new, shape, kind, kwargs) in enumerate(CASES):
        x = _signal(kind, shape, orig, rng)
        # In float64: torchaudio's float32 conv1d adds up to ~4e-5 of rounding of its own, which
        # would hide a real difference behind a loose tolerance.
        y = resample(torch.from_numpy(x.astype(np.float64)), orig, new, **kwargs).numpy()
        arrays[f"in{i}"], arrays[f"out{i}"] = x, np.ascontiguousarray(y, dtype=np.float64)
        meta.append({"name": name, "orig_sr": orig, "new_sr": new, "kwargs": kwargs})
    arrays["meta"] = np.array(json.dumps({"torchaudio": version, "torch": torch.__version__,
                                          "cases": meta}))
    np.savez_compressed(HERE / "resample_golden.npz", **arrays)
    print(f"wrote {len(meta)} cases from torchaudio {version} (torch {torch.__version__})")


if __name__ == "__main__":
    main()
