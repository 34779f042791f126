import os
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.ingest import Parser, ingest_paths
from auditor.store import Store

from conftest import MAILBOX, write_eml

ROOT = Path(__file__).resolve().parent.parent


def table_counts(store):
    return {t: store.scalar(f"SELECT count(*) FROM {t}") for t in ("messages", "locations", "quarantine")}


def test_every_file_is_stored_or_quarantined_and_counted(ingested):
    store, run_id, counts = ingested
    assert (counts.read, counts.new, counts.duplicate, counts.quarantined) == (14, 12, 0, 2)
    assert counts.new + counts.duplicate + counts.quarantined == counts.read
    reasons = dict(store.run("SELECT reason, size FROM quarantine"))
    assert set(reasons) == {"empty file", "not an email: the file is a PDF document"}
    truncated = store.frame("SELECT flags FROM messages WHERE from_addr = 'omar@cedar-fund.example' AND subject = ''")
    assert truncated.height == 1 and "no_usable_date" in truncated["flags"][0]
    row = store.run('SELECT "read", new, duplicate, quarantined FROM runs WHERE run_id = ?', [run_id])[0]
    assert row == (14, 12, 0, 2)


def test_every_parsed_field_reaches_the_database(ingested):
    store, _, _ = ingested
    refs = store.run("SELECT reference_ids, in_reply_to FROM messages WHERE message_id = '<CAL1-lena-0304@hillside-school.org>'")
    assert refs == [(["<bp-0303-sam-lena@brightpath.org>"], "<bp-0303-sam-lena@brightpath.org>")]
    with __import__("pytest").raises(ValueError, match="fields the messages table does not have"):
        store.save_batch(store.begin_run("x"), [{"raw_sha256": "h", "stray": 1}], [], [], {})


def test_ingesting_the_same_source_twice_adds_nothing(ingested):
    store, _, _ = ingested
    before = table_counts(store)
    run_id = store.begin_run("ingest")
    again = ingest_paths(store, run_id, [MAILBOX])
    assert (again.read, again.new, again.duplicate, again.quarantined) == (14, 0, 14, 0)
    assert table_counts(store) == before
    # Files known by their place are not read and no empty batch is committed, but the run still counts them.
    assert store.run('SELECT "read", new, duplicate, quarantined FROM runs WHERE run_id = ?', [run_id]) == [(14, 0, 14, 0)]


def test_the_same_bytes_in_two_places_are_one_message_with_two_locations(tmp_path, store):
    text = (MAILBOX / "Sent" / "03-ask-lena-podcast.eml").read_text()
    write_eml(tmp_path / "a" / "Sent", "x.eml", text)                              # CRLF copy
    (tmp_path / "b" / "All Mail").mkdir(parents=True)
    (tmp_path / "b" / "All Mail" / "y.eml").write_text(text)                       # LF copy
    counts = ingest_paths(store, store.begin_run("ingest"), [tmp_path / "a", tmp_path / "b"])
    assert (counts.new, counts.duplicate) == (1, 1)
    assert table_counts(store)["locations"] == 2


def test_parallel_and_serial_parsing_store_the_same_rows(tmp_path):
    for i in range(150):
        write_eml(tmp_path / "mail" / "Inbox", f"{i:03}.eml",
                  f"From: p{i}@x.org\nTo: me@y.org\nSubject: note {i}\nDate: Tue, 3 Mar 2026 10:{i % 60:02}:00 +0000\n"
                  f"Message-ID: <{i}@x.org>\n\nHello number {i}\n")
    results = []
    for workers in (1, 2):
        with Store.open(tmp_path / f"db{workers}.duckdb") as store:
            parser = Parser(workers)
            try:
                from auditor.ingest import ingest_messages
                from auditor.sources import iter_source

                ingest_messages(store, store.begin_run("ingest"), iter_source(tmp_path / "mail"), parser=parser)
            finally:
                parser.close()
            results.append(store.frame("SELECT raw_sha256, message_id, sent_at, body_text FROM messages ORDER BY raw_sha256"))
    assert results[0].height == 150 and results[0].equals(results[1])


def _note(i: int, sender: str = "p{i}@x.org") -> bytes:
    return (f"From: {sender.format(i=i)}\r\nTo: me@y.org\r\nSubject: note {i}\r\n"
            f"Date: Tue, 3 Mar 2026 10:{i % 60:02}:00 +0000\r\nMessage-ID: <{i}@x.org>\r\n\r\nHello {i}\r\n").encode()


