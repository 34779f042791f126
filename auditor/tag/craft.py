"""Craft features the essays name beyond the three axes, decided per sentence over the stored sentences:
open questions (how/what/why) against closed ones, a request cut into a small first step, an easy no offered,
the commitment stated (how much, how long, by when), something given before the ask, and thanks.

The traps are in the rules, not special cases here: a rhetorical question ("who doesn't love a good book?") is
no question at all, and an opt-out that presses in the same breath ("no pressure, but I need this by Friday")
is no opt-out.
"""
from __future__ import annotations

import polars as pl

from ..patterns import any_match, per_distinct_text


def _question_start(cfg: dict) -> str:
    starts = "|".join(cfg["open_question_starts"])
    return "(?i)" + cfg["question_lead_in"] + r"(?:" + starts + r")\b"


def sentence_craft(sentences: pl.LazyFrame, rules: dict) -> pl.LazyFrame:
    """Adds per sentence: open_question, closed_question, chunk, opt_out, commitment, offer, thanks."""
    cfg = rules["craft"]
    question = pl.col("text").str.contains(r"\?[\s\"')\]]*$")
    rhetorical = any_match("text", cfg["rhetorical"])
    asked = question & ~rhetorical
    opens = pl.col("text").str.replace(cfg["list_item"], "").str.contains(_question_start(cfg))
    return per_distinct_text(
        sentences,
        open_question=asked & opens,
        closed_question=asked & ~opens,
        chunk=any_match("text", cfg["chunked"]),
        list_item=pl.col("text").str.contains(cfg["list_item"]),
        opt_out=any_match("text", cfg["opt_out"]) & ~any_match("text", cfg["pressure"]),
        commitment=any_match("text", cfg["commitment"]),
        offer=any_match("text", cfg["offer"]),
        thanks=any_match("text", cfg["gratitude"]),
    )


def craft_features(sentences: pl.LazyFrame, asks: pl.LazyFrame, rules: dict) -> pl.LazyFrame:
    """sentences: message_id, idx, text; asks: message_id, ask_idx (NULL without a request).
    One row per message with the craft columns and the sentences that decided them as reasons."""
    cfg = rules["craft"]
    # Sorted, so "the sentence that decided it" is the first in the message whatever order the joins left.
    marked = (sentence_craft(sentences, rules).join(asks.select("message_id", "ask_idx"), on="message_id", how="left")
              .sort("message_id", "idx"))
    # A give counts before the request; a message without one is all give.
    before_ask = pl.col("ask_idx").is_null() | (pl.col("idx") < pl.col("ask_idx"))

    def first(flag: pl.Expr) -> pl.Expr:
        return pl.col("text").filter(flag).first().str.slice(0, 120)

    per_message = marked.group_by("message_id").agg(
        open_questions=pl.col("open_question").sum().cast(pl.Int32),
        closed_questions=pl.col("closed_question").sum().cast(pl.Int32),
        chunked=pl.col("chunk").any() | (pl.col("list_item").sum() >= cfg["chunked_min_list_items"]),
        opt_out=pl.col("opt_out").any(),
        commitment_stated=pl.col("commitment").any(),
        offers_first=(pl.col("offer") & before_ask).any(),
        gratitude=pl.col("thanks").any(),
        _open=first(pl.col("open_question")),
        _chunk=first(pl.col("chunk")),
        _opt_out=first(pl.col("opt_out")),
        _commitment=first(pl.col("commitment")),
        _offer=first(pl.col("offer") & before_ask),
    )
    reasons = [("_open", "open question"), ("_chunk", "a small first step"), ("_opt_out", "an easy no"),
               ("_commitment", "the commitment stated"), ("_offer", "gives before asking")]
    return per_message.with_columns(
        craft_reasons=pl.concat_list([
            pl.when(pl.col(col).is_not_null()).then(pl.format(f'{label}: "{{}}"', pl.col(col))) for col, label in reasons
        ]).list.drop_nulls(),
    ).drop([col for col, _ in reasons])
