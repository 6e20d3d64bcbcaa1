"""A setting is defined once, in the schema: components built from a composed config carry the
schema's values, with no second set of defaults in between.

Components take their schema dataclass through :func:`rlmdj.config.bind`; a static scan of
``src/`` finds any schema default written a second time (a parameter, a field, a constant, a
``.get(key, default)`` on a config node), so the rule holds for code written later too."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from rlmdj.analysis.from_store import compare_settings
from rlmdj.config import Config, bind
from rlmdj.config.core import PaletteConfig, SamplesConfig
from rlmdj.config.dj import DJConfig, GuardrailsConfig, ModelConfig, SandboxConfig
from rlmdj.config.ears import EarsConfig
from rlmdj.config.experiment import CompareConfig, ScreenConfig, SequentialSettings
from rlmdj.config.scorer import ScorerConfig, ServeConfig
from rlmdj.dj.ears.settings import ears_from_config, ears_settings
from rlmdj.dj.rlm.driver import RLMSettings
from rlmdj.dj.tools.feedback import CritiqueSettings
from rlmdj.dj.tools.guardrails import critique_from_config, guardrails_from_config
from rlmdj.errors import ParameterError
from rlmdj.scoring.factory import scorer_config


def test_rlm_settings_are_the_schema_defaults(compose_cfg):
    s = RLMSettings.from_config(compose_cfg("dj=rlm", "model=openai", "prompt=baseline"))
    assert s.sandbox == dataclasses.replace(SandboxConfig(), deno_dir=s.sandbox.deno_dir)
    assert (s.max_iters, s.max_llm_calls, s.max_output_chars) == (
        DJConfig.max_iters, DJConfig.max_llm_calls, DJConfig.max_output_chars)
    assert (s.retries, s.backoff_max_s) == (ModelConfig.retries, ModelConfig.backoff_max_s)
    assert s.guardrails == GuardrailsConfig() and s.critique == CritiqueSettings()


def test_overrides_reach_the_components(compose_cfg):
    cfg = compose_cfg("dj=rlm", "model=ollama", "prompt=baseline", "dj.sandbox.max_restarts=2",
                      "guardrails.critique_every=4", "guardrails.gain_caps={texture: 0.4}")
    s = RLMSettings.from_config(cfg)
    assert s.sandbox.max_restarts == 2 and s.critique.every == 4
    assert guardrails_from_config(cfg.guardrails).cap("texture") == 0.4
    assert critique_from_config(compose_cfg("guardrails=off").guardrails) is None


def test_scorer_config_from_any_shape_takes_schema_defaults():
    c = scorer_config({"name": "http", "url": "http://x:1"})
    assert c.timeout_s == ScorerConfig.timeout_s and c.retries == ScorerConfig.retries
    with pytest.raises(ParameterError, match="timeout"):
        scorer_config({"name": "http", "timeoutt_s": 3})


# ------------------------------------------------------------------------ bind(): one way in
def test_bind_takes_a_node_a_dict_or_nothing(compose_cfg):
    cfg = compose_cfg("ears=on", "ears.max_listens=3")
    assert bind(cfg.ears, EarsConfig, "ears") == EarsConfig(name="on", enabled=True, max_listens=3)
    assert bind({"max_moves": 2}, EarsConfig, "ears") == EarsConfig(max_moves=2)
    assert bind(None, EarsConfig, "ears") == EarsConfig()
    # A schema instance is converted too, so its interpolations come back resolved.
    assert "${" not in bind(ScorerConfig(cache=True), ScorerConfig, "scorer").cache_dir


@pytest.mark.parametrize(("node", "message"), [
    ({"max_listens": "many"}, r"^ears\.max_listens: Value 'many' of type 'str' could not be converted to Integer$"),
    ({"max_listen": 3}, r"^ears\.max_listen: Key 'max_listen' not in 'EarsConfig'$"),
    ({"max_listens": -1}, r"^ears\.max_listens must be a whole number >= 0, got -1$"),
    ({"max_chars": 50}, r"^ears\.max_chars must be >= 200, got 50$"),
    ([1, 2], r"^ears must be a mapping of settings, got list$"),
])
def test_bind_errors_are_one_line_naming_the_full_key(node, message):
    with pytest.raises(ParameterError, match=message):
        bind(node, EarsConfig, "ears")


def test_bind_resolves_a_node_in_its_own_tree(compose_cfg, monkeypatch):
    cfg = compose_cfg("experiment=screen_palettes")
    assert bind(cfg.experiment.screen, ScreenConfig, "experiment.screen").curated_dir == \
        str(cfg.experiment.screen.curated_dir)  # ${paths.palettes_dir}/curated, from the root
    monkeypatch.delenv("RLMDJ_TEST_NO_SUCH_VAR", raising=False)
    cfg.scorer.url = "${oc.env:RLMDJ_TEST_NO_SUCH_VAR}"
    with pytest.raises(ParameterError, match=r"^scorer\.url: .*RLMDJ_TEST_NO_SUCH_VAR"):
        bind(cfg.scorer, ScorerConfig, "scorer")


def test_components_take_the_bound_schema(compose_cfg):
    cfg = compose_cfg("dj=greedy", "ears=on", "ears.max_auditions=2", "render.normalize_dbfs=-3",
                      "experiment.compare.delta=0.5")
    assert ears_settings(cfg) == EarsConfig(name="on", enabled=True, max_auditions=2)
    ears = ears_from_config(cfg, lambda: object())
    assert ears is not None and ears.settings.max_auditions == 2 and ears.normalize_dbfs == -3.0
    assert ears_from_config(compose_cfg("ears=off"), None) is None
    assert compare_settings(cfg.experiment.compare) == CompareConfig(delta=0.5)
    with pytest.raises(ParameterError, match=r"^experiment\.compare\.alpha must be between 0 and 1"):
        compare_settings({"alpha": 2.0})


def test_plugins_take_their_settings_from_their_config_node():
    from hydra_plugins.rlmdj_ray_launcher.ray_launcher import RayLauncher, RayLauncherConf
    from hydra_plugins.rlmdj_sequential.sequential_sweeper import SequentialSweeper

    ray = RayLauncher()
    conf = RayLauncherConf()
    assert (ray.remote, ray.forward_env, ray.cancel_grace_s) == (conf.remote, conf.forward_env, conf.cancel_grace_s)
    assert RayLauncher(remote={"num_gpus": 1}).remote == {"num_gpus": 1}  # as given, not merged
    assert SequentialSweeper().settings == SequentialSettings()
    assert SequentialSweeper(round_size=3, params={"dj": "a,b"}).settings.round_size == 3
    from hydra_plugins.rlmdj_search.search_sweeper import SearchSweeper
    from rlmdj.experiments.sweep.search import SearchSettings

    assert SearchSweeper().settings == SearchSettings()
    search = SearchSweeper(n_trials=3, confirmation={"max_replicas": 8}, params={"bpm": "interval(120,136)"})
    assert (search.settings.n_trials, search.settings.confirmation.max_replicas) == (3, 8)


def test_scoring_server_modules_need_neither_omegaconf_nor_hydra():
    """The Modal app's image has neither: what it imports reads its defaults from the schema
    modules, which import only the standard library."""
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        top = name.split('.')[0]\n"
        "        if top in ('omegaconf', 'hydra'):\n"
        "            raise ModuleNotFoundError(f'No module named {top!r}', name=top)\n"
        "sys.meta_path.insert(0, Block())\n"
        "import rlmdj.scoring.audiobox, rlmdj.scoring.serving.service, rlmdj.scoring.serving.server\n"
        "from rlmdj.scoring.base import DEFAULT_WEIGHTS\n"
        "from rlmdj.scoring.serving.uploads import UploadLimits\n"
        "print(dict(DEFAULT_WEIGHTS), UploadLimits().max_channels)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split()[-1] == str(ServeConfig.max_channels)


def test_audio_defaults_agree_with_the_schema():
    """The audio layer imports no config (tests/test_imports.py), so the few defaults it shares
    with the schema are allow-listed below and kept equal here."""
    from rlmdj.audio.grid import Grid
    from rlmdj.audio.pack import store
    from rlmdj.audio.sample_info import DEFAULT_ROLES
    from rlmdj.audio.samples import build_index

    assert Grid().bpm == Config.bpm
    assert list(DEFAULT_ROLES) == PaletteConfig().roles
    index = inspect.signature(build_index).parameters
    assert (index["pack_seed"].default, index["variants_per_role"].default) == (
        SamplesConfig.pack_seed, SamplesConfig.variants_per_role)
    for fn in (store.sample_id, store.generate_pack, store.ensure_pack):
        assert inspect.signature(fn).parameters["variants_per_role"].default == SamplesConfig.variants_per_role


# -------------------------------------------------------- the static scan: no second defaults
SRC = Path(__file__).resolve().parents[2] / "src"
_NO_VALUE = object()
_CONFIG_NAMES = ("cfg", "config", "conf")

# Hits that are not repeats, each with the reason. A key is "<path under src>: <what>".
ALLOWED = {
    "rlmdj/audio/grid.py: field Grid.bpm":
        "audio imports no config; test_audio_defaults_agree_with_the_schema keeps it equal",
    "rlmdj/audio/samples.py: parameter pack_seed":
        "audio imports no config; test_audio_defaults_agree_with_the_schema keeps it equal",
    "rlmdj/audio/samples.py: parameter variants_per_role":
        "audio imports no config; test_audio_defaults_agree_with_the_schema keeps it equal",
    "rlmdj/audio/pack/store.py: parameter variants_per_role":
        "audio imports no config; test_audio_defaults_agree_with_the_schema keeps it equal",
    "rlmdj/audio/sample_info.py: constant DEFAULT_ROLES":
        "audio imports no config; test_audio_defaults_agree_with_the_schema keeps it equal",
    "rlmdj/audio/pack/tonal.py: parameter bpm":
        "the tempo the built-in pack's loops are rendered at, a property of the pack, not the set's",
    "rlmdj/experiments/jobs/rerun.py: .get on recorded.config":
        "a recorded run's parameters read back from the store, a plain dict, not a composed node",
}


def _schema_classes() -> list[type]:
    """Every dataclass of the schema: rlmdj.config's modules and the Hydra plugins' config nodes."""
    import rlmdj.config as package

    modules = [importlib.import_module(f"rlmdj.config.{m.name}") for m in pkgutil.iter_modules(package.__path__)]
    for name in ("hydra_plugins.rlmdj_ray_launcher.ray_launcher", "hydra_plugins.rlmdj_sequential.sequential_sweeper",
                 "hydra_plugins.rlmdj_submitit_launcher.submitit_launcher",
                 "hydra_plugins.rlmdj_search.search_sweeper"):
        modules.append(importlib.import_module(name))
    return [obj for mod in modules for obj in vars(mod).values()
            if isinstance(obj, type) and dataclasses.is_dataclass(obj) and obj.__module__ == mod.__name__]


def _default(f: dataclasses.Field) -> Any:
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return _NO_VALUE


def _schema_defaults() -> dict[str, list[tuple[str, Any]]]:
    """Field name -> [(``Class.field``, default)] over the fields the schema classes declare."""
    out: dict[str, list[tuple[str, Any]]] = {}
    for cls in _schema_classes():
        own = cls.__dict__.get("__annotations__", {})
        for f in dataclasses.fields(cls):
            value = _default(f)
            if f.name in own and value is not _NO_VALUE and not dataclasses.is_dataclass(value):
                out.setdefault(f.name, []).append((f"{cls.__name__}.{f.name}", value))
    return out


def _key_default(key: str) -> Any:
    """The schema default of a dotted key of the composed config (``experiment.compare.delta``)."""
    node: Any = Config
    for part in key.split("."):
        found = {f.name: f for f in dataclasses.fields(node)} if dataclasses.is_dataclass(node) else {}
        if part not in found:
            return _NO_VALUE
        node = _default(found[part])
    return node


def _literal(node: ast.AST | None) -> Any:
    try:
        return ast.literal_eval(node) if node is not None else _NO_VALUE
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _NO_VALUE


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    a, b = (list(v) if isinstance(v, tuple) else v for v in (a, b))
    return type(a) is type(b) and a == b


def _telling(value: Any) -> bool:
    """A value worth matching: not None, a bool, an empty string or an empty container."""
    return not (value is None or isinstance(value, bool) or value in ("", [], {}, ()))


def _chain(node: ast.AST) -> list[str]:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return parts[::-1]


def _config_rooted(node: ast.AST, names: set[str]) -> bool:
    parts = _chain(node)
    if parts == ["HydraConfig"]:  # Hydra's accessor for the running job, not a config node
        return False
    return bool(parts) and (parts[0] in names or any(p.lower().endswith(_CONFIG_NAMES) or p == "node"
                                                     for p in parts))


class _Scan(ast.NodeVisitor):
    """What one module writes that the schema already says (see :func:`scan`)."""

    def __init__(self, rel: str, defaults: dict[str, list[tuple[str, Any]]], schema_names: set[str]) -> None:
        self.rel, self.defaults, self.schema_names = rel, defaults, schema_names
        self.hits: dict[str, int] = {}
        self.config_vars: set[str] = set()

    def hit(self, what: str, node: ast.AST) -> None:
        self.hits.setdefault(f"{self.rel}: {what}", node.lineno)

    def repeats(self, name: str, value_node: ast.AST | None) -> bool:
        value = _literal(value_node)
        return value is not _NO_VALUE and _telling(value) and any(
            _same(value, d) for _, d in self.defaults.get(name, ()))

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        if node.name in self.schema_names:
            return  # the schema itself
        for stmt in node.body:
            if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) \
                    and self.repeats(stmt.target.id, stmt.value):
                self.hit(f"field {node.name}.{stmt.target.id}", stmt)
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        a = node.args
        positional = a.posonlyargs + a.args
        pairs = [*zip(positional[len(positional) - len(a.defaults):], a.defaults, strict=True),
                 *zip(a.kwonlyargs, a.kw_defaults, strict=True)]
        for arg, default in pairs:
            if self.repeats(arg.arg, default):
                self.hit(f"parameter {arg.arg}", node)
        outer = self.config_vars
        self.config_vars = set(outer)
        self.generic_visit(node)
        self.config_vars = outer

    visit_AsyncFunctionDef = visit_Lambda = visit_FunctionDef

    def visit_Assign(self, node: ast.Assign) -> None:
        value = node.value
        from_config = _config_rooted(value, self.config_vars) or (
            isinstance(value, ast.Call) and _chain(value.func) == ["OmegaConf", "select"])
        for target in node.targets:
            if isinstance(target, ast.Name) and from_config:
                self.config_vars.add(target.id)
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr == "get" and _config_rooted(func.value, self.config_vars):
            self.hit(f".get on {ast.unparse(func.value)}", node)
        if _chain(func) == ["OmegaConf", "select"] and len(node.args) > 1:
            key = _literal(node.args[1])
            default = _literal(next((k.value for k in node.keywords if k.arg == "default"), None))
            # default=None is select's own answer for an absent key, not a value of the setting.
            if isinstance(key, str) and default is not _NO_VALUE and default is not None:
                schema = _key_default(key)
                if schema is not _NO_VALUE and _same(default, schema):
                    self.hit(f"select {key} with the schema's default", node)
        for keyword in node.keywords:
            if keyword.arg and self.repeats(keyword.arg, keyword.value):
                self.hit(f"argument {keyword.arg}", node)
        self.generic_visit(node)

    def visit_Module(self, node: ast.Module) -> None:
        for stmt in node.body:  # module constants: DEFAULT_WEIGHTS = {...}, _READ_TIMEOUT_S = 15.0
            targets = stmt.targets if isinstance(stmt, ast.Assign) else \
                [stmt.target] if isinstance(stmt, ast.AnnAssign) else []
            value = _literal(getattr(stmt, "value", None))
            if value is _NO_VALUE or not _telling(value):
                continue
            for target in targets:
                if not isinstance(target, ast.Name):
                    continue
                stem = target.id.lower().lstrip("_").removeprefix("default_")
                for field_name, found in self.defaults.items():
                    named = field_name.endswith(stem) if stem else False
                    if any(_same(value, d) for _, d in found) and (named or isinstance(value, dict | list)):
                        self.hit(f"constant {target.id}", stmt)
        self.generic_visit(node)


def scan(path: Path, rel: str, defaults: dict[str, list[tuple[str, Any]]], schema_names: set[str]) -> dict[str, int]:
    """Schema defaults written again in ``path``: a parameter, field or keyword argument named like
    a schema field with its default as a literal, a module constant holding one, ``.get(...)`` on
    a config node (or a name bound to one) and ``OmegaConf.select(..., default=<the schema's>)``
    (other than None, which is what select answers for an absent key anyway)."""
    visitor = _Scan(rel, defaults, schema_names)
    visitor.visit(ast.parse(path.read_text(), str(path)))
    return visitor.hits


def _scan_src() -> dict[str, int]:
    defaults = _schema_defaults()
    schema_names = {cls.__name__ for cls in _schema_classes()}
    hits: dict[str, int] = {}
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith("rlmdj/config/"):
            continue  # the schema modules: where defaults belong
        hits.update(scan(path, rel, defaults, schema_names))
    return hits


def test_no_setting_is_written_twice():
    hits = _scan_src()
    found = sorted(f"{key} (line {line})" for key, line in hits.items() if key not in ALLOWED)
    assert not found, ("defaults repeated outside the schema (read them off the schema dataclass, or "
                       "bind the node with rlmdj.config.bind):\n" + "\n".join(found))
    stale = sorted(set(ALLOWED) - set(hits))
    assert not stale, f"allow-list entries that match nothing any more: {stale}"


_REPEATS = '''
from omegaconf import OmegaConf
DEFAULT_WEIGHTS = {"CE": 0.60, "CU": 0.05, "PC": 0.05, "PQ": 0.30}
_READ_TIMEOUT_S = 15.0

class EarsSettings:
    max_listens: int = 16

class Client:
    def __init__(self, url, *, timeout_s: float = 120.0, retries=3):
        ...

def study(config):
    delta = config.experiment.compare.get("delta", 0.3)
    s = config.experiment.screen
    seed = s.get("seed")
    on = OmegaConf.select(config, "ears.enabled", default=False)
    compact(text, max_chars=600)
'''

_CLEAN = '''
from omegaconf import OmegaConf
from rlmdj.config.scorer import ScorerConfig

class Client:
    def __init__(self, url, *, timeout_s: float = ScorerConfig.timeout_s, retries: int = 0, label=None):
        self.headers = {}.get("x", 1)

def job(cfg, hydra):
    uri = OmegaConf.select(cfg, "tracking.uri", default="")
    prompt = OmegaConf.select(cfg, "prompt.path", default=None)
    live = HydraConfig.get()
    return uri, prompt, live, {"ok": 1}.get("ok", 2)
'''


def test_the_scan_finds_each_kind_of_repeat(tmp_path):
    defaults = _schema_defaults()
    bad = tmp_path / "bad.py"
    bad.write_text(_REPEATS)
    assert set(scan(bad, "bad.py", defaults, {"EarsConfig"})) == {
        "bad.py: constant DEFAULT_WEIGHTS", "bad.py: constant _READ_TIMEOUT_S",
        "bad.py: field EarsSettings.max_listens", "bad.py: parameter timeout_s", "bad.py: parameter retries",
        "bad.py: .get on config.experiment.compare", "bad.py: .get on s",
        "bad.py: select ears.enabled with the schema's default", "bad.py: argument max_chars",
    }
    clean = tmp_path / "clean.py"
    clean.write_text(_CLEAN)
    assert scan(clean, "clean.py", defaults, set()) == {}
