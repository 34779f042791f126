"""The report's data: campaigns and senders, periods narrowed to one campaign, long tables cut, the size bound,
and a mailbox whose subjects, names and bodies carry script payloads, audited end to end and opened in Chromium."""
from __future__ import annotations

import contextlib
import io
import re
from datetime import datetime, timedelta, timezone
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

import polars as pl
import pytest

from auditor.cli import main
from auditor.report import build_report, top_and_bottom
from auditor.report.page import _plotly_js
from auditor.store import Store

from conftest import HOSTILE, make_settings
from test_report_browser import ARTIFACTS, Watched

DEMO_TEAM = "@riverbend-literacy.org"


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(args))
    return rc, out.getvalue(), err.getvalue()


def test_every_ask_has_a_campaign_templates_share_one_and_follow_ups_join_their_first_send(demo_db):
    with Store.open(demo_db, read_only=True) as store:
        tags = store.frame("SELECT message_id, subject, sent_at, template_id, campaign FROM tags")
    assert tags["campaign"].null_count() == 0
    clusters = tags.filter(pl.col("template_id").is_not_null())
    assert clusters.height > 0
    # One name per template cluster: the subject of the cluster's earliest message, without Re:.
    per_cluster = clusters.group_by("template_id").agg(
        names=pl.col("campaign").n_unique(), first=pl.col("subject").sort_by("sent_at").first(),
        name=pl.col("campaign").first())
    assert per_cluster["names"].max() == 1
    assert all(unprefixed(first) == name for first, name in per_cluster.select("first", "name").iter_rows())
    # An ask outside any template whose subject is a reply takes the subject without its prefix.
    follow_ups = tags.filter(pl.col("template_id").is_null() & pl.col("subject").str.contains(r"^(?i)re:"))
    assert follow_ups.height > 0
    for subject, campaign in follow_ups.select("subject", "campaign").iter_rows():
        assert campaign == unprefixed(subject)


def unprefixed(subject: str) -> str:
    return re.sub(r"^(\s*(re|fwd?|aw)\s*:\s*)+", "", subject, flags=re.I).strip()


def test_report_for_one_campaign_counts_only_its_asks(demo_db, tmp_path):
    with Store.open(demo_db, read_only=True) as store:
        name, messages = store.run(
            "SELECT any_value(campaign), count(DISTINCT message_id) FROM tags GROUP BY lower(campaign) "
            "HAVING count(DISTINCT message_id) FILTER (WHERE ask_kind <> 'none') >= 3 ORDER BY 2 DESC, 1 LIMIT 1")[0]
    rc, out, err = run_cli("report", "--db", str(demo_db), "--me", DEMO_TEAM, "--as-of", "2026-11-01",
                           "--campaign", name.upper(), "-o", str(tmp_path / "one.html"))
    assert rc == 0, err
    assert f"asks: {messages:,} sent" in out
    page = (tmp_path / "one.html").read_text()
    campaigns = re.search(r'<section class="block" id="by-campaign">(.*?)</section>', page, re.S).group(1)
    assert campaigns.count('<td class="name">') == 1


def test_an_unknown_campaign_is_one_sentence_and_exit_2(demo_db, tmp_path):
    rc, out, err = run_cli("report", "--db", str(demo_db), "--me", DEMO_TEAM, "--as-of", "2026-11-01",
                           "--campaign", "no such campaign", "-o", str(tmp_path / "none.html"))
    assert rc == 2
    assert "no asks in a campaign named 'no such campaign'" in err and "Traceback" not in err
    assert not (tmp_path / "none.html").exists()


def test_sender_and_campaign_tables_show_the_queries_rows(demo_db):
    settings = make_settings(demo_db.parent, me=(DEMO_TEAM,), as_of="2026-11-01")
    with Store.open(demo_db) as store:
        senders = store.query("report_senders", since=None, until=None, sender=None, campaign=None)
        campaigns = store.query("report_campaigns", since=None, until=None, sender=None, campaign=None)
        result = build_report(store, settings)
    assert senders.height == 3 and senders["delivered"].sum() > 0
    table = re.search(r'id="by-sender">(.*?)</section>', result.html, re.S).group(1)
    for row in senders.to_dicts():
        assert f'<td class="name">{row["sender"]}</td>' in table
        assert f'<td class="n">{row["delivered"]:,}</td>' in table
    # The demo has more campaigns than the page shows: best and worst ten, and a line that says so.
    assert campaigns.height > 20
    shown = re.search(r'id="by-campaign">(.*?)</section>', result.html, re.S).group(1)
    assert shown.count('<td class="name">') == 20
    assert f"{campaigns.height - 20:,} more campaigns not shown" in shown
    assert "auditor query report_campaigns" in shown


