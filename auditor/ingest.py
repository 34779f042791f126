"""Ingest: raw messages (from local files or an IMAP harvest) in, stored and parsed rows out, in batches.

Promises: a message already stored (same bytes) is not parsed again; a file that is not mail goes to the
quarantine table with its reason and the run goes on; a message that names an address `auditor forget` removed
is not stored; every message read is counted once as new, duplicate, quarantined or forgotten; each batch commits
whole, so a killed run resumes without loss or double counting.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable, Iterable, Iterator

import polars as pl

from .config import Identity
from .faults import fault_point
from .forget import Forgotten
from .parse import DEFERRED_STRANGER, content_sha256, parse_or_reason, sender_address
from .sources import SENT_FOLDER, RawMessage
from .store import Store

# Writing a batch costs about 27 ms whatever its size (frames, three inserts, the commit): 53 µs a message in
# batches of 500, 13 in batches of 2,000.
BATCH_SIZE = 2000
BATCH_BYTES = 64 * 1024 * 1024
# Below this many new messages in a batch, starting worker processes costs more than it saves.
PARALLEL_THRESHOLD = 64


@dataclass
class Counts:
    read: int = 0
    new: int = 0
    duplicate: int = 0
    quarantined: int = 0
    forgotten: int = 0          # named a forgotten address: read, counted, never stored
    reasons: dict[str, int] = field(default_factory=dict)
    unsaved: bool = False       # a batch of files already stored: nothing written, its counts not yet in `runs`

    def add(self, other: "Counts") -> None:
        self.read += other.read
        self.new += other.new
        self.duplicate += other.duplicate
        self.quarantined += other.quarantined
        self.forgotten += other.forgotten
        for reason, n in other.reasons.items():
            self.reasons[reason] = self.reasons.get(reason, 0) + n


def _batched(items: Iterable[RawMessage], size: int, max_bytes: int = BATCH_BYTES) -> Iterator[list[RawMessage]]:
    """Batches of `size` messages, cut short at `max_bytes` of raw mail: 500 messages with large attachments
    would otherwise be held at once (twice, with the batch before still being written)."""
    batch: list[RawMessage] = []
    held = 0
    for item in items:
        batch.append(item)
        held += len(item.raw or b"")
        if len(batch) >= size or held >= max_bytes:
            yield batch
            batch, held = [], 0
    if batch:
        yield batch


def _exit_with_parent() -> None:
    """Runs in each parser worker: end it when the process that made the pool dies. A pool's workers wait on a
    queue they also hold the writing end of, so a SIGKILLed parent would leave them (and the fork server, which
    lives while any of them does) running forever, holding the caller's stdout and stderr open."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=lambda: (parent.join(), os._exit(1)), daemon=True).start()


# Messages a worker task parses: enough to amortise handing a frame of measures back, few enough to keep both
# workers busy to the end of a batch.
TASK_SIZE = 100

Parsed = list[tuple[dict | None, str | None]]


def parse_task(items: list[tuple[bytes, datetime | None, bool, bool]], digests: list[str],
               measure_rules: dict | None) -> tuple[Parsed, pl.DataFrame | None]:
    """Parse `items` (parse_or_reason's: raw, envelope date, may defer the body, from a stranger; their content
    hashes in `digests`) and, given the rules, take the text measures of the ones found in a Sent folder
    (tag.measures) while their bodies are at hand: the tag stage measures every ask, and reading the bodies back
    from the database into a pool of its own cost more than measuring them here."""
    results = [parse_or_reason(item) for item in items]
    sent = [i for i, ((_, _, may_defer, _), (record, _)) in enumerate(zip(items, results))
            if not may_defer and record is not None and record["body_kind"] != "deferred"]
    if measure_rules is None or not sent:
        return results, None
    from .tag.measures import measure_frame, measures_version

    rows = pl.DataFrame({"raw_sha256": [digests[i] for i in sent], "subject": [results[i][0]["subject"] for i in sent],
                         "body_text": [results[i][0]["body_text"] for i in sent]},
                        schema={"raw_sha256": pl.String, "subject": pl.String, "body_text": pl.String})
    try:
        measured = measure_frame(rows, measure_rules, score=False)    # the tag stage scores them in bulk
    except Exception:  # noqa: BLE001 - the messages are stored all the same; the tag stage measures them itself
        return results, None
    return results, measured.with_columns(version=pl.lit(measures_version(measure_rules)))


