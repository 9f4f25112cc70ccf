"""Maps: PNGs written headless, a caller's axes honoured, the plan's facts drawn."""

from __future__ import annotations

import pytest

from allocate.errors import PlanError
from allocate.io.plots import plot_plan, plot_scenario, save_png

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_plot_plan_writes_a_non_empty_png(tiny, tiny_plan, tmp_path):
    ax = plot_plan(tiny, tiny_plan)
    path = save_png(ax, tmp_path / "plan.png", dpi=60)
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 10_000
    assert "3 convoys (1 escorted)" in ax.get_title() and "2 sites unmet" in ax.get_title()


def test_plot_plan_draws_escorted_convoys_apart_and_marks_denied_and_unmet(tiny, tiny_plan):
    from matplotlib.collections import LineCollection, PathCollection

    ax = plot_plan(tiny, tiny_plan)
    convoy_lines = [c for c in ax.collections if isinstance(c, LineCollection) and c.get_linewidth()[0] >= 2.0]
    colours = {tuple(c.get_color()[0]) for c in convoy_lines}
    assert len(convoy_lines) == 2 and len(colours) == 2  # unescorted and escorted drawn differently
    styles = [c.get_linestyle()[0] for c in convoy_lines]
    assert styles[0] != styles[1]
    crosses = [c for c in ax.collections if isinstance(c, PathCollection) and len(c.get_offsets()) == 1
               and tuple(c.get_offsets()[0]) == (tiny.node("S11").lon, tiny.node("S11").lat)]
    assert crosses, "the node of the denied enclave is marked"
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert {"convoy, escorted", "convoy, unescorted", "in a denied zone", "listed unmet"} <= set(legend)


def test_plots_honour_a_given_ax_and_plot_scenario(tiny, tiny_plan, tmp_path):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4))
    left, right = fig.subplots(1, 2)
    assert plot_scenario(tiny, ax=left) is left
    assert plot_plan(tiny, tiny_plan, ax=right, labels=False) is right
    assert right.texts == [] or all(t.get_text().startswith("≤") for t in right.texts)  # no id labels
    path = save_png(fig, tmp_path / "both.png", dpi=50)
    assert path.read_bytes()[:8] == PNG_MAGIC


def test_plot_of_a_plan_for_another_scenario_is_refused(tiny, plan00):
    with pytest.raises(PlanError):
        plot_plan(tiny, plan00)


def test_png_is_written_headless_without_pyplot(monkeypatch, tmp_path, vector_scenario, plan00):
    """No display and no pyplot: the maps draw on a bare Figure, which saves through Agg."""
    import inspect

    import allocate.io.plots as plots

    for name in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND"):
        monkeypatch.delenv(name, raising=False)
    assert "pyplot" not in inspect.getsource(plots).replace("no pyplot", "")
    path = save_png(plot_plan(vector_scenario, plan00), tmp_path / "headless.png", dpi=40)
    assert path.read_bytes()[:8] == PNG_MAGIC
