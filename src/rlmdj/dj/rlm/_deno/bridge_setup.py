# Runs inside the Pyodide sandbox once per sandbox, before the model's first code.
# DSPy's tool wrappers send arguments as json.dumps({"kwargs": {...}}); the Deno side parses
# that with JSON.parse, which rejects NaN/Infinity (the call then fails with a bridge error and
# the step's printed output is lost) and turns integers beyond the float range into null. Here
# such numbers are sent as text ("nan", "inf", "-inf", "1e+400"), so they reach rlmdj's
# argument validation and come back as the documented {"ok": false, "error", "hint"} result.
import json as _rlmdj_json
import math as _rlmdj_math


def _rlmdj_safe(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, float) and not _rlmdj_math.isfinite(value):
        return "nan" if value != value else ("inf" if value > 0 else "-inf")
    if isinstance(value, int) and abs(value) > 2**53:
        try:
            return float(value)
        except OverflowError:
            exponent = int(value.bit_length() * 0.30103)
            return ("-" if value < 0 else "") + f"1e+{exponent}"
    if isinstance(value, dict):
        return {k: _rlmdj_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rlmdj_safe(v) for v in value]
    return value


if not getattr(_rlmdj_json, "_rlmdj_bridge", False):
    _rlmdj_dumps = _rlmdj_json.dumps

    def _rlmdj_bridge_dumps(obj, *args, **kwargs):
        if type(obj) is dict and list(obj) == ["kwargs"]:
            obj = {"kwargs": _rlmdj_safe(obj["kwargs"])}
        return _rlmdj_dumps(obj, *args, **kwargs)

    _rlmdj_json.dumps = _rlmdj_bridge_dumps
    _rlmdj_json._rlmdj_bridge = True