class Parser:
    """Parses on both cores when a batch is big enough. The pool starts from a fork server, not a fork of this
    process: DuckDB runs threads here, and forking a threaded process is unsafe. Workers import this module for
    their start-up hook (_exit_with_parent), and with it DuckDB and polars: about 68 MiB each.

    Given `measure_rules` (the rules a tag stage will measure with), it also measures the mail found in Sent
    folders, so the tag stage finds their measures stored; the workers then load the measures' libraries too
    (datasketch, VADER's lexicon) and keep their caches."""

    def __init__(self, workers: int | None = None, measure_rules: dict | None = None):
        self.workers = workers if workers is not None else min(2, multiprocessing.cpu_count())
        self.measure_rules = measure_rules
        self._pool: ProcessPoolExecutor | None = None

    def submit(self, items: list[tuple[bytes, datetime | None, bool, bool]], digests: list[str]
               ) -> Callable[[], tuple[Parsed, pl.DataFrame | None]]:
        """Start parsing `items` (parse_task); the returned function waits for the results, in order, and the
        measures of the Sent mail among them. A batch big enough for the pool is parsed there while the caller
        goes on (stores the previous batch); a small one is parsed here when its results are asked for."""
        if self.workers < 2 or len(items) < PARALLEL_THRESHOLD:
            return lambda: _joined([parse_task(items, digests, self.measure_rules)])
        if self._pool is None:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("forkserver"),
                                             initializer=_exit_with_parent)
        tasks = [self._pool.submit(parse_task, items[start:start + TASK_SIZE], digests[start:start + TASK_SIZE],
                                   self.measure_rules)
                 for start in range(0, len(items), TASK_SIZE)]     # all submitted: the workers are busy

        def wait() -> tuple[Parsed, pl.DataFrame | None]:
            fault_point("ingest.during_parse")   # crash tests: this batch in the pool, the one before it stored
            return _joined([task.result() for task in tasks])
        return wait

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


def _joined(tasks: list[tuple[Parsed, pl.DataFrame | None]]) -> tuple[Parsed, pl.DataFrame | None]:
    """The tasks' results in order, and their measures in one frame."""
    measured = [frame for _, frame in tasks if frame is not None]
    return [result for parsed, _ in tasks for result in parsed], pl.concat(measured) if measured else None


class KnownContent:
    """The content hashes already stored (messages and quarantine), read once and kept up to date as batches are
    written. Asking the database per batch scanned the whole messages table each time (its key index serves no
    IN list), which made an ingest quadratic: 13 ms a batch at 100k messages, ten times that at 1M. A hash is
    held as its first 128 bits, an int: about 70 bytes a stored message."""

    def __init__(self, store: Store):
        self._store = store
        self._ids: set[int] | None = None      # read on first use: a re-run over known Maildir files never needs it

    @staticmethod
    def _id(digest: str) -> int:
        return int(digest[:32], 16)

    def __contains__(self, digest: str) -> bool:
        if self._ids is None:
            rows = self._store.run("SELECT raw_sha256 FROM messages UNION ALL SELECT raw_sha256 FROM quarantine")
            self._ids = {self._id(h) for (h,) in rows}
        return self._id(digest) in self._ids

    def add(self, digests: Iterable[str]) -> None:
        if self._ids is not None:
            self._ids.update(self._id(d) for d in digests)


