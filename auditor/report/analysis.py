"""The report's analysis sections: which effects hold up once the styles are separated, how soon answers come,
answers by touches, personalization and co-recipients, the user's own curves beside published priors, and whom to
ask next. Numbers come from named queries (analysis_asks, report_bands, next_asks) and, for the model and the
curves, from `stats.py`; this module arranges them into the page's context and figures."""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from ..config import Settings
from ..store import Store
from .stats import Effects, adjusted_effects, answer_curve

PRIORS_FILE = Path(__file__).resolve().parent.parent / "priors.toml"
QUERIES = ["analysis_asks", "report_bands", "next_asks"]
CURVE_AXES = [("audience", "Mass vs personal", ["personal", "mass"]),
              ("focus", "About them vs about us", ["other", "self", "neutral"]),
              ("warmth", "Warm vs cold", ["warm", "lapsed", "cold"])]
CURVE_NAMES = {"other": "about them", "self": "about us", "neutral": "neither"}
BANDS = [("touches", "Touches in the sequence"), ("personalization", "Personalization (1 = no template)"),
         ("co_recipients", "Visible co-recipients")]
CONTINUOUS = {"personalization", "reading_grade"}
PRIOR_MEASURES = ["word_count", "question_count", "reading_grade", "subject_words"]
NEXT_KINDS = {
    "away": ("Out of office until a date", "re-ask after {due}: their out-of-office named that date"),
    "warm_unanswered": ("Warm, unanswered", "follow up once, personally: a warm contact who did not answer"),
    "lapsed": ("Lapsed relationship", "a touch before any ask: no two-way contact for over {years}"),
}
COLOURS = ["#3b7d5c", "#c2571a", "#2b5fab", "#7a4f9a"]


def band_labels(edges: list[float], continuous: bool = False) -> list[str]:
    """Readable names of the bands the edges make (band i holds values with i edges at or below them): counts
    [1, 2, 5] -> 0, 1, 2–4, 5+; continuous measures [2, 5] -> below 2, 2–5, 5+."""
    if continuous or not all(float(e).is_integer() for e in edges):
        inner = [f"{lo:g}–{hi:g}" for lo, hi in zip(edges, edges[1:])]
        return [f"below {edges[0]:g}"] + inner + [f"{edges[-1]:g}+"]
    edges = [int(e) for e in edges]
    first = "0" if edges[0] == 1 else f"below {edges[0]}"
    inner = [f"{lo}" if hi - lo == 1 else f"{lo}–{hi - 1}" for lo, hi in zip(edges, edges[1:])]
    return [first] + inner + [f"{edges[-1]}+"]


def _priors() -> dict[str, Any]:
    with PRIORS_FILE.open("rb") as handle:
        return tomllib.load(handle)


def _bars(fig, rows: pl.DataFrame, labels: list[str], *, row: int, col: int, highlight: tuple | None = None,
          edges: list[float] | None = None) -> None:
    import plotly.graph_objects as go

    from . import _pct, rate_error_bars

    rows = rows.sort("band").to_dicts()
    colours = []
    for r in rows:
        inside = False
        if highlight and edges is not None:
            lo = -np.inf if r["band"] == 0 else edges[r["band"] - 1]
            hi = np.inf if r["band"] >= len(edges) else edges[r["band"]]
            inside = lo >= highlight[0] and hi <= highlight[1]
        colours.append("#c2571a" if inside else "#3b7d5c")
    fig.add_trace(go.Bar(
        x=[f"{labels[r['band']]}<br>n={r['delivered']:,}" for r in rows], y=[_pct(r["rate"]) for r in rows],
        error_y=rate_error_bars(rows),
        marker_color=colours, showlegend=False,
        hovertemplate="%{x}: %{y:.0f}% answered<extra></extra>"), row=row, col=col)


def _effects_figure(effects: Effects):
    import plotly.graph_objects as go

    told = [e for e in effects.effects if e.told]
    labels = [e.label for e in told][::-1]
    fig = go.Figure(go.Scatter(
        x=[e.odds_ratio for e in told][::-1], y=labels, mode="markers", marker=dict(size=9, color="#2b5fab"),
        error_x=dict(type="data", symmetric=False, array=[e.high - e.odds_ratio for e in told][::-1],
                     arrayminus=[e.odds_ratio - e.low for e in told][::-1]),
        hovertemplate="%{y}: odds ratio %{x:.2f}<extra></extra>"))
    fig.add_vline(x=1, line_dash="dot", line_color="#5b6475")
    fig.update_layout(title="Adjusted odds of an answer (95% interval; 1 = no difference)", xaxis_type="log",
                      height=120 + 34 * len(told), margin=dict(l=260, r=20, t=50, b=40))
    return fig


def _curve_figure(title: str, curves: list[tuple[str, Any]]):
    import plotly.graph_objects as go

    fig = go.Figure()
    for i, (label, c) in enumerate(curves):
        colour = COLOURS[i % len(COLOURS)]
        fig.add_trace(go.Scatter(x=c.days + c.days[::-1], y=[100 * v for v in c.high + c.low[::-1]], fill="toself",
                                 line=dict(width=0), fillcolor=colour, opacity=0.15, hoverinfo="skip",
                                 showlegend=False))
        fig.add_trace(go.Scatter(x=c.days, y=[100 * v for v in c.share], mode="lines", line=dict(shape="hv", color=colour),
                                 name=f"{label} (n={c.n})",
                                 hovertemplate=f"{label}: %{{y:.0f}}% answered by day %{{x:.1f}}<extra></extra>"))
    fig.update_layout(title=f"Time to answer: {title}", xaxis_title="days after the ask",
                      yaxis_title="answered (%)", yaxis_rangemode="tozero", height=340,
                      margin=dict(l=50, r=20, t=50, b=40), legend=dict(orientation="h", y=-0.25))
    return fig


