"""Shared test fixtures. Each block below belongs to one area; add yours under its own header."""
from __future__ import annotations

import os
from pathlib import Path

import pytest


def require_or_skip(condition: bool, what: str) -> None:
    """Skip the test when `what` is missing here, but fail it in CI (CI=true), where everything must be present."""
    if condition:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} is required in CI but is missing", pytrace=False)
    pytest.skip(f"{what} is not available on this machine")


# ---------------------------------------------------------------------------------------------------------------
# Report page (auditor/report/page.py): hostile strings, a small valid report context, and a headless Chromium.
# ---------------------------------------------------------------------------------------------------------------

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",  # tests run as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Each one, if it ever ran, sets window.__pwned and opens a dialog; a test asserts neither happened.
HOSTILE = [
    "<script>window.__pwned=1;alert(1)</script>",
    "<img src=x onerror=\"window.__pwned=1;alert(1)\">",
    "javascript:window.__pwned=1;alert(1)",
    "<iframe srcdoc=\"<script>parent.__pwned=1;parent.alert(1)</script>\"></iframe>",
    "</script><script>window.__pwned=1;alert(1)</script>",
    "<svg onload=\"window.__pwned=1;alert(1)\"></svg>",
    "<a href=\"javascript:window.__pwned=1;alert(1)\">click</a>",
    "<!--<script>window.__pwned=1</script>-->",
    "<img src=\"https://example.invalid/track.png\">",
    "\" onmouseover=\"window.__pwned=1\" x=\"",
    "{{ 7*7 }} ${7*7} ]]> &amp; \u2028\u2029",
]


def hostile(i: int) -> str:
    """A hostile string, different per call site, so each field carries a payload."""
    return f"#{i} " + HOSTILE[i % len(HOSTILE)]


@pytest.fixture
def hostile_strings() -> list[str]:
    return list(HOSTILE)


@pytest.fixture
def report_context() -> dict:
    """A small context that honours the report contract, with a hostile payload in every string from mail."""
    rows = [
        {"label": hostile(0), "answered": 12, "delivered": 40, "rate": 0.3, "low": 0.18, "high": 0.45, "pending": 3},
        {"label": "Personal", "answered": 30, "delivered": 50, "rate": 0.6, "low": 0.46, "high": 0.72, "pending": 1},
        {"label": "Unknown", "answered": 0, "delivered": 0, "rate": None, "low": None, "high": None, "pending": 2},
    ]
    return {
        "title": "Outreach audit " + hostile(1),
        "as_of": "2026-10-31",
        "generated_at": "2026-11-01 09:00 UTC",
        "period": "2026-03-01 – 2026-10-31",
        "summary": {
            "asks": 1234, "people": 321, "sequences": 400, "closed": 300, "answered": 90,
            "answered_pct": 30.0, "pending": 6, "best": hostile(2), "worst": None, "median_hours_to_answer": 30.4,
        },
        "definition": "An ask counts as answered when a human replies within 14 days. " + hostile(3),
        "axes": [
            {"key": "audience", "title": "Mass vs personal", "figure_id": "fig-audience",
             "advice": "Write to one person. " + hostile(4), "rows": rows},
            {"key": "focus", "title": "Self vs other " + hostile(9), "figure_id": "fig-focus",
             "advice": hostile(5), "rows": rows[1:]},
        ],
        "grid": [
            {"audience": "Mass", "focus": hostile(6), "warmth": "Cold", "answered": 3, "delivered": 30, "rate": 0.1},
            {"audience": "Personal", "focus": "Other", "warmth": "Warm", "answered": 0, "delivered": 0, "rate": None},
        ],
        "tables": [
            {"id": "campaign", "title": "By campaign", "column": "campaign", "left_out": "3 more " + hostile(18),
             "rows": [{"campaign": hostile(19), "asks": 4, "answered": 1, "delivered": 4, "rate": 0.25,
                       "low": 0.05, "high": 0.7, "pending": 0}]},
        ],
        "examples": [
            {
                "title": "Best answered " + hostile(7), "subject": hostile(8), "sender": hostile(9),
                "recipient": hostile(10), "sent": "2026-04-02 10:15", "labels": "personal · other · warm",
                "outcome": "answered in 2 days", "advice": hostile(11),
                "sentences": [
                    {"text": "I need a favour. " + hostile(12), "colour": "self", "why": "about us (80%): " + hostile(48)},
                    {"text": "Your talk on queues was great. " + hostile(13), "colour": "other",
                     "why": "about the reader (90%): " + hostile(49)},
                    {"text": hostile(14), "colour": "neutral", "why": hostile(50)},
                ],
            },
        ],
        "quality": [{"label": "Messages quarantined " + hostile(15), "value": 4},
                    {"label": "Mailbox", "value": hostile(16)}],
        "queries": ["summary_counts.sql", hostile(17)],
        "analysis": {
            "effects": {"verdict": None, "asks": 300, "answered": 90, "sends": 120,
                        "rows": [{"label": "personal asks", "reference": "mass asks", "n": 150, "odds_ratio": 2.4,
                                  "low": 1.5, "high": 3.9, "sentence": "Personal asks were answered more often.",
                                  "told": True},
                                 {"label": hostile(42), "reference": "asks that did not", "n": 3, "odds_ratio": None,
                                  "low": None, "high": None, "sentence": "Too few to tell " + hostile(43),
                                  "told": False}]},
            "curves": [{"title": "Mass vs personal", "figure_id": "fig-km-audience",
                        "rows": [{"label": "personal", "n": 150, "answered": 60, "day1": 0.2, "day7": 0.35,
                                  "end": 0.4, "median_days": None, "median_low": None, "median_high": None},
                                 {"label": "mass", "n": 150, "answered": 80, "day1": 0.3, "day7": 0.5, "end": 0.55,
                                  "median_days": 6.5, "median_low": 4.0, "median_high": None}]}],
            "priors": {"source": {"name": "A study", "about": "of other people's mail"},
                       "notes": [{"title": "Length in words", "finding": "50 to 125 words did best"}]},
            "next_asks": [{"kind": "Back from leave", "person": hostile(44), "subject": hostile(45),
                           "since": "2026-09-01", "action": "re-ask after 2026-09-14", "detail": hostile(46)}],
        },
    }


