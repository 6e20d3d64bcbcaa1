"""``dj.sandbox.kind=local``: the model's positional tool calls reach the mixer as they do in Deno."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rlmdj.config.dj import SandboxConfig
from rlmdj.dj.rlm.sandbox import _host_tools

RLMDJ = str(Path(sys.executable).with_name("rlmdj"))


def _kwargs_only_wrapper():
    """A tool as DSPy hands it to the interpreter: keyword-only, with the real signature behind."""
    import functools

    def add(role, gain, pattern=""):
        return f"{role}|{gain}|{pattern}"

    def invoke(**kwargs):
        return add(**kwargs)

    functools.update_wrapper(invoke, add)
    return invoke


def test_local_tools_take_positional_and_keyword_arguments() -> None:
    tool = _host_tools(SandboxConfig(kind="local"), {"add": _kwargs_only_wrapper()})["add"]
    assert tool("kick", 0.9, "four_on_floor") == "kick|0.9|four_on_floor"
    assert tool("kick", gain=0.5) == "kick|0.5|"
    assert tool(role="hihat", gain=0.4) == "hihat|0.4|"
    with pytest.raises(TypeError, match=r"^add\(\) too many positional arguments"):
        tool("kick", 0.9, "x", "extra")


def test_deno_tools_are_handed_over_unchanged() -> None:
    wrapped = _kwargs_only_wrapper()
    assert _host_tools(SandboxConfig(kind="deno"), {"add": wrapped})["add"] is wrapped


@pytest.mark.slow
def test_a_set_on_the_local_sandbox_plays_the_model_s_positional_calls(tmp_path: Path) -> None:
    from fake_openai import FakeOpenAI

    script = ["print(add('kick', 0.92, 'four_on_floor'))\nprint(play(4))",
              "print(add('hihat', 0.55, 'offbeat_8ths'))\nprint(play(4))"]
    with FakeOpenAI(script, fallback="print(play(4))") as server:
        proc = subprocess.run(
            [RLMDJ, "dj=rlm", "model=local", f"model.api_base={server.base_url}", "prompt=baseline",
             "bars=16", "dj.sandbox.kind=local", "dj.max_iters=12", "tracking.enabled=false"],
            cwd=tmp_path, capture_output=True, text=True, timeout=300, env={**os.environ})
        history = json.dumps([r["messages"] for r in server.requests])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "positional arguments" not in history
    assert "TypeError" not in history
    assert "16/16 bars" in proc.stderr + proc.stdout
