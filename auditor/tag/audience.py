"""Mass or personal: is this one person asked as themselves, or one of many asked at once?

Evidence, each a weighted reason: how many people the message went to (visible, or undisclosed), bulk and
mail-merge headers, the same text sent to several people (a template, once names, addresses and numbers are
masked), a generic greeting, the words of a mass appeal, the text itself read by the mass model (is it written
for everyone, as a newsletter or a notice is, whoever it went to: its log-odds, fit on real mail), and, against
all that, a greeting by the recipient's own name. A mail-merge that greets each person by first name is still
mass: its headers and template say so. A note to five named colleagues is not mass on its count alone: a group of five to
fourteen needs more evidence (fifteen or more are a broadcast).
"""
from __future__ import annotations

import polars as pl

from ..patterns import any_match
from .text import GREETING


def masked_text(clean: pl.Expr) -> pl.Expr:
    """The text with what a mail-merge varies (the greeting line, capitalised words, addresses, links, numbers)
    masked, so the copies of one template read alike."""
    return (
        clean.str.replace(GREETING, "<greeting>")
        .str.replace_all(r"\S+@\S+", "<email>")
        .str.replace_all(r"https?://\S+", "<url>")
        .str.replace_all(r"\b[A-Z][\w'’-]*", "<name>")
        .str.replace_all(r"\d[\d,.]*", "<n>")
        # A merge field may hold one word or several ("Ana" / "Ana Lucía", "Acme" / "Acme Health Partners").
        .str.replace_all(r"(?:<name>\s*)+", "<name> ")
        .str.replace_all(r"\s+", " ")
        .str.to_lowercase()
    )


def tag_audience(asks: pl.LazyFrame, rules: dict) -> pl.LazyFrame:
    """asks: message_id, recipients_ext (list of {addr, name}), undisclosed, h_* headers, clean, first_sentence.
    Adds audience, audience_score, audience_reasons."""
    cfg = rules["audience"]
    n_ext = pl.col("recipients_ext").list.len()
    greeting_name = pl.col("first_sentence").str.extract(GREETING, 1).str.to_lowercase()
    first_names = pl.col("recipients_ext").list.eval(
        pl.element().struct.field("name").str.extract(r"^\s*([\w'’-]+)", 1).str.to_lowercase()
    )
    template_size = pl.col("template_recipients")
    # A greeting by first name is evidence of a personal note only when the text is not a template: in a
    # mail-merge the name is just the merge field.
    templated = template_size >= cfg["template_min_recipients"]
    named = greeting_name.is_not_null() & first_names.list.contains(greeting_name) & ~templated
    generic = any_match("first_sentence", cfg["generic_greetings"]) & ~named
    campaign_hits = pl.col("clean").str.extract_all("(?i)" + "(?:" + "|".join(f"(?:{p})" for p in cfg["campaign_text"]) + ")")
    mailer = any_match("h_mailer", cfg["merge_mailers"])
    bulk = (pl.col("h_list_unsubscribe").is_not_null() | pl.col("h_list_id").is_not_null()
            | pl.col("h_precedence").is_in(["bulk", "list", "junk"]) | mailer | pl.col("h_merge_header"))
    bulk_reason = pl.format("bulk-mail headers ({})", pl.concat_str(
        pl.when(pl.col("h_list_unsubscribe").is_not_null()).then(pl.lit("List-Unsubscribe")),
        pl.when(pl.col("h_precedence").is_in(["bulk", "list", "junk"])).then(pl.format("Precedence: {}", "h_precedence")),
        pl.when(mailer).then(pl.format("mailer: {}", "h_mailer")),
        pl.when(pl.col("h_merge_header")).then(pl.lit("campaign headers")),
        separator=", ", ignore_nulls=True))

    parts = [
        (n_ext >= cfg["broadcast_recipients"], cfg["broadcast_recipients_weight"], pl.format("sent to {} people at once", n_ext)),
        ((n_ext >= cfg["many_recipients"]) & (n_ext < cfg["broadcast_recipients"]), cfg["many_recipients_weight"],
         pl.format("sent to {} people at once", n_ext)),
        ((n_ext >= cfg["few_recipients"]) & (n_ext < cfg["many_recipients"]), cfg["few_recipients_weight"],
         pl.format("sent to {} people together", n_ext)),
        (pl.col("undisclosed"), cfg["undisclosed_weight"], pl.lit("undisclosed recipients (a Bcc blast)")),
        (bulk, cfg["bulk_header_weight"], bulk_reason),
        (templated, cfg["template_weight"],
         pl.format("the same text went to {} people", template_size)),
        (generic, cfg["generic_greeting_weight"], pl.format("generic greeting: \"{}\"", pl.col("first_sentence").str.slice(0, 40))),
        (named, cfg["named_greeting_weight"], pl.format("greets {} by name", pl.col("first_sentence").str.extract(GREETING, 1))),
    ]
    campaign_score = pl.min_horizontal(campaign_hits.list.len() * cfg["campaign_text_weight"], pl.lit(cfg["campaign_text_cap"]))
    # The mass model's log-odds that the text is written for everyone, counted only for mass: a text that reads
    # personal cannot undo the copies, the Bcc blast or the "Hi all" that show a message went to many (a warm
    # mail-merge reads personal: that is its craft). No text (nothing measured) is no evidence.
    p = pl.col("mass_p").cast(pl.Float64).clip(1e-6, 1 - 1e-6)
    text_score = ((p / (1 - p)).log() * cfg["mass_text_weight"]).clip(0.0, cfg["mass_text_cap"]).fill_null(0.0).fill_nan(0.0)
    score = (pl.sum_horizontal([pl.when(cond).then(weight).otherwise(0.0) for cond, weight, _ in parts])
             + campaign_score + text_score)
    reasons = pl.concat_list(
        [pl.when(cond).then(reason) for cond, _, reason in parts]
        + [pl.when(campaign_hits.list.len() > 0).then(
            pl.format("mass-appeal wording: \"{}\"", campaign_hits.list.unique(maintain_order=True).list.join("\", \""))),
           pl.when(text_score >= cfg["mass_text_reason"]).then(
            pl.format("the text reads as written for everyone ({}%)", (p * 100).round(0).cast(pl.Int32)))]
    ).list.drop_nulls()
    return asks.with_columns(
        audience_score=score.cast(pl.Float64),
        audience_reasons=reasons,
    ).with_columns(
        audience=pl.when(pl.col("audience_score") >= cfg["mass_threshold"]).then(pl.lit("mass")).otherwise(pl.lit("personal")),
        audience_reasons=pl.when(pl.col("audience_reasons").list.len() == 0)
        .then(pl.lit(["one recipient, no bulk headers, no template, no mass-appeal wording"]))
        .otherwise(pl.col("audience_reasons")),
    )