class Correspondents:
    """The team and everyone it wrote to, as far as the ingest has seen: the senders and recipients of the mail
    in Sent folders, stored or read in this run, and their organisations' own domains (not free mail). Inbound
    mail from anyone else that names no earlier message is parsed as its header only (parse.body_can_wait): in a
    real inbox most mail is from strangers (receipts, alerts, cold pitches) and none of it can answer an ask.
    Before any Sent mail is seen there is no telling, and nobody is a stranger. Wrong guesses cost time, not
    results: the tag stage parses whole what turns out to be the team's or from someone it wrote to
    (ensure_bodies). Read from the database on first use."""

    def __init__(self, store: Store, free_mail: Iterable[str]):
        self._store = store
        self._free_mail = frozenset(free_mail)
        self._addresses: set[str] | None = None
        self._domains: set[str] = set()

    @classmethod
    def under(cls, store: Store, rules: dict | None) -> "Correspondents | None":
        """The audit's rules name the free-mail domains; without rules every message is parsed whole."""
        return cls(store, rules["match"]["free_mail_domains"]) if rules else None

    def _loaded(self) -> set[str]:
        if self._addresses is None:
            self._addresses = set()
            self.add(self._store.query("correspondents", sent_folder=SENT_FOLDER)["addr"])
        return self._addresses

    def add(self, addresses: Iterable[str]) -> None:
        known = self._loaded()
        for address in addresses:
            if address not in known:
                known.add(address)
                domain = address.rpartition("@")[2]
                if domain not in self._free_mail:
                    self._domains.add(domain)

    def stranger(self, address: str | None) -> bool:
        """True only for an address that is neither a correspondent nor at a correspondent's organisation."""
        known = self._loaded()
        return (address is not None and bool(known) and address not in known
                and address.rpartition("@")[2] not in self._domains)


@dataclass
class _Started:
    """A batch hashed, its known messages set aside and the rest handed to the parser: not yet stored."""
    batch: list[RawMessage]
    hashed: list[tuple[RawMessage, str | None]]
    locations: list[dict]
    todo: dict[str, RawMessage]
    results: Callable[[], tuple[Parsed, pl.DataFrame | None]]
    counts: Counts
    also_in_flight: set[str]     # in the batch before too, which was not stored yet when this one started


def _start_batch(store: Store, batch: list[RawMessage], parser: Parser, known: KnownContent,
                 correspondents: Correspondents | None = None, in_flight: Iterable[str] = ()) -> _Started:
    """Hash the batch, skip what is stored and start parsing the rest, telling the parser which inbound mail is
    from a stranger (given `correspondents`). A message also in `in_flight` (the batch before, not yet stored) is
    parsed here too, and settled when this batch is stored: by then it is stored, or was dropped as forgotten,
    which only that batch's parse could tell."""
    counts = Counts(read=len(batch))
    locations, todo = [], {}
    hashed = [(m, content_sha256(m.raw)) if m.raw is not None else (m, None) for m in batch]
    for message, digest in hashed:
        if digest is None:                       # a known Maildir file, not read again
            counts.duplicate += 1
            continue
        locations.append({"kind": message.kind, "source": message.source, "folder": message.folder,
                          "location": message.location, "raw_sha256": digest,
                          "labels": list(message.labels) if message.labels is not None else None})
        if digest in known or digest in todo:
            counts.duplicate += 1
            continue
        todo[digest] = message
    items = [(m.raw, m.envelope_date, not m.in_sent,
              correspondents is not None and not m.in_sent and correspondents.stranger(sender_address(m.raw)))
             for m in todo.values()]
    results = parser.submit(items, list(todo))
    return _Started(batch, hashed, locations, todo, results, counts, set(todo).intersection(in_flight))


