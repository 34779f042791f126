"""Report: the audit as one self-contained HTML file. Every number comes from a named query in queries/
(report_*.sql), so each figure can be re-run by hand; this module only arranges them into charts and words.
`page.py` turns the result into safe, offline HTML."""
from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import polars as pl

from ..config import Settings, digest
from ..match import RATE_DEFINITION, reply_rate
from ..store import Store
from ..tag import sentence_model

AXES = [
    ("audience", "Mass vs personal", ["personal", "mass"],
     "Ask personally: one person, by name, with something only they would recognise. When we ask everyone, "
     "everyone thinks someone else will do it."),
    ("focus", "About them vs about us", ["other", "self", "neutral"],
     "Make it about them: mark each sentence yellow (about us) or green (about them) and edit until about 90% is green."),
    ("warmth", "Warm vs cold", ["warm", "lapsed", "cold"],
     "Warm up first: ask once a relationship exists. Do first, then ask."),
    ("ask_kind", "Kind of ask", None, "Bigger asks get fewer answers from a mass request; make the big ones personally."),
]
# What a label is called on the page, per axis: "other" is "about them" as a focus, "other request" as a kind.
LABEL_NAMES = {"focus": {"other": "about them", "self": "about us", "neutral": "neither"},
               "ask_kind": {"other": "other request"}}


def label_name(axis: str, label: str) -> str:
    return LABEL_NAMES.get(axis, {}).get(label, label)


ADVICE = {
    "mass": "ask personally: write to one person, by name, about their own context",
    "self": "make it about them: say what they gain, not what we need",
    "cold": "warm up first: do first, then ask",
    "lapsed": "warm up first: a touch before the ask, after a long silence",
}


