"""End to end: `auditor demo` on the committed sample mailbox, checked against its own database and in Chromium."""
import re

import duckdb
import pytest

from auditor.cli import main

from test_report_browser import ARTIFACTS, Watched



def test_demo_writes_the_report_and_a_five_line_summary(demo):
    out, printed = demo
    lines = printed.splitlines()
    assert f"report: {out / 'demo.html'}" in lines
    summary = lines[lines.index(f"report: {out / 'demo.html'}") + 1:]
    assert [l.split(":")[0] for l in summary] == ["asks", "people reached", "answered", "best style", "worst style"]
    assert (out / "demo.html").stat().st_size > 4_000_000          # plotly.js inlined
    html = (out / "demo.html").read_text()
    for axis in ("Mass vs personal", "About them vs about us", "Warm vs cold"):
        assert axis in html
    assert html.count("Plotly.newPlot") == 1 and html.count("<script src") == 0


def test_the_reports_counts_equal_the_databases(demo):
    out, printed = demo
    con = duckdb.connect(str(out / "demo.duckdb"), read_only=True)
    asks, requests, people = con.execute("SELECT count(DISTINCT message_id), count(DISTINCT message_id) FILTER "
                                         "(WHERE ask_kind <> 'none'), count(DISTINCT recipient) FROM tags").fetchall()[0]
    answered, delivered, pending = con.execute(
        "SELECT count(*) FILTER (WHERE outcome = 'human'), count(*) FILTER (WHERE outcome IN ('human', 'auto', 'none')),"
        " count(*) FILTER (WHERE outcome = 'pending') FROM outcomes JOIN tags USING (message_id, recipient)"
        " WHERE ask_kind <> 'none'").fetchall()[0]
    read, new, dup, quarantined = con.execute('SELECT "read", new, duplicate, quarantined FROM runs').fetchall()[0]
    con.close()
    assert f"asks: {asks:,} sent, {requests:,} of them requests (" in printed and f"people reached: {people:,}" in printed
    assert f"answered: {100 * answered / delivered:.1f}% ({answered:,} of {delivered:,} delivered, closed sequences; {pending:,} pending)" in printed
    html = (out / "demo.html").read_text()
    assert re.search(rf'<div class="value">{asks:,}</div>', html)
    assert f"{answered:,} of {delivered:,} delivered" in html
    assert read == new + dup + quarantined and quarantined >= 2 and 300 <= requests <= asks


def test_demo_rebuilds_its_database_each_time(demo):
    out, first = demo
    import contextlib
    import io

    again = io.StringIO()
    with contextlib.redirect_stdout(again):
        assert main(["demo", "--out-dir", str(out)]) == 0
    assert again.getvalue() == first                                 # not doubled, not "0 new"


def test_the_demo_report_draws_in_chromium_without_errors_or_requests(demo, chromium_browser):
    out, _ = demo
    watched = Watched(chromium_browser, (out / "demo.html").as_uri())
    try:
        page = watched.page
        plots = page.locator("div.plot")
        assert plots.count() >= 4
        for i in range(plots.count()):
            assert plots.nth(i).locator("svg").count() > 0
        assert watched.console_errors == [] and watched.page_errors == []
        assert watched.requests == [(out / "demo.html").as_uri()]
        assert page.locator(".body .hl-self").count() > 0 and page.locator(".body .hl-other").count() > 0
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "demo.png"), full_page=True)
    finally:
        watched.close()


def test_a_monthly_report_states_the_change_against_the_month_before(demo, tmp_path):
    import contextlib
    import io

    out, _ = demo
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        rc = main(["report", "--db", str(out / "demo.duckdb"), "--me", "@riverbend-literacy.org",
                   "--as-of", "2026-11-01", "--month", "2026-06", "-o", str(tmp_path / "june.html")])
    assert rc == 0
    answered = next(l for l in printed.getvalue().splitlines() if l.startswith("answered:"))
    assert re.search(r"; [+-]\d+\.\d points against 2026-05 \(\d+\.\d% of \d+\)$", answered), answered
    assert "points against 2026-05" in (tmp_path / "june.html").read_text()


def test_the_derived_tables_keys_are_unique(demo):
    """mails, tags, tag_sentences, outcomes and touches carry no primary key (they are rebuilt whole each run and an
    index only slows that down), so their keys must be unique by construction."""
    out, _ = demo
    keys = {"mails": "mail_key", "asks": "message_id", "tags": "message_id, recipient",
            "tag_sentences": "message_id, idx", "outcomes": "message_id, recipient", "touches": "message_id, recipient"}
    with duckdb.connect(str(out / "demo.duckdb"), read_only=True) as con:
        for table, key in keys.items():
            rows, distinct = con.execute(f"SELECT count(*), count(DISTINCT ({key})) FROM {table}").fetchall()[0]
            assert rows == distinct > 0, table
