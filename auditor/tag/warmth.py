"""Warm, lapsed or cold, per recipient, from the mailbox's own history at the moment of the send.

warm: two-way contact (they wrote to us and we wrote to them) within the window before the send; lapsed: both
directions happened, but not both within the window; cold: no earlier mail, or mail one way only. Having given
first (an earlier message to them that asked for nothing) is shown as a reason, never as warmth. Contact that
starts after the ask does not warm it: every look-up is an as-of join strictly before the send.
"""
from __future__ import annotations

import polars as pl


def _last_before(pairs: pl.LazyFrame, events: pl.LazyFrame, name: str) -> pl.LazyFrame:
    """For each (recipient, sent_at) pair, the time of that person's latest event strictly before sent_at."""
    events = events.select(pl.col("person").alias("recipient"), pl.col("at").alias(name)).sort(name)
    return pairs.sort("sent_at").join_asof(events, left_on="sent_at", right_on=name, by="recipient",
                                           strategy="backward", allow_exact_matches=False,
                                           check_sortedness=False)


def tag_warmth(pairs: pl.LazyFrame, inbound: pl.LazyFrame, outbound: pl.LazyFrame, gifts: pl.LazyFrame,
               mailbox_start, rules: dict) -> pl.LazyFrame:
    """pairs: message_id, recipient, sent_at. inbound: person, at (mail a person wrote to us, robots and lists
    excluded). outbound: person, at (every earlier message we sent them). gifts: person, at (earlier messages
    that asked for nothing). Adds warmth, warmth_reasons, days_since_contact, gave_first, history_incomplete."""
    cfg = rules["warmth"]
    window = pl.duration(days=cfg["window_days"])
    joined = _last_before(pairs, inbound, "last_in")
    joined = _last_before(joined, outbound, "last_out")
    joined = _last_before(joined, gifts, "last_gift")
    since = pl.col("sent_at") - window
    both = pl.col("last_in").is_not_null() & pl.col("last_out").is_not_null()
    two_way_at = pl.min_horizontal("last_in", "last_out")
    days = ((pl.col("sent_at") - two_way_at).dt.total_days()).cast(pl.Int32)
    grace = pl.duration(days=cfg["history_grace_days"])
    return joined.with_columns(
        warmth=pl.when(both & (two_way_at >= since)).then(pl.lit("warm"))
        .when(both).then(pl.lit("lapsed"))
        .otherwise(pl.lit("cold")),
        days_since_contact=pl.when(both).then(days),
        gave_first=pl.col("last_gift").is_not_null(),
        history_incomplete=pl.col("sent_at") < pl.lit(mailbox_start) + grace if mailbox_start is not None else pl.lit(False),
    ).with_columns(
        warmth_reasons=pl.concat_list(
            pl.when(pl.col("warmth") == "warm").then(pl.format(
                "two-way contact {} days before (they last wrote {}, we last wrote {})", "days_since_contact",
                pl.col("last_in").dt.date(), pl.col("last_out").dt.date()))
            .when(pl.col("warmth") == "lapsed").then(pl.format(
                "last two-way contact {} days before, longer than {} days", "days_since_contact", pl.lit(cfg["window_days"])))
            .when(pl.col("last_out").is_not_null()).then(pl.lit("one-way: we wrote to them before, they never wrote to us"))
            .when(pl.col("last_in").is_not_null()).then(pl.lit("one-way: they wrote to us before, we never wrote back"))
            .otherwise(pl.lit("no earlier mail with them")),
            pl.when(pl.col("gave_first")).then(pl.format("gave first: sent them something without an ask on {}",
                                                         pl.col("last_gift").dt.date())),
            pl.when(pl.col("history_incomplete")).then(pl.lit("sent in the mailbox's first weeks: earlier history may be missing")),
        ).list.drop_nulls()
    ).drop("last_in", "last_out", "last_gift")
