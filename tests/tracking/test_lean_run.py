"""What keeps a default run lean: the timeline needs no pyplot, heavy imports freeze the heap
once, and secret scrubbing is one pass over a long token, masking exactly as before."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap

import pytest

from rlmdj.secrets import MASK, scrub_text
from rlmdj.tracking.heap import collector_paused


def test_timeline_png_without_pyplot(tmp_path):
    code = textwrap.dedent(f"""
        import sys
        from rlmdj.tracking.record.timeline import plot_timeline
        history = [{{"layers": {{"kick": {{"gain": 0.8, "pattern": "four"}}, "bass": {{"gain": 0.5}}}}}},
                   {{"layers": {{"kick": {{"gain": 0.8, "pattern": "half"}}}}}}]
        out = plot_timeline(history, {str(tmp_path / "t.png")!r}, roles=["kick", "bass"], title="t",
                            seconds_per_bar=2.0)
        assert out.read_bytes()[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
        assert "matplotlib.pyplot" not in sys.modules, "pyplot imported"
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_collector_paused_freezes_once_and_restores_the_collector():
    assert gc.isenabled()
    before = gc.get_freeze_count()
    try:
        with collector_paused("rlmdj_no_such_module_for_this_test"):
            assert not gc.isenabled()
            kept = [[object()] for _ in range(100)]  # container objects the collector tracks
        assert gc.isenabled()
        assert gc.get_freeze_count() >= before + len(kept)
        with collector_paused("gc"):  # already imported: nothing happens
            assert gc.isenabled()
    finally:
        gc.unfreeze()


@pytest.mark.parametrize("text", ["a" * 60_000, "0123456789abcdef" * 4_000, "-a" * 30_000,
                                  "x." * 30_000 + "://"])
def test_long_tokens_are_scrubbed_in_one_pass(text):
    # Trying every position of such a token took minutes at this size (quadratic).
    assert scrub_text(text) == text


@pytest.mark.parametrize(("text", "expected"), [
    ("--api_key=abc123456", f"--api_key={MASK}"),
    ("9api_key=abc123456", f"9api_key={MASK}"),
    ("x.-password: hunter22", f"x.-password: {MASK}"),
    ("max_tokens=4096 token=abcdef", f"max_tokens=4096 token={MASK}"),
    ("9+http://user:pw1234@host", f"9+http://user:{MASK}@host"),
    (r"http\://user\:pw1234@host", rf"http\://user\:{MASK}@host"),
])
def test_masks_keys_and_urls_inside_longer_tokens(text, expected):
    assert scrub_text(text) == expected
