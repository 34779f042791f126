"""The words of an ask: what the sender wrote in this message (quotes and signature removed), split into
sentences, each coloured self (about me/us: yellow) or other (about the reader: green) by the sentence model,
plus which sentence makes the request and of what kind."""
from __future__ import annotations

import re
from functools import cache

import polars as pl

from ..patterns import any_match, per_distinct_text
from . import sentence_model

_BULLET = re.compile(r"^\s*([-*•·]|\d+[.)])\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[A-Z0-9\"'(¿¡])")
GREETING = r"(?i)^\s*(?:hi|hello|hey|dear|good (?:morning|afternoon|evening)|greetings)[\s,]+([\w'’-]+)"


@cache
def _compiled(patterns: tuple[str, ...]) -> re.Pattern:
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


def clean_text(body: str | None, quote_openers: tuple[str, ...], signature_openers: tuple[str, ...],
               attributions: tuple[str, ...] = ()) -> str:
    """Only what the sender wrote in this message. ">" lines are quotes wherever they are, and the "On ...
    wrote:" line that introduces them goes with them, so a reply written below or between the quotes keeps its
    words; an attribution with no ">" lines after it, an unmarked quoted or forwarded block (Outlook's
    "From: ... Sent: ...") or the signature ends the text."""
    if not body:
        return ""
    quote, signature = _compiled(quote_openers), _compiled(signature_openers)
    attribution = _compiled(attributions) if attributions else None
    lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept = []
    for i, line in enumerate(lines):
        if line.lstrip().startswith(">"):
            continue
        if attribution is not None and attribution.search(line):
            following = next((l for l in lines[i + 1:] if l.strip()), "")
            if following.lstrip().startswith(">"):
                continue
            break
        if quote.search(line) or signature.search(line):
            break
        kept.append(line.rstrip())
    return "\n".join(kept).strip()


def clean_with(rules: dict):
    """clean_text with the rules' word lists bound: body -> text."""
    clean = rules["clean"]
    openers, signature = tuple(clean["quote_openers"]), tuple(clean["signature_openers"])
    attributions = tuple(clean.get("quote_attributions", ()))
    return lambda body: clean_text(body, openers, signature, attributions)


def split_sentences(text: str) -> list[str]:
    """Sentences of plain mail text. Hard-wrapped lines inside a paragraph are joined first; a short first line
    ending in a comma (the greeting) and list items stay sentences of their own."""
    sentences: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        lines = [line.strip() for line in paragraph.split("\n") if line.strip()]
        buffer: list[str] = []
        for line in lines:
            standalone = _BULLET.match(line) or (not buffer and not sentences and len(line) < 60 and line.endswith(","))
            if standalone:
                if buffer:
                    sentences += _SENTENCE_END.split(" ".join(buffer))
                    buffer = []
                sentences.append(line)
            else:
                buffer.append(line)
        if buffer:
            sentences += _SENTENCE_END.split(" ".join(buffer))
    return [s.strip() for s in sentences if s.strip()]


def sentence_frame(asks: pl.DataFrame) -> pl.DataFrame:
    """One row per (message_id, idx, text, colour, confidence, request_p) from every ask's stored sentences and the
    sentence models' stored verdicts on them (message_measures)."""
    return (
        asks.select("message_id", text="sentences", colour="colours", confidence="colour_confidence",
                    request_p="request_p")
        .explode("text", "colour", "confidence", "request_p")
        .drop_nulls("text")
        .with_columns(idx=pl.int_range(pl.len()).over("message_id").cast(pl.Int32))
    )


def mark_sentences(sentences: pl.LazyFrame, rules: dict) -> pl.LazyFrame:
    """A sentence is a request when the request model's probability reaches its cut (chosen on held-out real
    mail: sentence_model.json); which kind of ask it names still comes from the word lists of [ask.kinds]. Its
    colour came from the colour model when its message was measured."""
    kinds = rules["ask"]["kinds"]
    return per_distinct_text(
        sentences.with_columns(is_request=pl.col("request_p") >= sentence_model.load().request.threshold),
        **{f"kind_{kind}": any_match("text", patterns) for kind, patterns in kinds.items()},
    )


