"""`auditor check --html`: the check of one draft as one self-contained, hostile-input-safe HTML page.

It shows what `check.render` prints, in the same words, and keeps the report page's promises (see page.py): the
template is autoescaped with `StrictUndefined`, and the page loads nothing. It is stricter still, since it needs no
chart: no script at all (`script-src 'none'`), no images, and its one `<style>` element allowed by its sha256
rather than by 'unsafe-inline'. Highlights stay readable on a black-and-white printout: each sentence says in
words which side it is about.

Unless `show_recipients`, every e-mail address in the check except the sender's own becomes its pseudonym (the
report's), and the page is refused if a recipient's address is still in it.
"""
from __future__ import annotations

import copy
import html
import re
from pathlib import Path
from typing import Any, Callable

from markupsafe import Markup

from ..check import warning_text
from . import LABEL_NAMES, pseudonym
from .page import HIGHLIGHTS, _check_fraction, _environment, _self_check, content_security_policy, csp_hash

TEMPLATE = "check.html.j2"
SHOWN_RECIPIENTS = 10           # as in the terminal; the rest are counted by warmth
SHOWN_IN_TITLE = 3
# Loose on purpose: anything shaped like an address is replaced; a recipient the pattern misses (a quoted local
# part) is caught by the exact pass after it.
_ADDRESS = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)+")
# Autoescaping turns every `<` from data into `&lt;`, so a literal `<style` in the output is one we wrote.
_STYLE = re.compile(r"<style\b[^>]*>(.*?)</style\s*>", re.IGNORECASE | re.DOTALL)
_STYLE_HASH = "__STYLE_HASH__"


def redact(value: Any, name: Callable[[str], str], recipients: list[str]) -> Any:
    """`value` (the check's dict, or any part of it) with every address in every string replaced by `name(address)`."""
    exact = (re.compile("|".join(re.escape(a) for a in sorted(recipients, key=len, reverse=True)), re.IGNORECASE)
             if recipients else None)

    def walk(item: Any) -> Any:
        if isinstance(item, str):
            item = _ADDRESS.sub(lambda m: name(m.group()), item)
            return exact.sub(lambda m: name(m.group()), item) if exact else item
        if isinstance(item, dict):
            return {k: walk(v) for k, v in item.items()}
        if isinstance(item, list):
            return [walk(v) for v in item]
        return item

    return walk(value)


def _validate(result: dict) -> None:
    """Catch contract mistakes that would otherwise render quietly wrong (a 0.42 meant as 42%, a colour the page
    cannot show)."""
    for s in result["sentences"]:
        if s["colour"] not in HIGHLIGHTS:
            raise ValueError(f"sentence colour {s['colour']!r} is not one of {HIGHLIGHTS}")
    focus, pred = result["focus"], result["prediction"]
    _check_fraction("focus.other_share", focus["other_share"])
    _check_fraction("focus.target", focus["target"])
    for key in ("p", "low", "high"):
        _check_fraction(f"prediction.base_rate.{key}", pred["base_rate"][key])
        for w in pred["by_warmth"]:
            _check_fraction(f"prediction.by_warmth[{w['warmth']}].{key}", w[key])
        for f in result["craft"]["flags"]:
            for side in ("with", "without"):
                _check_fraction(f"craft.flags[{f['check']}].{side}.{key}", f[side][key])
    for w in pred["what_if"]:
        _check_fraction("prediction.what_if.from", w["from"])
        _check_fraction("prediction.what_if.to", w["to"])
    if pred["shown"] and not pred["by_warmth"]:
        raise ValueError("prediction.shown without a chance in prediction.by_warmth")
    if not pred["shown"] and not pred["reason"]:
        raise ValueError("prediction not shown and no reason given")


def _policy(style_hash: str) -> str:
    """The report's policy, tightened: no script, no image, and only our own stylesheet."""
    directives = dict(d.split(" ", 1) for d in content_security_policy(["'none'"]).split("; "))
    directives |= {"style-src": style_hash, "img-src": "'none'"}
    return "; ".join(f"{name} {sources}" for name, sources in directives.items())


def _context(result: dict, show_recipients: bool) -> dict:
    people, audience = result["recipients"], result["audience"]
    template = audience["template"]
    rest = people[SHOWN_RECIPIENTS:]
    return {
        **result,
        "title": "Draft check",
        "focus_words": LABEL_NAMES["focus"],
        # A recipient's name is as telling as their address: a page that names no one says only that it differs.
        "warning_lines": [warning_text(w, with_name=show_recipients) for w in result.get("warnings", [])],
        "to_first": result["draft"]["recipients"][:SHOWN_IN_TITLE],
        "to_more": max(0, len(result["draft"]["recipients"]) - SHOWN_IN_TITLE),
        # A template the reasons already name (the draft counts as one of its copies) is not said twice.
        "closest": template if template and not any(r.endswith(template["first_sent"]) for r in audience["reasons"])
        else None,
        "shown_recipients": people[:SHOWN_RECIPIENTS],
        "more_recipients": len(rest),
        "more_by_warmth": [(w, n) for w in ("warm", "lapsed", "cold") if (n := sum(r["warmth"] == w for r in rest))],
    }


def build_check_html(result: dict, *, key: bytes, show_recipients: bool = False) -> str:
    """The check `result` (what `check.check_draft` returns) as one HTML page. Raises ValueError when the result
    breaks the contract; RuntimeError when the page would break its own promises."""
    _validate(result)
    recipients = list(dict.fromkeys(result["draft"]["recipients"] + [r["address"] for r in result["recipients"]]))
    if not show_recipients:
        own = (result["draft"]["from"] or "").lower()
        result = redact(copy.deepcopy(result), lambda a: a if a.lower() == own else pseudonym(a, key), recipients)
    page = _environment().get_template(TEMPLATE).render(**_context(result, show_recipients), csp=Markup(_policy(_STYLE_HASH)))
    styles = _STYLE.findall(page)
    if len(styles) != 1:
        raise RuntimeError(f"the check template must emit exactly one <style> element, not {len(styles)}")
    page = page.replace(_STYLE_HASH, csp_hash(styles[0]), 1)
    _self_check(page, [])
    if not show_recipients:
        lowered = page.lower()
        named = [a for a in recipients if a.lower() in lowered or html.escape(a).lower() in lowered]
        if named:
            raise RuntimeError(f"{len(named)} recipient address(es) would appear on a page that names no one")
    return page


def write_check_page(result: dict, path: Path, *, key: bytes, show_recipients: bool = False) -> Path:
    """Write the check page to `path` (its folder made if need be) and return the path."""
    page = build_check_html(result, key=key, show_recipients=show_recipients)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)   # a reader never sees half a page
    return path
