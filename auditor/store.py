"""Store: the DuckDB file. Opening it (with a clear word when another process holds it), migrating it, and
writing batches through Arrow inside one transaction each, so a crash leaves whole batches only.

Nothing here knows about IMAP or mail formats: it takes records and frames and writes them.
"""
from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import duckdb
import polars as pl

from . import queries
from .errors import AuditorError, DatabaseBusy, UsageError

MIGRATIONS = Path(__file__).with_name("migrations")
_LOCK_PID = re.compile(r"\(PID (\d+)\)")

MESSAGE_SCHEMA = {
    "raw_sha256": pl.String, "mail_key": pl.String, "message_id": pl.String, "in_reply_to": pl.String,
    "reference_ids": pl.List(pl.String), "from_addr": pl.String, "from_name": pl.String,
    "recipients": pl.List(pl.Struct({"addr": pl.String, "name": pl.String, "field": pl.String})),
    "undisclosed": pl.Boolean, "sent_at": pl.Datetime("us", "UTC"), "date_source": pl.String,
    "subject": pl.String, "body_text": pl.String, "body_kind": pl.String, "headers": pl.String,
    "content_type": pl.String, "dsn_recipients": pl.List(pl.String), "dsn_soft_recipients": pl.List(pl.String), "dsn_status": pl.String,
    "dsn_original_id": pl.String, "size": pl.Int64, "flags": pl.List(pl.String), "raw": pl.Binary,
}
LOCATION_SCHEMA = {"kind": pl.String, "source": pl.String, "folder": pl.String, "location": pl.String,
                   "raw_sha256": pl.String, "labels": pl.List(pl.String)}
QUARANTINE_SCHEMA = {"raw_sha256": pl.String, "reason": pl.String, "size": pl.Int64, "raw": pl.Binary}
# A row whose raw bytes pass this size is written by itself, with bound parameters: through a frame and ON
# CONFLICT, DuckDB's insert took twelve times the bytes (800 MB for a 67 MB message), this way about four.
LARGE_RAW = 1 << 20
CHECKPOINT_THRESHOLD = "1GB"
# DuckDB's own memory, of which it takes 80% of the machine by default and keeps what it reads cached: the stages
# grew with the mailbox (a 300k ingest peaked at 1.4 GB). Past this it spills to a directory beside the database.
# Matching a million messages fits (its bounce join once did not, when it compared every sequence with every
# bounce). AUDITOR_DB_MEMORY raises it for a mailbox whose queries DuckDB cannot fit; the CLI says so.
MEMORY_LIMIT = os.environ.get("AUDITOR_DB_MEMORY", "512MB")


def now() -> datetime:
    return datetime.now(timezone.utc)


