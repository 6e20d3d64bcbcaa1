"""Sound engine: bar grid, patterns, samples, mixer channels, renderer and WAV I/O.

Pure numpy/soundfile; knows nothing of LLMs, scoring or MLflow. Time: :mod:`.grid`,
:mod:`.patterns`, :mod:`.loops`. Samples: :mod:`.sample_info`, :mod:`.samples` (the index),
:mod:`.pack` (the built-in pack, synthesised), :mod:`.folders` (user folders), :mod:`.palette`.
Sound out: :mod:`.render`, :mod:`.wavio`, :mod:`.valid`.
"""

__all__ = [
    "folders",
    "grid",
    "loops",
    "pack",
    "palette",
    "patterns",
    "render",
    "sample_info",
    "samples",
    "valid",
    "wavio",
]
