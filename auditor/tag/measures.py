"""Compute once, label often: the per-message measures tagging needs from a body, stored in `message_measures`.

Cleaning a body, splitting it into sentences, hashing its masked text into a MinHash signature, counting its words,
questions and syllables and scoring its sentiment cost far more than labelling (a few regular expressions over
stored sentences), and none of them depends on the word lists a team tunes. So they run once per distinct message,
on both cores, and a re-tag after a word-list change only labels. A row records the `version` of the cleaning rules
and code that made it; a row of another version is recomputed.
"""
from __future__ import annotations

import functools
import re
import zlib
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

import polars as pl

from .. import queries
from ..config import digest
from ..store import Store, now
from . import sentence_model
from .audience import masked_text
from .text import clean_with, split_sentences

MEASURES_VERSION = 3        # bump when this module computes a measure differently
CHUNK = 1000                # messages per task: big enough to amortise pickling, small enough to spread over cores
_WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿ0-9][\w'’-]*")
_VOWELS = re.compile(r"[aeiouy]+")


def measures_version(rules: dict) -> str:
    """What a stored row depends on: the cleaning rules, the MinHash size, the sentence models and this module's
    version."""
    return digest([MEASURES_VERSION, rules["clean"], rules["audience"]["template_num_perm"], sentence_model.load().digest])


@functools.lru_cache(maxsize=1 << 16)
def syllables(word: str) -> int:
    """English syllables by vowel groups, a silent final e taken off: the estimate readability formulas are
    calibrated with (no dictionary to download)."""
    word = word.lower()
    count = len(_VOWELS.findall(word))
    if count > 1 and word.endswith("e") and not word.endswith(("le", "ee", "ye")):
        count -= 1
    return max(count, 1)


def reading_grade(words: int, sentences: int, syllable_count: int) -> float | None:
    """Flesch-Kincaid grade level: years of US schooling the text asks of its reader."""
    if not words or not sentences:
        return None
    return round(0.39 * words / sentences + 11.8 * syllable_count / words - 15.59, 2)


@functools.cache
def _analyzer():
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()       # reads its lexicon from disk: once per process, not per chunk


@functools.lru_cache(maxsize=1 << 16)
def _sentence_sentiment(sentence: str) -> float:
    return _analyzer().polarity_scores(sentence)["compound"]


def sentiment(sentences: list[str]) -> float:
    """VADER's compound score averaged over the sentences that have a word, as its authors advise for text longer
    than a sentence. Scored whole, a body cost time quadratic in its length (VADER lowercases every word again
    for each word it knows), and mail merges repeat their sentences, which are scored once per process."""
    scores = [_sentence_sentiment(s) for s in sentences if _WORD.search(s)]
    return sum(scores) / len(scores) if scores else 0.0


SCORE_BATCH = 20_000        # messages whose sentences the models score in one pass (score_stored)


def measure_frame(rows: pl.DataFrame, rules: dict, *, score: bool = True) -> pl.DataFrame:
    """rows: raw_sha256, subject, body_text -> one row of measures each. Runs in a worker process. Without
    `score` the sentence models' columns are left null, for score_stored to fill in larger batches: the models
    cost a fixed few tens of milliseconds a call, and the parse workers measure a hundred messages at a time."""
    from datasketch import MinHash

    clean = clean_with(rules)
    texts = [clean(body) for body in rows["body_text"].to_list()]
    masked = pl.DataFrame({"clean": texts}).select(masked_text(pl.col("clean")))["clean"].to_list()
    shingles = [[" ".join(w[j:j + 3]).encode() for j in range(len(w) - 2)] for w in (m.split() for m in masked)]
    with_shingles = [i for i, s in enumerate(shingles) if s]
    signatures: list[list[int] | None] = [None] * len(texts)
    num_perm = rules["audience"]["template_num_perm"]
    # CRC-32 as the shingle hash: the permutations make the estimate, the base hash only has to tell shingles
    # apart, and datasketch's default (SHA-1 through struct) took a quarter of this function.
    minhashes = MinHash.bulk([shingles[i] for i in with_shingles], num_perm=num_perm, seed=1, hashfunc=zlib.crc32)
    for i, minhash in zip(with_shingles, minhashes):
        signatures[i] = minhash.hashvalues.tolist()
    out: dict[str, list] = {k: [] for k in ("sentences", "word_count", "question_count", "subject_words",
                                             "syllables", "reading_grade", "sentiment")}
    for text, subject in zip(texts, rows["subject"].to_list()):
        sentences = split_sentences(text)
        words = _WORD.findall(text)
        syl = sum(syllables(w) for w in words)
        out["sentences"].append(sentences)
        out["word_count"].append(len(words))
        out["question_count"].append(sum(s.rstrip().endswith("?") for s in sentences))
        out["subject_words"].append(len((subject or "").split()))
        out["syllables"].append(syl)
        out["reading_grade"].append(reading_grade(len(words), len(sentences), syl))
        out["sentiment"].append(sentiment(sentences))
    frame = pl.DataFrame({
        "raw_sha256": rows["raw_sha256"], "clean": texts, "signature": signatures, **out,
    }, schema_overrides={"signature": pl.List(pl.UInt64), "sentences": pl.List(pl.String),
                         "reading_grade": pl.Float64, "sentiment": pl.Float64, "word_count": pl.Int32,
                         "question_count": pl.Int32, "subject_words": pl.Int32, "syllables": pl.Int32})
    if not score:
        return frame.with_columns(colours=pl.lit(None, pl.List(pl.String)),
                                  colour_confidence=pl.lit(None, pl.List(pl.Float32)),
                                  request_p=pl.lit(None, pl.List(pl.Float32)), mass_p=pl.lit(None, pl.Float32))
    return pl.concat([frame, sentence_model.score_messages(frame["sentences"])], how="horizontal")


def score_stored(store: Store, raw_sha256s: Sequence[str]) -> int:
    """Fill in the sentence models' columns of stored measures that lack them (taken by the parse workers), in
    batches of SCORE_BATCH messages; returns how many."""
    with store.registered(_wanted=pl.DataFrame({"raw_sha256": list(raw_sha256s)}, schema={"raw_sha256": pl.String})):
        todo = [r[0] for r in store.run(
            "SELECT raw_sha256 FROM message_measures JOIN _wanted USING (raw_sha256) WHERE colours IS NULL ORDER BY 1")]
    for lo in range(0, len(todo), SCORE_BATCH):
        batch = store.frame("SELECT raw_sha256, sentences FROM message_measures WHERE raw_sha256 IN "
                            "(SELECT unnest($hashes))", {"hashes": todo[lo:lo + SCORE_BATCH]})
        scored = pl.concat([batch.select("raw_sha256"), sentence_model.score_messages(batch["sentences"])],
                           how="horizontal")
        with store.registered(_scored=scored):
            store.run("UPDATE message_measures m SET colours = s.colours, colour_confidence = s.colour_confidence, "
                      "request_p = s.request_p, mass_p = s.mass_p FROM _scored s WHERE m.raw_sha256 = s.raw_sha256")
    return len(todo)


def _worker(args: tuple[pl.DataFrame, dict]) -> pl.DataFrame:
    rows, rules = args
    return measure_frame(rows, rules)


def ensure_measures(store: Store, raw_sha256s: Sequence[str], rules: dict, *, workers: int | None = None,
                    progress: Callable[[int], None] | None = None) -> int:
    """Measure the messages among `raw_sha256s` that have no row of the current version; returns how many.
    Chunks go to a process pool (one worker per core) and each chunk is written as it arrives. Rows the parse
    workers measured get their sentence models' columns here (score_stored)."""
    import os

    version = measures_version(rules)
    with store.registered(_wanted=pl.DataFrame({"raw_sha256": list(raw_sha256s)}, schema={"raw_sha256": pl.String})):
        missing = [r[0] for r in store.run(
            "SELECT w.raw_sha256 FROM _wanted w LEFT JOIN message_measures mm USING (raw_sha256) "
            "WHERE mm.version IS DISTINCT FROM ? ORDER BY 1", [version])]
    if not missing:
        score_stored(store, raw_sha256s)
        return 0
    workers = workers or min(os.cpu_count() or 1, -(-len(missing) // CHUNK))
    # Rows of another version go first, so each chunk is a plain INSERT (a replace checks every row's key twice).
    store.run("DELETE FROM message_measures WHERE raw_sha256 IN (SELECT unnest($hashes))", {"hashes": missing})

    def inputs():
        # One query streamed in chunks on a cursor of its own (the connection itself writes the results meanwhile):
        # a query per chunk scanned the messages table 66 times at 100k, in the process that feeds the workers.
        reader = store.con.cursor()
        try:
            batches = reader.sql(queries.get("measure_inputs"), params={"hashes": missing}).to_arrow_reader(CHUNK)
            for batch in batches:
                yield pl.from_arrow(batch), rules
        finally:
            reader.close()

    def save(frame: pl.DataFrame) -> None:
        frame = frame.with_columns(version=pl.lit(version), measured_at=pl.lit(now()))
        with store.registered(_measured=frame):
            cols = ", ".join(frame.columns)
            store.run(f"INSERT INTO message_measures ({cols}) SELECT {cols} FROM _measured")
        if progress:
            progress(frame.height)

    if workers <= 1:
        for args in inputs():
            save(_worker(args))
    else:
        # At most two chunks per worker in flight: memory stays flat however many messages there are.
        with ProcessPoolExecutor(workers, mp_context=get_context("forkserver")) as pool:
            pending: deque = deque()
            for args in inputs():
                pending.append(pool.submit(_worker, args))
                if len(pending) >= 2 * workers:
                    save(pending.popleft().result())
            while pending:
                save(pending.popleft().result())
    score_stored(store, raw_sha256s)
    store.checkpoint()
    return len(missing)