@pytest.fixture
def report_figures(report_context) -> dict:
    """One bar chart per axis, with hostile category labels, hover text and titles, plus a trend line."""
    import plotly.graph_objects as go

    figures = {}
    for axis in report_context["axes"]:
        labels = [row["label"] for row in axis["rows"]]
        fig = go.Figure(
            go.Bar(
                x=labels,
                y=[(row["rate"] or 0) * 100 for row in axis["rows"]],
                hovertext=[hostile(22 + i) for i in range(len(labels))],  # <script>, <img onerror>, javascript:
                name=hostile(30),
            )
        )
        fig.update_layout(title=axis["title"] + " " + hostile(28),  # <a href="javascript:...">: plotly renders <a>
                          yaxis_title="% answered", height=320)
        figures[axis["figure_id"]] = fig
    trend = go.Figure(go.Scatter(x=["2026-03", "2026-04", "2026-05"], y=[20, 35, 30], mode="lines+markers",
                                 text=[hostile(39), hostile(40), hostile(41)]))
    trend.update_layout(height=280)
    figures["fig-trend"] = trend
    curve = go.Figure(go.Scatter(x=[0, 1, 2, 7], y=[0, 20, 30, 40], mode="lines", name=hostile(47)))
    figures["fig-km-audience"] = curve
    return figures


