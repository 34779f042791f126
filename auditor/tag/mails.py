"""From stored messages to distinct mails: one row per mail_key, its direction under the current identity, and
whether an inbound mail was written by a robot (bounce, auto-reply) or a list rather than a person."""
from __future__ import annotations

import polars as pl

from ..config import Identity
from ..patterns import any_match


def is_me(address: pl.Expr, identity: Identity) -> pl.Expr:
    domain = address.str.extract(r"@([^@]+)$", 1)
    return (address.is_in(list(identity.addresses)) | domain.is_in(list(identity.domains))).fill_null(False)


def build_mails(messages: pl.LazyFrame, identity: Identity, rules: dict) -> pl.LazyFrame:
    """Merge copies of one mail (same mail_key) found in several folders or mailboxes, and decide direction.

    out = from the team to at least one address outside it (an ask); team = only among the team;
    in = from anyone else. A Message-ID reused by a different mail gets a synthesised one, so tags and
    outcomes stay keyed by a unique message_id.
    """
    match = rules["match"]
    header_text = ["h_list_unsubscribe", "h_list_id", "h_precedence", "h_auto_submitted", "h_x_autoreply",
                   "h_x_autorespond", "h_x_auto_response_suppress", "h_mailer"]
    messages = messages.with_columns(pl.col(header_text).cast(pl.String))
    copies = messages.sort("raw_sha256").group_by("mail_key", maintain_order=True).agg(
        pl.all().exclude("mail_key", "folders").first(),
        pl.col("folders").list.explode(keep_nulls=False, empty_as_null=False).unique().sort().alias("folders"),
    )
    external = pl.col("recipients").list.eval(~is_me(pl.element().struct.field("addr"), identity)).list.any()
    # The team's own mail server bounces from its own domain (MAILER-DAEMON@brightpath.org): a robot, not the team.
    bounce_sender = any_match("from_addr", match["bounce_senders"])
    from_me = is_me(pl.col("from_addr"), identity) & ~bounce_sender
    # A human answer posted through a mailing list carries List-Id and Precedence: list too, so those two
    # mark a robot only on mail that is not list traffic.
    list_traffic = pl.col("h_list_id").is_not_null()
    auto = (
        (pl.col("h_auto_submitted").is_not_null() & (pl.col("h_auto_submitted") != "no"))
        | pl.col("h_x_autoreply").is_not_null() | pl.col("h_x_autorespond").is_not_null()
        | (pl.col("h_precedence") == "auto_reply")
        | (pl.col("h_precedence").is_in(["bulk", "junk", "list"]) & ~list_traffic & pl.col("h_list_unsubscribe").is_null())
        | pl.col("h_x_auto_response_suppress").str.contains("(?i)all|oof|autoreply").fill_null(False)
        | pl.col("h_exchange_auto").fill_null(False)
        | any_match("subject", match["auto_subjects"])
        # An out-of-office says so at the top; deeper down the phrase is more often a person's own news.
        | any_match(pl.col("body_text").str.slice(0, 400), match["auto_bodies"])
    )
    bounce = (
        (pl.col("content_type") == "multipart/report")
        | (pl.col("dsn_recipients").list.len() > 0)
        | bounce_sender
    )
    bulk = pl.col("h_list_unsubscribe").is_not_null() | list_traffic
    reused_rank = pl.col("mail_key").rank("ordinal").over("message_id", order_by=["sent_at", "mail_key"])
    return (
        copies.with_columns(
            direction=pl.when(pl.col("from_addr").is_null()).then(pl.lit("unknown"))
            .when(from_me & external).then(pl.lit("out"))
            .when(from_me).then(pl.lit("team"))
            .otherwise(pl.lit("in")),
            automated=pl.when(from_me).then(None)
            .when(bounce).then(pl.lit("bounce"))
            .when(auto).then(pl.lit("auto"))
            .when(bulk).then(pl.lit("list")),
            message_id_reused=reused_rank > 1,
        )
        .with_columns(
            message_id=pl.when(pl.col("message_id_reused"))
            .then(pl.format("<{}@reused.auditor.invalid>", pl.col("mail_key")))
            .otherwise(pl.col("message_id"))
        )
    )
