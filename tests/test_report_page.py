"""auditor.report.page: the page is self-contained, its CSP allows exactly its own scripts, and mail text stays text."""
from __future__ import annotations

import base64
import copy
import hashlib
import json
import re
from html.parser import HTMLParser

import jinja2
import plotly.graph_objects as go
import plotly.offline
import pytest

from auditor.report import page
from auditor.report.page import build_html, json_for_html

# Every tag the template itself writes; anything else in the output came from data.
TEMPLATE_TAGS = {
    "html", "head", "meta", "title", "style", "body", "main", "header", "h1", "h2", "h3", "p", "span", "section",
    "div", "table", "caption", "thead", "tbody", "tr", "th", "td", "article", "dl", "dt", "dd", "footer", "code",
    "script", "details", "summary", "ol", "li",
}
BREAKOUT = "</script><script>window.__pwned=1</script><!--<script>"


class Parsed(HTMLParser):
    """The parts of a page these tests look at, as a browser's tokenizer would see them."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.head: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self._stack: list[str] = []
        self._script: list[str] | None = None
        self._script_attrs: dict[str, str | None] = {}
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if "head" in self._stack and "body" not in self._stack:
            self.head.append((tag, attrs))
        if tag == "script":
            self._script, self._script_attrs = [], attrs
        if tag not in ("meta",):
            self._stack.append(tag)

    def handle_endtag(self, tag):
        if tag == "script" and self._script is not None:
            self.scripts.append((self._script_attrs, "".join(self._script)))
            self._script = None
        if tag in self._stack:
            del self._stack[len(self._stack) - 1 - self._stack[::-1].index(tag):]

    def handle_data(self, data):
        if self._script is not None:
            self._script.append(data)
        elif "style" not in self._stack:
            self.text.append(data)

    @property
    def executable(self) -> list[str]:
        return [body for attrs, body in self.scripts if (attrs.get("type") or "").lower() != "application/json"]

    @property
    def json_blocks(self) -> dict[str, str]:
        return {attrs["id"]: body for attrs, body in self.scripts if attrs.get("type") == "application/json"}

    def csp(self) -> dict[str, list[str]]:
        [content] = [a["content"] for t, a in self.head if t == "meta" and (a.get("http-equiv") or "").lower()
                     == "content-security-policy"]
        directives = {}
        for part in content.split(";"):
            name, *values = part.split()
            directives[name] = values
        return directives


def sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode() + "'"


@pytest.fixture
def html(report_context, report_figures) -> str:
    return build_html(report_context, report_figures)


@pytest.fixture
def parsed(html) -> Parsed:
    return Parsed(html)


def test_plotly_js_is_inlined_exactly_once_and_nothing_is_fetched(html, parsed):
    js = plotly.offline.get_plotlyjs()
    assert html.count(js) == 1
    assert html.count("plotly.js v") == 1
    assert sum(js in body for body in parsed.executable) == 1
    for tag, attrs in parsed.tags:
        assert "src" not in attrs and "href" not in attrs, (tag, attrs)
    assert not re.search(r"(https?:)?//cdn|cdn\.plot\.ly", html.replace(js, ""))
    assert tag_names(parsed) <= TEMPLATE_TAGS


def tag_names(parsed: Parsed) -> set[str]:
    return {tag for tag, _ in parsed.tags}


def test_charset_comes_first_then_the_csp(parsed):
    first, second = parsed.head[0], parsed.head[1]
    assert first == ("meta", {"charset": "utf-8"})
    assert second[0] == "meta" and second[1]["http-equiv"] == "Content-Security-Policy"


def test_csp_allows_exactly_the_inline_scripts_emitted(parsed):
    csp = parsed.csp()
    script_src = csp["script-src"]
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    assert all(re.fullmatch(r"'sha256-[A-Za-z0-9+/]{43}='", token) for token in script_src), script_src
    assert len(parsed.executable) == 2  # plotly.js and the bootstrap
    assert sorted(sha256_source(body) for body in parsed.executable) == sorted(script_src)


def test_csp_blocks_everything_else(parsed):
    csp = parsed.csp()
    assert csp["default-src"] == ["'none'"]
    assert csp["style-src"] == ["'unsafe-inline'"]
    assert csp["img-src"] == ["data:", "blob:"]
    for name in ("font-src", "connect-src", "object-src", "base-uri", "form-action"):
        assert csp[name] == ["'none'"], name
    assert not any("http" in v or v == "*" for values in csp.values() for v in values)


def test_hostile_strings_appear_only_as_text(html, parsed, hostile_strings):
    # Nothing from data became markup: no tag the template does not write, no handler, no script URL.
    assert tag_names(parsed) <= TEMPLATE_TAGS
    for tag, attrs in parsed.tags:
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)
            assert name not in ("src", "href", "srcdoc", "action", "formaction"), (tag, name)
            assert not (value or "").strip().lower().startswith("javascript:"), (tag, name, value)
    raw = html.replace(plotly.offline.get_plotlyjs(), "")
    for payload in ("<script>window.__pwned", "<img src=x", "<iframe srcdoc", "<svg onload", "<a href=",
                    "</script><script>", "<!--<script>"):
        assert payload not in raw, payload
    assert "&lt;script&gt;window.__pwned=1;alert(1)&lt;/script&gt;" in html
    assert "&lt;iframe srcdoc=&#34;&lt;script&gt;parent.__pwned" in html
    # ...and every payload is still there for the reader, as plain text.
    text = "".join(parsed.text)
    for payload in hostile_strings:
        assert payload in text, payload
    # The only <script> / </script> in the page are the ones page.py emits.
    assert len(re.findall(r"<script\b", html, re.I)) == len(parsed.scripts)
    assert len(re.findall(r"</script", html, re.I)) == len(parsed.scripts)


def test_figure_json_cannot_break_out_and_round_trips(report_context, report_figures):
    fig = report_figures["fig-audience"]
    fig.update_traces(x=[BREAKOUT, "</SCRIPT >", "a & b > c"], hovertext=[BREAKOUT] * 3)
    fig.update_layout(title=BREAKOUT)
    html = build_html(report_context, report_figures)
    parsed = Parsed(html)
    assert len(parsed.scripts) == 3 + len(report_figures)     # plotly.js, the bootstrap, the summary, the figures
    blocks = parsed.json_blocks
    assert set(blocks) == {"data-" + fig_id for fig_id in report_figures} | {"auditor-summary"}
    assert json.loads(blocks["auditor-summary"])["best"] == report_context["summary"]["best"]
    for body in blocks.values():
        assert not re.search(r"[<>&]", body)
    data = json.loads(blocks["data-fig-audience"])
    assert data["data"][0]["x"] == [BREAKOUT, "</SCRIPT >", "a & b > c"]
    assert data["layout"]["title"]["text"] == BREAKOUT
    assert len(re.findall(r"</script", html, re.I)) == len(parsed.scripts)


def test_every_plot_div_has_its_figure(parsed, report_figures):
    plots = [a["data-fig"] for t, a in parsed.tags if t == "div" and "plot" in (a.get("class") or "").split()]
    assert sorted(plots) == sorted(report_figures)


def test_json_for_html():
    obj = {"s": "</script><!-- & \u2028", "n": [1, 2.5, None], "t": True}
    text = json_for_html(obj)
    assert not re.search("[<>&\u2028\u2029]", text)
    assert json.loads(text) == obj


def test_numbers_and_highlights_render(parsed, html):
    text = " ".join("".join(parsed.text).split())
    assert "30%" in text and "18–45%" in text and "46–72%" in text
    assert "1,234" in text
    assert "Worst style –" in text  # None
    assert "Median time to answer 30 h" in text
    spans = [a.get("class") for t, a in parsed.tags if t == "span"]
    assert spans.count("hl-self") == 1 and spans.count("hl-other") == 1
    assert spans.count("swatch hl-self") == 1 and spans.count("swatch hl-other") == 1  # the legend
    # each highlighted sentence carries why it got its colour, escaped inside the attribute
    assert re.search(r'<span class="hl-self" title="about us \(80%\): #48 [^"]*">I need a favour\. ', html)
    assert re.search(r'<span class="hl-other" title="about the reader \(90%\): #49 [^"]*">Your talk on queues was great\. ', html)
    assert "<summary>Why these colours</summary>" in html


def test_static_mode_changes_only_the_config(report_context, report_figures):
    parsed = Parsed(build_html(report_context, report_figures, static=True))
    bootstrap = [b for b in parsed.executable if "Plotly.newPlot" in b][0]
    assert '"staticPlot":true' in bootstrap and '"showSendToCloud":false' in bootstrap
    assert sorted(sha256_source(b) for b in parsed.executable) == sorted(parsed.csp()["script-src"])


def test_contract_mistakes_fail_loudly(report_context, report_figures):
    def broken(change):
        ctx, figs = copy.deepcopy(report_context), dict(report_figures)
        change(ctx, figs)
        return ctx, figs

    cases = [
        (lambda c, f: f.pop("fig-focus"), "no figure given"),
        (lambda c, f: f.update({"fig-extra": go.Figure()}), "belong to no axis"),
        (lambda c, f: f.update({'x"><b': go.Figure()}), "must match"),
        (lambda c, f: c["axes"][0]["rows"][0].update(rate=30.0), "fractions"),
        (lambda c, f: c["summary"].update(answered_pct=130.0), "percentage"),
        (lambda c, f: c["examples"][0]["sentences"][0].update(colour="red"), "not one of"),
    ]
    for change, message in cases:
        with pytest.raises(ValueError, match=message):
            build_html(*broken(change))
    ctx, figs = broken(lambda c, f: c.pop("definition"))
    with pytest.raises(jinja2.UndefinedError):
        build_html(ctx, figs)


def test_a_template_script_outside_the_csp_is_refused(report_context, report_figures, monkeypatch):
    env = page._environment()
    source = env.loader.get_source(env, "report.html.j2")[0]
    evil = jinja2.Environment(
        loader=jinja2.DictLoader({"evil.html.j2": source.replace("</main>", "</main><script>alert(1)</script>")}),
        autoescape=True, undefined=jinja2.StrictUndefined,
    )
    evil.filters.update(env.filters)
    monkeypatch.setattr(page, "_environment", lambda: evil)
    with pytest.raises(RuntimeError, match="CSP"):
        build_html(report_context, report_figures, template="evil.html.j2")


def test_times_to_answer_read_as_people_say_them():
    from auditor.report.page import format_hours

    assert [format_hours(h) for h in (None, 0.25, 3.26, 30.4, 47.9, 50.0)] == ["–", "15 min", "3.3 h", "30 h", "48 h", "2.1 days"]