def _curve_row(label: str, curve) -> dict:
    def by(day: float) -> float | None:
        reached = [s for d, s in zip(curve.days, curve.share) if d <= day]
        return reached[-1] if reached and curve.days[-1] >= day else None

    return {"label": label, "n": curve.n, "answered": curve.answered, "day1": by(1.0), "day7": by(7.0),
            "end": curve.share[-1] if curve.share else None,
            "median_days": curve.median_days, "median_low": curve.median_low, "median_high": curve.median_high}


def _next_asks(rows: pl.DataFrame, name, window_days: int) -> list[dict]:
    years = f"{window_days / 365:g} year{'s' if window_days > 365 else ''}" if window_days % 365 == 0 else f"{window_days} days"
    out = []
    for r in rows.to_dicts():
        title, action = NEXT_KINDS[r["kind"]]
        due = r["due"].strftime("%Y-%m-%d") if r["due"] else ""
        out.append({"kind": title, "person": name(r["person"]), "subject": r["subject"] or "",
                    "since": r["sent_at"].strftime("%Y-%m-%d") if r["sent_at"] else "",
                    "action": action.format(due=due, years=years),
                    "detail": (f"{r['messages_in']} message{'s' if r['messages_in'] != 1 else ''} from them"
                               if r["messages_in"] else "")})
    return out


def build_analysis(store: Store, settings: Settings, params: dict, name) -> tuple[dict, dict]:
    """The analysis context and its figures for the period's params; `name` shows a person (a pseudonym unless
    recipients are shown)."""
    from plotly.subplots import make_subplots

    cfg = settings.rules["analysis"]
    as_of = settings.as_of
    asks = store.query("analysis_asks", **params, as_of=as_of)
    effects = adjusted_effects(asks, settings.rules)
    figures: dict[str, Any] = {}
    if any(e.told for e in effects.effects):
        figures["fig-effects"] = _effects_figure(effects)

    curves = []
    for axis, title, order in CURVE_AXES:
        rows = []
        for label in order:
            part = asks.filter(pl.col(axis) == label)
            if part.height >= int(cfg["min_curve_n"]):
                rows.append((CURVE_NAMES.get(label, label), answer_curve(part["hours"].to_numpy(),
                                                                         part["answered"].to_numpy())))
        if rows:
            figure_id = f"fig-km-{axis}"
            figures[figure_id] = _curve_figure(title.lower(), rows)
            curves.append({"title": title, "figure_id": figure_id, "rows": [_curve_row(lbl, c) for lbl, c in rows]})

    edges = {key: [float(e) for e in cfg[key]] for key, _ in BANDS} | {m: [float(e) for e in cfg[m]] for m in PRIOR_MEASURES}
    bands = store.query("report_bands", **params, **edges)
    priors = _priors()
    if not bands.is_empty():
        fig = make_subplots(rows=1, cols=3, subplot_titles=[t for _, t in BANDS], horizontal_spacing=0.08)
        for i, (key, _) in enumerate(BANDS):
            _bars(fig, bands.filter(pl.col("measure") == key), band_labels(cfg[key], key in CONTINUOUS), row=1, col=i + 1)
        fig.update_yaxes(title_text="answered (%)", range=[0, 100], row=1, col=1)
        fig.update_yaxes(range=[0, 100])
        fig.update_layout(height=360, margin=dict(l=50, r=20, t=60, b=40))
        figures["fig-bands"] = fig
        fig = make_subplots(rows=2, cols=2, subplot_titles=[priors[m]["title"] for m in PRIOR_MEASURES],
                            vertical_spacing=0.18, horizontal_spacing=0.1)
        for i, m in enumerate(PRIOR_MEASURES):
            _bars(fig, bands.filter(pl.col("measure") == m), band_labels(cfg[m], m in CONTINUOUS), row=i // 2 + 1, col=i % 2 + 1,
                  highlight=tuple(priors[m]["range"]), edges=edges[m])
        fig.update_yaxes(range=[0, 100])
        fig.update_layout(height=620, margin=dict(l=50, r=20, t=60, b=40))
        figures["fig-priors"] = fig

    window_days = int(settings.rules["warmth"]["window_days"])
    next_rows = store.query("next_asks", **params, as_of=as_of, window_days=window_days,
                            rows=int(cfg["next_asks_rows"]))
    context = {
        "effects": {"verdict": effects.verdict, "asks": effects.asks, "answered": effects.answered,
                    "sends": effects.sends,
                    "rows": [{"label": e.label, "reference": e.reference, "n": e.n, "odds_ratio": e.odds_ratio,
                              "low": e.low, "high": e.high, "sentence": e.sentence, "told": e.told}
                             for e in effects.effects]},
        "curves": curves,
        "priors": {"source": priors["source"],
                   "notes": [{"title": priors[m]["title"], "finding": priors[m]["finding"]} for m in PRIOR_MEASURES]},
        "next_asks": _next_asks(next_rows, name, window_days),
    }
    return context, figures
