"""Tag: label every outbound ask on the three axes the essays name (mass|personal, self|other, warm|lapsed|cold),
with the scores and reasons that decided them, and keep its sentences coloured for highlighting.

Direction is decided here, from the identity, so a wrong identity is fixed by re-tagging, not re-ingesting.
A run whose inputs (messages, identity, rules) did not change does nothing.

A re-tag whose messages, identity and match rules did not change (a word list was edited) keeps the mails,
their threads and the asks the last run found (the `mails` and `asks` tables) and only labels again.

The stage works in batches of TAG_BATCH, so its memory does not grow with the mailbox: messages by Message-ID
into mails, asks by number into labels and sentences, (ask, recipient) pairs by the recipient's address into
warmth. What one step hands the next waits on disk as Parquet, which SQL reads as views named `_tag_*`
(Store.append). The derived tables are rewritten in one transaction, so a kill leaves the last run's whole.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from ..config import Identity, Settings, digest
from .. import queries
from ..errors import IdentityUnknown
from ..faults import fault_point
from ..ingest import ensure_bodies
from ..store import Store, now
from .audience import tag_audience
from .mails import build_mails, is_me
from . import sentence_model
from .craft import craft_features
from .measures import ensure_measures, measures_version
from .templates import TEMPLATE_RULES, TEMPLATES_VERSION, template_clusters
from .text import mark_sentences, message_text_features, sentence_frame
from .warmth import tag_warmth
from ..replies import return_date
from ..sources import SENT_FOLDER
from ..threads import thread_mails

TAG_RULE_SECTIONS = ("clean", "ask", "audience", "focus", "warmth", "match", "craft")
CRAFT_FLAGS = ("chunked", "opt_out", "commitment_stated", "offers_first", "gratitude")
MAIL_COLUMNS = ["mail_key", "message_id", "raw_sha256", "direction", "from_addr", "sent_at", "subject",
                "in_reply_to", "reference_ids", "folders", "automated", "message_id_reused", "return_date"]
# What labelling reads of an ask besides its measures, and what the tags table takes of its labels.
ASK_COLUMNS = ["message_id", "mail_key", "raw_sha256", "from_addr", "sent_at", "subject", "recipients_ext",
               "co_recipients", "undisclosed", "h_list_unsubscribe", "h_list_id", "h_precedence", "h_mailer",
               "h_merge_header"]
LABEL_COLUMNS = ["message_id", "mail_key", "from_addr", "subject", "ask_kind", "ask_sentence", "ask_size", "audience",
                 "audience_score", "audience_reasons", "focus", "other_share", "focus_reasons", "template_id",
                 "open_questions", "closed_questions", *CRAFT_FLAGS, "craft_reasons", "word_count", "question_count",
                 "subject_words", "reading_grade", "sentiment", "personalization", "co_recipients"]
TAG_BATCH = 25_000      # messages, asks or (ask, recipient) pairs in memory at once
INFER_MIN_SHARE = 0.05
MAILS_VERSION = 2       # bump when what build_mails, mail_rows or thread_mails make of the same messages changes


@dataclass
class TagResult:
    skipped: bool
    identity: Identity
    # "given" (said on this run, kept), "kept" (from the database), "replaced" (said on this run, differs from
    # what was kept: that is in replaced_identity) or "inferred" (from the Sent folders)
    identity_source: str = "given"
    replaced_identity: Identity | None = None
    asks: int = 0
    rows: int = 0
    ruleset_digest: str = ""

    @property
    def inferred_identity(self) -> bool:
        return self.identity_source == "inferred"


def ruleset_digest(rules: dict) -> str:
    """The rules and the sentence models a tag was made with: a change of either re-tags."""
    return digest([{k: rules.get(k) for k in TAG_RULE_SECTIONS}, sentence_model.load().digest])


def infer_identity(store: Store) -> Identity:
    """Who sent the mail in the Sent folders, when the user did not say who they are."""
    senders = store.query("infer_identity", sent_folder=SENT_FOLDER)
    addresses = senders.filter(pl.col("share") >= INFER_MIN_SHARE)["from_addr"].to_list()
    if not addresses:
        raise IdentityUnknown("cannot tell which mail is yours (no Sent folder among the sources): pass --me "
                              "ADDRESS (or --me @yourdomain.org) or set [identity] addresses in the config.")
    return Identity.parse(addresses)


def kept_identity(store: Store) -> Identity:
    return Identity.parse([r[0] for r in store.run("SELECT item FROM identity ORDER BY item")])


def resolve_identity(store: Store, settings: Settings, run_id: int | None = None) -> tuple[Identity, str, Identity | None]:
    """(identity, where it came from, the kept one it replaced). One said on this run is kept in the database for
    later commands; without one, the kept one; without that, the senders of the Sent folders."""
    kept = kept_identity(store)
    if settings.identity:
        if settings.identity == kept:
            return kept, "given", None
        with store.transaction():
            store.run("DELETE FROM identity")
            items = sorted(settings.identity.addresses) + sorted("@" + d for d in settings.identity.domains)
            store.run("INSERT INTO identity SELECT unnest($items), $at, $run", {"items": items, "at": now(), "run": run_id})
        return settings.identity, ("replaced" if kept else "given"), (kept or None)
    if kept:
        return kept, "kept", None
    return infer_identity(store), "inferred", None


def mail_rows(messages: pl.DataFrame, identity: Identity, rules: dict) -> tuple[pl.DataFrame, pl.DataFrame]:
    """One partition of stored messages (rows of load_messages) -> its mails (MAIL_COLUMNS) and its asks
    (ASK_COLUMNS: the mails to someone outside the team, with those people as recipients_ext)."""
    mails = build_mails(messages.lazy(), identity, rules).collect()
    # Out-of-office replies are few: read their return dates in Python, only for them.
    autos = mails.filter(pl.col("automated") == "auto")
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
    return mails.select(MAIL_COLUMNS), asks.select(ASK_COLUMNS)


def label_asks(asks: pl.DataFrame, rules: dict) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A batch of asks with their measures and template cluster (tag_ask_batch) -> their labels (LABEL_COLUMNS,
    with ask_idx) and their coloured sentences."""
    asks = asks.with_columns(
        pl.col("clean").fill_null(""), pl.col("sentences").fill_null(pl.lit([], pl.List(pl.String))),
        pl.col("colours").fill_null(pl.lit([], pl.List(pl.String))),
        *(pl.col(c).fill_null(pl.lit([], pl.List(pl.Float32))) for c in ("colour_confidence", "request_p")),
    ).with_columns(first_sentence=pl.col("sentences").list.first().fill_null(""))
    sentences = sentence_frame(asks)
    coloured = mark_sentences(sentences.lazy(), rules).collect()
    features = message_text_features(coloured.lazy(), rules).collect()
    craft = craft_features(coloured.lazy().select("message_id", "idx", "text"), features.lazy(), rules)
    labels = tag_audience(asks.lazy(), rules).join(features.lazy(), on="message_id", how="left").join(
        craft, on="message_id", how="left").with_columns(
        ask_kind=pl.col("ask_kind").fill_null("none"),
        focus=pl.col("focus").fill_null("neutral"),
        focus_reasons=pl.col("focus_reasons").fill_null(pl.lit(["no text of its own"])),
        craft_reasons=pl.col("craft_reasons").fill_null(pl.lit([], pl.List(pl.String))),
        **{c: pl.col(c).fill_null(0) for c in ("open_questions", "closed_questions")},
        **{c: pl.col(c).fill_null(False) for c in CRAFT_FLAGS},
    ).select(*LABEL_COLUMNS, "ask_idx").collect()
    tag_sentences = coloured.join(labels.select("message_id", "ask_idx"), on="message_id").select(
        "message_id", "idx", "text", "colour", "confidence",
        is_ask=(pl.col("idx") == pl.col("ask_idx")).fill_null(False))
    return labels.drop("ask_idx"), tag_sentences


