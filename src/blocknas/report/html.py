"""``report.html``: one self-contained page (plotly.js embedded, no network) with the trade-off
plots, hypervolume over time, the picks, the Pareto table and the baselines."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from blocknas.report.baselines import Baseline
from blocknas.report.front import front_2d, hypervolume_history, hypervolume_x
from blocknas.report.picks import Pick
from blocknas.report.plots import AXIS_LABELS, tradeoff_axes
from blocknas.report.run import RunData, TrialRecord

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["render_html"]

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 3px 7px; text-align: right; vertical-align: top; }
th { background: #f2f2f2; } td.text { text-align: left; }
td.code { text-align: left; white-space: pre; font-family: monospace; }
.notes { color: #555; font-size: 0.9em; } .plot { width: 100%; margin-bottom: 10px; }
"""


def render_html(
    run: RunData,
    picks: Sequence[Pick] = (),
    baselines: Sequence[Baseline] = (),
    notes: Sequence[str] = (),
) -> str:
    """The report page as a string. The first plot embeds plotly.js; the others reuse it."""
    figures = [(f"plot-{x}", _tradeoff_figure(run, x, baselines)) for x in tradeoff_axes(run)]
    figures.append(("plot-hypervolume", _hypervolume_figure(run)))
    divs = []
    for i, (div_id, fig) in enumerate(figures):
        body = fig.to_html(
            full_html=False, include_plotlyjs=(i == 0), div_id=div_id,
            config={"displaylogo": False, "responsive": True},
        )  # fmt: skip
        divs.append(f'<div class="plot">{body}</div>')
    counts = _state_counts(run)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>blocknas report: {_e(run.study_name)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Search report: {_e(run.study_name)}</h1>",
        f'<p class="notes">objectives: {_e(_objective_text(run))}; trials: {_e(counts)}; '
        f"generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC</p>",
        '<h2>Trade-off</h2><div class="plots">',
        *divs,
        "</div>",
        "<h2>Picks</h2>",
        _picks_table(picks),
        "<h2>Pareto front</h2>",
        _front_table(run),
        "<h2>Baselines</h2>",
        _baselines_table(run, baselines),
    ]
    if notes:
        items = "".join(f"<li>{_e(n)}</li>" for n in notes)
        parts.append(f'<h2>Notes</h2><ul class="notes">{items}</ul>')
    parts.append("</body></html>")
    return "\n".join(parts)


def _e(value: Any) -> str:
    return html.escape(str(value))


def _objective_text(run: RunData) -> str:
    return ", ".join(f"{o.name} ({o.direction})" for o in run.objectives)


def _state_counts(run: RunData) -> str:
    counts: dict[str, int] = {}
    for t in run.trials:
        counts[t.state.lower()] = counts.get(t.state.lower(), 0) + 1
    text = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "none"
    infeasible = sum(t.state == "COMPLETE" and not t.feasible for t in run.trials)
    return text + (f" ({infeasible} violating a constraint)" if infeasible else "")


def _num(value: float | None, kind: str = "") -> str:
    if value is None:
        return "–"
    if kind == "int":
        return f"{round(value):,}"
    if kind == "ratio":
        return f"{value:.3g}×"
    return f"{value:.4f}" if abs(value) < 10 else f"{value:.3g}"


def _hover(run: RunData, t: TrialRecord) -> str:
    lines = [f"<b>trial {t.number}</b>"]
    if t.state == "PRUNED" and t.epochs:
        lines.append(f"stopped early after {t.epochs} epoch(s)")
    shown = [*run.objective_names, "params", "macs", "latency_ms", "test_accuracy"]
    for name in dict.fromkeys(shown):
        value = t.get(name)
        if value is not None:
            kind = "int" if name in ("params", "macs") else ""
            lines.append(f"{name}: {_num(value, kind)}")
    lines.append("")
    lines.extend(_e(line) for line in t.architecture.splitlines())
    return "<br>".join(lines)


