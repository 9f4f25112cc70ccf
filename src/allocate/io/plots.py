"""Static maps of a scenario or a plan (matplotlib), for reports and quick looks.

Like PyVRP's plotting helpers each function takes an optional ``ax`` and returns it, so maps can
sit in a caller's own figure. Without ``ax`` a bare :class:`matplotlib.figure.Figure` is made
(no pyplot, no GUI backend): saving a PNG works on a headless server.

Reading a plan map: sites are coloured by coverage (red 0 → green 1) and sized by need; a red ring
marks a site the plan lists as unmet; a black cross marks a node in a denied zone; unescorted
convoys are solid blue, escorted ones dashed orange; depots are dark squares.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from allocate.plan import Plan
    from allocate.scenario import Scenario

__all__ = ["plot_scenario", "plot_plan", "save_png"]

_LABEL_LIMIT = 60  # above this many nodes, ids clutter the map
_UNESCORTED = "#1f5fa8"
_ESCORTED = "#e07b00"


def _axes(ax: "Axes | None", scenario: "Scenario") -> "Axes":
    """The caller's axes, or a new headless Figure shaped like the map (plus room for colour bars)."""
    if ax is not None:
        return ax
    from matplotlib.figure import Figure

    lons = [n.lon for n in scenario.nodes] or [0.0]
    lats = [n.lat for n in scenario.nodes] or [0.0]
    mean_lat = sum(lats) / len(lats)
    width = (max(lons) - min(lons)) * max(math.cos(math.radians(mean_lat)), 0.05)
    height = max(lats) - min(lats)
    ratio = width / height if height > 0 and width > 0 else 1.0
    map_height = 7.5
    figsize = (min(max(map_height * ratio, 4.5), 12.0) + 3.0, map_height + 1.8)
    return Figure(figsize=figsize, layout="constrained").add_subplot()


def _frame(ax: Any, scenario: "Scenario") -> None:
    """Limits with a margin and an aspect that keeps a degree of longitude the right width."""
    lons = [n.lon for n in scenario.nodes] or [0.0]
    lats = [n.lat for n in scenario.nodes] or [0.0]
    span = max(max(lons) - min(lons), max(lats) - min(lats), 0.01)
    pad = 0.08 * span
    ax.set_xlim(min(lons) - pad, max(lons) + pad)
    ax.set_ylim(min(lats) - pad, max(lats) + pad)
    mean_lat = sum(lats) / len(lats)
    ax.set_aspect(1.0 / max(math.cos(math.radians(mean_lat)), 0.05), adjustable="box")
    ax.set_xlabel("longitude (°)")
    ax.set_ylabel("latitude (°)")
    ax.grid(True, linewidth=0.3, alpha=0.4)
    ax.ticklabel_format(useOffset=False)
    if len(scenario.nodes) > 1 and len({(n.lon, n.lat) for n in scenario.nodes}) == 1:
        ax.text(0.5, 0.04, f"all {len(scenario.nodes)} nodes share one position: are coordinates set?",
                transform=ax.transAxes, ha="center", fontsize=9, color="#c00000")


def _segments(scenario: "Scenario", pairs: list[tuple[str, str]]) -> list[list[tuple[float, float]]]:
    node = scenario.node
    return [[(node(a).lon, node(a).lat), (node(b).lon, node(b).lat)] for a, b in pairs]


