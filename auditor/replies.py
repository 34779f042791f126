"""What a reply says: the return date an out-of-office states ("back on 20 March"), and what a human answer
means (positive, objection, referral, unsubscribe, or neutral/question) with the phrase that decided it.
Word lists live in rules.toml ([answer]); dates are read in English, German, French and Spanish."""
from __future__ import annotations

import re
from datetime import date, datetime

import polars as pl

from .patterns import any_match

MONTHS = {
    **{m: i for i, m in enumerate(["january", "february", "march", "april", "may", "june", "july", "august",
                                   "september", "october", "november", "december"], 1)},
    **{m: i for i, m in enumerate(["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1)},
    "sept": 9,
    **{m: i for i, m in enumerate(["januar", "februar", "märz", "april", "mai", "juni", "juli", "august",
                                   "september", "oktober", "november", "dezember"], 1)},
    "maerz": 3, "jänner": 1,
    **{m: i for i, m in enumerate(["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
                                   "septembre", "octobre", "novembre", "décembre"], 1)},
    "fevrier": 2, "aout": 8, "decembre": 12,
    **{m: i for i, m in enumerate(["enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
                                   "septiembre", "octubre", "noviembre", "diciembre"], 1)},
}
_MONTH = "|".join(sorted((re.escape(m) for m in MONTHS), key=len, reverse=True))
_WEEKDAY = r"(?:(?:mon|tues?|wed(?:nes)?|thu(?:rs)?|fri|sat(?:ur)?|sun)(?:day)?|montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonntag|lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche|lunes|martes|miércoles|jueves|viernes|sábado|domingo)\.?,?\s+"
_CUE = (r"(?:until|till|through|back (?:in the office )?on|back|returning(?: on)?|return(?: to the office)? on|"
        r"in the office (?:again )?on|bis(?: einschließlich| zum)?|ab dem|ab|zurück am|wieder (?:erreichbar |im büro )?(?:am|ab)|"
        r"jusqu'au|jusqu’au|de retour le|de retour|retour le|à partir du|hasta el|de vuelta el|regreso el|a partir del)")
_DATE_PATTERNS = [
    # 20 March 2026, 20th March, 20. März, le 20 mars, 20 de marzo
    re.compile(rf"{_CUE}\s+(?:{_WEEKDAY})?(?:the\s+|le\s+|el\s+)?(\d{{1,2}})(?:st|nd|rd|th|er)?\.?\s+(?:de\s+)?({_MONTH})\.?(?:,?\s+(\d{{4}}))?", re.I),
    # March 20, 2026 / March 20th
    re.compile(rf"{_CUE}\s+(?:{_WEEKDAY})?({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(\d{{4}}))?", re.I),
    # 2026-03-20
    re.compile(rf"{_CUE}\s+(?:{_WEEKDAY})?(\d{{4}})-(\d{{2}})-(\d{{2}})", re.I),
    # 20.03.2026, 20/03/2026, 20.03.
    re.compile(rf"{_CUE}\s+(?:{_WEEKDAY})?(\d{{1,2}})[./](\d{{1,2}})[./]?(\d{{2,4}})?", re.I),
]


def return_date(text: str | None, sent: datetime | None) -> date | None:
    """The date an out-of-office says its writer is back, or None. A date without a year is the next such
    date after the reply was sent."""
    if not text:
        return None
    for kind, pattern in enumerate(_DATE_PATTERNS):
        found = pattern.search(text)
        if not found:
            continue
        g = found.groups()
        try:
            if kind == 0:
                day, month, year = int(g[0]), MONTHS[g[1].lower()], g[2]
            elif kind == 1:
                month, day, year = MONTHS[g[0].lower()], int(g[1]), g[2]
            elif kind == 2:
                year, month, day = g[0], int(g[1]), int(g[2])
            else:
                day, month, year = int(g[0]), int(g[1]), g[2]
                if month > 12 and day <= 12:       # 03/20: month first
                    day, month = month, day
            if year is not None:
                year = int(year) + (2000 if len(str(year)) == 2 else 0)
                return date(year, month, day)
            base = (sent or datetime.now()).date()
            candidate = date(base.year, month, day)
            return candidate if candidate >= base else date(base.year + 1, month, day)
        except (ValueError, KeyError):
            continue
    return None


ANSWER_KINDS = ("unsubscribe", "referral", "objection", "positive")


def answer_kinds(answers: pl.LazyFrame, rules: dict) -> pl.LazyFrame:
    """answers: a `clean` column (the reply's own words, quotes removed). Adds answer_kind and answer_phrase.
    Order matters: "take me off your list" is an unsubscribe whatever else it says; "not me, but ask Dana" is a
    referral although it says no; a plain no is an objection; then yes; anything else is neutral (a question,
    a maybe, a thank-you)."""
    cfg = rules["answer"]
    # A phrase may wrap across lines ("ask my\ncolleague Dana"): read the words, not the layout.
    answers = answers.with_columns(pl.col("clean").str.replace_all(r"\s+", " "))
    phrase = pl.coalesce([
        pl.col("clean").str.extract("(?i)(" + "|".join(f"(?:{p})" for p in cfg[kind]) + ")", 1) for kind in ANSWER_KINDS
    ])
    kind = pl.coalesce([pl.when(any_match("clean", cfg[k])).then(pl.lit(k)) for k in ANSWER_KINDS] + [pl.lit("neutral")])
    return answers.with_columns(answer_kind=kind, answer_phrase=phrase)