def _tradeoff_figure(run: RunData, x: str, baselines: Sequence[Baseline]) -> go.Figure:
    import plotly.graph_objects as go

    y = run.quality
    done = [t for t in run.completed() if t.get(x) is not None and t.get(y) is not None]
    fig = go.Figure()
    last = max((t.number for t in run.trials), default=1)
    fig.add_trace(go.Scatter(
        x=[t.get(x) for t in done], y=[t.get(y) for t in done], mode="markers", name="trials",
        text=[_hover(run, t) for t in done], hovertemplate="%{text}<extra></extra>",
        marker={"color": [t.number for t in done], "colorscale": "Viridis", "cmin": 0,
                "cmax": max(last, 1), "size": 7, "colorbar": {"title": {"text": "trial"}}},
    ))  # fmt: skip
    stopped = [t for t in run.stopped() if t.get(x) is not None and t.get(y) is not None]
    if stopped:
        fig.add_trace(go.Scatter(
            x=[t.get(x) for t in stopped], y=[t.get(y) for t in stopped], mode="markers",
            name="stopped early", text=[_hover(run, t) for t in stopped],
            hovertemplate="%{text}<extra>stopped early</extra>",
            marker={"color": [t.number for t in stopped], "colorscale": "Viridis", "cmin": 0,
                    "cmax": max(last, 1), "size": 6, "symbol": "triangle-down", "opacity": 0.5},
        ))  # fmt: skip
    bad = [t for t in run.infeasible() if t.get(x) is not None and t.get(y) is not None]
    if bad:
        fig.add_trace(go.Scatter(
            x=[t.get(x) for t in bad], y=[t.get(y) for t in bad], mode="markers",
            name="constraint violated", text=[_hover(run, t) for t in bad],
            hovertemplate="%{text}<extra>constraint violated</extra>",
            marker={"color": "grey", "symbol": "x", "size": 7},
        ))  # fmt: skip
    front = front_2d(done, y, x)
    if front:
        fig.add_trace(go.Scatter(
            x=[t.get(x) for t in front], y=[t.get(y) for t in front], mode="lines+markers",
            line={"shape": "hv", "color": "crimson"}, name="Pareto front", hoverinfo="skip",
            marker={"symbol": "circle-open", "size": 11, "color": "crimson"},
        ))  # fmt: skip
    untrained = 0
    # Labels of lines left of the middle of the (log) x range go right of them, and vice versa.
    xs = [v for v in (*(t.get(x) for t in done), *(b.get(x) for b in baselines)) if v]
    middle = math.sqrt(min(xs) * max(xs)) if xs else 1.0
    for b in baselines:
        bx, by = b.get(x), b.get(y)
        if bx is None:
            continue
        text = f"<b>{_e(b.name)}</b> (baseline)<br>params: {b.params:,}<br>MACs: {b.macs:,}"
        if by is not None:
            fig.add_trace(go.Scatter(
                x=[bx], y=[by], mode="markers+text", text=[b.name], textposition="top right",
                marker={"symbol": "diamond", "size": 11, "color": "black"}, name=b.name,
                hovertext=[f"{text}<br>{y}: {by:.4f}"], hoverinfo="text", showlegend=False,
            ))  # fmt: skip
            continue
        # Profiled, not trained: a vertical line at its size, drawn as a trace so that the
        # axis range includes it; labels are staggered so that close baselines stay legible.
        low, high = _y_range([*done, *stopped, *bad], y)
        label_y = high - (untrained % 4) * 0.07 * (high - low)
        untrained += 1
        fig.add_trace(go.Scatter(
            x=[bx, bx], y=[low, high], mode="lines", line={"dash": "dot", "color": "black",
            "width": 1}, hovertext=[text, text], hoverinfo="text", showlegend=False,
        ))  # fmt: skip
        fig.add_trace(go.Scatter(
            x=[bx], y=[label_y], mode="text", text=[f"{b.name} (not trained)"],
            textposition="middle right" if bx < middle else "middle left", hoverinfo="skip",
            showlegend=False,
        ))  # fmt: skip
    fig.update_xaxes(type="log", title_text=AXIS_LABELS.get(x, x))
    fig.update_yaxes(title_text=AXIS_LABELS.get(y, y))
    fig.update_layout(title={"text": f"{AXIS_LABELS.get(y, y)} vs {AXIS_LABELS.get(x, x)}", "y": 0.97},
                      template="plotly_white", height=460, margin={"t": 50, "r": 10},
                      legend={"orientation": "h", "x": 1.0, "xanchor": "right", "y": 1.02,
                              "yanchor": "bottom"})  # fmt: skip
    return fig


