"""Turn the report's numbers and figures into one self-contained, hostile-input-safe HTML page.

Every string that reaches this module may come from someone else's mail (subjects, names, bodies), so:

* the template is rendered with autoescaping on and `StrictUndefined`, so a missing key fails loudly instead of
  printing nothing;
* figure JSON travels in inert `<script type="application/json">` blocks with `<`, `>` and `&` written as
  `\\u003c`/`\\u003e`/`\\u0026`, so `</script>` or `<!--` inside a subject cannot end the block;
* the page carries a Content-Security-Policy that lets run only the two inline scripts we emit (plotly.js, inlined
  exactly once, and a small bootstrap that draws each chart), by their sha256. Injected markup that somehow got
  through could neither run script nor load anything: the page makes no request at all.

Number formats the template relies on: `rate`, `low` and `high` are fractions in [0, 1]; `summary.answered_pct` is
a percentage in [0, 100]. Both are shown as whole percentages, and None as "–".
"""
from __future__ import annotations

import base64
import hashlib
import html
import re
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any

import jinja2
from markupsafe import Markup

from auditor.resources import data_dir

if TYPE_CHECKING:
    import plotly.graph_objects as go

DASH = "–"
HIGHLIGHTS = ("self", "other", "neutral")
# Figures the template knows how to place besides one per axis.
EXTRA_FIGURES = ("fig-trend", "fig-effects", "fig-km-audience", "fig-km-focus", "fig-km-warmth", "fig-bands",
                 "fig-priors")

# A figure id ends up in an element id and a data- attribute; keep it to a boring alphabet.
_FIGURE_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
# Autoescaping turns every `<` from data into `&lt;`, so a literal `<script` in the output is one we wrote.
_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.IGNORECASE | re.DOTALL)
_JSON_TYPE = re.compile(r"""\btype\s*=\s*["']?application/json\b""", re.IGNORECASE)

_HTML_UNSAFE = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    # Valid in JSON, but line terminators in older JavaScript parsers: harmless to escape, never needed raw.
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_HTML_UNSAFE_RE = re.compile("[<>&\u2028\u2029]")

# Draws every <div class="plot" data-fig="ID"> from the JSON block with id "data-ID". `__CONFIG__` is replaced by
# the plotly config; the result is hashed for the CSP after that, so the hash always covers the emitted text.
_BOOTSTRAP = """
(function () {
  "use strict";
  var config = __CONFIG__;
  var PRINT_WIDTH = 640;
  var drawn = [];
  function draw() {
    var divs = document.querySelectorAll("div.plot[data-fig]");
    for (var i = 0; i < divs.length; i++) {
      var div = divs[i];
      var block = document.getElementById("data-" + div.getAttribute("data-fig"));
      if (!block) {
        div.textContent = "Chart data missing.";
        continue;
      }
      var fig = JSON.parse(block.textContent);
      Plotly.newPlot(div, fig.data || [], fig.layout || {}, config);
      drawn.push(div);
    }
  }
  // Chrome lays the page out for paper only after "beforeprint", so resizing to the container then would keep
  // the screen width. Give each chart a width that fits A4 and Letter instead, and undo it after printing.
  var saved = null;
  function forPrint() {
    if (saved) return;
    saved = [];
    for (var i = 0; i < drawn.length; i++) {
      var width = drawn[i].layout.width;
      saved.push(width === undefined ? null : width);
      Plotly.relayout(drawn[i], {width: Math.min(PRINT_WIDTH, width || drawn[i].clientWidth || PRINT_WIDTH)});
    }
  }
  function forScreen() {
    if (!saved) return;
    for (var i = 0; i < drawn.length; i++) {
      Plotly.relayout(drawn[i], {width: saved[i]});
      if (saved[i] === null) Plotly.Plots.resize(drawn[i]);
    }
    saved = null;
  }
  window.addEventListener("beforeprint", forPrint);
  window.addEventListener("afterprint", forScreen);
  if (window.matchMedia) {
    window.matchMedia("print").addEventListener("change", function (e) { (e.matches ? forPrint : forScreen)(); });
  }
  draw();
})();
"""


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(data_dir("templates"))),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pct"] = format_fraction
    env.filters["pct100"] = format_percent
    env.filters["interval"] = format_interval
    env.filters["num"] = format_count
    env.filters["hours"] = format_hours
    return env


