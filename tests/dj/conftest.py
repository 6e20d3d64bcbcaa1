"""Fixtures of the DJ tests: the offline proxy scorer (sessions over the shared pack come from
tests/conftest.py)."""

from __future__ import annotations

import pytest

from rlmdj.scoring.proxy import ProxyScorer


@pytest.fixture(scope="session")
def proxy() -> ProxyScorer:
    return ProxyScorer()
