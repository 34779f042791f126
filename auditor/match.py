"""Match: which asks got answers. Every (sequence, recipient) gets one outcome: a human answer within the reply
window, an auto-reply only, a bounce (taken out of the denominator), pending (its window is still open on the
as-of date) or none. All of it is set-based SQL over the whole mailbox (queries/match_*.sql).

The reply rate is defined once, here, and every report figure uses it.
"""
from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from .config import Settings, digest
from .store import Store, now

MATCH_RULE_SECTIONS = ("match",)
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
    with store.transaction():
        touches = store.query("match_touches", window_days=window)
        store.replace("touches", touches, in_transaction=True)
        outcomes = store.query("match_outcomes", window_days=window, as_of=settings.as_of).with_columns(
            ruleset_digest=pl.lit(ruleset), run_id=pl.lit(run_id, pl.Int64), matched_at=pl.lit(stamp))
        store.replace("outcomes", outcomes, in_transaction=True)
        store.set_stage_fingerprint("match", fingerprint, run_id)
    counts = dict(outcomes.group_by("outcome").len().iter_rows())
    return MatchResult(False, outcomes.height, counts)
