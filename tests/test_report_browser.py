"""The report page in a real headless Chromium: charts draw under the CSP, nothing is fetched, mail text never runs."""
from __future__ import annotations

from pathlib import Path

import pytest

from auditor.report.page import build_html, plot_text

ARTIFACTS = Path(__file__).parent / "artifacts"


class Watched:
    """A page opened on `url` with everything the tests assert on recorded."""

    def __init__(self, browser, url: str, **context_args):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900}, **context_args)
        self.page = self.context.new_page()
        self.console_errors: list[str] = []
        self.page_errors: list[str] = []
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        self.page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("dialog", self._dialog)
        self.page.goto(url, wait_until="load")
        self.page.wait_for_function("document.querySelectorAll('div.plot .main-svg').length > 0")

    def _dialog(self, dialog):
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def close(self):
        self.context.close()


@pytest.fixture
def report_file(tmp_path, report_context, report_figures) -> Path:
    path = tmp_path / "report.html"
    path.write_text(build_html(report_context, report_figures), encoding="utf-8")
    return path


@pytest.fixture
def watched(chromium_browser, report_file):
    w = Watched(chromium_browser, report_file.as_uri())
    yield w
    w.close()


def test_report_draws_fetches_nothing_and_runs_no_payload(watched, report_file, report_figures):
    page = watched.page
    # Hover every bar so plotly renders the hostile hover text too, then give any payload a moment to fire.
    bars = page.locator("div.plot .bars path")
    for i in range(bars.count()):
        bars.nth(i).hover(force=True)
        page.wait_for_timeout(50)
    page.locator("#axis-audience div.plot .bars path").first.hover(force=True)
    page.wait_for_timeout(100)
    hover_text = page.evaluate("document.querySelector('#axis-audience .hoverlayer').textContent")
    page.mouse.move(0, 0)
    page.wait_for_timeout(300)

    plots = page.locator("div.plot")
    assert plots.count() == len(report_figures)
    for i in range(plots.count()):
        assert plots.nth(i).locator("svg").count() > 0, plots.nth(i).get_attribute("data-fig")

    assert watched.console_errors == []
    assert watched.page_errors == []
    assert watched.requests == [report_file.as_uri()]
    assert watched.dialogs == []
    assert page.evaluate("window.__pwned") is None
    assert page.evaluate("typeof Plotly") == "object"
    # The payloads are on the page, as text: in the DOM text, the chart labels and the hover label.
    assert "<script>window.__pwned=1;alert(1)</script>" in page.inner_text("h2 + p.advice >> nth=0")
    assert "#22 <script>window.__pwned=1;alert(1)</script>" in hover_text
    assert page.locator("img, iframe, object, embed, a[href]").count() == 0

    self_spans = page.locator(".example span.hl-self")
    other_spans = page.locator(".example span.hl-other")
    assert self_spans.count() == 1 and other_spans.count() == 1
    assert self_spans.first.inner_text().startswith("I need a favour.")
    assert other_spans.first.inner_text().startswith("Your talk on queues was great.")
    yellow = self_spans.first.evaluate("e => getComputedStyle(e).backgroundColor")
    green = other_spans.first.evaluate("e => getComputedStyle(e).backgroundColor")
    assert yellow == "rgb(255, 240, 163)" and green == "rgb(201, 240, 207)"

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)


def test_png_download_works_under_the_csp_and_share_is_gone(chromium_browser, report_file):
    # The one thing img-src blob: is there for: plotly's "Download plot as a PNG" draws through a blob: image.
    watched = Watched(chromium_browser, report_file.as_uri(), accept_downloads=True)
    try:
        page = watched.page
        page.locator("#axis-audience div.plot").hover(force=True)
        titles = page.eval_on_selector_all(
            "#axis-audience .modebar-btn", "els => els.map(e => e.getAttribute('data-title'))"
        )
        assert "Download plot as a PNG" in titles
        assert not any("share" in (t or "").lower() or "cloud" in (t or "").lower() for t in titles), titles
        with page.expect_download(timeout=10_000) as download:
            page.locator('#axis-audience .modebar-btn[data-title="Download plot as a PNG"]').click(force=True)
        assert download.value.suggested_filename == "outreach-chart.png"
        with open(download.value.path(), "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
        assert watched.console_errors == [] and watched.page_errors == []
        assert all(url == report_file.as_uri() or url.startswith("blob:") for url in watched.requests)
    finally:
        watched.close()


def test_print_fits_the_charts_to_paper_and_back(watched, tmp_path):
    page = watched.page
    widths = "[...document.querySelectorAll('div.plot .main-svg')].map(e => +e.getAttribute('width'))"
    screen = page.evaluate(widths)
    assert min(screen) > 800  # 1280 px viewport
    page.emulate_media(media="print")
    page.evaluate("window.dispatchEvent(new Event('beforeprint'))")  # page.pdf() does not fire it
    assert max(page.evaluate(widths)) <= 640
    assert page.locator(".modebar-container").first.is_hidden()
    assert page.pdf(format="A4", path=str(tmp_path / "report.pdf")).startswith(b"%PDF")
    page.emulate_media(media="screen")
    page.evaluate("window.dispatchEvent(new Event('afterprint'))")
    # Plotly.Plots.resize settles after a short timer.
    page.wait_for_function(f"(expected => {widths}.every((w, i) => w === expected[i]))({screen})", timeout=5000)
    assert watched.console_errors == [] and watched.page_errors == []


def test_plot_text_shows_mail_text_as_written(chromium_browser, tmp_path, report_context, report_figures):
    subject = '<b>Re:</b> <a href="https://example.invalid/">coffee?</a> &amp; <br>more'
    report_figures["fig-audience"].update_layout(title=plot_text(subject))
    path = tmp_path / "report.html"
    path.write_text(build_html(report_context, report_figures), encoding="utf-8")
    watched = Watched(chromium_browser, path.as_uri())
    try:
        title = watched.page.locator("#axis-audience .gtitle")
        assert title.text_content() == subject
        assert title.locator("a, b, br").count() == 0
        assert watched.console_errors == [] and watched.page_errors == []
    finally:
        watched.close()
