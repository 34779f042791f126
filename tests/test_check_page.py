"""auditor.report.check_page: `auditor check --html` on the demo mailbox writes one page that loads and runs
nothing, keeps mail text as text, names no recipient unless asked, and says what the terminal says."""
from __future__ import annotations

import contextlib
import copy
import io
import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import HOSTILE
from test_report_page import Parsed

from auditor.check import render
from auditor.cli import main
from auditor.report import check_page, pseudonym
from auditor.report.check_page import build_check_html, write_check_page
from auditor.report.page import csp_hash
from auditor.store import Store

ARTIFACTS = Path(__file__).parent / "artifacts"
# Every tag and attribute the template itself writes; anything else in a page came from data.
TEMPLATE_TAGS = {"html", "head", "meta", "title", "style", "body", "main", "header", "h1", "h2", "p", "strong", "span",
                 "section", "ol", "ul", "li", "table", "thead", "tbody", "tr", "th", "td", "meter", "footer", "br"}
TEMPLATE_ATTRIBUTES = {"id", "lang", "charset", "http-equiv", "content", "name", "class", "title", "min", "max",
                       "value", "optimum", "low", "colspan"}
YELLOW, GREEN = "rgb(255, 240, 163)", "rgb(201, 240, 207)"
# Written for these tests: one sentence about the reader, one about us, the ask, an easy no; hostile lines between.
DRAFT = """Hi there,

Your piece on after-school tutoring in the county newsletter changed how I plan our autumn term.

{0}

We are short of volunteers this year and our small grant runs out in March.

{1}

Would you be willing to tell us, in a short call next Tuesday, how you found your tutors?
If now is a bad time, no worries at all.

{2}

Thanks,
Rosa
"""
SUBJECT = "Tutors for the autumn " + HOSTILE[1] + " " + HOSTILE[9]


@dataclass
class Checked:
    address: str
    result: dict
    page: Path
    key: bytes


@pytest.fixture(scope="module")
def checked(demo, tmp_path_factory) -> Checked:
    """`auditor check --json --html` run once on a copy of the demo database, to its busiest recipient."""
    folder = tmp_path_factory.mktemp("check_page")
    db = folder / "demo.duckdb"
    shutil.copy(demo[0] / "demo.duckdb", db)
    with Store.open(db) as store:
        address = store.run("SELECT recipient FROM tags GROUP BY 1 ORDER BY count(*) DESC, recipient LIMIT 1")[0][0]
    draft = folder / "draft.txt"
    draft.write_text(DRAFT.format(HOSTILE[0], HOSTILE[4], "\n".join(HOSTILE[5:])), encoding="utf-8")
    out = folder / "pages" / "nested" / "check.html"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        rc = main(["check", str(draft), "--to", address, "--subject", SUBJECT, "--db", str(db),
                   "--as-of", "2026-11-01", "--json", "--html", str(out)])
    assert rc == 0
    with Store.open(db) as store:
        key = store.secret_key("pseudonyms")
    return Checked(address, json.loads(stdout.getvalue()), out, key)


def page_text(html: str) -> str:
    return " ".join("".join(Parsed(html).text).split())


def assert_only_template_markup(html: str) -> None:
    parsed = Parsed(html)
    assert {tag for tag, _ in parsed.tags} <= TEMPLATE_TAGS
    for tag, attrs in parsed.tags:
        assert set(attrs) <= TEMPLATE_ATTRIBUTES, (tag, attrs)
    for payload in ("<script", "<img", "<iframe", "<svg", "<a ", "<!--<"):
        assert payload not in html.lower(), payload


def with_hostile_text(result: dict, hostile_strings: list[str]) -> dict:
    """`result` with a payload after every free-text string (not the words the page keys on, not addresses)."""
    keep = {"colour", "label", "warmth", "address", "recipients", "first_sent", "sent", "as_of", "away_until"}
    count = iter(range(10_000))

    def walk(item, key=None):
        if isinstance(item, str) and key not in keep:
            return item + " " + hostile_strings[next(count) % len(hostile_strings)]
        if isinstance(item, dict):
            return {k: walk(v, k) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v, key) for v in item]
        return item

    out = walk(copy.deepcopy(result))
    out["audience"]["template"] = {"similarity": 0.55, "campaign": "Spring appeal " + hostile_strings[6],
                                   "recipients": 40, "first_sent": "2026-03-02"}
    return out


def too_few(result: dict) -> dict:
    out = copy.deepcopy(result)
    out["prediction"] = {"shown": False, "reason": "Too few to predict: 37 closed ask sequences, about 100 needed.",
                         "base_rate": {"p": None, "low": None, "high": None}, "closed": 0, "by_warmth": [],
                         "what_if": [], "style": []}
    return out