def warmth_rows(store: Store, parts: int, part: int, mailbox_start, rules: dict) -> pl.DataFrame:
    """Warmth of one partition of the (ask, recipient) pairs, from the same partition of everyone's history:
    a person's pairs and mail fall in one partition, so each look-up sees all it needs."""
    where = {"parts": parts, "part": part}
    outbound = store.query("tag_outbound", **where)
    return tag_warmth(store.query("tag_pairs", **where).lazy(), store.query("tag_inbound", **where).lazy(),
                      outbound.lazy(), outbound.lazy().filter(pl.col("ask_kind") == "none"),
                      mailbox_start, rules).collect()


def _parts(rows: int) -> int:
    return max(1, -(-rows // TAG_BATCH))


def tag_store(store: Store, source: str, messages: int, identity: Identity, rules: dict, ruleset: str,
              run_id: int | None, *, mails_known: bool = False, templates_known: bool = False,
              workers: int | None = None, also: Callable[[], None] | None = None) -> tuple[int, int]:
    """The whole tag stage over `messages` messages, read in partitions by the named query `source` (rows of
    load_messages): the tags, tag_sentences, (unless `mails_known`) mails and asks, and (unless `templates_known`)
    templates tables replaced in one transaction, in which `also` runs too. Returns (asks with a tag row, tag rows).
    With `mails_known` the stored mails and asks are labelled again and no message is read."""
    store.clear_work()
    try:
        if mails_known:
            store.view("_tag_mails", "SELECT * FROM mails")
            store.view("_tag_asks", "SELECT * FROM asks")
        else:
            parts = _parts(messages)
            for part in range(parts):
                mails, asks = mail_rows(store.query(source, parts=parts, part=part), identity, rules)
                store.append("_tag_mails", mails)
                store.append("_tag_asks", asks)
            del mails, asks
            thread_mails(store)
        store.spool("_tag_ask_nodes", queries.get("tag_ask_nodes"))
        ensure_measures(store, [h for (h,) in store.run("SELECT raw_sha256 FROM _tag_asks")], rules, workers=workers)
        if templates_known:
            store.view("_tag_templates", "SELECT * FROM templates")
        else:
            template_clusters(store, rules)

        for lo in range(0, max(store.scalar("SELECT count(*) FROM _tag_asks"), 1), TAG_BATCH):
            labels, sentences = label_asks(store.query("tag_ask_batch", lo=lo, hi=lo + TAG_BATCH), rules)
            store.append("_tag_labels", labels)
            store.append("_tag_sentences", sentences)
        del labels, sentences

        # The derived tables are rewritten inside one transaction: a crash or a kill leaves the last run's whole.
        with store.transaction():
            store.run("DELETE FROM tag_sentences")
            store.run(queries.get("tag_write_sentences"))
            fault_point("tag.during_write")     # crash tests: some tables replaced, not yet committed

            store.run("DELETE FROM tags")
            start = store.frame("SELECT min(sent_at) AS start FROM _tag_mails")["start"][0]   # the columns' zone
            parts = _parts(store.scalar("SELECT coalesce(sum(len(recipients_ext)), 0) FROM _tag_asks"))
            stamp = {"ruleset": ruleset, "run": run_id, "at": now()}
            for part in range(parts):
                with store.registered(_tag_warmth=warmth_rows(store, parts, part, start, rules)):
                    store.run(queries.get("tag_write_tags"), stamp)
            fault_point("tag.during_write")

            if not mails_known:
                store.run("DELETE FROM mails")
                store.run(queries.get("tag_write_mails"))
                store.run("DELETE FROM asks")
                store.run(queries.get("tag_write_asks"))
                fault_point("tag.during_write")
            if not templates_known:
                store.run("DELETE FROM templates")
                store.run(queries.get("tag_write_templates"))
            store.run(queries.get("tag_campaigns"))
            if also is not None:
                also()
            return store.run("SELECT count(DISTINCT message_id), count(*) FROM tags")[0]
    finally:
        store.clear_work()


def tag_frames(messages: pl.LazyFrame, identity: Identity, rules: dict, ruleset: str) -> dict[str, pl.DataFrame]:
    """The tag stage over the given rows of load_messages, in a scratch database in memory: frames in, frames out
    (mails, tags, tag_sentences, templates), which is what a test of a few messages wants."""
    given = messages.collect()
    with Store.open(Path(":memory:")) as store, store.registered(_given=given):
        # The one-time measures read the bodies from the messages table, as they do in a real database.
        store.run("INSERT INTO messages (raw_sha256, mail_key, message_id, subject, body_text) SELECT raw_sha256, "
                  "mail_key, message_id, subject, body_text FROM _given ON CONFLICT DO NOTHING")
        tag_store(store, "tag_messages", given.height, identity, rules, ruleset, None, workers=1)
        return {table: store.frame(f"SELECT * FROM {table}") for table in ("mails", "tags", "tag_sentences", "templates")}


def run_tag(store: Store, settings: Settings, run_id: int, *, force: bool = False) -> TagResult:
    identity, source, replaced = resolve_identity(store, settings, run_id)
    said = dict(identity_source=source, replaced_identity=replaced)
    ensure_bodies(store, identity, settings.rules["match"]["free_mail_domains"])
    ruleset = ruleset_digest(settings.rules)
    n, last_run, deferred = store.query("messages_fingerprint").row(0)
    fingerprint = digest([n, last_run, deferred, identity.describe(), ruleset])
    if not force and store.stage_fingerprint("tag") == fingerprint:
        return TagResult(True, identity, **said, ruleset_digest=ruleset)
    # The mails (direction, robots, threads) and the asks depend on the messages, the identity and the match rules,
    # not on the word lists; template clusters on the asks, their stored measures and the template rules. A re-tag
    # after a word-list change keeps both (reading the messages back was a third of a 100k re-tag, clustering 1.2 s).
    mails_fingerprint = digest([n, last_run, deferred, identity.describe(), MAILS_VERSION, settings.rules["match"]])
    audience = settings.rules["audience"]
    templates_fingerprint = digest([n, last_run, deferred, identity.describe(), TEMPLATES_VERSION,
                                    measures_version(settings.rules), {k: audience[k] for k in TEMPLATE_RULES}])
    mails_known = store.stage_fingerprint("mails") == mails_fingerprint
    templates_known = store.stage_fingerprint("templates") == templates_fingerprint

    def fingerprints() -> None:
        store.set_stage_fingerprint("tag", fingerprint, run_id)
        store.set_stage_fingerprint("mails", mails_fingerprint, run_id)
        store.set_stage_fingerprint("templates", templates_fingerprint, run_id)

    asks, rows = tag_store(store, "load_messages", n, identity, settings.rules, ruleset, run_id,
                           mails_known=mails_known, templates_known=templates_known, also=fingerprints)
    return TagResult(False, identity, **said, asks=asks, rows=rows, ruleset_digest=ruleset)