def json_for_html(obj: Any) -> str:
    """`obj` as JSON that is safe as the text of a `<script type="application/json">` block (or any HTML).

    Uses plotly's encoder, so figures' numpy arrays, dates and decimals serialise too. `<`, `>` and `&` only
    ever occur inside JSON strings, where `\\u003c` etc. mean the same, so `JSON.parse` gives back `obj`.
    """
    from plotly.io.json import to_json_plotly

    text = to_json_plotly(obj, pretty=False)
    return _HTML_UNSAFE_RE.sub(lambda m: _HTML_UNSAFE[m.group()], text)


def plot_text(value: str) -> str:
    """Mail text for a plotly title, tick label, legend name or hover text, shown exactly as written.

    plotly.js reads a subset of HTML in those (`<b>`, `<br>`, `<a href="https://...">` becomes a live link) and
    decodes entities, so escaping `&`, `<`, `>` makes it print the string instead of interpreting it.
    """
    return html.escape(value, quote=False)


def csp_hash(script_text: str) -> str:
    """The CSP source expression allowing an inline script whose exact text is `script_text`."""
    digest = hashlib.sha256(script_text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


def content_security_policy(script_hashes: list[str]) -> str:
    # style-src must stay bare 'unsafe-inline': plotly injects <style> rules at run time, and a hash or nonce
    # next to 'unsafe-inline' would make browsers ignore it. Scripts never get 'unsafe-inline'.
    return "; ".join(
        [
            "default-src 'none'",
            "script-src " + " ".join(script_hashes),
            "style-src 'unsafe-inline'",
            # blob: only for the mode bar's "download as PNG", which draws the chart through a blob: image.
            # Only script can mint a blob: URL, and only our two hashed scripts run.
            "img-src data: blob:",
            "font-src 'none'",
            "connect-src 'none'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'none'",
        ]
    )


def format_fraction(value: float | None) -> str:
    return DASH if value is None else f"{value * 100:.0f}%"


def format_percent(value: float | None) -> str:
    return DASH if value is None else f"{value:.0f}%"


def format_interval(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return DASH
    return f"{low * 100:.0f}–{high * 100:.0f}%"


def format_hours(value: float | None) -> str:
    """A time to answer the way people say it: minutes under an hour, hours under two days, else days."""
    if value is None:
        return DASH
    if value < 1:
        return f"{value * 60:.0f} min"
    if value < 48:
        return f"{value:.0f} h" if value >= 10 else f"{value:.1f} h"
    return f"{value / 24:.1f} days"


def format_count(value: int | str | None) -> str:
    if value is None:
        return DASH
    if isinstance(value, bool) or not isinstance(value, int):
        return str(value)
    return f"{value:,}"


@cache
def _plotly_js() -> tuple[str, str]:
    """plotly.js (4.8 MB) and its CSP hash, read and hashed once per process."""
    import plotly.offline

    js = plotly.offline.get_plotlyjs()
    # plotly.js contains neither today; a future build that did would end the inline <script> early.
    if re.search(r"</script|<!--", js, re.IGNORECASE):
        raise RuntimeError("this plotly.js build contains '</script' or '<!--' and cannot be inlined safely")
    return js, csp_hash(js)


def _check_fraction(where: str, value: Any) -> None:
    # A little slack: an interval bound computed in floating point can land a hair past 0 or 1.
    if value is not None and not -1e-9 <= value <= 1.0 + 1e-9:
        raise ValueError(f"{where} = {value!r}: rates and intervals are fractions in [0, 1]")


def _validate(context: Mapping[str, Any], figures: Mapping[str, Any]) -> None:
    """Catch contract mistakes that would otherwise render quietly wrong (a 42 shown as 4200%)."""
    for fig_id in figures:
        if not _FIGURE_ID.match(fig_id):
            raise ValueError(f"figure id {fig_id!r} must match {_FIGURE_ID.pattern}")
    axis_ids = [axis["figure_id"] for axis in context["axes"]]
    missing = [fig_id for fig_id in axis_ids if fig_id not in figures]
    if missing:
        raise ValueError(f"no figure given for axes {missing}")
    unplaced = [fig_id for fig_id in figures if fig_id not in axis_ids and fig_id not in EXTRA_FIGURES]
    if unplaced:
        raise ValueError(
            f"figures {unplaced} belong to no axis; besides one per axis the template places only {list(EXTRA_FIGURES)}"
        )
    pct = context["summary"]["answered_pct"]
    if pct is not None and not 0.0 <= pct <= 100.0:
        raise ValueError(f"summary.answered_pct = {pct!r}: a percentage in [0, 100]")
    for axis in context["axes"]:
        for row in axis["rows"]:
            for key in ("rate", "low", "high"):
                _check_fraction(f"axes[{axis['key']}].{row['label']}.{key}", row[key])
    for cell in context["grid"]:
        _check_fraction("grid.rate", cell["rate"])
    for table in context["tables"]:
        for row in table["rows"]:
            for key in ("rate", "low", "high"):
                _check_fraction(f"tables[{table['id']}].{key}", row[key])
    for example in context["examples"]:
        for sentence in example["sentences"]:
            if sentence["colour"] not in HIGHLIGHTS:
                raise ValueError(f"sentence colour {sentence['colour']!r} is not one of {HIGHLIGHTS}")


def _self_check(page: str, hashes: list[str]) -> None:
    """Every executable inline script in `page` is allowed by the CSP, and the CSP allows nothing else."""
    found = [
        csp_hash(body)
        for attrs, body in _SCRIPT.findall(page)
        if not _JSON_TYPE.search(attrs)
    ]
    if sorted(found) != sorted(hashes):
        raise RuntimeError(
            "the template emitted executable <script> elements the CSP does not list (or the reverse); "
            "add scripts through page.py, not the template"
        )


def build_html(
    context: dict,
    figures: Mapping[str, go.Figure | dict],
    template: str = "report.html.j2",
    *,
    static: bool = False,
) -> str:
    """Render `template` with `context` into one self-contained HTML page drawing `figures`.

    `figures` maps each axis's `figure_id` (plus optionally "fig-trend") to a plotly figure (or its
    `to_plotly_json()` dict). Mail text inside figures should go through `plot_text`. `static=True`
    draws charts without hover or mode bar (plotly's staticPlot), for screenshots and print.
    Raises ValueError when the context breaks the contract in a way that would render wrongly.
    """
    _validate(context, figures)
    figure_data = [
        {"id": fig_id, "json": Markup(json_for_html(fig.to_plotly_json() if hasattr(fig, "to_plotly_json") else fig))}
        for fig_id, fig in figures.items()
    ]
    config = {
        "displaylogo": False,
        "responsive": True,
        "staticPlot": static,
        # plotly.js 4 shows a "Share chart" button by default that posts the whole figure (subjects, names) to
        # Plotly Cloud in a new window; CSP does not govern window.open, so the button must not exist at all.
        "showSendToCloud": False,
        "plotlyServerURL": "",
        "toImageButtonOptions": {"filename": "outreach-chart"},
    }
    bootstrap = _BOOTSTRAP.replace("__CONFIG__", json_for_html(config))
    plotly_js, plotly_hash = _plotly_js()
    hashes = [plotly_hash, csp_hash(bootstrap)]

    page = _environment().get_template(template).render(
        **context,
        figure_ids=list(figures),
        summary_json=Markup(json_for_html(context["summary"])),
        figure_data=figure_data,
        # Only quotes and base64 in it, so it reads as written rather than as &#39;none&#39;.
        csp=Markup(content_security_policy(hashes)),
        plotly_js=Markup(plotly_js),
        bootstrap_js=Markup(bootstrap),
    )
    _self_check(page, hashes)
    return page