def _finish_batch(store: Store, run_id: int, started: _Started, known: KnownContent,
                  also: Callable[[], None] | None = None, correspondents: Correspondents | None = None) -> Counts:
    """Wait for the batch's parse and write all of it in one transaction (with `also`, the caller's own
    bookkeeping, inside it). The people on its Sent mail become `correspondents`."""
    counts, locations, todo, hashed = started.counts, started.locations, started.todo, started.hashed
    if not locations and also is None:
        # Every file was known by its place: no transaction for nothing (a re-run over 100k known Maildir files
        # spent 1.6 s committing empty batches); the caller adds these counts to the run once.
        counts.unsaved = True
        return counts
    results, measures = started.results()
    stored_meanwhile = {digest for digest in started.also_in_flight if digest in known}
    records, quarantined, dropped = [], [], set()
    forgotten = Forgotten.load(store)            # None until someone is forgotten: until then this costs nothing
    for (digest, message), (record, reason) in zip(todo.items(), results):
        if digest in stored_meanwhile:           # the batch before stored it while this one was parsing
            counts.duplicate += 1
            continue
        if forgotten is not None and forgotten.named_in(message.raw, record):
            dropped.add(digest)
            continue
        if record is None:
            quarantined.append({"raw_sha256": digest, "reason": reason, "size": len(message.raw), "raw": message.raw})
            counts.reasons[reason] = counts.reasons.get(reason, 0) + 1
            continue
        record = dict(record, raw_sha256=digest, raw=message.raw, headers=json.dumps(record["headers"]))
        records.append(record)
    counts.new, counts.quarantined = len(records), len(quarantined)
    if dropped:
        # Their places are not kept either, so a later run reads them again and counts them again; every copy in
        # this batch counts as forgotten, not as a duplicate of a message that was never stored.
        copies = sum(1 for _, digest in hashed if digest in dropped)
        counts.duplicate -= copies - len(dropped)
        counts.forgotten = copies
        locations = [loc for loc in locations if loc["raw_sha256"] not in dropped]
    if measures is not None:
        # Only for the records stored here: not forgotten, not stored meanwhile by the batch before.
        measures = measures.filter(pl.col("raw_sha256").is_in([r["raw_sha256"] for r in records]))
    store.save_batch(run_id, records, locations, quarantined,
                     {"read": counts.read, "new": counts.new, "duplicate": counts.duplicate,
                      "quarantined": counts.quarantined, "forgotten": counts.forgotten}, also,
                     measures=measures)
    known.add([r["raw_sha256"] for r in records] + [q["raw_sha256"] for q in quarantined])
    if correspondents is not None:
        correspondents.add(address for record in records if todo[record["raw_sha256"]].in_sent
                           for address in [record["from_addr"], *(r["addr"] for r in record["recipients"])] if address)
    return counts


def ingest_batch(store: Store, run_id: int, batch: list[RawMessage], parser: Parser, known: KnownContent,
                 also: Callable[[], None] | None = None, correspondents: Correspondents | None = None) -> Counts:
    """Store one batch: hash, skip what is `known`, parse the rest (strangers' mail by its header where it
    can wait, given `correspondents`), write all of it in one transaction (with `also`, the caller's own
    bookkeeping, inside it)."""
    started = _start_batch(store, batch, parser, known, correspondents)
    return _finish_batch(store, run_id, started, known, also, correspondents)


def ensure_bodies(store: Store, identity: Identity, free_mail: Iterable[str]) -> int:
    """Parse whole the messages stored with their header only (parse.body_can_wait) that turn out to be the
    team's own, such as a mass appeal sent through a mailing tool and found outside the Sent folder, or, taken for
    a stranger's, to be from someone the team wrote to after all (or at their organisation); returns how many.
    Only the body fields change; a body that still cannot be parsed is kept as none, with the reason."""
    deferred = store.query("deferred_bodies", addresses=sorted(identity.addresses), domains=sorted(identity.domains),
                           free_mail=sorted(free_mail), stranger=DEFERRED_STRANGER)
    if deferred.is_empty():
        return 0
    rows = []
    for digest, raw in deferred.iter_rows():
        record, reason = parse_or_reason((raw, None, False, False))
        if record is None:
            record = {"body_text": "", "body_kind": "none", "flags": [f"body_unparseable: {reason}"]}
        rows.append({"raw_sha256": digest, "body_text": record["body_text"], "body_kind": record["body_kind"],
                     "flags": record["flags"]})
    frame = pl.DataFrame(rows, schema={"raw_sha256": pl.String, "body_text": pl.String, "body_kind": pl.String,
                                       "flags": pl.List(pl.String)})
    with store.registered(_bodies=frame):
        store.run("UPDATE messages SET body_text = b.body_text, body_kind = b.body_kind, flags = b.flags "
                  "FROM _bodies b WHERE messages.raw_sha256 = b.raw_sha256")
    return frame.height