def test_every_rate_table_counts_the_headlines_delivered_asks_and_kinds_have_their_own_names(demo_db):
    """One denominator everywhere: request sequences delivered. The kind table once counted every outbound mail
    (thank-you notes and replies as the kind "none") and printed the kind "other" as "about them"."""
    params = dict(since=None, until=None, sender=None, campaign=None)
    with Store.open(demo_db) as store:
        headline = store.query("report_headline", **params).row(0, named=True)
        rates = store.query("report_rates_by_axis", **params)
        totals = {name: store.query(name, **params)["delivered"].sum()
                  for name in ("report_senders", "report_campaigns", "report_grid", "report_trend")}
        result = build_report(store, make_settings(demo_db.parent, me=(DEMO_TEAM,), as_of="2026-11-01"))
    assert headline["delivered"] > 500
    by_axis = dict(rates.group_by("axis").agg(pl.col("delivered").sum()).iter_rows())
    assert by_axis == {axis: headline["delivered"] for axis in ("audience", "focus", "warmth", "ask_kind")}
    assert totals == dict.fromkeys(totals, headline["delivered"])
    assert "none" not in rates.filter(pl.col("axis") == "ask_kind")["label"].to_list()
    kinds = re.search(r'<h2>Kind of ask</h2>(.*?)</table>', result.html, re.S)
    assert kinds, "the kind-of-ask table is on the page"
    assert "other request" in kinds.group(1) and "about them" not in kinds.group(1)


def test_top_and_bottom_keeps_short_tables_and_cuts_long_ones_to_rates_with_enough_asks():
    short = pl.DataFrame({"name": list("abc"), "delivered": [1, 9, 3], "rate": [1.0, 0.5, None]})
    rows, left_out = top_and_bottom(short, n=2, min_n=5)
    assert [r["name"] for r in rows] == ["a", "b", "c"] and left_out == 0

    long = pl.DataFrame({"name": [f"c{i}" for i in range(12)],
                         "delivered": [10, 10, 10, 10, 10, 10, 2, 2, 10, 10, 10, 10],
                         "rate": [0.1, 0.9, 0.5, 0.3, 0.7, 0.2, 1.0, 0.0, 0.4, 0.6, 0.8, None]})
    rows, left_out = top_and_bottom(long, n=2, min_n=5)
    # 1.0 and 0.0 have two asks each: not a rate to rank by. None has no delivered asks to rank.
    assert [r["rate"] for r in rows] == [0.9, 0.8, 0.1, None]
    assert left_out == 8


def test_the_page_stays_within_plotly_plus_one_megabyte_for_a_hundred_thousand_asks(tmp_path):
    """A team mailbox of 100k messages gives tens of thousands of ask rows, thousands of campaigns and dozens of
    senders; the page must not grow with them."""
    settings = make_settings(tmp_path, as_of="2026-11-01")
    n = 100_000
    with Store.open(settings.db_path) as store:
        store.run(f"""
            INSERT INTO tags (message_id, recipient, mail_key, sender, sent_at, subject, is_ask, ask_kind,
                              audience, audience_score, focus, other_share, warmth, gave_first,
                              history_incomplete, ruleset_digest, campaign)
            SELECT 'm' || (i // 4), 'p' || i || '@example.org', 'k' || (i // 4), 's' || (i % 60) || '@team.org',
                   TIMESTAMPTZ '2024-01-01' + to_days(cast(i % 1000 as integer)),
                   'Subject number ' || (i // 4), true, 'donation',
                   CASE WHEN i % 3 = 0 THEN 'mass' ELSE 'personal' END, 0.5,
                   CASE WHEN i % 2 = 0 THEN 'self' ELSE 'other' END, 0.5,
                   CASE WHEN i % 5 = 0 THEN 'cold' ELSE 'warm' END, false, false, 'x',
                   'Campaign ' || (i % 5000)
            FROM range({n}) t(i)""")
        store.run(f"""
            INSERT INTO outcomes (message_id, recipient, outcome, touches, first_sent_at, ruleset_digest,
                                  hours_to_answer)
            SELECT 'm' || (i // 4), 'p' || i || '@example.org',
                   CASE WHEN hash(i) % 4 = 0 THEN 'human' ELSE 'none' END, 1,
                   TIMESTAMPTZ '2024-01-01' + to_days(cast(i % 1000 as integer)), 'x', 30
            FROM range({n}) t(i)""")
        store.run(f"""
            INSERT INTO tag_sentences SELECT 'm' || i, j, 'Sentence ' || j || ' of a long ask body, ' || repeat('x', 200),
                                             'other', j = 0, 0.9
            FROM range({n // 4}) a(i), range(12) b(j)""")
        result = build_report(store, settings)
    plotly_size = len(_plotly_js()[0].encode())
    extra = len(result.html.encode()) - plotly_size
    assert 0 < extra < 1_000_000, extra
    assert "4,980 more campaigns not shown" in result.html
    assert "40 more senders not shown" in result.html


# -- a hostile mailbox, end to end --------------------------------------------------------------------------------