def test_a_message_in_two_batches_parsing_side_by_side_is_stored_once(tmp_path):
    """Batch n+1 is parsing while batch n is written: a copy in each (Sent and All Mail, side by side in the
    stream) is one new message and one duplicate, and a copy naming a forgotten person is forgotten twice. What
    is known is kept in memory through the run (a copy two batches later is a duplicate) and read from the
    database by the next run."""
    from auditor.forget import forget_addresses
    from auditor.ingest import ingest_messages
    from auditor.sources import RawMessage

    db = tmp_path / "audit.duckdb"
    with Store.open(db) as store:
        ingest_messages(store, store.begin_run("ingest"),
                        [RawMessage("eml", "seed", "Inbox", "seed", _note(999, "gone@x.org"))])
    forget_addresses(db, ["gone@x.org"])

    size = 70                                      # above PARALLEL_THRESHOLD: the batches go to the pool
    raws = [_note(i) for i in range(3 * size)]
    raws[size] = raws[size - 1]                     # the last of batch 1 is the first of batch 2
    raws[size - 2] = raws[size + 1] = _note(500, "gone@x.org")
    raws[2 * size + 5] = raws[3]                    # batch 3 repeats batch 1, stored two batches before
    stream = [RawMessage("eml", "src", "All", f"m{i}", raw) for i, raw in enumerate(raws)]
    parser = Parser(2)
    try:
        with Store.open(db) as store:
            run_id = store.begin_run("ingest")
            counts = ingest_messages(store, run_id, stream, batch_size=size, parser=parser)
            stored = table_counts(store)
            row = store.run('SELECT "read", new, duplicate, forgotten FROM runs WHERE run_id = ?', [run_id])[0]
            # Another run reads what is stored from the database: the same content elsewhere is all duplicate.
            again = ingest_messages(store, store.begin_run("ingest"),
                                    [RawMessage("eml", "copy", "All", f"c{i}", raw) for i, raw in enumerate(raws[:size])],
                                    batch_size=size, parser=parser)
    finally:
        parser.close()
    assert (counts.read, counts.new, counts.duplicate, counts.forgotten) == (210, 206, 2, 2)
    assert row == (210, 206, 2, 2)
    assert stored == {"messages": 206, "locations": 208, "quarantine": 0}
    assert (again.new, again.duplicate, again.forgotten) == (0, 69, 1)


def test_a_batch_ends_at_its_size_or_its_bytes_whichever_comes_first():
    from auditor.ingest import _batched
    from auditor.sources import RawMessage

    items = [RawMessage("eml", "s", "f", str(i), b"x" * 40) for i in range(10)] + [RawMessage("eml", "s", "f", "k", None)]
    assert [len(b) for b in _batched(items, 4, max_bytes=1000)] == [4, 4, 3]
    assert [len(b) for b in _batched(items, 500, max_bytes=100)] == [3, 3, 3, 2]      # 120 bytes > 100: cut


def test_a_run_killed_after_a_batch_keeps_whole_batches_and_resumes_exactly(tmp_path):
    for i in range(25):
        write_eml(tmp_path / "mail" / "Inbox", f"{i:03}.eml",
                  f"From: p{i}@x.org\nTo: me@y.org\nSubject: n{i}\nDate: Tue, 3 Mar 2026 10:00:00 +0000\nMessage-ID: <{i}@x.org>\n\nhi\n")
    db = tmp_path / "kill.duckdb"
    script = ("import sys; from pathlib import Path; from auditor.store import Store; from auditor.ingest import ingest_messages;"
              "from auditor.sources import iter_source; s = Store.open(Path(sys.argv[1]));"
              "ingest_messages(s, s.begin_run('ingest'), iter_source(Path(sys.argv[2])), batch_size=10)")
    env = dict(os.environ, AUDITOR_FAULT="ingest.after_batch:2", PYTHONPATH=str(ROOT))
    killed = subprocess.run([sys.executable, "-c", script, str(db), str(tmp_path / "mail")], env=env)
    assert killed.returncode == -9
    with Store.open(db) as store:
        assert store.scalar("SELECT count(*) FROM messages") == 20           # two whole batches of ten
        counts = ingest_paths(store, store.begin_run("ingest"), [tmp_path / "mail"])
        assert (counts.new, counts.duplicate) == (5, 20)
        assert store.scalar("SELECT count(*) FROM messages") == 25
        assert store.scalar("SELECT count(DISTINCT message_id) FROM messages") == 25


