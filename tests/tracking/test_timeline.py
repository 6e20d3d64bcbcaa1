"""The arrangement timeline: every label inside the picture, without a second layout pass."""

from __future__ import annotations

import pytest

from rlmdj.tracking.record.timeline import plot_timeline, timeline_figure


def _history(roles: list[str], bars: int) -> list[dict]:
    return [{"layers": {r: {"gain": 0.5 + 0.1 * (i % 3), "pattern": f"pattern_{b // 4}"}
                        for i, r in enumerate(roles) if b >= i}} for b in range(bars)]


@pytest.mark.parametrize(("roles", "bars"), [
    (["kick"], 1),
    (["kick", "hihat", "bassline", "perc", "texture", "clap"], 32),
    (["kick", "a_very_long_role_name_for_a_layer", "hat"], 4),
    (["k", "h"], 256),
])
def test_every_label_lies_inside_the_figure(roles, bars) -> None:
    fig = timeline_figure(_history(roles, bars), roles=roles, title="reference · some-palette-name",
                          seconds_per_bar=1.875)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    ax, colorbar = fig.axes
    assert [t.get_text() for t in ax.get_yticklabels()] == roles
    for axes in (ax, colorbar):  # what each draws: ticks, labels, title, annotations
        extent = axes.get_tightbbox(renderer)
        assert box.x0 <= extent.x0 and extent.x1 <= box.x1 + 0.5, (axes, extent, box)
        assert box.y0 <= extent.y0 and extent.y1 <= box.y1 + 0.5, (axes, extent, box)
    # The plot and the colorbar do not overlap the role names or each other.
    assert ax.get_window_extent(renderer).x0 > max(t.get_window_extent(renderer).x1 for t in ax.get_yticklabels())
    assert colorbar.get_window_extent(renderer).x0 >= ax.get_window_extent(renderer).x1


def test_the_picture_is_written_where_asked(tmp_path) -> None:
    out = plot_timeline(_history(["kick"], 8), tmp_path / "nested" / "arrangement.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_kept_figure_redrawn_for_the_next_set_is_the_fresh_picture(tmp_path) -> None:
    """A worker redraws the figure it kept for the next set of the same roles and length: the PNG
    must be the one a fresh figure gives, with nothing left from the set before."""
    from rlmdj.tracking.record import timeline

    roles = ["kick", "hihat", "bassline"]
    first = _history(roles, 16)
    second = [{"layers": {"kick": {"gain": 0.9, "pattern": "four_on_floor"},
                          "bassline": {"gain": 0.3, "pattern": None, "muted": b % 2 == 0}}}
              for b in range(16)]
    timeline._KEPT.clear()
    plot_timeline(first, tmp_path / "first.png", roles=roles, title="a", seconds_per_bar=1.875)
    kept = plot_timeline(second, tmp_path / "kept.png", roles=roles, title="b", seconds_per_bar=1.875)
    assert len(timeline._KEPT) == 1  # the first set's figure was redrawn, not rebuilt
    timeline._KEPT.clear()
    fresh = plot_timeline(second, tmp_path / "fresh.png", roles=roles, title="b", seconds_per_bar=1.875)
    assert kept.read_bytes() == fresh.read_bytes()
    other = plot_timeline(second, tmp_path / "other.png", roles=["kick"], title="b")  # another layout
    assert other.read_bytes() != fresh.read_bytes() and len(timeline._KEPT) == 1


def test_a_layout_kept_ahead_is_the_one_the_first_set_redraws(tmp_path) -> None:
    """A sweep's worker draws its first job's figure blank while it waits: that job then redraws
    the kept figure, and its picture is the fresh one."""
    from rlmdj.tracking.record import timeline

    roles = ["kick", "hihat", "bassline"]
    history = _history(roles, 16)
    timeline._KEPT.clear()
    timeline.keep_layout(roles, 16)
    [kept] = timeline._KEPT.values()
    drawn = plot_timeline(history, tmp_path / "kept.png", roles=roles, title="a", seconds_per_bar=1.875)
    assert list(timeline._KEPT.values()) == [kept]
    timeline._KEPT.clear()
    fresh = plot_timeline(history, tmp_path / "fresh.png", roles=roles, title="a", seconds_per_bar=1.875)
    assert drawn.read_bytes() == fresh.read_bytes()
