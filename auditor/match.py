"""Match: which asks got answers. Every (sequence, recipient) gets one outcome: a human answer within the reply
window, an auto-reply only, a bounce (taken out of the denominator), pending (its window is still open on the
as-of date) or none. All of it is set-based SQL over the whole mailbox (queries/match_*.sql).

The reply rate is defined once, here, and every report figure uses it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import polars as pl

from . import queries
from .config import Settings, digest
from .faults import fault_point
from .store import Store, now

MATCH_RULE_SECTIONS = ("match", "answer", "clean")
ANSWER_BATCH = 25_000       # answers whose bodies are read at once
# Reply rate = recipients with a human answer within the window / delivered recipients (bounces excluded),
# over sequences whose window has closed by the as-of date; pending sequences are counted apart.
RATE_DEFINITION = ("Reply rate = people who sent a human answer within {window} days of the last touch, divided by "
                   "the people the ask reached (bounced addresses left out), counting only asks whose {window}-day "
                   "window had closed by {as_of}; auto-replies are not answers, and asks still inside their window "
                   "are shown as pending. An ask and the follow-ups sent to the same person before an answer are "
                   "one sequence, styled by its first message. Style figures count the asks that request "
                   "something; thank-you notes and replies in a running conversation are listed under the kind "
                   "\"none\" only.")


def reply_rate(answered: int, delivered: int) -> float | None:
    return answered / delivered if delivered else None


def answer_kinds_of(store: Store, rules: dict) -> pl.DataFrame:
    """What each human answer among the stage's outcomes (`_match_outcomes`) says, read from its own words (quoted
    history and signature removed): answer_message_id, answer_kind, answer_phrase. The bodies come in batches: a
    million messages' answers are hundreds of megabytes of text."""
    from .replies import answer_kinds
    from .tag.text import clean_with

    clean = clean_with(rules)
    kinds = []
    for bodies in store.batches("answer_bodies", ANSWER_BATCH):
        cleaned = bodies.with_columns(
            clean=pl.Series([clean(b) for b in bodies["body_text"].to_list()], dtype=pl.String))
        kinds.append(answer_kinds(cleaned.lazy(), rules).select(
            "answer_message_id", "answer_kind", "answer_phrase").collect())
    return pl.concat(kinds) if kinds else pl.DataFrame(
        schema={"answer_message_id": pl.String, "answer_kind": pl.String, "answer_phrase": pl.String})


def attributions_of(store: Store, rules: dict) -> pl.DataFrame:
    """message_id, attribution: the first line that introduces quoted history ("On Tuesday, Laurent Pinchart
    wrote:"), lower-cased, of each list post without threading headers from someone the team wrote to
    (match_unthreaded_posts.sql). Through a list such a post answers whoever it quotes; without a quote, nobody can
    tell, and it counts for the person's own ask. Few messages: the rest have their headers."""
    from .parse import parse_or_reason

    pattern = re.compile("|".join(f"(?:{p})" for p in rules["match"]["reply_attributions"]), re.I | re.M)
    rows = []
    for message_id, body_kind, body_text, raw in store.query("match_unthreaded_posts").iter_rows():
        if body_kind == "deferred":
            record, _ = parse_or_reason((raw, None, False, False))
            body_text = record["body_text"] if record else ""
        found = pattern.search(body_text or "")
        rows.append((message_id, found.group(0).strip().lower() if found else None))
    return pl.DataFrame(rows, schema={"message_id": pl.String, "attribution": pl.String}, orient="row")


@dataclass
class MatchResult:
    skipped: bool
    sequences: int = 0
    outcomes: dict[str, int] | None = None


def run_match(store: Store, settings: Settings, run_id: int, *, force: bool = False) -> MatchResult:
    window = int(settings.rules["match"]["reply_window_days"])
    ruleset = digest({k: settings.rules.get(k) for k in MATCH_RULE_SECTIONS})
    tag_state = store.stage_fingerprint("tag") or ""
    fingerprint = digest([tag_state, ruleset, settings.as_of.isoformat()])
    if not force and store.stage_fingerprint("match") == fingerprint:
        return MatchResult(True)
    stamp = now()
    free_mail = list(settings.rules["match"]["free_mail_domains"])
    with store.transaction():
        # Straight from query to table: at a million messages the touches are millions of rows Python need not hold.
        store.run("DELETE FROM touches")
        store.run(f"INSERT INTO touches BY NAME {queries.get('match_touches')}", {"window_days": window})
        fault_point("match.during_write")     # crash tests: touches replaced, outcomes not, nothing committed
        store.run("DELETE FROM reply_attributions")
        with store.registered(_attributions=attributions_of(store, settings.rules)):
            store.run("INSERT INTO reply_attributions SELECT message_id, attribution FROM _attributions")
        # The outcomes too, by way of a working file: a million messages' are 640k rows, which Python held twice
        # (frame and insert) beside DuckDB's own memory. Only what the human answers say comes into Python.
        try:
            store.spool("_match_outcomes", queries.get("match_outcomes"),
                        {"window_days": window, "as_of": settings.as_of, "free_mail": free_mail,
                         "colleague_org_max_people": settings.rules["match"]["colleague_org_max_people"]})
            store.run("DELETE FROM outcomes")
            with store.registered(_kinds=answer_kinds_of(store, settings.rules)):
                store.run(queries.get("match_write_outcomes"), {"ruleset": ruleset, "run": run_id, "at": stamp})
        finally:
            store.clear_work()
        store.set_stage_fingerprint("match", fingerprint, run_id)
    counts = dict(store.run("SELECT outcome, count(*) FROM outcomes GROUP BY outcome"))
    return MatchResult(False, sum(counts.values()), counts)