# -- a 50 MB attachment: stored whole, parsed without it, in bounded memory ----------------------------------------

# Runs the CLI and, when it returns, prints the process's own peak resident set (VmHWM: getrusage's ru_maxrss of a
# child is not its own peak on Linux, as an exec'd child starts from its parent's).
PEAK_RSS_CLI = ("import re, sys; from auditor.cli import main; rc = main(sys.argv[1:]); "
                "print('peak-rss-kib', re.search(r'VmHWM:\\s*(\\d+)', open('/proc/self/status').read()).group(1), "
                "file=sys.stderr); sys.exit(rc)")
# What ingesting a large file may add to the peak of ingesting a 2 KB message, in multiples of the file's size.
# Measured 4.9 for the message and 4.7 for a non-mail file: the bytes held once, and about four copies inside
# DuckDB's insert of the BLOB. Before large messages were parsed as their text parts and written on their own,
# 11.7 and 11.6. The same code measures 4.8 to 5.9 from run to run here, and once 6.9 under CI (DuckDB's
# allocations come in steps of about 50 MB), so the bound is 8: still well under the 12 of holding the bytes in a
# frame, which is what it guards against.
GROWTH_PER_BYTE = 8


def ingest_with_peak(folder: Path, db: Path) -> tuple[subprocess.CompletedProcess, int]:
    done = subprocess.run([sys.executable, "-c", PEAK_RSS_CLI, "ingest", "--db", str(db), str(folder)],
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True, text=True, timeout=300)
    peak = [int(line.split()[1]) * 1024 for line in done.stderr.splitlines() if line.startswith("peak-rss-kib ")]
    return done, peak[0] if peak else 0


@pytest.fixture(scope="module")
def baseline_peak(tmp_path_factory) -> int:
    """The peak resident set of ingesting one 2 KB message: the libraries, the database, the parser."""
    from auditor import samplegen

    folder = tmp_path_factory.mktemp("small")
    samplegen.write_large_message(folder / "mail" / "small.eml", attachment_bytes=1000)
    done, peak = ingest_with_peak(folder / "mail", folder / "small.duckdb")
    assert done.returncode == 0 and peak > 0, done.stderr
    return peak


@pytest.fixture(scope="module")
def large_message(tmp_path_factory) -> Path:
    """A folder holding one ask with a 50 MB attachment (about 68 MB of base64), written for the test run."""
    from auditor import samplegen

    folder = tmp_path_factory.mktemp("large") / "mail"
    samplegen.write_large_message(folder / "large.eml", attachment_bytes=50_000_000)
    return folder


def test_a_50_mb_attachment_is_stored_whole_and_ingested_in_bounded_memory(large_message, baseline_peak, tmp_path):
    from auditor import samplegen
    from auditor.parse import content_sha256

    raw = (large_message / "large.eml").read_bytes()
    done, peak = ingest_with_peak(large_message, tmp_path / "large.duckdb")
    assert done.returncode == 0, done.stderr
    assert "read 1: 1 new, 0 duplicate, 0 quarantined" in done.stdout
    assert baseline_peak < peak < baseline_peak + GROWTH_PER_BYTE * len(raw), (baseline_peak, peak, len(raw))
    with Store.open(tmp_path / "large.duckdb") as store:
        (stored, digest, size, body, flags), = store.run("SELECT raw, raw_sha256, size, body_text, flags FROM messages")
    assert bytes(stored) == raw and digest == content_sha256(raw) and size == len(raw)
    assert body.startswith("Hi Lena,") and "by Friday" in body and "large_text_parts_only" in flags
    raw = stored = None

    audited = subprocess.run([sys.executable, "-m", "auditor", "audit", "--db", str(tmp_path / "large.duckdb"),
                              "--me", "@" + samplegen.TEAM_DOMAIN, "--as-of", "2026-11-01", "-o",
                              str(tmp_path / "large.html")], env=dict(os.environ, PYTHONPATH=str(ROOT)),
                             capture_output=True, text=True, timeout=300)
    assert audited.returncode == 0, audited.stderr
    assert "asks: 1 sent, 1 of them requests" in audited.stdout