def _y_range(trials: Sequence[TrialRecord], y: str) -> tuple[float, float]:
    values = [v for t in trials if (v := t.get(y)) is not None]
    return (min(values), max(values)) if values else (0.0, 1.0)


def _hypervolume_figure(run: RunData) -> go.Figure:
    import plotly.graph_objects as go

    history = hypervolume_history(run)
    xs, label = hypervolume_x(history)
    fig = go.Figure(go.Scatter(
        x=xs, y=[h.hypervolume for h in history], mode="lines+markers",
        line={"shape": "hv", "color": "teal"}, name="hypervolume",
        customdata=[h.trial for h in history],
        hovertemplate="after trial %{customdata}<br>hypervolume %{y:.4f}<extra></extra>",
    ))  # fmt: skip
    fig.update_layout(title="Normalised hypervolume of the front so far", template="plotly_white",
                      height=460, xaxis_title=label, yaxis_title="hypervolume",
                      margin={"t": 50, "r": 10})  # fmt: skip
    return fig


def _table(table_id: str, header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(rows_cells) + "</tr>" for rows_cells in rows)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _td(value: str, text: bool = False, code: bool = False) -> str:
    kind = ' class="code"' if code else ' class="text"' if text else ""
    return f"<td{kind}>{_e(value)}</td>"


def _path(run: RunData, t: TrialRecord) -> str:
    if t.model_path is None:
        return "–"
    if run.run_dir is not None and t.model_path.is_relative_to(run.run_dir):
        return str(t.model_path.relative_to(run.run_dir))
    return str(t.model_path)


def _picks_table(picks: Sequence[Pick]) -> str:
    if not picks:
        return '<p class="notes">no picks</p>'
    header = ["pick", "trial", "metric", "params", "MACs", "latency ms", "params ratio",
              "MACs ratio", "latency ratio", "why"]  # fmt: skip
    rows = []
    for p in picks:
        r, t = p.ratios, p.trial
        rows.append([
            _td(p.kind, True), _td(str(t.number)), _td(f"{p.metric} {_num(p.accuracy)}"),
            _td(_num(t.params, "int")), _td(_num(t.macs, "int")), _td(_num(t.latency_ms)),
            _td(_num(r.params if r else None, "ratio")), _td(_num(r.macs if r else None, "ratio")),
            _td(_num(r.latency_ms if r else None, "ratio")),
            _td(p.description + (f" (ratios to {r.baseline})" if r else ""), True),
        ])  # fmt: skip
    return _table("picks-table", header, rows)


def _front_table(run: RunData) -> str:
    names = run.objective_names
    extra = [n for n in ("params", "macs", "latency_ms") if n not in names]
    header = ["trial", *names, *extra, "architecture", "model_yaml"]
    rows = []
    for t in sorted(run.front(), key=lambda t: t.get("params") or 0):
        cells = [_td(str(t.number))]
        for n in [*names, *extra]:
            cells.append(_td(_num(t.get(n), "int" if n in ("params", "macs") else "")))
        cells += [_td(t.architecture, code=True), _td(_path(run, t), code=True)]
        rows.append(cells)
    return _table("pareto-table", header, rows)


def _baselines_table(run: RunData, baselines: Sequence[Baseline]) -> str:
    if not baselines:
        return '<p class="notes">no baselines</p>'
    header = ["baseline", "params", "MACs", "latency ms", run.quality, "trained"]
    rows = [
        [_td(b.name, True), _td(_num(b.params, "int")), _td(_num(b.macs, "int")),
         _td(_num(b.latency_ms)), _td(_num(b.get(run.quality))),
         _td("yes" if b.trained else "no")]
        for b in baselines
    ]  # fmt: skip
    return _table("baselines-table", header, rows)
