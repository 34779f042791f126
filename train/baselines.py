"""What the model is measured against, on the same folds: counting pronouns, and the hand rules the tagger used
before the model (its word lists, now the `[lists]` cues, deciding as verdicts)."""
from __future__ import annotations

import polars as pl

from auditor.patterns import any_match
from auditor.tag.sentence_model import cue_file

YOU = r"(?i)\b(?:you|your|yours|yourself|you're|you'll|you'd|you've)\b"
US = r"(?i)\b(?:i|me|my|mine|i'm|i've|i'd|i'll|we|us|our|ours|we're|we've|we'd|we'll)\b"


def pronoun_colours(texts: pl.Series) -> pl.Series:
    """Green where you/your outnumber I/we/our, yellow where fewer, neutral where neither is named."""
    frame = pl.DataFrame({"text": texts}).select(
        you=pl.col("text").str.count_matches(YOU), us=pl.col("text").str.count_matches(US))
    return frame.select(pl.when(pl.col("you") > pl.col("us")).then(pl.lit("other"))
                        .when(pl.col("us") > pl.col("you")).then(pl.lit("self"))
                        .otherwise(pl.lit("neutral")).alias("colour"))["colour"]


def rule_colours(texts: pl.Series) -> pl.Series:
    """The tagger's rules as they stood: a pleasantry is neutral; a phrase of the writer's need (or any request)
    without one of the reader's benefit is yellow; a benefit phrase without need is green; else weighted pronoun
    counts decide."""
    lists = cue_file()["lists"]
    frame = pl.DataFrame({"text": texts}).with_columns(
        need=any_match("text", lists["writer_need_phrases"]), benefit=any_match("text", lists["reader_benefit_phrases"]),
        neutral=any_match("text", lists["pleasantry"]), request=any_match("text", lists["request_form"]),
        you=pl.col("text").str.count_matches(YOU), us=pl.col("text").str.count_matches(US))
    self_score = pl.col("us") + 2 * pl.col("need").cast(pl.Int32)
    other_score = pl.col("you") + 2 * pl.col("benefit").cast(pl.Int32)
    return frame.select(
        pl.when(pl.col("neutral")).then(pl.lit("neutral"))
        .when((pl.col("need") | pl.col("request")) & ~pl.col("benefit")).then(pl.lit("self"))
        .when(pl.col("benefit") & ~pl.col("need")).then(pl.lit("other"))
        .when(self_score > other_score).then(pl.lit("self"))
        .when(other_score > self_score).then(pl.lit("other"))
        .otherwise(pl.lit("neutral")).alias("colour"))["colour"]


def rule_requests(texts: pl.Series) -> pl.Series:
    """The tagger's request patterns as they stood: 1.0 where one matches."""
    return pl.DataFrame({"text": texts}).select(
        any_match("text", cue_file()["lists"]["request_form"]).cast(pl.Float64))["text"]


def old_audience_rules() -> dict:
    """The rules as they stood before the mass model read the text: five recipients made a broadcast alone."""
    from auditor.config import load_rules

    rules = load_rules()
    rules["audience"] = {**rules["audience"], "many_recipients_weight": 2.0, "mass_text_weight": 0.0}
    return rules
