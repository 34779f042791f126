import os
import re
import stat
import subprocess
import sys

import polars as pl
import pytest

from auditor.errors import DatabaseBusy, UsageError
from auditor.store import Store


def test_new_database_is_migrated_once_and_private(tmp_path):
    path = tmp_path / "sub" / "a.duckdb"
    with Store.open(path) as store:
        versions = store.run("SELECT version FROM schema_migrations")
        tables = {r[0] for r in store.run("SELECT table_name FROM information_schema.tables")}
    from auditor.store import MIGRATIONS

    assert [v for (v,) in versions] == sorted(int(f.name[:4]) for f in MIGRATIONS.glob("[0-9]*.sql")) and len(versions) >= 2
    assert {"messages", "locations", "quarantine", "runs", "tags", "outcomes", "mails", "ask_outcomes", "harvest_state"} <= tables
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with Store.open(path) as store:               # re-opening applies nothing again
        assert store.migrate() == []


def test_a_locked_database_names_the_process_holding_it(tmp_path):
    path = tmp_path / "a.duckdb"
    Store.open(path).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); sys.stdin.read()", str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(DatabaseBusy) as err:
            Store.open(path)
        assert str(err.value).startswith(f"the database is in use by another process (PID {holder.pid})")
        assert err.value.exit_code == 4
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)


def test_a_file_that_is_not_a_database_is_a_usage_error(tmp_path):
    path = tmp_path / "notes.duckdb"
    path.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(UsageError):
        Store.open(path)


def test_read_only_open_of_a_missing_database_says_what_to_do(tmp_path):
    with pytest.raises(UsageError, match="run `auditor ingest` first"):
        Store.open(tmp_path / "missing.duckdb", read_only=True)


def test_a_failed_batch_leaves_nothing_behind(store):
    run_id = store.begin_run("ingest")
    bad_location = {"kind": "eml", "source": "/x", "folder": "f", "location": None, "raw_sha256": "h"}  # NOT NULL
    with pytest.raises(Exception):
        store.save_batch(run_id, [], [bad_location], [{"raw_sha256": "q", "reason": "empty file", "size": 0, "raw": b""}],
                         {"read": 1, "new": 0, "duplicate": 0, "quarantined": 1})
    assert store.scalar("SELECT count(*) FROM quarantine") == 0
    assert store.scalar('SELECT "read" FROM runs WHERE run_id = ?', [run_id]) == 0


def test_a_batch_holding_a_stored_message_is_written_again_without_it(store):
    """save_batch inserts plainly (the caller sends only new content) and, on a key already stored, writes the
    whole batch again skipping it: the stored row stays as it was, the new one lands, the run's counts and the
    caller's own bookkeeping (`also`) count once."""
    from auditor.parse import parse_raw

    def record(subject: str) -> dict:
        raw = f"From: a@example.org\r\nTo: b@example.org\r\nSubject: {subject}\r\nMessage-ID: <{subject}@x>\r\n\r\nhi\r\n".encode()
        parsed = parse_raw(raw)
        return dict(parsed, raw_sha256=subject, raw=raw, headers="{}")

    def location(digest: str) -> dict:
        return {"kind": "eml", "source": "/x", "folder": "f", "location": digest, "raw_sha256": digest, "labels": None}

    first, second = store.begin_run("ingest"), store.begin_run("ingest")
    store.save_batch(first, [record("one")], [location("one")], [], {"read": 1, "new": 1})
    mark = lambda: store.set_harvest_mark("acct", "INBOX", 7, 2, added=1)     # adds to a counter: twice shows
    store.save_batch(second, [record("two"), dict(record("one"), subject="changed")], [location("two")], [],
                     {"read": 2, "new": 1, "duplicate": 1}, also=mark)
    assert store.run("SELECT raw_sha256, subject, run_id FROM messages ORDER BY 1") == [
        ("one", "one", first), ("two", "two", second)]
    assert store.run('SELECT "read", new, duplicate FROM runs WHERE run_id = ?', [second]) == [(2, 1, 1)]
    assert store.scalar("SELECT count(*) FROM locations") == 2
    assert store.run("SELECT last_uid, messages FROM harvest_state") == [(2, 1)]


def test_replace_swaps_a_derived_table_whole(store):
    frame = pl.DataFrame({"stage": ["a", "b"], "fingerprint": ["1", "2"]})
    store.replace("stage_state", frame)
    store.replace("stage_state", frame.head(1))
    assert store.frame("SELECT stage FROM stage_state")["stage"].to_list() == ["a"]


def test_a_row_with_large_raw_bytes_is_written_alike_by_itself(tmp_path, monkeypatch):
    """Rows over LARGE_RAW go in one by one with bound parameters: the same rows as through a frame, and a content
    already stored is not written twice."""
    import auditor.store
    from auditor.ingest import ingest_paths

    from conftest import MAILBOX

    def stored(db):
        with Store.open(db) as store:
            ingest_paths(store, store.begin_run("ingest"), [MAILBOX])
            run_id = store.begin_run("again")
            row = store.frame("SELECT raw_sha256, reason, size, raw FROM quarantine LIMIT 1").to_dicts()
            store.save_batch(run_id, [], [], row, {"read": 1})
            return [store.frame(f"SELECT * EXCLUDE (run_id, {at}) FROM {table} ORDER BY raw_sha256")
                    for table, at in (("messages", "stored_at"), ("quarantine", "quarantined_at"))]

    framed = stored(tmp_path / "framed.duckdb")
    monkeypatch.setattr(auditor.store, "LARGE_RAW", -1)
    alone = stored(tmp_path / "alone.duckdb")
    assert framed[0].height == 12 and framed[1].height == 2
    assert all(a.equals(b) for a, b in zip(framed, alone))