def test_a_50_mb_file_that_is_not_mail_is_quarantined_with_its_reason_and_bytes(baseline_peak, tmp_path):
    folder = tmp_path / "mail"
    folder.mkdir()
    data = b"%PDF-1.7\n" + os.urandom(50_000_000)
    (folder / "scan.eml").write_bytes(data)
    done, peak = ingest_with_peak(folder, tmp_path / "q.duckdb")
    assert done.returncode == 0, done.stderr
    assert "quarantined 1: not an email: the file is a PDF document" in done.stdout
    with Store.open(tmp_path / "q.duckdb") as store:
        (reason, size, stored), = store.run("SELECT reason, size, raw FROM quarantine")
    assert reason == "not an email: the file is a PDF document" and size == len(data) and bytes(stored) == data
    assert baseline_peak < peak < baseline_peak + GROWTH_PER_BYTE * len(data), (baseline_peak, peak, len(data))


def test_an_ingest_ends_with_its_messages_in_the_database_file_not_in_the_wal(tmp_path):
    """The WAL is checkpointed at 1 GB, not 16 MB (store.CHECKPOINT_THRESHOLD); an ingest checkpoints once at its
    end instead, so what it stored does not sit in memory through the stages after it."""
    db = tmp_path / "a.duckdb"
    with Store.open(db) as store:
        ingest_paths(store, store.begin_run("ingest"), [MAILBOX])
        wal = db.with_name(db.name + ".wal")
        assert not wal.exists() or wal.stat().st_size == 0
        assert store.scalar("SELECT count(*) FROM messages") == 12


@pytest.mark.parametrize("workers", [1, 2])
def test_sent_mail_is_measured_as_it_is_parsed_exactly_as_the_tag_stage_measures_it(tmp_path, workers):
    """With the rules, the parser measures what it finds in Sent folders (the asks' text measures) and the batch
    stores them: the same rows ensure_measures computes from the stored bodies, for exactly the Sent messages
    stored, none for a copy stored by the batch before, for mail elsewhere or for mail to a forgotten person."""
    from auditor import samplegen
    from auditor.config import load_rules
    from auditor.forget import forget_addresses
    from auditor.ingest import ingest_messages
    from auditor.sources import RawMessage
    from auditor.tag.measures import ensure_measures, measures_version, score_stored

    rules = load_rules()
    sample = list(samplegen.iter_messages(n_messages=300))
    stream = [RawMessage("eml", "src", m.folder, f"m{i}", m.raw) for i, m in enumerate(sample)]
    sent = next(i for i, m in enumerate(sample) if i > 200 and m.folder == "Sent")
    stream.insert(250, RawMessage("eml", "src", "Sent", "copy", sample[sent].raw))  # batch 2 holds a copy
    stream.insert(10, RawMessage("eml", "src", "Sent", "gone", _note(7, "me@y.org").replace(b"To: me@y.org",
                                                                                            b"To: gone@x.org")))
    db = tmp_path / "audit.duckdb"
    with Store.open(db) as store:
        ingest_messages(store, store.begin_run("ingest"), [RawMessage("eml", "seed", "Inbox", "seed",
                                                                      _note(999, "gone@x.org"))])
    forget_addresses(db, ["gone@x.org"])
    parser = Parser(workers, measure_rules=rules)
    try:
        with Store.open(db) as store:
            # Batch 1 is three worker tasks (TASK_SIZE 100) on two workers, batch 2 is parsed here.
            ingest_messages(store, store.begin_run("ingest"), stream, batch_size=250, parser=parser)
            in_sent = store.frame("SELECT DISTINCT raw_sha256 FROM locations WHERE folder = 'Sent' ORDER BY 1")
            # The sentence models wait for the tag stage, which scores the stored rows in bulk (score_stored).
            assert store.scalar("SELECT count(*) FROM message_measures WHERE colours IS NOT NULL") == 0
            assert score_stored(store, in_sent["raw_sha256"].to_list()) == in_sent.height
            measured = store.frame("SELECT * EXCLUDE (measured_at) FROM message_measures ORDER BY raw_sha256")
            store.run("DELETE FROM message_measures")
            assert ensure_measures(store, in_sent["raw_sha256"].to_list(), rules, workers=1) == in_sent.height
            again = store.frame("SELECT * EXCLUDE (measured_at) FROM message_measures ORDER BY raw_sha256")
    finally:
        parser.close()
    assert 100 < measured.height == in_sent.height < len(sample)
    assert measured["raw_sha256"].equals(in_sent["raw_sha256"])
    assert set(measured["version"]) == {measures_version(rules)}
    assert measured.equals(again)
