"""Schemas of the DJ-side groups: dj driver, model, prompt, guardrails."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

__all__ = ["DJConfig", "ModelConfig", "PromptConfig", "GuardrailsConfig"]


@dataclass
class DJConfig:
    """Which driver plays the set (``reference`` is deterministic and needs no LLM)."""

    driver: str = "reference"


@dataclass
class ModelConfig:
    """The LLM behind the RLM driver, as a LiteLLM model id (unused by offline drivers)."""

    name: str = "none"
    model: Optional[str] = None


@dataclass
class PromptConfig:
    """DJ instructions: a file under prompts/ chosen by ``prompt=<name>``."""

    name: str = "none"
    path: Optional[str] = None


@dataclass
class GuardrailsConfig:
    """Tool-layer guardrails; each switch can be ablated from the command line."""

    name: str = "default"
