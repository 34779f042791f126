"""Forget: take a person out of the database for good, when they ask (or the law does).

What `forget_addresses` promises, for each address:

- Every stored message that names it goes: as sender or recipient (From, To, Cc, Bcc), or anywhere in its parsed
  text or raw bytes (Reply-To, a forwarded introduction, a signature, a bounce report). So do the places those
  messages were found, any other row about one of them (a table keyed by raw_sha256, such as message_measures),
  and any quarantined file that names it. A mail sent to them among others goes whole: its bytes name them, and
  the same mail with a recipient cut out would no longer be the mail that was sent.
- The derived tables (mails, asks, tags, sentences, templates, touches, outcomes) are emptied and the stage marks
  dropped: the next `tag`, `match` or `report` rebuilds them from what is left, so no label or reply rate still
  leans on the person.
- The database file is rewritten. DuckDB leaves deleted strings readable in its blocks after DELETE, CHECKPOINT and
  VACUUM, so the rows that stay are copied into a fresh file next to the old one, which then replaces it. Until
  that replacement the original is not touched: a forget that is killed leaves it as it was, and running it again
  finishes the job. The database lock is held throughout, the new file's included (another process gets exit 4).
- A salted hash of the address stays (table `forgotten`), and ingest (files and IMAP alike) skips any new message
  that names it, counting it as forgotten rather than dropping it silently.

An address is found where it stands whole: a letter, digit or one of `._%+-` next to it makes it part of another
address (ann@x.org is not found inside joann@x.org), and ingest applies the very same rule, so what forget removes
is what ingest keeps out. The rule reads ASCII addresses in text; an internationalised address is found where it is
a sender or recipient. An address inside an encoded attachment is not seen. A name is not forgotten: names are not
unique, and taking every "Lena" out of other people's mail would damage their records.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parseaddr
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import polars as pl

from .errors import AuditorError, DatabaseBusy, UsageError
from .faults import fault_point
from .store import Store, now

KEY_NAME = "forget"
# Rebuilt by `tag` and `match` from messages: emptied, marks included, rather than pruned row by row, since a row
# that does not name the person can still lean on their mail (a colleague's warmth, an answer by a colleague).
DERIVED_TABLES = ("mails", "asks", "tags", "tag_sentences", "templates", "touches", "outcomes", "stage_state")
REWRITE = "auditor_forget_rewrite"       # the new file, attached read-only to check it
SCHEMA_ONLY = "auditor_forget_schema"    # an empty in-memory copy of the schema, exported as DDL
# Which of $addresses a stored message has as sender or recipient: exact, so an internationalised address counts.
PARTICIPANTS = "list_intersect($addresses, list_concat([from_addr], list_transform(recipients, lambda r: r.addr)))"

# Lower-case bytes in: ASCII letters, digits and ._%+- make up an address; any other byte (non-ASCII included) ends
# one. Bytes, not str, so raw mail and decoded text are read by one rule, at C speed.
_ADDRESS = re.compile(rb"(?<![a-z0-9._%+-])[a-z0-9._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)+")
_SHAPE = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+")


def normalise(address: str) -> str:
    """The bare lower-case address, from `lena@x.org` or `Lena <lena@x.org>`; a usage error otherwise."""
    addr = parseaddr(address)[1].strip().lower()
    if not _SHAPE.fullmatch(addr):
        raise UsageError(f"{address!r} is not an email address: give one like lena@example.org.")
    return addr


def address_hash(key: bytes, address: str) -> str:
    return hmac.new(key, address.encode("utf-8"), hashlib.sha256).hexdigest()


def addresses_in(value: Any) -> set[str]:
    """Every whole ASCII address in a text, bytes, or nested lists and dicts of them, lower-cased."""
    found: set[str] = set()
    for text in _texts(value):
        data = text if isinstance(text, bytes) else text.encode("utf-8", "replace")
        found.update(m.decode("ascii") for m in _ADDRESS.findall(data.lower()))
    return found


def _texts(value: Any) -> Iterator[str | bytes]:
    if isinstance(value, (str, bytes)):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _texts(item)


class Forgotten:
    """The forgotten addresses as ingest sees them: hashes only, so it asks of each new message whether any address
    it names hashes to one of them."""

    def __init__(self, key: bytes, hashes: set[str]):
        self.key, self.hashes = key, hashes

    @classmethod
    def load(cls, store: Store) -> "Forgotten | None":
        """None when nobody was forgotten, so ingest pays nothing for this until someone is."""
        hashes = {h for (h,) in store.run("SELECT address_hash FROM forgotten")}
        return cls(store.secret_key(KEY_NAME), hashes) if hashes else None

    def named_in(self, raw: bytes | None, record: dict | None = None) -> bool:
        """Does this message (its raw bytes, and its parsed record when it parsed) name a forgotten address?"""
        named = addresses_in(raw) | addresses_in(record)
        if record:
            named.add(record.get("from_addr") or "")    # exact, so an internationalised address counts too
            named.update(r.get("addr") or "" for r in record.get("recipients") or ())
        return any(address_hash(self.key, a) in self.hashes for a in named if a)


@dataclass
class ForgetPlan:
    """What forgetting these addresses removes, worked out before anything changes (so it can be confirmed)."""
    addresses: list[str]
    hashes: dict[str, str]                               # address -> HMAC; made by `rewrite` if the key is new
    already: list[str] = field(default_factory=list)     # forgotten before, and nothing stored names them now
    messages: set[str] = field(default_factory=set)      # raw_sha256 of every message naming an address
    participant: int = 0                                 # of those, sent by or to one of the addresses
    quarantined: set[str] = field(default_factory=set)
    locations: list[tuple] = field(default_factory=list)  # (kind, source, folder, location)

    @property
    def empty(self) -> bool:
        return not (self.messages or self.quarantined or self.locations)


@dataclass
class ForgetResult:
    plan: ForgetPlan
    path: Path
    rewritten: bool = False
    derived_rows: int = 0                                # rows the derived tables held; the next tag rebuilds them


def forget_addresses(path: Path, addresses: Iterable[str],
                     confirm: Callable[[ForgetPlan], None] | None = None) -> ForgetResult:
    """Forget every address (one person's, usually), in one rewrite of the database at `path`. `confirm` sees the
    plan before anything changes; it raises to stop. An address nothing stored names is a usage error, unless it
    was forgotten before (then there is nothing left to do)."""
    wanted = list(dict.fromkeys(normalise(a) for a in addresses))
    with Store.open(path) as store:
        plan = plan_forget(store, wanted)
        if plan.empty:
            return ForgetResult(plan, store.path)
        if confirm is not None:
            confirm(plan)
        return rewrite(store, plan)


def plan_forget(store: Store, addresses: list[str]) -> ForgetPlan:
    """Find every stored row that names one of `addresses`. Read-only: a refused or declined forget changes
    nothing, not even the hash key, which `rewrite` makes when it is first needed."""
    key = store.scalar("SELECT value FROM secrets WHERE name = ?", [KEY_NAME])
    plan = ForgetPlan(addresses, {a: address_hash(bytes(key), a) for a in addresses} if key else {})
    catalog = store.scalar("SELECT current_database()")
    named: set[str] = set()
    by_message = _rows_naming(store, catalog, "messages", addresses, ("raw_sha256",), PARTICIPANTS)
    for (digest,), found, as_party in by_message:
        plan.messages.add(digest)
        plan.participant += as_party
        named |= found
    for (digest,), found, _ in _rows_naming(store, catalog, "quarantine", addresses, ("raw_sha256",)):
        plan.quarantined.add(digest)
        named |= found
    keys = ("kind", "source", "folder", "location")
    gone = pl.DataFrame({"h": sorted(plan.messages | plan.quarantined)}, schema={"h": pl.String})
    with store.registered(_forget_hashes=gone):
        placed = {tuple(r) for r in store.run(
            "SELECT kind, source, folder, location FROM locations WHERE raw_sha256 IN (SELECT h FROM _forget_hashes)")}
    for location, found, _ in _rows_naming(store, catalog, "locations", addresses, keys):   # a path naming them
        placed.add(location)
        named |= found
    plan.locations = sorted(placed)
    known = {h for (h,) in store.run("SELECT address_hash FROM forgotten")}
    unknown = [a for a in addresses if a not in named and plan.hashes.get(a) not in known]
    if unknown:        # a typo, most likely: forgetting the rest would leave the person half there
        raise UsageError(f"nothing stored names {', '.join(unknown)} (check the spelling): nothing was changed.")
    plan.already = [a for a in addresses if a not in named]
    return plan


def rewrite(store: Store, plan: ForgetPlan) -> ForgetResult:
    """Put a fresh file holding every row that stays in the database's place. Closes `store`: the file its
    connection had open is gone.

    Two processes, because DuckDB can write the unused end of a compressed string block as it found it in memory
    (duckdb/duckdb#23382): in this process, that memory held the forgotten mail a moment ago. So this process only
    writes the rows that stay to Parquet, and a new process, which never saw the forgotten rows, builds the new
    database from them. This process then checks the new file, read-only, and swaps it in while it still holds the
    lock."""
    path = store.path
    _remove_leftovers(path)              # ours to remove: we hold the lock, so no other forget is making them
    fresh, fresh_wal, work = _leftovers(path)
    catalog = store.scalar("SELECT current_database()")
    tables = _tables(store, catalog)
    result = ForgetResult(plan, path, rewritten=True)
    result.derived_rows = sum(store.scalar(f"SELECT count(*) FROM {_ident(t)}") for t in DERIVED_TABLES if t in tables)
    key = store.secret_key(KEY_NAME)
    plan.hashes = {a: address_hash(key, a) for a in plan.addresses}
    store.checkpoint()                   # the old WAL is empty from here on: nothing in it could meet the new file
    lock = None
    try:
        work.mkdir(mode=0o700)
        _export(store, catalog, tables, plan, work)
        _build_in_new_process(work, fresh)
        store.run(f"ATTACH {_literal(str(fresh))} AS {REWRITE} (READ_ONLY)")
        try:
            _check_nothing_names(store, plan.addresses)
        finally:
            store.run(f"DETACH {REWRITE}")
        lock = _lock(fresh)
        os.fchmod(lock, 0o600)
        os.fsync(lock)
        fault_point("forget.before_replace")
        os.replace(fresh, path)
        _fsync_dir(path.parent)
        store.close()
        # Ours alone: nobody else can open the database while we hold the new file's lock, and the checkpoint
        # emptied it. Replayed into the new file, an old WAL would corrupt it.
        path.with_name(path.name + ".wal").unlink(missing_ok=True)
    except BaseException:
        store.close()
        for leftover in (fresh, fresh_wal):
            leftover.unlink(missing_ok=True)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if lock is not None:
            os.close(lock)              # lets go of the lock: the database is open to others again
    return result


def _export(store: Store, catalog: str, tables: list[str], plan: ForgetPlan, work: Path) -> None:
    """The schema as DDL (tables, sequences where they stand, views, macros) and each table's rows that stay as
    Parquet, with a manifest of what the new process adds: the hashes and this run."""
    store.run(f"ATTACH ':memory:' AS {SCHEMA_ONLY}")
    try:
        store.run(f"COPY FROM DATABASE {_ident(catalog)} TO {SCHEMA_ONLY} (SCHEMA)")
        store.run(f"EXPORT DATABASE {SCHEMA_ONLY} TO {_literal(str(work / 'schema'))}")
    finally:
        store.run(f"DETACH {SCHEMA_ONLY}")
    frames = {
        "_forget_hashes": pl.DataFrame({"h": sorted(plan.messages | plan.quarantined)}, schema={"h": pl.String}),
        "_forget_locations": pl.DataFrame(plan.locations, orient="row", schema={
            "kind": pl.String, "source": pl.String, "folder": pl.String, "location": pl.String}),
    }
    # A run's sources are paths and account names: one could hold the address (a file named after the person).
    pattern = "|".join(re.escape(a) for a in plan.addresses)
    redacted = ("SELECT * REPLACE (list_transform(sources, lambda s: regexp_replace(s, $p, '[forgotten]', 'gi')) AS "
                "sources, regexp_replace(CAST(detail AS VARCHAR), $p, '[forgotten]', 'gi')::JSON AS detail) FROM {src}")
    copied = []
    with store.registered(**frames):
        for table in tables:
            if table in DERIVED_TABLES:
                continue
            src = f"{_ident(catalog)}.main.{_ident(table)}"
            columns = {c for (c,) in store.run("SELECT column_name FROM duckdb_columns() WHERE database_name = ? "
                                               "AND schema_name = 'main' AND table_name = ?", [catalog, table])}
            if table == "runs":
                select = redacted.format(src=src)
            elif table == "locations":
                select = f"SELECT l.* FROM {src} l ANTI JOIN _forget_locations f USING (kind, source, folder, location)"
            elif "raw_sha256" in columns:   # messages, quarantine, and any table about one message (its measures)
                select = f"SELECT * FROM {src} WHERE raw_sha256 NOT IN (SELECT h FROM _forget_hashes)"
            else:
                select = f"SELECT * FROM {src}"
            target = work / f"{len(copied):03}.parquet"
            store.run(f"COPY ({select}) TO {_literal(str(target))} (FORMAT parquet)",
                      {"p": pattern} if table == "runs" else None)
            copied.append([table, target.name])
    detail = {"addresses": len(plan.addresses), "messages": len(plan.messages),
              "locations": len(plan.locations), "quarantined": len(plan.quarantined)}
    (work / "manifest.json").write_text(json.dumps({
        "tables": copied, "forgotten": sorted(plan.hashes.values()), "at": now().isoformat(), "detail": detail}))


def _build_in_new_process(work: Path, fresh: Path) -> None:
    """Run `_build` in a new interpreter that imports this very package (its folder first on the path). The
    address never reaches its command line, where other users could read it: the manifest holds hashes only."""
    package_root = str(Path(__file__).resolve().parent.parent)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")])))
    done = subprocess.run([sys.executable, "-c", "import sys; from auditor.forget import _build; _build(*sys.argv[1:])",
                           str(work), str(fresh)], env=env, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise AuditorError(f"building the rewritten database failed ({last}): nothing was changed.")


def _build(work: str, fresh: str) -> None:
    """In the new process: the schema, then every table's rows, the new hashes and this run, in one transaction."""
    import duckdb

    os.umask(0o077)
    work_dir = Path(work)
    manifest = json.loads((work_dir / "manifest.json").read_text())
    con = duckdb.connect(fresh)
    try:
        _create_schema(con, (work_dir / "schema" / "schema.sql").read_text())
        con.begin()
        for table, name in manifest["tables"]:
            con.execute(f"INSERT INTO {_ident(table)} BY NAME SELECT * FROM read_parquet(?)",
                        [str(work_dir / name)]).fetchall()
        at = datetime.fromisoformat(manifest["at"])
        for digest in manifest["forgotten"]:
            con.execute("INSERT INTO forgotten VALUES (?, ?) ON CONFLICT DO NOTHING", [digest, at]).fetchall()
        con.execute("INSERT INTO runs (command, started_at, finished_at, status, sources, detail) "
                    "VALUES ('forget', ?, ?, 'ok', [], ?)", [at, now(), json.dumps(manifest["detail"])]).fetchall()
        con.commit()
        con.execute("CHECKPOINT").fetchall()
    finally:
        con.close()


def _create_schema(con, script: str) -> None:
    """Run EXPORT's schema.sql, one statement a line, a statement that names something not made yet (EXPORT writes
    a table macro before the view it reads) again after the others, until every one has run."""
    pending = [s for s in script.split(";\n") if s.strip()]
    while pending:
        failed = []
        for statement in pending:
            try:
                con.execute(statement).fetchall()
            except Exception:  # noqa: BLE001 - tried again once the statements before it have run
                failed.append(statement)
        if len(failed) == len(pending):
            con.execute(failed[0]).fetchall()        # no progress: the first failure is the error to report
        pending = failed


def _check_nothing_names(store: Store, addresses: list[str]) -> None:
    """The new file, table by table: if any row still names an address (a table a later migration added, an
    account called after the person), stop before it replaces anything."""
    for table in _tables(store, REWRITE):
        if next(iter(_rows_naming(store, REWRITE, table, addresses, ("rowid",),
                                  PARTICIPANTS if table == "messages" else None)), None):
            raise AuditorError(f"the table {table} would still name the address after the rewrite, and forget does "
                               "not know how to clear it: nothing was changed (run again with --traceback and "
                               "report it).")


def _rows_naming(store: Store, catalog: str, table: str, addresses: list[str], key: tuple[str, ...],
                 participants: str | None = None) -> Iterator[tuple[tuple, set[str], bool]]:
    """(key, addresses named, named as a participant) for each row of `table` whose text names an address, or
    whose `participants` (an SQL list of the addresses a row has as sender or recipient) is not empty.

    Built from the table's columns rather than kept in queries/: every text, JSON and BLOB column is searched, so
    a table or column added by a later migration is searched too. DuckDB narrows the rows by substring (a BLOB
    cast to text keeps ASCII as it is); the whole-address rule then decides on the few that are left."""
    columns = store.run("SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = ? "
                        "AND schema_name = 'main' AND table_name = ?", [catalog, table])
    columns = [(c, t) for c, t in columns if any(k in t for k in ("VARCHAR", "JSON", "BLOB"))]
    params: dict[str, Any] = {f"a{i}": a for i, a in enumerate(addresses)}
    tests = [f"contains(lower(CAST({_ident(c)} AS VARCHAR)), $a{i})"
             for c, t in columns for i, a in enumerate(addresses) if a.isascii() or t != "BLOB"]
    if participants:
        tests.append(f"len(coalesce({participants}, [])) > 0")
        params["addresses"] = addresses
    if not tests:
        return
    values = [_ident(c) if t == "BLOB" else f"CAST({_ident(c)} AS VARCHAR)" for c, t in columns]
    sql = (f"SELECT {', '.join(key)}, {participants or 'NULL'} AS _party, {', '.join(values) or 'NULL'} "
           f"FROM {_ident(catalog)}.main.{_ident(table)} WHERE {' OR '.join(tests)}")
    wanted = set(addresses)
    cursor = store.con.execute(sql, params)
    while rows := cursor.fetchmany(500):       # raw bytes of every candidate: a page at a time, read to the end
        for row in rows:
            party = set(row[len(key)] or ())
            named = addresses_in(list(row[len(key) + 1:])) & wanted
            if named or party:
                yield tuple(row[:len(key)]), named | party, bool(party)


def _tables(store: Store, catalog: str) -> list[str]:
    return [t for (t,) in store.run("SELECT table_name FROM duckdb_tables() WHERE database_name = ? "
                                    "AND schema_name = 'main' ORDER BY table_name", [catalog])]


def _leftovers(path: Path) -> tuple[Path, Path, Path]:
    """The new file, its WAL and the folder of what goes into it: hidden (a folder walk never ingests them) and
    next to the database (os.replace stays on one file system, so the swap is atomic)."""
    fresh = path.with_name(f".{path.name}.forget")
    return fresh, fresh.with_name(fresh.name + ".wal"), fresh.with_name(fresh.name + ".d")


def _remove_leftovers(path: Path) -> None:
    """A forget killed before its swap leaves a half-made copy behind (of what stays: never the forgotten rows)."""
    fresh, fresh_wal, work = _leftovers(path)
    fresh.unlink(missing_ok=True)
    fresh_wal.unlink(missing_ok=True)
    shutil.rmtree(work, ignore_errors=True)


def _lock(path: Path) -> int:
    """DuckDB's own kind of lock (a POSIX write lock on the whole file), taken on the new file before it gets the
    database's name: from the swap until we let go, another process that opens the database is told it is busy,
    as the connection we are about to close would have told it."""
    import fcntl            # POSIX only, like DuckDB's lock; imported here so ingest imports this module anywhere

    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise DatabaseBusy("the database is in use by another process: wait for it to finish or pass "
                           "another --db.") from None
    return fd


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