def test_the_real_check_has_both_colours_an_ask_and_history(checked):
    # The draft must exercise the page: the tests below would pass vacuously on a check without these.
    colours = {s["colour"] for s in checked.result["sentences"]}
    assert {"self", "other"} <= colours
    assert any(s["is_ask"] for s in checked.result["sentences"])
    assert checked.result["recipients"][0]["earlier_asks"]
    assert checked.result["prediction"]["shown"]


def test_cli_writes_the_page_and_mail_text_stays_text(checked):
    assert checked.page.is_file()
    assert not checked.page.with_name("check.html.tmp").exists()
    html = checked.page.read_text(encoding="utf-8")
    assert_only_template_markup(html)
    text = page_text(html)
    assert " ".join(SUBJECT.split()) in text
    for payload in (HOSTILE[0], HOSTILE[4]):
        assert payload in text, payload
    assert "&lt;img src=x onerror=&#34;window.__pwned=1;alert(1)&#34;&gt;" in html


def test_csp_allows_no_script_and_only_its_own_stylesheet(checked):
    html = checked.page.read_text(encoding="utf-8")
    parsed = Parsed(html)
    assert parsed.head[0] == ("meta", {"charset": "utf-8"})
    assert parsed.head[1][1].get("http-equiv") == "Content-Security-Policy"
    csp = parsed.csp()
    [style] = re.findall(r"<style>(.*?)</style>", html, re.DOTALL)
    assert csp["style-src"] == [csp_hash(style)]
    for name in ("default-src", "script-src", "img-src", "font-src", "connect-src", "object-src", "base-uri",
                 "form-action"):
        assert csp[name] == ["'none'"], name
    assert "url(" not in style and "@import" not in style
    assert not any("http" in v or "unsafe" in v or v == "*" for values in csp.values() for v in values)


def test_every_string_of_the_check_stays_text(checked, hostile_strings):
    result = with_hostile_text(checked.result, hostile_strings)
    for show in (False, True):
        html = build_check_html(result, key=checked.key, show_recipients=show)
        assert_only_template_markup(html)
        text = page_text(html)
        for payload in hostile_strings:
            assert " ".join(payload.split()) in text, payload


def test_recipients_are_pseudonyms_unless_shown(checked, tmp_path):
    result = copy.deepcopy(checked.result)
    third = "someone.else@elsewhere.example"
    result["recipients"][0]["reasons"].append(f"they forwarded it from {checked.address.upper()}")
    result["audience"]["reasons"].append(f"the same text went to {third}")
    name = pseudonym(checked.address, checked.key)

    hidden = write_check_page(result, tmp_path / "hidden.html", key=checked.key).read_text(encoding="utf-8")
    assert checked.address.lower() not in hidden.lower()
    assert third not in hidden
    assert name in hidden and pseudonym(third, checked.key) in hidden
    assert result["draft"]["from"] in hidden            # the sender's own address is no secret

    shown = write_check_page(result, tmp_path / "shown.html", key=checked.key,
                             show_recipients=True).read_text(encoding="utf-8")
    assert checked.address in shown and third in shown
    assert name not in shown


def test_many_recipients_are_counted_and_none_is_named(checked):
    result = copy.deepcopy(checked.result)
    people = [f"reader{i}@schools{i}.example" for i in range(13)]
    template = result["recipients"][0]
    result["draft"]["recipients"] = people
    result["recipients"] = [template | {"address": a, "warmth": "cold" if i % 2 else "warm"}
                            for i, a in enumerate(people)]
    html = build_check_html(result, key=checked.key)
    text = page_text(html)
    assert "and 10 more" in text
    assert "and 3 more: 2 warm, 1 cold" in text
    assert not any(a in html for a in people)
    assert text.count("person-") == 3 + 10            # three in the title line, ten in the table


def test_a_page_that_would_name_a_recipient_is_refused(checked, monkeypatch):
    monkeypatch.setattr(check_page, "redact", lambda value, name, recipients: value)
    with pytest.raises(RuntimeError, match="recipient"):
        build_check_html(checked.result, key=checked.key)


def test_the_page_says_what_the_terminal_says(checked):
    # show_recipients, so the terminal's lines (which name people) can be compared as they are.
    text = page_text(build_check_html(checked.result, key=checked.key, show_recipients=True))
    lines = [line.strip() for line in render(checked.result)]
    # The terminal's "Heading: ..." is a section heading on the page, followed by the same words.
    headings = ("About them or about us: ", "Mass or personal: ", "Chance of an answer: ")
    wanted = [line.split(": ", 1)[1] for line in lines if line.startswith(headings)]
    wanted += [line for line in lines if line.startswith(("rewrite ", "your base rate:", "your past "))]
    wanted += [line for line in lines if (" → " in line or "(95% interval" in line) and not line.startswith(headings)]
    wanted += [line.split(": ", 1)[1] for line in lines if "of your past asks had it" in line]
    wanted += [s["why"] for s in checked.result["sentences"]]
    r = checked.result["recipients"][0]
    wanted += ["; ".join(r["reasons"]), f"asked {r['asked']} times before, answered {r['answered']}"]
    assert len(wanted) >= 10
    for item in wanted:
        assert " ".join(item.split()) in text, item