def ingest_messages(store: Store, run_id: int, messages: Iterable[RawMessage], *, batch_size: int = BATCH_SIZE,
                    progress: Callable[[int], None] | None = None, parser: Parser | None = None,
                    rules: dict | None = None) -> Counts:
    """Store every message in `messages`, one committed batch at a time. Batch n+1 is read, hashed and parsing
    on the workers while batch n is written, so neither the cores nor the database wait for the other (at 20k
    messages the workers sat idle for a fifth of the run while batches were stored).

    Given the audit's `rules`, Sent mail is measured as it is parsed (Parser) and strangers' mail is parsed as
    its header where it can wait (Correspondents); without them every message is parsed whole."""
    total, unsaved, known = Counts(), Counts(), KnownContent(store)
    correspondents = Correspondents.under(store, rules)
    own_parser = parser is None
    parser = parser or Parser(measure_rules=rules)

    def finish(started: _Started) -> None:
        counts = _finish_batch(store, run_id, started, known, correspondents=correspondents)
        total.add(counts)
        if counts.unsaved:
            unsaved.add(counts)
        fault_point("ingest.after_batch")
        if progress:
            progress(counts.read)

    try:
        previous: _Started | None = None
        for batch in _batched(messages, batch_size):
            # While Sent mail is still being parsed, whom it went to is not known yet: the batch after it reads
            # everything whole rather than take its correspondents for strangers (or wait for it).
            sent_in_flight = previous is not None and any(m.in_sent for m in previous.todo.values())
            started = _start_batch(store, batch, parser, known, None if sent_in_flight else correspondents,
                                   in_flight=previous.todo if previous else ())
            if previous is not None:
                finish(previous)
            previous = started
        if previous is not None:
            finish(previous)
    finally:
        if own_parser:
            parser.close()
    if unsaved.read:
        store.add_counts(run_id, read=unsaved.read, duplicate=unsaved.duplicate)
    if total.new or total.quarantined:
        store.checkpoint()
    return total


def ingest_paths(store: Store, run_id: int, paths: Iterable, *, skip_folders: Iterable[str] = (),
                 progress: Callable[[int], None] | None = None,
                 on_skip: Callable[[str], None] | None = None, rules: dict | None = None) -> Counts:
    """Ingest local files: each path a .eml, a folder, an mbox or a Maildir. Maildir files already stored are
    not read again (their content never changes), which keeps a re-run cheap. `rules` as in ingest_messages; their
    [sources] ignore_files (else the shipped ones) name the files mail clients keep beside the mail."""
    from .sources import iter_source

    ignore_files = (rules or {}).get("sources", {}).get("ignore_files")

    located: dict[tuple[str, str], set[tuple[str, str]]] = {}
    own_files = [store.path, store.path.with_name(store.path.name + ".wal")]

    def known(kind: str, source: str, folder: str, location: str) -> bool:
        if (kind, source) not in located:
            located[kind, source] = store.known_locations(kind, source)
        return (folder, location) in located[kind, source]

    def stream() -> Iterator[RawMessage]:
        for path in paths:
            yield from iter_source(path, skip_folders=skip_folders, known=known, on_skip=on_skip, exclude=own_files,
                                   ignore_files=ignore_files)

    return ingest_messages(store, run_id, stream(), progress=progress, rules=rules)
