"""Mass or personal: is this one person asked as themselves, or one of many asked at once?

Evidence, each a weighted reason: how many people the message went to (visible, or undisclosed), bulk and
mail-merge headers, the same text sent to several people (a template, once names, addresses and numbers are
masked), a generic greeting, the words of a mass appeal, and, against all that, a greeting by the recipient's
own name. A mail-merge that greets each person by first name is still mass: its headers and template say so.
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
        (n_ext >= cfg["many_recipients"], cfg["many_recipients_weight"], pl.format("sent to {} people at once", n_ext)),
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
    score = pl.sum_horizontal([pl.when(cond).then(weight).otherwise(0.0) for cond, weight, _ in parts]) + campaign_score
    reasons = pl.concat_list(
        [pl.when(cond).then(reason) for cond, _, reason in parts]
        + [pl.when(campaign_hits.list.len() > 0).then(
            pl.format("mass-appeal wording: \"{}\"", campaign_hits.list.unique(maintain_order=True).list.join("\", \"")))]
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


def lsh_bands(num_perm: int, threshold: float) -> tuple[int, int]:
    """Bands x rows of MinHash LSH whose S-curve turns at `threshold`: (1/b)^(1/r) closest to it."""
    options = [(num_perm // r, r) for r in range(1, num_perm + 1) if num_perm // r >= 1]
    return min(options, key=lambda br: abs((1 / br[0]) ** (1 / br[1]) - threshold))


# Bump when template_clusters groups or scores differently: stored clusters of another version are recomputed.
TEMPLATES_VERSION = 1
TEMPLATE_RULES = ("template_min_words", "template_num_perm", "template_similarity", "medoid_candidates")


def template_clusters(asks: pl.DataFrame, rules: dict) -> pl.DataFrame:
    """How many different people received each message's text or a near copy of it, from the stored MinHash
    signatures of the masked text's word 3-grams: candidates share a band of their signature (locality-sensitive
    hashing as a polars group-by, never pairwise over all asks), each candidate pair is confirmed by its estimated
    Jaccard similarity, and clusters are the connected components. Short texts (a one-line follow-up) are too
    short to call a template.

    asks: message_id, recipients_ext, signature, word_count, clean. Returns message_id, template_recipients,
    template_id and personalization. Nothing here reads the word lists a team tunes, so a re-tag after a
    word-list change reuses the stored result (tag.run_tag)."""
    import numpy as np

    cfg = rules["audience"]
    frame = asks.select("message_id", "recipients_ext", "signature", "word_count", "clean")
    n = frame.height
    eligible = frame.with_row_index("node").filter(
        pl.col("signature").is_not_null() & (pl.col("word_count") >= cfg["template_min_words"]))
    bands, rows = lsh_bands(cfg["template_num_perm"], cfg["template_similarity"])
    component = np.arange(n)
    if eligible.height > 1:
        # A mail-merge's copies share one signature: join them to their first copy at once, and look for near
        # copies among the distinct signatures only.
        eligible = eligible.with_columns(first_copy=pl.col("node").min().over(pl.col("signature").hash()))
        copies = eligible.filter(pl.col("node") != pl.col("first_copy"))
        distinct = eligible.filter(pl.col("node") == pl.col("first_copy"))
        keys = distinct.select("node", *[pl.col("signature").list.slice(b * rows, rows).hash().alias(f"b{b}")
                                          for b in range(bands)])
        candidates = (keys.unpivot(index="node", variable_name="band", value_name="key")
                      .with_columns(first=pl.col("node").min().over("band", "key"))
                      .filter(pl.col("node") != pl.col("first"))
                      .select("node", "first").unique())
        a, b = copies["node"].to_numpy(), copies["first_copy"].to_numpy()
        if candidates.height:
            signatures = np.zeros((n, cfg["template_num_perm"]), dtype=np.uint64)
            signatures[distinct["node"].to_numpy()] = (
                distinct["signature"].list.to_array(cfg["template_num_perm"]).to_numpy())
            near_a, near_b = candidates["node"].to_numpy(), candidates["first"].to_numpy()
            similar = (signatures[near_a] == signatures[near_b]).mean(axis=1) >= cfg["template_similarity"]
            a, b = np.concatenate([a, near_a[similar]]), np.concatenate([b, near_b[similar]])
        if len(a):
            component = _components(n, a, b)
    clusters = frame.with_columns(template=pl.Series(component, dtype=pl.Int64))
    # One message to two people is not a template; the same text in several messages to different people is.
    sizes = (clusters.filter(pl.len().over("template") >= 2)
             .explode("recipients_ext")
             .group_by("template").agg(template_recipients=pl.col("recipients_ext").struct.field("addr").n_unique()))
    result = clusters.join(sizes, on="template", how="left").select(
        "message_id", "clean", pl.col("template_recipients").fill_null(0).cast(pl.Int32),
        template_id=pl.when(pl.col("template_recipients").is_not_null()).then(pl.col("template")))
    personal = personalization(result, int(cfg["medoid_candidates"]))
    return result.drop("clean").join(personal, on="message_id", how="left")


def _components(n: int, a, b):
    """Connected components of n nodes joined by the edges a[i]-b[i]: each node's component is its smallest node."""
    import numpy as np
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    smallest = np.full(labels.max() + 1, n)
    np.minimum.at(smallest, labels, np.arange(n))
    return smallest[labels]


def personalization(clusters: pl.DataFrame, candidates: int) -> pl.DataFrame:
    """The share of words changed from the template, as sales-engagement tools measure it: the word-level edit
    distance from each message to its cluster's medoid (the member closest to the others), over the longer
    text's words. A message without a template scores 1: all of it was written for this person."""
    from itertools import groupby

    from rapidfuzz.distance import Levenshtein

    members = clusters.filter(pl.col("template_id").is_not_null()).sort("template_id", "message_id")
    ids, clusters_of = members["message_id"].to_list(), members["template_id"].to_list()
    words = [text.split() for text in members["clean"].to_list()]
    scores: dict[str, float] = {}
    for _, rows in groupby(range(len(ids)), key=clusters_of.__getitem__):
        rows = list(rows)
        # The medoid among the first few members (a mail-merge's copies differ only in the merge fields, so a
        # handful of candidates find it), measured against at most 200 members.
        sample = [words[i] for i in rows[:200]]
        medoid = min((words[i] for i in rows[:candidates]),
                     key=lambda w: sum(Levenshtein.distance(w, other) for other in sample))
        for i in rows:
            longest = max(len(words[i]), len(medoid)) or 1
            scores[ids[i]] = round(Levenshtein.distance(words[i], medoid) / longest, 4)
    return clusters.select("message_id").with_columns(
        personalization=pl.col("message_id").replace_strict(scores, default=1.0, return_dtype=pl.Float64))
