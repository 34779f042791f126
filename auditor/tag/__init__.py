"""Tag: label every outbound ask on the three axes the essays name (mass|personal, self|other, warm|lapsed|cold),
with the scores and reasons that decided them, and keep its sentences coloured for highlighting.

Direction is decided here, from the identity, so a wrong identity is fixed by re-tagging, not re-ingesting.
A run whose inputs (messages, identity, rules) did not change does nothing.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from ..config import Identity, Settings, digest
from .. import queries
from ..errors import IdentityUnknown
from ..faults import fault_point
from ..ingest import ensure_bodies
from ..store import Store, now
from .audience import TEMPLATE_RULES, TEMPLATES_VERSION, tag_audience, template_clusters
from .mails import build_mails, is_me
from .craft import craft_features
from .measures import ensure_measures, measure_frame, measures_version
from .text import colour_sentences, message_text_features, sentence_frame
from .warmth import tag_warmth
from ..replies import return_date
from ..sources import SENT_FOLDER
from ..threads import thread_ids

TAG_RULE_SECTIONS = ("clean", "ask", "audience", "focus", "warmth", "match", "craft")
MEASURE_COLUMNS = ["raw_sha256", "clean", "sentences", "signature", "word_count", "question_count", "subject_words",
                   "reading_grade", "sentiment"]
CRAFT_FLAGS = ("chunked", "opt_out", "commitment_stated", "offers_first", "gratitude")
MAIL_COLUMNS = ["mail_key", "message_id", "raw_sha256", "direction", "from_addr", "sent_at", "subject",
                "in_reply_to", "reference_ids", "folders", "automated", "message_id_reused", "thread_id", "return_date"]
INFER_MIN_SHARE = 0.05


@dataclass
class TagResult:
    skipped: bool
    identity: Identity
    inferred_identity: bool = False
    asks: int = 0
    rows: int = 0
    ruleset_digest: str = ""


def ruleset_digest(rules: dict) -> str:
    return digest({k: rules.get(k) for k in TAG_RULE_SECTIONS})


def infer_identity(store: Store) -> Identity:
    """Who sent the mail in the Sent folders, when the user did not say who they are."""
    senders = store.query("infer_identity", sent_folder=SENT_FOLDER)
    addresses = senders.filter(pl.col("share") >= INFER_MIN_SHARE)["from_addr"].to_list()
    if not addresses:
        raise IdentityUnknown("cannot tell which mail is yours (no Sent folder among the sources): pass --me "
                              "ADDRESS (or --me @yourdomain.org) or set [identity] addresses in the config.")
    return Identity.parse(addresses)


def resolve_identity(store: Store, settings: Settings) -> tuple[Identity, bool]:
    if settings.identity:
        return settings.identity, False
    return infer_identity(store), True


def tag_frames(messages: pl.LazyFrame, identity: Identity, rules: dict, ruleset: str,
               measures: Callable[[list[str]], pl.DataFrame] | None = None,
               templates: Callable[[], pl.DataFrame | None] | None = None) -> dict[str, pl.DataFrame]:
    """The whole tag stage as frames in, frames out: mails, tags, tag_sentences and templates.

    `measures(raw_sha256s)` gives the stored per-message measures of the asks (tag.measures); without it they are
    computed here from the messages' body_text, which is what a test of a few messages wants. `templates()` gives
    the stored template clusters of these same asks, or None when they must be computed again."""
    mails = build_mails(messages, identity, rules).collect()
    mails = mails.with_columns(thread_ids(mails))
    # Out-of-office replies are few: read their return dates in Python, only for them.
    autos = mails.filter(pl.col("automated") == "auto").select("mail_key", "subject", "body_text", "sent_at")
    returns = autos.select("mail_key", return_date=pl.Series(
        [return_date(f"{subject or ''}\n{body or ''}"[:2000], sent) for subject, body, sent in
         autos.select("subject", "body_text", "sent_at").iter_rows()], dtype=pl.Date))
    mails = mails.join(returns, on="mail_key", how="left")
    ext = pl.col("recipients").list.eval(pl.element().filter(~is_me(pl.element().struct.field("addr"), identity)))
    visible = pl.col("recipients").list.eval(pl.element().struct.field("field").is_in(["to", "cc"])).list.sum()
    asks = mails.filter(pl.col("direction") == "out").with_columns(
        recipients_ext=ext.list.unique(maintain_order=True),
        co_recipients=(visible.cast(pl.Int32) - 1).clip(lower_bound=0),
    )
    hashes = asks["raw_sha256"].to_list()
    if measures is None:
        measured = measure_frame(asks.select("raw_sha256", "subject", "body_text"), rules)
    else:
        measured = measures(hashes)
    mails = mails.drop("body_text")          # read for out-of-office replies and measures: held no longer
    asks = asks.drop("body_text").join(measured.select(MEASURE_COLUMNS), on="raw_sha256", how="left").with_columns(
        pl.col("clean").fill_null(""), pl.col("sentences").fill_null(pl.lit([], pl.List(pl.String))),
    ).with_columns(first_sentence=pl.col("sentences").list.first().fill_null(""))
    sentences = sentence_frame(asks, rules)
    coloured = colour_sentences(sentences.lazy(), rules).collect()
    features = message_text_features(coloured.lazy(), rules).collect()
    craft = craft_features(coloured.lazy().select("message_id", "idx", "text"), features.lazy(), rules)
    clusters = templates() if templates is not None else None
    if clusters is None:
        clusters = template_clusters(asks, rules)
    asks = asks.lazy().join(clusters.lazy(), on="message_id", how="left")
    asks = tag_audience(asks, rules).join(features.lazy(), on="message_id", how="left").join(
        craft, on="message_id", how="left").with_columns(
        ask_kind=pl.col("ask_kind").fill_null("none"),
        focus=pl.col("focus").fill_null("neutral"),
        focus_reasons=pl.col("focus_reasons").fill_null(pl.lit(["no text of its own"])),
        craft_reasons=pl.col("craft_reasons").fill_null(pl.lit([], pl.List(pl.String))),
        **{c: pl.col(c).fill_null(0) for c in ("open_questions", "closed_questions")},
        **{c: pl.col(c).fill_null(False) for c in CRAFT_FLAGS},
    ).drop("clean", "sentences", "signature").collect()      # the texts are done with: joins below need not copy them

    pairs = asks.select("message_id", "sent_at", recipient=pl.col("recipients_ext")).explode("recipient").with_columns(
        recipient=pl.col("recipient").struct.field("addr")
    ).drop_nulls("recipient").filter(pl.col("sent_at").is_not_null())
    people = mails.lazy()
    inbound = people.filter((pl.col("direction") == "in") & pl.col("automated").is_null()).select(
        person="from_addr", at="sent_at")
    sent = mails.lazy().filter(pl.col("direction") == "out").join(
        asks.lazy().select("message_id", "ask_kind"), on="message_id", how="left")
    outbound = sent.select(person=ext, at="sent_at", ask_kind="ask_kind").explode("person").with_columns(
        person=pl.col("person").struct.field("addr"))
    gifts = outbound.filter(pl.col("ask_kind") == "none")
    start = mails["sent_at"].min()
    warmth = tag_warmth(pairs.lazy(), inbound.drop_nulls(), outbound.drop_nulls("at"), gifts.drop_nulls("at"),
                        start, rules).collect()

    stamp = now()
    tags = warmth.join(asks, on="message_id", how="inner", suffix="_ask").select(
        "message_id", "recipient", "mail_key", sender="from_addr", sent_at="sent_at", subject="subject",
        is_ask=pl.lit(True), ask_kind="ask_kind", ask_sentence="ask_sentence", ask_size="ask_size",
        audience="audience", audience_score="audience_score", audience_reasons="audience_reasons",
        focus="focus", other_share="other_share", focus_reasons="focus_reasons",
        warmth="warmth", warmth_reasons="warmth_reasons", days_since_contact="days_since_contact",
        gave_first="gave_first", history_incomplete="history_incomplete", template_id="template_id",
        open_questions="open_questions", closed_questions="closed_questions", chunked="chunked",
        opt_out="opt_out", commitment_stated="commitment_stated", offers_first="offers_first",
        gratitude="gratitude", craft_reasons="craft_reasons", word_count="word_count",
        question_count="question_count", subject_words="subject_words", reading_grade="reading_grade",
        sentiment="sentiment", personalization="personalization", co_recipients="co_recipients",
        ruleset_digest=pl.lit(ruleset), tagged_at=pl.lit(stamp),
    )
    ask_idx = asks.select("message_id", "ask_idx")
    tag_sentences = coloured.join(ask_idx, on="message_id").select(
        "message_id", "idx", "text", "colour", is_ask=(pl.col("idx") == pl.col("ask_idx")).fill_null(False))
    return {"mails": mails.select(MAIL_COLUMNS), "tags": tags, "tag_sentences": tag_sentences, "templates": clusters}


def run_tag(store: Store, settings: Settings, run_id: int, *, force: bool = False) -> TagResult:
    identity, inferred = resolve_identity(store, settings)
    ensure_bodies(store, identity)
    ruleset = ruleset_digest(settings.rules)
    n, last_run, deferred = store.query("messages_fingerprint").row(0)
    fingerprint = digest([n, last_run, deferred, identity.describe(), ruleset])
    if not force and store.stage_fingerprint("tag") == fingerprint:
        return TagResult(True, identity, inferred, ruleset_digest=ruleset)
    messages = store.query("load_messages").lazy()

    # Template clusters depend on the asks and their stored measures, not on the word lists: the same messages
    # under the same identity and template rules have the same clusters (1.2 s of a 100k re-tag otherwise).
    audience = settings.rules["audience"]
    templates_fingerprint = digest([n, last_run, deferred, identity.describe(), TEMPLATES_VERSION,
                                    measures_version(settings.rules), {k: audience[k] for k in TEMPLATE_RULES}])
    templates_known = store.stage_fingerprint("templates") == templates_fingerprint

    def stored_measures(hashes: list[str]) -> pl.DataFrame:
        ensure_measures(store, hashes, settings.rules)
        return store.query("load_measures", hashes=hashes, signatures=not templates_known)

    def stored_templates() -> pl.DataFrame | None:
        return store.query("load_templates") if templates_known else None

    frames = tag_frames(messages, identity, settings.rules, ruleset, stored_measures, stored_templates)
    frames["tags"] = frames["tags"].with_columns(run_id=pl.lit(run_id, pl.Int64))
    if templates_known:
        del frames["templates"]
    with store.transaction():
        for table, frame in frames.items():
            store.replace(table, frame, in_transaction=True)
            fault_point("tag.during_write")     # crash tests: some tables replaced, not yet committed
        store.run(queries.get("tag_campaigns"))
        store.set_stage_fingerprint("tag", fingerprint, run_id)
        store.set_stage_fingerprint("templates", templates_fingerprint, run_id)
    tags = frames["tags"]
    return TagResult(False, identity, inferred, asks=tags["message_id"].n_unique(), rows=tags.height,
                     ruleset_digest=ruleset)
