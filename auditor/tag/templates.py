"""Template clusters: which asks are copies or near copies of one text, how many different people received it, and
how much of each copy was changed for its reader (personalization).

Candidates share a band of their MinHash signature (locality-sensitive hashing as a polars group-by, never pairwise
over all asks), each candidate pair is confirmed by its estimated Jaccard similarity, and clusters are the connected
components. Short texts (a one-line follow-up) are too short to call a template. Nothing here reads the word lists a
team tunes, so a re-tag after a word-list change reuses the stored result (tag.run_tag).

The signatures and texts stay in the database and come out in batches: a million asks' signatures are a gigabyte.
Python holds a few hash columns per ask and the clusters as integer arrays.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import polars as pl

from .. import queries
from ..store import Store
from ..threads import components

# Bump when template_clusters groups or scores differently: stored clusters of another version are recomputed.
TEMPLATES_VERSION = 1
TEMPLATE_RULES = ("template_min_words", "template_num_perm", "template_similarity", "medoid_candidates")
BATCH = 25_000          # signatures or texts held at once
MEDOID_SAMPLE = 200     # members a template's medoid candidates are measured against


def lsh_bands(num_perm: int, threshold: float) -> tuple[int, int]:
    """Bands x rows of MinHash LSH whose S-curve turns at `threshold`: (1/b)^(1/r) closest to it."""
    options = [(num_perm // r, r) for r in range(1, num_perm + 1) if num_perm // r >= 1]
    return min(options, key=lambda br: abs((1 / br[0]) ** (1 / br[1]) - threshold))


def template_clusters(store: Store, rules: dict) -> None:
    """The tag stage's asks (`_tag_asks`, numbered in `_tag_ask_nodes`) into `_tag_templates`: message_id,
    template_recipients (people who received the text or a near copy; 0 without a template), template_id and
    personalization."""
    cfg = rules["audience"]
    n = store.scalar("SELECT count(*) FROM _tag_ask_nodes")
    bands, rows = lsh_bands(cfg["template_num_perm"], cfg["template_similarity"])
    params = {"min_words": cfg["template_min_words"], "bands": bands, "rows": rows}
    keys = [batch.select("node", "whole", *[pl.col("bands").list.get(b).alias(f"b{b}") for b in range(bands)])
            for batch in store.batches("tag_template_bands", BATCH, params)]
    keys = pl.concat(keys) if keys else pl.DataFrame()
    a = b = np.zeros(0, dtype=np.int64)
    if keys.height > 1:
        # A mail-merge's copies share one signature: join them to their first copy at once, and look for near
        # copies among the distinct signatures only.
        keys = keys.with_columns(first_copy=pl.col("node").min().over("whole"))
        copies = keys.filter(pl.col("node") != pl.col("first_copy"))
        a, b = copies["node"].to_numpy(), copies["first_copy"].to_numpy()
        distinct = keys.filter(pl.col("node") == pl.col("first_copy")).drop("whole", "first_copy")
        del keys, copies
        # One band at a time: all bands at once (an unpivot) held sixteen rows per ask.
        candidates = pl.concat([
            distinct.select("node", first=pl.col("node").min().over(f"b{b}")).filter(pl.col("node") != pl.col("first"))
            for b in range(bands)]).unique()
        del distinct
        if candidates.height:
            with store.registered(_candidates=candidates):
                similar = store.con.sql(queries.get("tag_template_confirm"),
                                        params={"similarity": cfg["template_similarity"]}).fetchnumpy()
            a = np.concatenate([a, similar["node"].astype(np.int64)])
            b = np.concatenate([b, similar["first"].astype(np.int64)])
    template = components(n, a, b) if len(a) else np.arange(n)
    # One message to two people is not a template; the same text in several messages to different people is.
    clusters = pl.DataFrame({"node": np.arange(n, dtype=np.int64), "template": template.astype(np.int64)})
    members = clusters.filter(pl.len().over("template") >= 2)
    with store.registered(_members=members):
        sizes = store.query("tag_template_sizes")
        scores = personalization(store.batches("tag_template_texts", BATCH), n, int(cfg["medoid_candidates"]))
    result = clusters.with_columns(personalization=scores).join(sizes, on="template", how="left").select(
        "node", "personalization", pl.col("template_recipients").fill_null(0).cast(pl.Int32),
        template_id=pl.when(pl.col("template_recipients").is_not_null()).then(pl.col("template")))
    with store.registered(_clusters=result):
        store.spool("_tag_templates", "SELECT n.message_id, c.template_recipients, c.template_id, c.personalization "
                                      "FROM _clusters c JOIN _tag_ask_nodes n USING (node)")


def personalization(members: Iterator[pl.DataFrame], n: int, candidates: int) -> np.ndarray:
    """The share of words changed from the template, as sales-engagement tools measure it: the word-level edit
    distance from each message to its cluster's medoid (the member closest to the others), over the longer
    text's words. A message without a template scores 1: all of it was written for this person.

    The medoid is the one among a template's first `candidates` members closest to its first MEDOID_SAMPLE
    members (a mail-merge's copies differ only in the merge fields, so a handful of candidates find it). Only
    those are held: the rest are scored as they stream by. Holding every member's words of a 100k-copy appeal
    took 600 MB at a million messages.

    members: frames of node, template, clean, a template's members together and in message-id order."""
    from rapidfuzz.distance import Levenshtein

    scores = np.ones(n)
    head: list[tuple[int, list[str]]] = []      # the template's first members, until its medoid is known
    medoid: list[str] | None = None

    def score(node: int, words: list[str]) -> None:
        scores[node] = round(Levenshtein.distance(words, medoid) / (max(len(words), len(medoid)) or 1), 4)

    def settle() -> None:
        nonlocal medoid
        sample = [words for _, words in head]
        medoid = min(sample[:candidates], key=lambda w: sum(Levenshtein.distance(w, other) for other in sample))
        for node, words in head:
            score(node, words)
        head.clear()

    current = None
    for frame in members:
        for node, template, clean in frame.iter_rows():
            if template != current:
                if head:
                    settle()
                current, medoid = template, None
            if medoid is not None:
                score(node, clean.split())
                continue
            head.append((node, clean.split()))
            if len(head) == MEDOID_SAMPLE:
                settle()
    if head:
        settle()
    return scores