def _draw_roads(ax: Any, scenario: "Scenario", *, by_risk: bool) -> Any:
    """Roads: coloured by risk (or light grey under a plan), closed ones dotted, denied ones faint."""
    from matplotlib.collections import LineCollection
    from matplotlib.colors import Normalize

    open_pairs, risks, closed_pairs, denied_pairs = [], [], [], []
    for road in scenario.roads:
        if road.closed:
            closed_pairs.append((road.a, road.b))
        elif scenario.is_denied(road.a) or scenario.is_denied(road.b):
            denied_pairs.append((road.a, road.b))
        else:
            open_pairs.append((road.a, road.b))
            risks.append(road.risk)
    mappable = None
    if open_pairs:
        if by_risk:
            vmax = max([scenario.policy.max_risk, *risks]) or 1.0
            lines = LineCollection(_segments(scenario, open_pairs), cmap="YlOrRd", norm=Normalize(0.0, vmax), linewidths=2.2, zorder=1)
            lines.set_array(risks)
            mappable = lines
        else:
            lines = LineCollection(_segments(scenario, open_pairs), colors="#b8b8b8", linewidths=1.2, zorder=1)
        ax.add_collection(lines)
    if closed_pairs:
        ax.add_collection(LineCollection(_segments(scenario, closed_pairs), colors="#555555", linewidths=1.2, linestyles=(0, (1, 2)), zorder=1))
    if denied_pairs:
        ax.add_collection(LineCollection(_segments(scenario, denied_pairs), colors="#999999", linewidths=1.0, linestyles="--", alpha=0.6, zorder=1))
    crowded = len(scenario.nodes) > _LABEL_LIMIT
    for road in scenario.roads:
        if road.max_weight_t is not None and not road.closed and not crowded:
            a, b = scenario.node(road.a), scenario.node(road.b)
            ax.annotate(f"≤{road.max_weight_t:g} t", ((a.lon + b.lon) / 2, (a.lat + b.lat) / 2), fontsize=7, color="#444444",
                        ha="center", va="center", bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "#888888", "lw": 0.5}, zorder=6)
    return mappable


def _scale(scenario: "Scenario") -> float:
    """Marker scale: full size up to ``_LABEL_LIMIT`` nodes, shrinking so a thousand sites stay apart."""
    n = len(scenario.nodes)
    return 1.0 if n <= _LABEL_LIMIT else max(0.12, math.sqrt(_LABEL_LIMIT / n))


def _site_sizes(scenario: "Scenario", sites: list[Any]) -> list[float]:
    weights = [scenario.weight_t(s.need) for s in sites]
    biggest = max(weights, default=0.0) or 1.0
    scale = _scale(scenario)
    return [scale * (40.0 + 260.0 * math.sqrt(w / biggest)) for w in weights]


def _draw_nodes(ax: Any, scenario: "Scenario", site_values: list[float], cmap: str, vmin: float, vmax: float, labels: bool | None) -> Any:
    sites = list(scenario.sites)
    depots = list(scenario.depots)
    junctions = [n for n in scenario.nodes if n.kind == "junction"]
    if junctions:
        ax.scatter([n.lon for n in junctions], [n.lat for n in junctions], s=12, c="#666666", zorder=3)
    mappable = None
    scale = _scale(scenario)
    if sites:
        mappable = ax.scatter([s.lon for s in sites], [s.lat for s in sites], s=_site_sizes(scenario, sites), c=site_values,
                              cmap=cmap, vmin=vmin, vmax=vmax, edgecolors="#333333", linewidths=0.6 * max(scale, 0.5), zorder=4)
    if depots:
        ax.scatter([d.lon for d in depots], [d.lat for d in depots], s=110 * max(scale, 0.6), marker="s", c="#17324d",
                   edgecolors="white", linewidths=1.0, zorder=5)
    denied = [n for n in scenario.nodes if scenario.is_denied(n.id)]
    if denied:
        ax.scatter([n.lon for n in denied], [n.lat for n in denied], s=140 * scale, marker="x", c="black",
                   linewidths=2.0 * max(scale, 0.5), zorder=7)
    if labels is None:
        labels = len(scenario.nodes) <= _LABEL_LIMIT
    if labels:
        for n in scenario.nodes:
            ax.annotate(n.id, (n.lon, n.lat), xytext=(5, 5), textcoords="offset points", fontsize=7, zorder=8)
    return mappable


def _legend(ax: Any, extra: list[Any]) -> None:
    from matplotlib.lines import Line2D

    handles = [
        Line2D([], [], marker="s", linestyle="", color="#17324d", markersize=8, label="depot"),
        Line2D([], [], marker="o", linestyle="", color="#888888", markeredgecolor="#333333", markersize=8, label="site (size: need)"),
        Line2D([], [], marker="x", linestyle="", color="black", markersize=8, markeredgewidth=2, label="in a denied zone"),
        Line2D([], [], color="#555555", linestyle=(0, (1, 2)), label="closed road"),
        Line2D([], [], color="#999999", linestyle="--", label="road into a denied zone"),
        *extra,
    ]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.08), ncol=3, fontsize=8, frameon=False)


