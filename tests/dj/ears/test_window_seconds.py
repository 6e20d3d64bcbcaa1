"""The ears read a scorer's window length through a declared protocol, through its wrappers."""

from __future__ import annotations

from typing import Any

from rlmdj.dj.ears.measure import WindowedEarScorer, WrappedEarScorer, window_seconds
from rlmdj.scoring.cache import CachedScorer, ScoreCache
from rlmdj.scoring.proxy import ProxyScorer


class Short(WindowedEarScorer):
    """Declares the capability by subclassing the protocol."""

    name = "short"
    window_s = 2.5


class Wrapper:
    """A wrapper that only has the member (no protocol in its bases)."""

    name = "wrapper"

    def __init__(self, inner: Any) -> None:
        self.inner = inner


class Endless:
    """Every attribute is another wrapper (a mock-like object): the walk still ends."""

    def __getattr__(self, name: str) -> Any:
        return Endless()


def test_a_scorer_that_says_its_window_is_used_both_ways(tmp_path):
    assert window_seconds(Short()) == 2.5
    assert window_seconds(ProxyScorer(window_s=4.0)) == 4.0  # conforms without declaring
    assert window_seconds(Wrapper(Short())) == 2.5
    assert window_seconds(CachedScorer(ProxyScorer(window_s=3.0), ScoreCache(tmp_path))) == 3.0
    assert isinstance(CachedScorer(ProxyScorer(), ScoreCache(tmp_path)), WrappedEarScorer)


def test_a_scorer_that_does_not_say_gets_the_default():
    class Silent:
        name = "silent"

    class Bad:
        window_s = "long"

    assert window_seconds(Silent()) == 10.0
    assert window_seconds(Wrapper(Silent())) == 10.0
    assert window_seconds(Bad()) == 10.0
    assert window_seconds(None) == 10.0
    assert window_seconds(Endless()) == 10.0
