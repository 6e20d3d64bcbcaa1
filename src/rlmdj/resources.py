"""Where the files shipped with rlmdj live: conf/, prompts/ and palettes/.

In an installed wheel they are bundled inside the package; in a source checkout (editable
install) they sit at the repository root.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["bundled_dir"]


def bundled_dir(name: str) -> Path | None:
    """The shipped ``conf``/``prompts``/``palettes`` folder, or None if absent."""
    here = Path(__file__).resolve()
    for candidate in (here.parent / "_bundled" / name, here.parents[2] / name):
        if candidate.is_dir():
            return candidate
    return None