def test_every_file_an_audit_writes_is_readable_by_its_owner_only(tmp_path):
    """Run in a fresh process whose umask would leave files world-readable: the database, its WAL, the report and
    the exports (Parquet partitions and CSV) still come out owner-only, and so do the folders made for them."""
    from conftest import MAILBOX, TEAM

    out = tmp_path / "out"
    script = (
        "import sys\n"
        "from auditor.cli import main\n"
        "from auditor.store import Store\n"
        "db, out, mailbox, team = sys.argv[1:5]\n"
        "assert main(['audit', mailbox, '--db', db, '--me', team, '--as-of', '2026-06-01', '-o', out + '/r/report.html']) == 0\n"
        "assert main(['export', '--db', db, '--me', team, '--as-of', '2026-06-01', '-o', out + '/parquet', '--format', 'parquet', '--partition-by', 'account,month']) == 0\n"
        "assert main(['export', '--db', db, '--me', team, '--as-of', '2026-06-01', '-o', out + '/asks.csv', '--format', 'csv']) == 0\n"
        "with Store.open(__import__('pathlib').Path(db)) as s:\n"
        "    s.run(\"CREATE TABLE scratch AS SELECT range AS i FROM range(1000)\")\n"
        "    import os, stat\n"
        "    wal = db + '.wal'\n"
        "    print('WAL', oct(stat.S_IMODE(os.stat(wal).st_mode)) if os.path.exists(wal) else 'none')\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "db" / "a.duckdb"), str(out), str(MAILBOX), TEAM],
                            capture_output=True, text=True, preexec_fn=lambda: os.umask(0o022), timeout=300)
    assert result.returncode == 0, result.stderr
    wal_line = [l for l in result.stdout.splitlines() if l.startswith("WAL")][0]
    assert wal_line in ("WAL 0o600", "WAL none")
    written = [p for p in tmp_path.rglob("*")]
    files = [p for p in written if p.is_file()]
    assert any(p.suffix == ".parquet" for p in files) and any(p.suffix == ".csv" for p in files)
    assert any(p.suffix == ".html" for p in files) and any(p.suffix == ".duckdb" for p in files)
    for path in written:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode & 0o077 == 0, f"{path.relative_to(tmp_path)} is {oct(mode)}"


def _bytes(size: str) -> float:
    """'512MB', '488.2 MiB' -> bytes (MB is 1000², MiB 1024², as DuckDB reads them)."""
    number, unit = re.fullmatch(r"\s*([\d.]+)\s*([KMGT]?i?B)?\s*", size, re.IGNORECASE).groups()
    unit = (unit or "B").upper()
    return float(number) * (1024 if "I" in unit else 1000) ** "BKMGT".index(unit[0])


def test_duckdb_is_held_to_the_memory_limit(tmp_path):
    from auditor.store import MEMORY_LIMIT

    with Store.open(tmp_path / "a.duckdb") as store:
        limit = _bytes(store.scalar("SELECT current_setting('memory_limit')"))
    assert _bytes(MEMORY_LIMIT) == _bytes("512MB")                            # AUDITOR_DB_MEMORY unset here
    assert limit == pytest.approx(_bytes(MEMORY_LIMIT), rel=0.01)              # not 80% of the machine


def test_working_data_is_read_as_a_view_and_leaves_no_file_behind(tmp_path):
    import polars as pl

    with Store.open(tmp_path / "a.duckdb") as store:
        store.append("_w", pl.DataFrame({"n": [1, 2]}))
        store.append("_w", pl.DataFrame({"n": [3]}))
        store.spool("_s", "SELECT sum(n) AS total FROM _w")
        assert store.scalar("SELECT total FROM _s") == 6
        assert all(oct(f.stat().st_mode)[-3:] == "600" for f in store.work_dir.iterdir())
        store.clear_work()
        assert not store.work_dir.exists()
        assert not store.run("SELECT * FROM duckdb_views() WHERE view_name IN ('_w', '_s')")


def test_releasing_memory_hands_back_what_duckdb_keeps_cached_and_keeps_the_limit(tmp_path):
    from auditor.store import MEMORY_LIMIT

    def cached(store) -> int:
        return store.scalar("SELECT sum(memory_usage_bytes) FROM duckdb_memory()")

    with Store.open(tmp_path / "a.duckdb") as store:
        store.run("CREATE TABLE t AS SELECT i, repeat(md5(i::VARCHAR), 8) AS s FROM range(1000000) r(i)")
    with Store.open(tmp_path / "a.duckdb") as store:
        store.run("SELECT count(DISTINCT i), sum(length(s)) FROM t")      # the table's blocks, read and kept
        before = cached(store)
        store.release_memory()
        after = cached(store)
        limit = _bytes(store.scalar("SELECT current_setting('memory_limit')"))
    assert before > 50 * 2**20 and after < before / 4
    assert limit == pytest.approx(_bytes(MEMORY_LIMIT), rel=0.01)
