"""How much the RLM DJ sends the model: request sizes by scaffold and history, per set length.

Plays scripted sets through the real driver, DSPy's real LM client and HTTP, against the
scripted OpenAI-compatible server of the tests (``tests/support/fake_openai.py``), in the Deno
sandbox: a 32-bar set in 8-bar blocks (5 main requests) and a 128-bar set in 4-bar steps (32
main requests), each under ``dj.scaffold=dspy dj.history=full`` (DSPy's stock RLM, the "before")
and the defaults (``lean``, ``window``). Prints, per set and condition, the main requests'
count, the first, total and largest request in characters of message text (what the model
reads), the system message, and the prompt tokens the server reported; then the targets.

    python benchmarks/bench_rlm_prompt.py [extra overrides, e.g. dj.history_window=2]
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "support"))

from fake_openai import CRITIC_MARKER, FakeOpenAI  # noqa: E402

# The 32-bar set: a look around, then four 8-bar blocks.
SET_32 = [
    "print(status())",
    "print(add('kick', 0.92, 'four_on_floor'))\nprint(add('hihat', 0.55, 'offbeat_8ths'))\nprint(play(8))",
    "print(add('bassline', 0.65))\nprint(add('perc', 0.42, 'syncopated_a'))\nprint(play(8))",
    "print(fader('hihat', 0.6))\nprint(play(8))",
    "print(remove('perc'))\nprint(play(8))",
]
# The 128-bar set: 4-bar steps, one or two moves before each.
_MOVES = [
    "print(add('kick', 0.92, 'four_on_floor'))",
    "print(add('hihat', 0.55, 'offbeat_8ths'))",
    "print(add('bassline', 0.65))",
    "print(add('perc', 0.42, 'syncopated_a'))",
    "print(fader('hihat', 0.6))",
    "print(pattern('perc', 'gallop'))",
    "print(fader('bassline', 0.7))",
    "print(status())",
]
SET_128 = [f"{_MOVES[i % len(_MOVES)]}\nprint(play(4))" for i in range(32)]

CONDITIONS = {"before (dspy, full)": ["dj.scaffold=dspy", "dj.history=full"], "after (defaults)": []}


def play(script: list[str], bars: int, overrides: list[str], root: Path) -> dict[str, float]:
    """Play ``script`` as a ``bars``-bar set; the main requests' figures."""
    from hydra import compose, initialize_config_dir

    from rlmdj.audio.grid import Grid
    from rlmdj.config import register_configs
    from rlmdj.dj.session import Session
    from rlmdj.experiments.assemble import load_index, make_driver, resolve_palette
    from rlmdj.resources import bundled_dir

    register_configs()
    with FakeOpenAI(script) as server:
        with initialize_config_dir(config_dir=str(bundled_dir("conf")), version_base="1.3"):
            cfg = compose("config", overrides=[
                f"paths.root_dir={root}", "progress=false", "dj=rlm", "model=local", "prompt=baseline",
                f"model.api_base={server.base_url}", f"bars={bars}", *overrides])
        index = load_index(cfg)
        session = Session(index=index, palette=resolve_palette(cfg, index), grid=Grid(float(cfg.bpm)),
                          max_bars=bars)
        driver = make_driver(cfg)
        driver.perform(session)
        requests = [r["messages"] for r in server.requests if CRITIC_MARKER not in str(r["messages"])]
    sizes = [sum(len(str(m.get("content", ""))) for m in msgs) for msgs in requests]
    calls = [c for c in driver.transcript.calls if c["lm"] == "main" and c["error"] is None]
    tokens = [int((c["usage"] or {}).get("prompt_tokens") or 0) for c in calls]
    return {"requests": len(sizes), "first": sizes[0], "total": sum(sizes), "largest": max(sizes),
            "system": len(str(requests[0][0]["content"])), "prompt_tokens": sum(tokens),
            "largest_tokens": max(tokens, default=0)}


def main(extra: list[str]) -> None:
    from rlmdj.dj.rlm.scaffold import lean_instructions

    print(f"lean scaffold: {len(lean_instructions(['palette', 'set_plan'], [], sub_lm_calls=None))} characters "
          "(without the tool list)")
    rows: dict[tuple[int, str], dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="rlmdj-bench-prompt-") as tmp:
        for bars, script in ((32, SET_32), (128, SET_128)):
            for name, overrides in CONDITIONS.items():
                rows[bars, name] = play(script, bars, [*overrides, *extra], Path(tmp))
    head = f"{'set':<9}{'condition':<22}{'requests':>9}{'first':>8}{'total':>10}{'largest':>9}{'system':>8}" \
           f"{'prompt tok':>12}{'largest tok':>12}"
    print(head)
    for (bars, name), r in rows.items():
        print(f"{bars:>3} bars  {name:<22}{r['requests']:>9}{r['first']:>8,}{r['total']:>10,}{r['largest']:>9,}"
              f"{r['system']:>8,}{r['prompt_tokens']:>12,}{r['largest_tokens']:>12,}")
    before, after = list(CONDITIONS)
    b32, a32, a128 = rows[32, before], rows[32, after], rows[128, after]
    checks = [
        ("32 bars: first request <= 6,000", a32["first"], a32["first"] <= 6000),
        ("32 bars: total <= 65% of before", f"{a32['total'] / b32['total']:.0%}", a32["total"] <= 0.65 * b32["total"]),
        ("system message < 4,000", a32["system"], a32["system"] < 4000),
        ("128 bars: largest <= 12,000", a128["largest"], a128["largest"] <= 12000),
        ("128 bars: largest <= 1.4x the 32-bar largest", f"{a128['largest'] / a32['largest']:.2f}x",
         a128["largest"] <= 1.4 * a32["largest"]),
        ("128 bars: total vs before", f"{a128['total'] / rows[128, before]['total']:.0%}", True),
    ]
    for what, value, ok in checks:
        print(f"{'ok  ' if ok else 'MISS'} {what}: {value}")


if __name__ == "__main__":
    main(sys.argv[1:])
