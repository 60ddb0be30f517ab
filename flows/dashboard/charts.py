"""Plotly figure specs for the pages, as JSON strings.

Figures are built with plotly's Python objects (which validate every property) and drawn
in the browser by the plotly.min.js that ships inside the plotly wheel. The JSON goes into
an HTML attribute, which the template engine escapes, so no label can end a script.
Only aggregates go into charts: never document text.
"""

from __future__ import annotations

from functools import cache

PALETTE = ["#3b6ea8", "#d9822b", "#4c9a5b", "#b94a48", "#7a5ea8", "#8c8c8c", "#c9a227"]


@cache
def _go():
    import plotly.graph_objects as go  # ~0.5 s to import: only when a chart is drawn

    return go


def warm_up() -> None:
    _go()


def _layout(title: str, height: int = 320, **extra) -> dict:
    return {
        "title": {"text": title, "font": {"size": 14}},
        "height": height,
        "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
        "template": "plotly_white",
        "colorway": PALETTE,
        **extra,
    }


def _json(fig) -> str:
    return fig.to_json(validate=False, pretty=False)


def funnel(stages: list[str], counts: list[int], title: str) -> str:
    go = _go()
    fig = go.Figure(
        go.Funnel(y=stages, x=counts, textinfo="value+percent initial", marker_color=PALETTE[0])
    )
    fig.update_layout(**_layout(title, height=60 + 48 * len(stages)))
    return _json(fig)


def bars(series: dict[str, tuple[list, list]], title: str, x_title="", y_title="", **kw) -> str:
    """One bar trace per name: {name: (xs, ys)}; `barmode` etc. pass through."""
    go = _go()
    fig = go.Figure([go.Bar(name=n, x=xs, y=ys) for n, (xs, ys) in series.items()])
    fig.update_layout(
        **_layout(title, **kw), xaxis_title=x_title, yaxis_title=y_title, showlegend=len(series) > 1
    )
    return _json(fig)


def histogram_with_cut(
    series: dict[str, tuple[list, list]], width: float, cut: float | None, title: str
) -> str:
    """Pre-binned counts per source ({source: (bin starts, counts)}), stacked, with the
    selection cut as a vertical line."""
    go = _go()
    fig = go.Figure(
        [
            go.Bar(name=n, x=[x + width / 2 for x in xs], y=ys, width=width)
            for n, (xs, ys) in series.items()
        ]
    )
    fig.update_layout(
        **_layout(title, height=360, barmode="stack"),
        xaxis_title="score",
        yaxis_title="documents",
    )
    if cut is not None:
        fig.add_vline(
            x=cut,
            line_color="#b94a48",
            line_dash="dash",
            annotation_text=f"cut {cut:.3f}",
            annotation_position="top",
        )
    return _json(fig)


def lines(xs: list, series: dict[str, list], title: str, y_title="", marks=None) -> str:
    """One line per name over the same x; `marks` {name: [x, ...]} are circled (a sudden
    change)."""
    go = _go()
    traces = [go.Scatter(name=n, x=xs, y=ys, mode="lines+markers") for n, ys in series.items()]
    for name, points in (marks or {}).items():
        ys = dict(zip(xs, series[name], strict=True))
        traces.append(
            go.Scatter(
                name=f"{name}: sudden change",
                x=points,
                y=[ys[x] for x in points],
                mode="markers",
                marker={
                    "size": 16,
                    "color": "rgba(0,0,0,0)",
                    "line": {"color": "#b94a48", "width": 3},
                },
            )
        )
    fig = go.Figure(traces)
    fig.update_layout(**_layout(title), yaxis_title=y_title, xaxis_type="category")
    return _json(fig)