TEAM = "ana@ourteam.example"


# Different enough that no two are one template: each ask is its own campaign, so every subject is on the page.
OPENERS = [
    "Your library talk stayed with me all week.", "I loved the mural your students painted downtown.",
    "Congratulations on the new community garden opening.", "Your article about rural bookmobiles was sharp.",
    "Thanks for hosting the chess club at your cafe.", "Your podcast episode on adult literacy moved our board.",
    "I heard your bakery now donates bread to the shelter.", "Your team's marathon fundraiser was inspiring.",
    "The history lecture you gave at the museum was packed.", "Your choir sounded wonderful at the harvest fair.",
    "I saw your clinic opened Saturday hours for families.",
]
ASKS = [
    "Would you give $50 so a child in your town gets ten books this spring?",
    "Could you spare one hour on Thursday to read aloud with our second graders?",
    "Would you introduce me to the garden committee chair before May?",
    "Might you join our podcast for a thirty minute interview next month?",
    "Could your cafe host a book swap table one Sunday in April?",
    "Would you speak for ten minutes at our volunteer evening on the 12th?",
    "Could the bakery donate two trays of rolls for the reading picnic?",
    "Would your runners sponsor one mile of our reading relay for $100?",
    "Could you review our new history reading list by Friday?",
    "Would the choir sing three songs at our library gala in June?",
    "Could your clinic put our free book flyers in the waiting room?",
]


def _hostile_mailbox(folder):
    """Asks whose subjects, sender names and bodies carry the payloads, half of them answered by replies that
    carry them too."""
    folder.mkdir()
    start = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)
    for i, payload in enumerate(HOSTILE):
        when = start + timedelta(days=3 * i)
        # A header cannot hold a line separator unencoded; the body keeps the payload as it is.
        line = payload.replace("\u2028", " ").replace("\u2029", " ")
        ask = EmailMessage()
        ask["From"] = Address(f"Ana {line}", addr_spec=TEAM)
        ask["To"] = Address(f"Dana {line}", addr_spec=f"dana{i}@donors.example")
        ask["Subject"] = f"Would you sponsor a reader? {line}"
        ask["Date"] = format_datetime(when)
        ask["Message-ID"] = f"<ask{i}@ourteam.example>"
        ask.set_content(f"Hi Dana,\n\n{OPENERS[i]} {payload}\n\n{ASKS[i]}\n\nAna\n")
        (folder / f"ask{i}.eml").write_bytes(bytes(ask))
        if i % 2 == 0:
            reply = EmailMessage()
            reply["From"] = Address(f"Dana {line}", addr_spec=f"dana{i}@donors.example")
            reply["To"] = TEAM
            reply["Subject"] = f"Re: Would you sponsor a reader? {line}"
            reply["Date"] = format_datetime(when + timedelta(hours=20))
            reply["Message-ID"] = f"<reply{i}@donors.example>"
            reply["In-Reply-To"] = f"<ask{i}@ourteam.example>"
            reply.set_content(f"Yes, happy to! {payload}\n\nDana\n")
            (folder / f"reply{i}.eml").write_bytes(bytes(reply))


@pytest.mark.parametrize("show_recipients", [False, True], ids=["redacted", "named"])
def test_a_hostile_mailbox_reports_its_payloads_as_text_and_runs_none(tmp_path, chromium_browser, show_recipients):
    mail = tmp_path / "mail"
    _hostile_mailbox(mail)
    report = tmp_path / "hostile.html"
    args = ["audit", str(mail), "--db", str(tmp_path / "h.duckdb"), "--me", TEAM, "--as-of", "2026-06-01",
            "-o", str(report)] + (["--show-recipients"] if show_recipients else [])
    rc, out, err = run_cli(*args)
    assert rc == 0, err
    assert f"answered: {100 * 6 / 11:.1f}% (6 of 11 delivered" in out
    watched = Watched(chromium_browser, report.as_uri())
    try:
        page = watched.page
        for i in range(page.locator("div.plot").count()):
            assert page.locator("div.plot").nth(i).locator("svg").count() > 0
        page.wait_for_timeout(300)
        assert watched.console_errors == [] and watched.page_errors == []
        assert watched.requests == [report.as_uri()]
        assert watched.dialogs == []
        assert page.evaluate("window.__pwned") is None
        assert page.locator("img, iframe, object, embed, svg[onload], a[href]").count() == 0
        text = page.inner_text("main")
        for payload in HOSTILE[:10]:             # the last one carries line separators the page may re-flow
            assert payload in text, payload
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"hostile-{'named' if show_recipients else 'redacted'}.png"),
                        full_page=True)
    finally:
        watched.close()
    recipients = re.findall(r"<dt>To</dt><dd>(.*?)</dd>", report.read_text())
    assert recipients
    assert all(("donors.example" in r) == show_recipients for r in recipients)