def message_text_features(coloured: pl.LazyFrame, rules: dict) -> pl.LazyFrame:
    """Per message: the ask sentence and its kind, its stated size, and the share of sentences about the reader."""
    kinds = list(rules["ask"]["kinds"])
    size_pattern = "(?i)(" + "|".join(rules["ask"]["size"]) + ")"
    threshold = rules["focus"]["other_threshold"]
    kind_hit = [pl.col(f"kind_{k}") for k in kinds]
    first_kind = pl.coalesce([pl.when(hit).then(pl.lit(k)) for k, hit in zip(kinds, kind_hit)])
    with_kind = coloured.with_columns(sentence_kind=first_kind)
    # The ask sentence: of the requests that name a kind of ask, the one the request model is surest of (the first
    # of equals), else the surest request at all. "We need volunteers. Could you give 2 hours a week?" asks in the
    # second sentence, though both may pass the cut.
    ranked = with_kind.with_columns(
        ask_rank=pl.when(pl.col("is_request") & pl.col("sentence_kind").is_not_null()).then(0)
        .when(pl.col("is_request")).then(1).otherwise(None)
    )
    per_message = ranked.group_by("message_id").agg(
        n_self=(pl.col("colour") == "self").sum(),
        n_other=(pl.col("colour") == "other").sum(),
        n_sentences=pl.len(),
        ask_idx=pl.col("idx").sort_by(["ask_rank", "request_p", "idx"], descending=[False, True, False],
                                      nulls_last=True).first(),
        has_request=pl.col("is_request").any(),
        message_kind=pl.col("sentence_kind").drop_nulls().mode().sort().first(),
        # In sentence order: a group's rows come in no fixed order, and `first` alone made re-runs disagree.
        first_self=pl.col("text").sort_by("idx").filter(pl.col("colour").sort_by("idx") == "self").first(),
        first_other=pl.col("text").sort_by("idx").filter(pl.col("colour").sort_by("idx") == "other").first(),
    )
    ask_rows = ranked.select("message_id", "idx", "text", "sentence_kind", ask_kind_sentence_rank="ask_rank")
    joined = per_message.join(ask_rows, left_on=["message_id", "ask_idx"], right_on=["message_id", "idx"], how="left")
    share = pl.col("n_other") / (pl.col("n_self") + pl.col("n_other"))
    return joined.select(
        "message_id",
        ask_kind=pl.when(~pl.col("has_request")).then(pl.lit("none"))
        .otherwise(pl.coalesce("sentence_kind", "message_kind", pl.lit("other"))),
        ask_sentence=pl.when(pl.col("has_request")).then(pl.col("text")),
        ask_idx=pl.when(pl.col("has_request")).then(pl.col("ask_idx")),
        ask_size=pl.when(pl.col("has_request")).then(pl.col("text").str.extract(size_pattern, 1)),
        other_share=pl.when(pl.col("n_self") + pl.col("n_other") > 0).then(share),
        focus=pl.when(pl.col("n_self") + pl.col("n_other") == 0).then(pl.lit("neutral"))
        .when(share >= threshold).then(pl.lit("other")).otherwise(pl.lit("self")),
        focus_reasons=pl.concat_list(
            pl.format("{} of {} sentences about the reader, {} about us", "n_other", "n_sentences", "n_self"),
            pl.when(pl.col("first_self").is_not_null()).then(pl.format("about us: \"{}\"", pl.col("first_self").str.slice(0, 120))),
            pl.when(pl.col("first_other").is_not_null()).then(pl.format("about them: \"{}\"", pl.col("first_other").str.slice(0, 120))),
        ).list.drop_nulls(),
    )