@dataclass(frozen=True)
class Period:
    """What a report covers: first touches sent in [since, until), optionally by one sender and of one campaign.
    None is open."""

    since: datetime | None = None
    until: datetime | None = None
    sender: str | None = None
    label: str = "all"
    previous: "Period | None" = None      # the month before, for --month
    campaign: str | None = None

    def params(self) -> dict[str, Any]:
        return {"since": self.since, "until": self.until, "sender": self.sender, "campaign": self.campaign}

    @classmethod
    def from_options(cls, *, month: str | None = None, since: str | None = None, until: str | None = None,
                     sender: str | None = None, campaign: str | None = None, timezone_name: str = "UTC") -> "Period":
        """--month 2026-10 (in the configured time zone, with the month before for comparison), or
        --since/--until dates; --sender and --campaign narrow either."""
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        from ..errors import UsageError

        try:
            zone = ZoneInfo(timezone_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise UsageError(f"[report] timezone {timezone_name!r} is not a time zone name such as Europe/Berlin.") from None
        sender = sender.strip().lower() if sender else None
        campaign = campaign.strip() or None if campaign else None
        suffix = (f"-{sender.split('@')[0]}" if sender else "") + (f"-{_slug(campaign)}" if campaign else "")
        if month:
            if since or until:
                raise UsageError("give either --month or --since/--until, not both.")
            try:
                start = datetime.strptime(month, "%Y-%m").replace(tzinfo=zone)
            except ValueError:
                raise UsageError(f"--month {month!r} is not a month: write 2026-10.") from None
            end = start.replace(year=start.year + (start.month == 12), month=start.month % 12 + 1)
            before = start.replace(year=start.year - (start.month == 1), month=(start.month - 2) % 12 + 1)
            previous = cls(before, start, sender, before.strftime("%Y-%m"), campaign=campaign)
            return cls(start, end, sender, month + suffix, previous, campaign)
        bounds = []
        for name, value in (("--since", since), ("--until", until)):
            try:
                bounds.append(datetime.fromisoformat(value).replace(tzinfo=zone) if value else None)
            except ValueError:
                raise UsageError(f"{name} {value!r} is not a date: write 2026-10-01.") from None
        label = "_".join(b.strftime("%Y-%m-%d") if b else "open" for b in bounds) if any(bounds) else "all"
        return cls(bounds[0], bounds[1], sender, label + suffix, campaign=campaign)


def _slug(text: str) -> str:
    """A campaign name as a piece of a file name: letters, digits and dashes, at most 40."""
    import re

    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "campaign"


@dataclass
class ReportResult:
    html: str
    summary: dict[str, Any]
    queries: list[str] = field(default_factory=list)
    reused: bool = False        # the file at the output path already held this very report


# The page carries the fingerprint of its inputs and its headline numbers, so a re-run can tell the report is
# already written (and print its summary) without running a query or loading plotly and statsmodels.
_INPUTS_META = re.compile(r'<meta name="auditor-inputs" content="([0-9a-f]{16})">')
_SUMMARY_BLOCK = re.compile(r'<script type="application/json" id="auditor-summary">(.*?)</script>', re.DOTALL)
REPORT_RULE_SECTIONS = ("report", "analysis", "warmth", "match")


def report_inputs(store: Store, settings: Settings, period: Period, show_recipients: bool) -> str:
    """Everything a report is made of: the tagged asks, their outcomes (by content: a re-match at a later hour
    that changed nothing changes nothing), the day of the as-of clock, the rules, the period, the redaction, and
    the code that draws it (package version, template, queries)."""
    from ..resources import data_dir

    outcomes = store.run("SELECT count(*), bit_xor(hash(*COLUMNS(* EXCLUDE (run_id, matched_at)))) FROM outcomes")[0]
    tags = store.run("SELECT count(*), bit_xor(hash(*COLUMNS(* EXCLUDE (run_id, tagged_at)))) FROM tags")[0]
    here = Path(__file__).resolve().parent
    files = [f for folder in ("templates", "queries") for f in data_dir(folder).iterdir() if f.is_file()]
    files += sorted(here.glob("*.py")) + [here.parent / "priors.toml", sentence_model.CUES_PATH]   # cue words: "why"
    code = sorted((f.name, hashlib.sha256(f.read_bytes()).hexdigest()) for f in files)
    return digest([tags, outcomes, settings.as_of.date().isoformat(), str(settings.as_of.tzinfo),
                   {k: settings.rules.get(k) for k in REPORT_RULE_SECTIONS}, period.params(), period.label,
                   period.previous.params() if period.previous else None, show_recipients, code])


def reusable_report(path: Path, inputs: str) -> ReportResult | None:
    """The report already at `path` when it was made from the same inputs, else None."""
    import json

    try:
        with path.open(encoding="utf-8") as handle:
            head = handle.read(4096)
            found = _INPUTS_META.search(head)
            if not found or found.group(1) != inputs:
                return None
            page = head + handle.read()
    except (OSError, UnicodeDecodeError):
        return None
    block = _SUMMARY_BLOCK.search(page)
    if not block:
        return None
    try:
        summary = json.loads(block.group(1))
    except ValueError:
        return None
    return ReportResult(page, summary, reused=True)


def style_name(row: dict) -> str:
    return " · ".join([row["audience"], label_name("focus", row["focus"]), row["warmth"]])


def pseudonym(address: str | None, key: bytes) -> str:
    """A shareable report names no one: each person is a stable pseudonym, an HMAC of the address under a key
    kept in the database, so it cannot be reversed by hashing guessed addresses."""
    if not address:
        return "someone"
    return "person-" + hmac.new(key, address.lower().encode(), hashlib.sha256).hexdigest()[:8]


def _pct(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 1)


def rate_error_bars(rows: list[dict]) -> dict:
    """A bar chart's 95% interval around each rate, in percent; a row with nothing delivered yet (its rate, low
    and high NULL: every ask pending or bounced) gets no bar of error."""
    pct = lambda r, key: _pct(r[key]) or 0.0
    return dict(type="data", symmetric=False, array=[pct(r, "high") - pct(r, "rate") for r in rows],
                arrayminus=[pct(r, "rate") - pct(r, "low") for r in rows])


def best_and_worst(grid: pl.DataFrame, min_n: int) -> tuple[dict | None, dict | None]:
    """The styles (axis combinations) with the highest and lowest reply rate among those with enough asks."""
    eligible = grid.filter(pl.col("delivered") >= min_n).sort(["rate", "delivered"], descending=[True, True])
    if eligible.is_empty():
        return None, None
    rows = eligible.to_dicts()
    return rows[0], (rows[-1] if len(rows) > 1 else None)


def top_and_bottom(rows: pl.DataFrame, n: int, min_n: int) -> tuple[list[dict], int]:
    """A long table cut for the page: all rows when there are at most 2n, else the n best and n worst reply
    rates among rows with at least min_n delivered asks (a rate of 1 of 1 says nothing). Returns the rows to show
    and how many were left out; the full table is one `auditor query` away."""
    if rows.height <= 2 * n:
        return rows.to_dicts(), 0
    ranked = rows.filter(pl.col("delivered") >= min_n).sort(["rate", "delivered"], descending=[True, True],
                                                            nulls_last=True)
    if ranked.height <= 2 * n:
        shown = ranked
    else:
        shown = pl.concat([ranked.head(n), ranked.tail(n)])
    return shown.to_dicts(), rows.height - shown.height


def _axis_figure(axis: str, title: str, rows: list[dict]):
    import plotly.graph_objects as go

    labels = [label_name(axis, r["label"]) for r in rows]
    rates = [_pct(r["rate"]) for r in rows]
    fig = go.Figure(go.Bar(
        x=labels, y=rates,
        error_y=rate_error_bars(rows),
        text=[f"n={r['delivered']}" for r in rows], textposition="outside",
        hovertemplate="%{x}: %{y:.0f}% answered<extra></extra>",
        marker_color="#3b7d5c",
    ))
    fig.update_layout(title=title, yaxis_title="answered (%)", yaxis_range=[0, 100], height=340,
                      margin=dict(l=50, r=20, t=50, b=40))
    return fig


def _trend_figure(trend: pl.DataFrame):
    import plotly.graph_objects as go

    months = [m.strftime("%Y-%m") for m in trend["month"].to_list()]
    fig = go.Figure(go.Scatter(x=months, y=[_pct(r) for r in trend["rate"].to_list()], mode="lines+markers",
                               text=[f"n={n}" for n in trend["delivered"].to_list()],
                               hovertemplate="%{x}: %{y:.0f}% answered (%{text})<extra></extra>",
                               line_color="#3b7d5c"))
    fig.update_layout(title="Reply rate by month of the ask", yaxis_title="answered (%)", yaxis_range=[0, 100],
                      height=320, margin=dict(l=50, r=20, t=50, b=40))
    return fig


def _examples(store: Store, candidates: pl.DataFrame, n: int, name) -> list[dict]:
    if candidates.is_empty():
        return []
    best = candidates.filter(pl.col("answered") > 0).sort(["rate", "delivered", "sent_at"], descending=[True, False, False]).head(n)
    worst = (candidates.filter(pl.col("answered") == 0)
             .sort(["delivered", "sent_at"], descending=[True, False]).head(n))
    chosen = [("What got answers", r) for r in best.to_dicts()] + [("What did not", r) for r in worst.to_dicts()]
    sentences = store.query("report_sentences", message_ids=[r["message_id"] for _, r in chosen])
    by_message = {k[0]: g for k, g in sentences.group_by("message_id")} if not sentences.is_empty() else {}
    out = []
    for title, row in chosen:
        advice = [ADVICE[v] for v in (row["audience"], row["focus"], row["warmth"]) if v in ADVICE]
        if title == "What got answers":
            advice_text = "Do more of this: " + style_name(row) + "."
        else:
            advice_text = ("Next time, " + "; ".join(advice) + ".") if advice else "A well-made ask that went unanswered: follow up once."
        rows = by_message.get(row["message_id"])
        out.append({
            "title": title, "subject": row["subject"] or "(no subject)", "sender": row["sender"] or "",
            "recipient": name(row["first_recipient"]) + (f" and {row['recipients'] - 1} more" if row["recipients"] > 1 else ""),
            "sent": row["sent_at"].strftime("%Y-%m-%d") if row["sent_at"] else "",
            "labels": f"{style_name(row)} · {row['ask_kind']}",
            "outcome": f"{row['answered']} of {row['delivered']} answered",
            "advice": advice_text,
            "sentences": [] if rows is None else [
                {"text": t, "colour": c, "why": w} for (t, c), w in zip(rows.select("text", "colour").iter_rows(), sentence_model.why(
                    rows["text"].to_list(), rows["colour"].to_list(), rows["confidence"].to_list()))],
        })
    return out


def build_report(store: Store, settings: Settings, *, show_recipients: bool = False,
                 period: Period | None = None, organisation: bool = False, inputs: str = "") -> ReportResult:
    """Run the report's named queries for the period and arrange them into the page's context and figures."""
    from .analysis import QUERIES as ANALYSIS_QUERIES
    from .analysis import build_analysis
    from .page import build_html

    period = period or Period()
    p = period.params()
    if period.campaign and not store.scalar("SELECT count(*) FROM tags WHERE lower(campaign) = lower(?)", [period.campaign]):
        from ..errors import UsageError

        raise UsageError(f"no asks in a campaign named {period.campaign!r}: `auditor query report_campaigns` lists "
                         "the campaigns.")

    used = ["report_headline", "report_rates_by_axis", "report_grid", "report_trend", "report_senders",
            "report_campaigns", "report_examples", "report_sentences", "report_quality"]
    headline = store.query("report_headline", **p).row(0, named=True)
    rates = store.query("report_rates_by_axis", **p)
    grid = store.query("report_grid", **p)
    trend = store.query("report_trend", **p)
    min_n = int(settings.rules["report"]["min_n"])
    best, worst = best_and_worst(grid, min_n)
    delivered, answered = headline["delivered"], headline["answered"]
    answered_pct = _pct(reply_rate(answered, delivered))

    axes, figures = [], {}
    for key, title, order, advice in AXES:
        rows = rates.filter(pl.col("axis") == key).to_dicts()
        if order:
            rows.sort(key=lambda r: order.index(r["label"]) if r["label"] in order else len(order))
        else:
            rows.sort(key=lambda r: -r["delivered"])
        figure_id = f"fig-{key.replace('_', '-')}"
        axes.append({"key": key, "title": title, "figure_id": figure_id, "advice": advice,
                     "rows": [{**{k: r[k] for k in ("answered", "delivered", "rate", "low", "high", "pending", "positive_rate")},
                               "label": label_name(key, r["label"])} for r in rows]})
        figures[figure_id] = _axis_figure(key, title, rows)
    if not trend.is_empty():
        figures["fig-trend"] = _trend_figure(trend)

    table_rows = int(settings.rules["report"]["table_rows"])
    tables = []
    for name, title, column, note in (
        ("report_senders", "By sender", "sender", "senders"),
        ("report_campaigns", "By campaign", "campaign", "campaigns"),
    ):
        rows, left_out = top_and_bottom(store.query(name, **p), table_rows, min_n)
        tables.append({"id": column, "title": title, "column": column, "rows": rows,
                       "left_out": (f"{left_out:,} more {note} not shown (fewer than {min_n} delivered asks, or in "
                                    f"the middle); `auditor query {name}` lists them all.") if left_out else None})

    key = store.secret_key("pseudonyms")
    name = (lambda a: a or "someone") if show_recipients else (lambda a: pseudonym(a, key))
    analysis, analysis_figures = build_analysis(store, settings, p, name)
    figures |= analysis_figures
    used += ANALYSIS_QUERIES

    quality = store.query("report_quality", **p).row(0, named=True)
    if organisation:
        # An organisation's report is built from the mailboxes' exports, which carry asks and outcomes only.
        quality = {k: "in each mailbox's own report" for k in quality} | {
            "asks_history_incomplete": quality["asks_history_incomplete"]}
    quality_rows = [
        {"label": "files quarantined (not readable as mail)", "value": quality["quarantined"]},
        {"label": "messages without a usable date (left out of periods)", "value": quality["no_usable_date"]},
        {"label": "messages dated from Received or the mbox line", "value": quality["date_from_fallback"]},
        {"label": "bounce messages", "value": quality["bounce_messages"]},
        {"label": "auto-replies (not counted as answers)", "value": quality["auto_replies"]},
        {"label": "replies not matched to any ask", "value": quality["unmatched_replies"]},
        {"label": "asks sent in the mailbox's first weeks (history may be missing)", "value": quality["asks_history_incomplete"]},
        {"label": "Message-IDs reused by different mails", "value": quality["reused_message_ids"]},
    ]
    window = settings.rules["match"]["reply_window_days"]
    as_of = settings.as_of.strftime("%Y-%m-%d")
    shown = " – ".join(d.strftime("%Y-%m-%d") for d in (headline["first_ask"], headline["last_ask"]) if d) or "no asks"
    if period.since or period.until or period.sender or period.campaign:
        shown = f"{period.label}: {shown}"
    if organisation:
        senders = store.scalar("SELECT count(DISTINCT sender) FROM tags")
        shown = f"organisation, {senders:,} senders: {shown}"
    change = None
    if period.previous is not None:
        before = store.query("report_headline", **period.previous.params()).row(0, named=True)
        if before["delivered"] and delivered:
            previous = reply_rate(before["answered"], before["delivered"])
            delta = 100 * (reply_rate(answered, delivered) - previous)
            change = f"{delta:+.1f} points against {period.previous.label} ({_pct(previous):.1f}% of {before['delivered']})"
        else:
            change = f"no closed asks to compare in {period.previous.label}" if delivered else None
    summary = {
        "asks": headline["asks"], "requests": headline["requests"], "people": headline["people"], "sequences": headline["sequences"],
        "closed": headline["closed"], "answered": answered, "delivered": delivered, "answered_pct": answered_pct,
        "pending": headline["pending"], "bounced": headline["bounced"], "positive": headline["positive"],
        "change": change,
        "median_hours_to_answer": headline["median_hours_to_answer"],
        "best": f"{style_name(best)} ({_pct(best['rate']):.0f}% of {best['delivered']})" if best else None,
        "worst": f"{style_name(worst)} ({_pct(worst['rate']):.0f}% of {worst['delivered']})" if worst else None,
    }
    context = {
        "title": "Outreach audit",
        "as_of": as_of,
        "generated_at": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "period": shown,
        "summary": summary,
        "definition": RATE_DEFINITION.format(window=window, as_of=as_of),
        "axes": axes,
        "grid": grid.to_dicts(),
        "tables": tables,
        "examples": _examples(store, store.query("report_examples", **p), int(settings.rules["report"]["examples"]),
                              name),
        "quality": quality_rows,
        "analysis": analysis,
        "inputs": inputs,
        "queries": [f"{name}.sql" for name in used],
    }
    return ReportResult(build_html(context, figures), summary, used)


def write_report(result: ReportResult, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(result.html, encoding="utf-8")
    tmp.replace(path)   # a reader never sees half a report
    return path