def test_too_few_says_why_and_shows_no_number(checked):
    result = too_few(checked.result)
    html = build_check_html(result, key=checked.key)
    text = page_text(html)
    assert "Too few to predict: 37 closed ask sequences, about 100 needed." in text
    assert "your base rate: no closed ask sequence yet" in text
    assert "95% interval" not in text and 'class="chance"' not in html
    shown = page_text(build_check_html(checked.result, key=checked.key))
    assert "95% interval" in shown and "Too few" not in shown


@pytest.mark.parametrize("change", [
    lambda r: r["sentences"][0].update(colour="purple"),
    lambda r: r["prediction"]["by_warmth"][0].update(p=25.0),
    lambda r: r["craft"]["flags"][0]["without"].update(low=-0.5),
    lambda r: r["prediction"].update(shown=False, reason=None),
])
def test_a_broken_result_is_refused(checked, change):
    result = copy.deepcopy(checked.result)
    change(result)
    with pytest.raises(ValueError):
        build_check_html(result, key=checked.key)


# --- in a real browser -----------------------------------------------------------------------------------------

class Opened:
    """A page opened in Chromium with its console errors, CSP violations, requests and dialogs recorded."""

    # Injected by the browser, not the page, so it runs although the page's CSP allows no script.
    WATCH = ("window.__violations = [];"
             "document.addEventListener('securitypolicyviolation',"
             " e => window.__violations.push(e.effectiveDirective + ' ' + e.blockedURI));")

    def __init__(self, browser, path: Path):
        self.context = browser.new_context(viewport={"width": 1100, "height": 900})
        self.context.add_init_script(self.WATCH)
        self.page = self.context.new_page()
        self.console_errors: list[str] = []
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        self.page.on("pageerror", lambda e: self.console_errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.goto(path.as_uri(), wait_until="load")
        self.page.wait_for_timeout(200)      # time for any payload, had one got through, to fire

    @property
    def violations(self) -> list[str]:
        return self.page.evaluate("window.__violations")

    def background(self, selector: str) -> str:
        return self.page.locator(selector).first.evaluate("e => getComputedStyle(e).backgroundColor")

    def close(self):
        self.context.close()


@pytest.fixture
def opened(chromium_browser):
    pages = []
    yield lambda path: pages.append(Opened(chromium_browser, path)) or pages[-1]
    for p in pages:
        p.close()


def test_in_chromium_nothing_runs_nothing_loads_and_the_colours_show(checked, opened, tmp_path, hostile_strings):
    hostile = write_check_page(with_hostile_text(checked.result, hostile_strings), tmp_path / "hostile.html",
                               key=checked.key)
    for path in (checked.page, hostile):
        w = opened(path)
        assert (w.console_errors, w.violations, w.dialogs) == ([], [], []), path.name
        assert w.requests == [path.as_uri()]
        assert w.page.evaluate("window.__pwned") is None
        yellow, green = w.page.locator(".hl-self"), w.page.locator(".hl-other")
        assert yellow.first.is_visible() and green.first.is_visible()
        assert w.background("#sentences .hl-self") == YELLOW
        assert w.background("#sentences .hl-other") == GREEN
        assert w.background("#sentences .sentence-neutral span[title]") == "rgba(0, 0, 0, 0)"
        # The reason is on hover and in plain view.
        first = w.page.locator("#sentences li").first
        assert first.locator("span[title]").get_attribute("title") in first.locator(".why").inner_text()

    w.page.emulate_media(media="print")
    assert w.page.locator("#sentences .why").first.is_visible()
    assert w.page.pdf(format="A4").startswith(b"%PDF")
    ARTIFACTS.mkdir(exist_ok=True)
    opened(checked.page).page.screenshot(path=str(ARTIFACTS / "check.png"), full_page=True)


def test_in_chromium_a_changed_stylesheet_is_refused(checked, opened, tmp_path):
    # The CSP really binds: the same page with one rule changed loses its stylesheet, and the watch sees it.
    path = tmp_path / "changed.html"
    path.write_text(checked.page.read_text(encoding="utf-8").replace("* { box-sizing", "*{ box-sizing", 1),
                    encoding="utf-8")
    w = opened(path)
    assert any(v.startswith("style-src") for v in w.violations)
    assert w.background("#sentences .hl-self") == "rgba(0, 0, 0, 0)"