def plot_scenario(scenario: "Scenario", ax: "Axes | None" = None, *, labels: bool | None = None) -> "Axes":
    """The scenario on a map: roads coloured by risk, sites coloured by severity and sized by need.

    Returns the axes (made on a new headless Figure when ``ax`` is None).
    """
    ax = _axes(ax, scenario)
    roads = _draw_roads(ax, scenario, by_risk=True)
    sites = _draw_nodes(ax, scenario, [s.severity for s in scenario.sites], "Purples", 0.0, 5.0, labels)
    fig = ax.figure
    if roads is not None:
        fig.colorbar(roads, ax=ax, shrink=0.6, label="road risk (unescorted, per traversal)")
    if sites is not None:
        fig.colorbar(sites, ax=ax, shrink=0.6, label="site severity (1-5)")
    _frame(ax, scenario)
    _legend(ax, [])
    ax.set_title(f"{scenario.name}\n{len(scenario.sites)} sites, {len(scenario.depots)} depots, {len(scenario.roads)} roads", fontsize=10)
    return ax


def plot_plan(scenario: "Scenario", plan: "Plan", ax: "Axes | None" = None, *, labels: bool | None = None) -> "Axes":
    """The plan on a map: sites by coverage, convoy paths (escorted ones dashed orange), unmet sites ringed red.

    Returns the axes (made on a new headless Figure when ``ax`` is None).
    """
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D

    from allocate.io.geojson import _check_plan_nodes
    from allocate.plan import site_coverage

    _check_plan_nodes(scenario, plan)
    ax = _axes(ax, scenario)
    _draw_roads(ax, scenario, by_risk=False)
    for escorted, colour, style, width in ((False, _UNESCORTED, "-", 2.0), (True, _ESCORTED, "--", 2.6)):
        segments = [
            seg
            for convoy in plan.convoys
            if (convoy.escort is not None) == escorted
            for seg in _segments(scenario, list(zip(convoy.path, convoy.path[1:])))
        ]
        if segments:
            ax.add_collection(LineCollection(segments, colors=colour, linewidths=width, linestyles=style, alpha=0.85, zorder=2))
    coverage = site_coverage(scenario, plan.convoys)
    sites = _draw_nodes(ax, scenario, [coverage[s.id].ratio for s in scenario.sites], "RdYlGn", 0.0, 1.0, labels)
    unmet = {c.site for c in plan.unmet}
    ringed = [s for s in scenario.sites if s.id in unmet]
    if ringed:
        ax.scatter([s.lon for s in ringed], [s.lat for s in ringed], s=[x * 1.9 for x in _site_sizes(scenario, ringed)],
                   facecolors="none", edgecolors="#c00000", linewidths=1.8, zorder=4)
    if sites is not None:
        ax.figure.colorbar(sites, ax=ax, shrink=0.6, label="site coverage (delivered / needed t)")
    _frame(ax, scenario)
    escorted_n = sum(1 for c in plan.convoys if c.escort is not None)
    _legend(ax, [
        Line2D([], [], color=_UNESCORTED, linewidth=2.0, label="convoy, unescorted"),
        Line2D([], [], color=_ESCORTED, linewidth=2.6, linestyle="--", label="convoy, escorted"),
        Line2D([], [], marker="o", linestyle="", markerfacecolor="none", markeredgecolor="#c00000", markeredgewidth=1.8, markersize=10, label="listed unmet"),
    ])
    wc = plan.metrics.get("weighted_coverage")
    cover = f", weighted coverage {wc:.0%}" if isinstance(wc, (int, float)) else ""
    ax.set_title(f"{scenario.name}\n{len(plan.convoys)} convoys ({escorted_n} escorted){cover}, {len(unmet)} sites unmet", fontsize=10)
    return ax


def save_png(ax_or_figure: Any, path: str | Path, *, dpi: int = 150) -> Path:
    """Save the figure holding ``ax_or_figure`` as a PNG (Agg, so no display is needed)."""
    figure = getattr(ax_or_figure, "figure", None) or ax_or_figure
    target = Path(path)
    figure.savefig(target, dpi=dpi, format="png")
    return target