class Store:
    """One open DuckDB database. Use as a context manager; `Store.open` is the only way in."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path):
        self.con = con
        self.path = path
        self._spooled: dict[str, list[Path]] = {}
        self._work_dir: Path | None = None

    # -- opening -------------------------------------------------------------------------------------------
    @classmethod
    def open(cls, path: Path, *, read_only: bool = False) -> "Store":
        path = Path(path)
        # The database, its WAL and DuckDB's temporary files hold private correspondence: owner-only. DuckDB
        # creates the WAL lazily, so the mask stays for the rest of the process.
        os.umask(0o077)
        if read_only and not path.exists():
            raise UsageError(f"no database at {path}: run `auditor ingest` first or pass --db.")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            con = duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            text = str(exc)
            if "lock" in text.lower():
                pid = _LOCK_PID.search(text)
                raise DatabaseBusy(f"the database is in use by another process (PID {pid.group(1) if pid else '?'}): "
                                   f"wait for it to finish or pass another --db.") from None
            raise UsageError(f"cannot open the database {path}: {text.splitlines()[0]}.") from None
        except (duckdb.Error, OSError) as exc:
            raise UsageError(f"{path} is not a database the auditor can open ({str(exc).splitlines()[0]}): "
                             f"pass another --db.") from None
        store = cls(con, path)
        con.execute("SET memory_limit = ?", [MEMORY_LIMIT])
        if not read_only:
            # DuckDB checkpoints when its WAL passes 16 MB, and each checkpoint rewrites the key indexes whole:
            # an ingest of 100k messages spent a tenth of its time there, more the bigger the database. The
            # stages that write much checkpoint once when they end (Store.checkpoint).
            con.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
            store.migrate()
        return store

    def checkpoint(self) -> None:
        """Write what the WAL holds into the database file. Until then DuckDB keeps those rows in memory too,
        which a 100k-message ingest followed by tagging paid for in peak memory."""
        self.run("CHECKPOINT")

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- schema ----------------------------------------------------------------------------------------------
    def migrate(self) -> list[int]:
        """Apply every migration newer than the database, each in its own transaction."""
        self.run("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
                         "name VARCHAR, applied_at TIMESTAMPTZ)")
        done = {row[0] for row in self.run("SELECT version FROM schema_migrations")}
        applied = []
        for file in sorted(MIGRATIONS.glob("[0-9][0-9][0-9][0-9]_*.sql")):
            version = int(file.name[:4])
            if version in done:
                continue
            with self.transaction():
                self.run(file.read_text())
                self.run("INSERT INTO schema_migrations VALUES (?, ?, ?)", [version, file.stem, now()])
            applied.append(version)
        return applied

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.con.begin()
        try:
            yield
        except BaseException:
            self.con.rollback()
            raise
        else:
            self.con.commit()

    # -- runs ------------------------------------------------------------------------------------------------
    def begin_run(self, command: str, sources: Iterable[str] = ()) -> int:
        return self.run(
            "INSERT INTO runs (command, started_at, status, sources) VALUES (?, ?, 'running', ?) RETURNING run_id",
            [command, now(), list(sources)])[0][0]

    def add_counts(self, run_id: int, *, read: int = 0, new: int = 0, duplicate: int = 0, quarantined: int = 0,
                   forgotten: int = 0) -> None:
        self.run('UPDATE runs SET "read" = "read" + ?, new = new + ?, duplicate = duplicate + ?, '
                         "quarantined = quarantined + ?, forgotten = forgotten + ? WHERE run_id = ?",
                         [read, new, duplicate, quarantined, forgotten, run_id])

    def finish_run(self, run_id: int, status: str, detail: dict[str, Any] | None = None) -> None:
        self.run("UPDATE runs SET status = ?, finished_at = ?, detail = ? WHERE run_id = ?",
                         [status, now(), json.dumps(detail or {}, default=str), run_id])

    # -- ingest ----------------------------------------------------------------------------------------------
    def known_locations(self, kind: str, source: str) -> set[tuple[str, str]]:
        rows = self.run("SELECT folder, location FROM locations WHERE kind = ? AND source = ?",
                                [kind, source])
        return {(f, l) for f, l in rows}

    def save_batch(self, run_id: int, messages: list[dict], locations: list[dict], quarantined: list[dict],
                   counts: dict[str, int], also: Callable[[], None] | None = None, *,
                   measures: pl.DataFrame | None = None) -> None:
        """Write one batch and its run counters in a single transaction: all of it lands or none of it. `also`
        runs inside the same transaction (the harvester advances its UID mark there, so the mark never runs
        ahead of what is stored). `measures` are message_measures rows of these messages, taken while parsing."""
        unknown = {key for record in messages for key in record} - set(MESSAGE_SCHEMA)
        if unknown:
            # A polars frame built with a schema drops keys it does not know, silently: refuse instead.
            raise ValueError(f"message records carry fields the messages table does not have: {sorted(unknown)}")
        stamp = now()
        is_large = lambda record: len(record.get("raw") or b"") > LARGE_RAW
        large = [(table, schema, r) for table, schema, rows in (("messages", MESSAGE_SCHEMA, messages),
                 ("quarantine", QUARANTINE_SCHEMA, quarantined)) for r in rows if is_large(r)]
        messages, quarantined = ([r for r in rows if not is_large(r)] for rows in (messages, quarantined))
        frames = {
            "_msgs": pl.DataFrame(messages, schema=MESSAGE_SCHEMA),
            "_locs": pl.DataFrame(locations, schema=LOCATION_SCHEMA),
            "_quar": pl.DataFrame(quarantined, schema=QUARANTINE_SCHEMA),
        }
        if measures is not None and measures.height:
            frames["_measures"] = measures
        params = {"run": run_id, "at": stamp}

        def write(if_new: str) -> None:
            cols = ", ".join(MESSAGE_SCHEMA)
            self.run(f"INSERT INTO messages ({cols}, run_id, stored_at) SELECT {cols}, $run, $at FROM _msgs {if_new}",
                     params)
            if quarantined:      # most batches have none, and an empty insert still costs 4 ms
                self.run("INSERT INTO quarantine (raw_sha256, reason, size, raw, run_id, quarantined_at) "
                         f"SELECT raw_sha256, reason, size, raw, $run, $at FROM _quar {if_new}", params)
            for table, schema, record in large:
                self._insert_one(table, {c: record.get(c) for c in schema}, run_id, stamp)
            self.run("INSERT INTO locations (kind, source, folder, location, raw_sha256, run_id, seen_at, labels) "
                     "SELECT kind, source, folder, location, raw_sha256, $run, $at, labels "
                     "FROM _locs ON CONFLICT DO UPDATE SET raw_sha256 = excluded.raw_sha256, "
                     "seen_at = excluded.seen_at, labels = excluded.labels", params)
            if "_measures" in frames:
                cols = ", ".join(measures.columns)
                self.run(f"INSERT INTO message_measures ({cols}, measured_at) SELECT {cols}, $at FROM _measures {if_new}",
                         {"at": stamp})
            self.add_counts(run_id, **counts)
            if also is not None:
                also()

        with self.registered(**frames):
            # The caller sends only content it has not stored (ingest.KnownContent), so a plain insert is the rule;
            # ON CONFLICT, which probes the key of every row, cost 27 µs a message, two thirds of the insert. Should
            # a row be stored after all, the transaction rolls back whole and is written again with it.
            try:
                with self.transaction():
                    write("")
            except duckdb.ConstraintException:
                with self.transaction():
                    write("ON CONFLICT DO NOTHING")

    def _insert_one(self, table: str, row: dict[str, Any], run_id: int, stamp: datetime) -> None:
        """One row of messages or quarantine by bound parameters, unless its content is stored already."""
        if self.run(f"SELECT 1 FROM {table} WHERE raw_sha256 = ?", [row["raw_sha256"]]):
            return
        types = dict(self.run("SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = "
                              "'main' AND table_name = ?", [table]))
        stamp_column = "stored_at" if table == "messages" else "quarantined_at"
        values = ", ".join(f"CAST(${c} AS {types[c]})" for c in row)
        self.run(f"INSERT INTO {table} ({', '.join(row)}, run_id, {stamp_column}) VALUES ({values}, $run, $at)",
                 dict(row, run=run_id, at=stamp))

    # -- the auditor's own keys -------------------------------------------------------------------------------
    def secret_key(self, name: str) -> bytes:
        """A random 32-byte key kept in the database, made on first use."""
        rows = self.run("SELECT value FROM secrets WHERE name = ?", [name])
        if rows:
            return bytes(rows[0][0])
        key = os.urandom(32)
        self.run("INSERT INTO secrets VALUES (?, ?, ?)", [name, key, now()])
        return key

    # -- harvest marks -----------------------------------------------------------------------------------------
    def harvest_mark(self, account: str, folder: str) -> tuple[int, int] | None:
        """(UIDVALIDITY, highest committed UID) of a folder, or None before its first harvest."""
        rows = self.run("SELECT uidvalidity, last_uid FROM harvest_state WHERE account = ? AND folder = ?",
                        [account, folder])
        return (rows[0][0], rows[0][1]) if rows else None

    def set_harvest_mark(self, account: str, folder: str, uidvalidity: int, last_uid: int, added: int) -> None:
        """Called inside the batch's transaction, so the mark never runs ahead of what is stored."""
        self.run("INSERT INTO harvest_state VALUES ($a, $f, $v, $u, $n, $t) ON CONFLICT DO UPDATE SET "
                 "uidvalidity = $v, last_uid = $u, updated_at = $t, messages = CASE WHEN "
                 "harvest_state.uidvalidity = $v THEN harvest_state.messages + $n ELSE $n END",
                 {"a": account, "f": folder, "v": uidvalidity, "u": last_uid, "n": added, "t": now()})

    # -- derived stages ----------------------------------------------------------------------------------------
    @contextmanager
    def registered(self, **frames: pl.DataFrame) -> Iterator[None]:
        """Each frame readable by SQL under its name for the duration of the block."""
        try:
            for name, frame in frames.items():
                self.con.register(name, frame)
            yield
        finally:
            for name in frames:
                self.con.unregister(name)

    def release_memory(self) -> None:
        """Hand back the blocks DuckDB keeps cached after a stage (up to its limit), before the next stage's own
        memory comes on top: in one audit of a million messages, what ingest left cached and the tag stage's
        working set made a 1.4 GB peak. Lowering the limit for a moment evicts what is not in use."""
        try:
            self.run("SET memory_limit = '16MB'")
        except duckdb.Error:
            pass                # blocks in use stay; the rest went
        finally:
            self.run("SET memory_limit = ?", [MEMORY_LIMIT])

    # -- a stage's working data ---------------------------------------------------------------------------------
    @property
    def work_dir(self) -> Path:
        """Where a stage that works in batches keeps what one step hands the next, as Parquet files: beside the
        database and owner-only like it (a temporary directory for a database in memory). Working data kept in
        DuckDB tables, even temporary ones, stayed in memory and grew with the mailbox; files do not."""
        if self._work_dir is None:
            if self.path.name == ":memory:":
                import tempfile

                self._work_dir = Path(tempfile.mkdtemp(prefix="auditor-work-"))
            else:
                self._work_dir = self.path.with_name(self.path.name + ".work")
        return self._work_dir

    def append(self, name: str, frame: pl.DataFrame) -> None:
        """Add `frame`'s rows to the working data `name`, which SQL then reads as a view of that name."""
        self._spool_file(name, lambda path: frame.write_parquet(path))

    def spool(self, name: str, sql: str, params: Any = None) -> None:
        """The rows of `sql` as the working data `name` (a view of that name), written to disk, not held."""
        self._spool_file(name, lambda path: self.run(f"COPY ({sql}) TO '{_quoted(path)}' (FORMAT parquet)", params))

    def view(self, name: str, sql: str) -> None:
        """The rows of `sql` as the working data `name`, read where they stand: for stored tables the stage
        does not change while it works, which a copy to disk would only cost."""
        self._spooled.setdefault(name, [])
        self.run(f"CREATE OR REPLACE TEMP VIEW {name} AS {sql}")

    def _spool_file(self, name: str, write: Callable[[Path], Any]) -> None:
        self.work_dir.mkdir(mode=0o700, exist_ok=True)
        files = self._spooled.setdefault(name, [])
        files.append(self.work_dir / f"{name}-{len(files):06d}.parquet")
        write(files[-1])
        # The files by name, not a glob: a database path may hold the characters a glob reads as patterns.
        listed = ", ".join(f"'{_quoted(f)}'" for f in files)
        self.run(f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM read_parquet([{listed}])")

    def clear_work(self) -> None:
        """Drop the working data: its views and its files, also those a killed run left behind."""
        import shutil

        for name in self._spooled:
            self.run(f"DROP VIEW IF EXISTS temp.{name}")
        self._spooled.clear()
        shutil.rmtree(self.work_dir, ignore_errors=True)

    def replace(self, table: str, frame: pl.DataFrame, *, in_transaction: bool = False) -> None:
        """Swap a derived table's contents for `frame` (columns by name), in a transaction of its own unless
        the caller holds one (so several tables change together)."""
        with self.registered(_frame=frame):
            try:
                if not in_transaction:
                    self.con.begin()
                self.run(f"DELETE FROM {table}")
                cols = ", ".join(f'"{c}"' for c in frame.columns)
                self.run(f"INSERT INTO {table} ({cols}) SELECT {cols} FROM _frame")
                if not in_transaction:
                    self.con.commit()
            except BaseException:
                if not in_transaction:
                    self.con.rollback()
                raise

    def stage_fingerprint(self, stage: str) -> str | None:
        rows = self.run("SELECT fingerprint FROM stage_state WHERE stage = ?", [stage])
        return rows[0][0] if rows else None

    def set_stage_fingerprint(self, stage: str, fingerprint: str, run_id: int) -> None:
        self.run("INSERT OR REPLACE INTO stage_state VALUES (?, ?, ?, ?)", [stage, fingerprint, run_id, now()])

    # -- reading ---------------------------------------------------------------------------------------------
    def query(self, name: str, **params: Any) -> pl.DataFrame:
        """Run the named query from queries/ with bound parameters."""
        sql = queries.get(name)
        try:
            return self.frame(sql, params or None)
        except duckdb.Error as exc:
            raise AuditorError(f"query {name} failed: {str(exc).splitlines()[0]}") from exc

    def batches(self, name: str, size: int, params: dict | None = None) -> Iterator[pl.DataFrame]:
        """A named query's rows as frames of `size` rows, streamed, never all at once. It runs on the connection
        itself, since it may read the temporary views and registered frames a cursor would not see: nothing else
        may run on the connection until the last frame is read."""
        for batch in self.con.sql(queries.get(name), params=params).to_arrow_reader(size):
            yield pl.from_arrow(batch)

    def frame(self, sql: str, params: Any = None) -> pl.DataFrame:
        return self.con.sql(sql, params=params).pl()

    def scalar(self, sql: str, params: list | None = None) -> Any:
        rows = self.run(sql, params)
        return rows[0][0] if rows else None

    def run(self, sql: str, params: Any = None) -> list[tuple]:
        """Execute and fetch everything: DuckDB 2 refuses new work on a connection with a result left unread."""
        return self.con.execute(sql, params).fetchall()


def _quoted(path: Path) -> str:
    """A path inside a single-quoted SQL string."""
    return str(path).replace("'", "''")