@pytest.fixture(scope="session")
def chromium_browser():
    """A headless Debian Chromium driven by playwright; skipped when either is missing, failed when CI=true."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
    require_or_skip(sync_playwright is not None, "the playwright python package")
    require_or_skip(CHROMIUM.exists(), f"Chromium at {CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# ---------------------------------------------------------------------------------------------------------------
# Mail pipeline: the hand-written fixture mailbox, settings for a throwaway database, a store it was ingested into.
# ---------------------------------------------------------------------------------------------------------------

FIXTURES = Path(__file__).parent / "fixtures"
MAILBOX = FIXTURES / "mailbox"        # Inbox/ and Sent/ of Brightpath Literacy's Sam Ortiz, plus broken files
TEAM = "@brightpath.org"


def make_settings(tmp_path: Path, *, me=(TEAM,), as_of: str = "2026-06-01", rules: dict | None = None):
    from auditor.config import Identity, Settings, load_rules, parse_as_of

    return Settings(db_path=tmp_path / "audit.duckdb", config_path=None, identity=Identity.parse(list(me)),
                    as_of=parse_as_of(as_of), rules=load_rules(rules))


@pytest.fixture
def settings(tmp_path):
    return make_settings(tmp_path)


@pytest.fixture
def store(settings):
    from auditor.store import Store

    with Store.open(settings.db_path) as opened:
        yield opened


@pytest.fixture
def ingested(store, settings):
    """The fixture mailbox ingested; returns (store, run_id, counts)."""
    from auditor.ingest import ingest_paths

    run_id = store.begin_run("ingest", [str(MAILBOX)])
    counts = ingest_paths(store, run_id, [MAILBOX], skip_folders=settings.rules["sources"]["skip_folders"])
    return store, run_id, counts


@pytest.fixture(scope="session")
def demo(tmp_path_factory):
    """`auditor demo` run once per session: (its output folder, what it printed). Tests that change the
    database work on a copy."""
    import contextlib
    import io

    from auditor.cli import main

    out = tmp_path_factory.mktemp("demo")
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        rc = main(["demo", "--out-dir", str(out)])
    assert rc == 0
    return out, stdout.getvalue()


@pytest.fixture
def demo_db(demo, tmp_path):
    """A private copy of the demo's database, so a test may re-tag, re-match or let `check` keep its model in it."""
    import shutil as _shutil

    out, _ = demo
    path = tmp_path / "demo.duckdb"
    _shutil.copy(out / "demo.duckdb", path)
    return path


def write_eml(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(text.lstrip("\n").replace("\n", "\r\n").encode())
    return path


# ---------------------------------------------------------------------------------------------------------------
# IMAP harvester: a real throwaway Dovecot 2.3 on 127.0.0.1 (tests/imap_server.py), one per session, started only
# by tests that ask for it. Set AUDITOR_KEEP_DOVECOT=1 to keep its folder (config, dovecot.log) after the session.
# ---------------------------------------------------------------------------------------------------------------


def _dovecot_fixture(gmail_like: bool):
    import shutil as _shutil
    import tempfile

    from imap_server import find_dovecot, find_openssl, start_dovecot  # tests/ is on sys.path (prepend mode)

    require_or_skip(find_dovecot() is not None, "Dovecot (apt-get install dovecot-imapd)")
    require_or_skip(find_openssl() is not None, "openssl (apt-get install openssl)")
    require_or_skip(os.geteuid() == 0, "root (the test Dovecot starts as root and drops to its own users)")
    # Not under pytest's tmp_path: that sits in a 0700 folder Dovecot's unprivileged processes cannot enter, and
    # its long names would push the Unix sockets in base_dir past their 108-byte limit.
    base = Path(tempfile.mkdtemp(prefix="auditor-dovecot-gmail-" if gmail_like else "auditor-dovecot-"))
    server = None
    try:
        server = start_dovecot(base, gmail_like=gmail_like)
        yield server
    finally:
        if server is not None:
            server.stop()
        if not os.environ.get("AUDITOR_KEEP_DOVECOT"):
            _shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def dovecot():
    """A running Dovecot (tests/imap_server.DovecotServer) with Sent/Drafts/Junk/Trash special-use folders."""
    yield from _dovecot_fixture(gmail_like=False)


@pytest.fixture(scope="session")
def dovecot_gmail():
    """Like `dovecot`, plus an `All Mail` folder flagged \\All, as Gmail's IMAP has."""
    yield from _dovecot_fixture(gmail_like=True)


@pytest.fixture
def imap_user(dovecot):
    """A fresh (user, password) on the session's Dovecot, with an empty mailbox."""
    return dovecot.add_user()
