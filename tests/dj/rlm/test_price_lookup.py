"""Looking up a model's price says nothing on the terminal, known model or not."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
from rlmdj.dj.rlm.budget import token_prices
import litellm
print("PRICES", token_prices("my-local-model"), token_prices("hosted_vllm/x"), token_prices("gpt-4o-mini") is not None)
print("LOUD", litellm.suppress_debug_info)
"""


def test_an_unknown_model_s_price_is_none_and_silent() -> None:
    proc = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120,
                          env={"LITELLM_LOCAL_MODEL_COST_MAP": "True", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "PRICES None None True" in proc.stdout
    assert "LOUD False" in proc.stdout  # LiteLLM's own setting is left as it was
    assert "Provider List" not in proc.stdout + proc.stderr
