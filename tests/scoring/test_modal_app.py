"""The Modal app (``aesthetics/app.py``) defines its scorer with the deploy-time settings read from
the environment. Nothing here talks to Modal: defining an app, an image and a class is local."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path
from typing import Any

import pytest

modal = pytest.importorskip("modal", reason="the Modal client is not installed (pip install 'rlmdj[modal]')")

APP_FILE = Path(__file__).resolve().parents[2] / "aesthetics" / "app.py"
_ENV = ("RLMDJ_MODAL_APP", "RLMDJ_MODAL_GPU", "RLMDJ_MODAL_SCALEDOWN_S", "RLMDJ_MODAL_MAX_CONTAINERS",
        "RLMDJ_MODAL_PRECISION", "RLMDJ_MODAL_PROXY_AUTH", "RLMDJ_MODAL_TOKEN_SECRET")
_names = itertools.count()


def _load_app(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> tuple[Any, dict[str, Any]]:
    """Import the app file as a fresh module with ``env``; what it passed to Modal's decorators."""
    for name in _ENV:
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    seen: dict[str, Any] = {}

    def recording(owner: Any, attr: str, key: str) -> None:
        original = getattr(owner, attr)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            seen[key] = (args, kwargs)
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, attr, wrapper)

    recording(modal.App, "cls", "cls")
    recording(modal.Image, "env", "image_env")
    recording(modal, "asgi_app", "asgi_app")
    recording(modal.Secret, "from_name", "secret")
    spec = importlib.util.spec_from_file_location(f"rlmdj_modal_app_{next(_names)}", APP_FILE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module, seen


def test_the_app_defines_its_scorer_with_the_deploy_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    module, seen = _load_app(monkeypatch, {
        "RLMDJ_MODAL_APP": "rlmdj-test-app", "RLMDJ_MODAL_GPU": "A10G", "RLMDJ_MODAL_SCALEDOWN_S": "45",
        "RLMDJ_MODAL_MAX_CONTAINERS": "5", "RLMDJ_MODAL_PRECISION": "bf16", "RLMDJ_MODAL_PROXY_AUTH": "1",
        "RLMDJ_MODAL_TOKEN_SECRET": "rlmdj-scorer",
    })
    assert isinstance(module.app, modal.App) and module.app.name == "rlmdj-test-app"
    assert isinstance(module.Scorer, modal.Cls)
    _, cls_kwargs = seen["cls"]
    assert cls_kwargs["gpu"] == "A10G"
    assert cls_kwargs["scaledown_window"] == 45
    assert cls_kwargs["max_containers"] == 5
    assert len(cls_kwargs["secrets"]) == 1 and seen["secret"][0] == ("rlmdj-scorer",)
    assert seen["asgi_app"][1] == {"requires_proxy_auth": True}
    # The container reads the precision from the image's environment.
    assert seen["image_env"][0][-1]["RLMDJ_MODAL_PRECISION"] == "bf16"
    # The class keeps its methods: the model loads on enter, the scoring API is its web endpoint.
    assert {"load", "web"} <= set(vars(module.Scorer._get_user_cls()))


def test_the_app_defaults_without_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    module, seen = _load_app(monkeypatch, {})
    assert module.app.name == "rlmdj-aesthetics"
    _, cls_kwargs = seen["cls"]
    assert (cls_kwargs["gpu"], cls_kwargs["scaledown_window"], cls_kwargs["max_containers"]) == ("T4", 120, 2)
    assert cls_kwargs["secrets"] == [] and "secret" not in seen
    assert seen["asgi_app"][1] == {"requires_proxy_auth": False}
    assert seen["image_env"][0][-1]["RLMDJ_MODAL_PRECISION"] == "fp32"
