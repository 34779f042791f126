"""Stopped at any moment: the CLI SIGKILLs itself at a named fault point (auditor/faults.py); afterwards the database
opens, holds whole batches only, and a re-run ends with the same table contents as a run that was never stopped."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from auditor import samplegen
from auditor.ingest import BATCH_SIZE, _batched
from auditor.parse import DEFERRED_STRANGER
from auditor.store import Store

ROOT = Path(__file__).resolve().parent.parent
# Two ingest batches (BATCH_SIZE + 204 files, 4 of them broken), the second big enough for the parser pool.
N_MESSAGES = BATCH_SIZE + 200
ME = "@" + samplegen.TEAM_DOMAIN
AS_OF = samplegen.SAMPLE_AS_OF.date().isoformat()
# Columns that say when or by which run a row was written: they differ between any two runs by design.
RUN_COLUMNS = {"run_id", "stored_at", "seen_at", "quarantined_at", "tagged_at", "matched_at", "updated_at",
               "applied_at", "created_at", "measured_at", "set_at"}
# Values that differ between two databases by design: a random key, and a stage fingerprint built from run ids.
PER_DATABASE = {("secrets", "value"), ("stage_state", "fingerprint")}
# Cluster numbers that follow row order ("stable only within one tagging run"): compared as the clusters they
# form, each named by its smallest member.
RELABELLED = {("tags", "template_id"): "message_id", ("templates", "template_id"): "message_id"}
# Whether a stranger's mail keeps its body depends on which Sent mail the ingest had seen when it read it, and so
# on the batches and on where a run was resumed: a guess that changes no mail, tag or outcome (test_strangers).
# Bodies are compared apart (BODIES): the same, or one side kept the stranger's header only.
BODY_COLUMNS = ("body_text", "body_kind", "flags")
BODIES = "messages: bodies"
INGEST_TABLES = {"messages", "locations", "quarantine", BODIES}
# What each stage replaces in one transaction. Other derived tables (caches such as message_measures) keep rows
# per message, each committed whole.
STAGE_TABLES = {"tag": {"mails", "asks", "tags", "tag_sentences", "templates"}, "match": {"reply_attributions", "touches", "outcomes"}}
BOOKKEEPING = {"schema_migrations", "stage_state", "harvest_state", "secrets"}
# The parse workers measure a message's text; the tag stage fills in its sentence models' columns
# (measures.score_stored). A kill in between leaves them empty for the re-run to fill: dumped last, so a row
# can be compared with its unscored form.
SCORED_BY_TAG = {"message_measures": ("colours", "colour_confidence", "request_p", "mass_p")}


def dump_tables(db: Path) -> dict[str, list[tuple]]:
    """Every base table but `runs`, its rows sorted, without the run, timestamp and per-database columns."""
    out = {}
    with Store.open(db) as store:
        tables = [r[0] for r in store.run("SELECT table_name FROM information_schema.tables WHERE table_schema = "
                                          "'main' AND table_type = 'BASE TABLE' ORDER BY table_name")]
        for table in tables:
            if table == "runs":
                continue
            columns = [r[0] for r in store.run("SELECT column_name FROM information_schema.columns WHERE "
                                               "table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
                                               [table])]
            keep = [c for c in columns if c not in RUN_COLUMNS and (table, c) not in PER_DATABASE
                    and not (table == "messages" and c in BODY_COLUMNS)]
            scored = SCORED_BY_TAG.get(table, ())
            keep = [c for c in keep if c not in scored] + [c for c in scored if c in keep]
            listed = ", ".join(f'CASE WHEN "{c}" IS NOT NULL THEN min("{RELABELLED[table, c]}") OVER (PARTITION BY '
                               f'"{c}") END AS "{c}"' if (table, c) in RELABELLED else f'"{c}"' for c in keep)
            out[table] = store.run(f'SELECT {listed} FROM "{table}" ORDER BY ALL')
        out[BODIES] = store.run(f"SELECT raw_sha256, {', '.join(BODY_COLUMNS)} FROM messages ORDER BY ALL")
    return out


def unscored(table: str, row: tuple) -> tuple:
    """The row as the parse workers left it, before the tag stage scored it."""
    n = len(SCORED_BY_TAG.get(table, ()))
    return row[:len(row) - n] + (None,) * n


def same(table: str, got: list[tuple], expected: list[tuple]) -> bool:
    if table != BODIES:
        return got == expected
    return len(got) == len(expected) and all(
        a == b or (a[0] == b[0] and DEFERRED_STRANGER in (a[3] or []) + (b[3] or [])) for a, b in zip(got, expected))


def audit(db: Path, mailbox: Path, report: Path, fault: str | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("AUDITOR_FAULT", None)
    if fault:
        env["AUDITOR_FAULT"] = fault
    # A timeout, not a hang: a killed parent must not leave parser workers holding its stdout and stderr open.
    return subprocess.run([sys.executable, "-m", "auditor", "audit", "--db", str(db), "--me", ME, "--as-of", AS_OF,
                           "-o", str(report), str(mailbox)], env=env, capture_output=True, text=True, timeout=180,
                          cwd=db.parent)


@pytest.fixture(scope="module")
def mailbox(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("faults") / "mail"
    samplegen.write_maildir(root, samplegen.iter_messages(n_messages=N_MESSAGES), malformed=True)
    return root


@pytest.fixture(scope="module")
def uninterrupted(mailbox, tmp_path_factory) -> dict[str, list[tuple]]:
    db = tmp_path_factory.mktemp("clean") / "clean.duckdb"
    done = audit(db, mailbox, db.with_name("clean.html"))
    assert done.returncode == 0, done.stderr
    return dump_tables(db)


def batch_sizes(mailbox: Path) -> list[int]:
    """How the ingest cuts this mailbox into batches."""
    from auditor.sources import iter_source

    return [len(batch) for batch in _batched(iter_source(mailbox), BATCH_SIZE)]


def files_in(mailbox: Path) -> int:
    return sum(1 for p in mailbox.rglob("*") if p.is_file() and p.parent.name in ("cur", "new")
               and not p.name.startswith("."))


@pytest.mark.parametrize("fault, stored_batches, stages_done", [
    ("ingest.during_parse:2", 1, set()),       # batch 2 in the parser pool: only batch 1 is stored
    ("ingest.after_batch:1", 1, set()),        # batch 1 committed, then killed
    ("tag.during_write:1", None, set()),       # one of the tag tables replaced inside the open transaction
    ("tag.during_write:2", None, set()),       # two of them
    ("match.during_write:1", None, {"tag", "mails", "templates"}),  # touches replaced, outcomes not yet
])
def test_killed_at_a_fault_point_keeps_whole_batches_and_a_rerun_ends_like_an_uninterrupted_run(
        fault, stored_batches, stages_done, mailbox, uninterrupted, tmp_path):
    db = tmp_path / "killed.duckdb"
    killed = audit(db, mailbox, tmp_path / "killed.html", fault)
    assert killed.returncode == -9, f"not killed at {fault}: exit {killed.returncode}\n{killed.stderr}"
    assert not (tmp_path / "killed.html").exists()

    after_kill = dump_tables(db)               # opens (and replays the WAL of) the killed database
    total = files_in(mailbox)
    stored = len(after_kill["locations"])
    with Store.open(db) as store:
        (read, new, quarantined), = store.run('SELECT sum("read"), sum(new), sum(quarantined) FROM runs')
        status = store.run("SELECT status FROM runs")
        done = {r[0] for r in store.run("SELECT stage FROM stage_state")}
    assert status == [("running",)]            # the killed run never finished
    assert stored == (sum(batch_sizes(mailbox)[:stored_batches]) if stored_batches else total)
    assert (read, new, quarantined) == (stored, len(after_kill["messages"]), len(after_kill["quarantine"]))
    assert done == stages_done
    for stage, tables in STAGE_TABLES.items():
        for table in tables:
            # What a stage committed in full, or nothing: never a half-written replace.
            expected = uninterrupted[table] if stage in done else []
            assert after_kill[table] == expected, f"{table} after a kill at {fault}: {len(after_kill[table])} rows"
    for table in set(after_kill) - INGEST_TABLES - BOOKKEEPING - set().union(*STAGE_TABLES.values()):
        allowed = {repr(row) for clean in uninterrupted[table] for row in (clean, unscored(table, clean))}
        extra = set(map(repr, after_kill[table])) - allowed
        assert not extra, f"{table} after a kill at {fault}: {len(extra)} rows an uninterrupted run does not have"
    if stored_batches is None:
        for table in INGEST_TABLES:
            assert same(table, after_kill[table], uninterrupted[table]), table

    rerun = audit(db, mailbox, tmp_path / "rerun.html")
    assert rerun.returncode == 0, rerun.stderr
    resumed = dump_tables(db)
    assert resumed.keys() == uninterrupted.keys()
    for table in resumed:
        assert same(table, resumed[table], uninterrupted[table]), f"{table} differs after a kill at {fault} and a re-run"
    with Store.open(db) as store:
        runs = store.run('SELECT status, "read", new, duplicate, quarantined FROM runs ORDER BY run_id')
        messages, quarantine = store.run("SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM quarantine)")[0]
    assert [r[0] for r in runs] == ["running", "ok"]
    assert all(read == new + dup + quar for _, read, new, dup, quar in runs)
    assert runs[1][1] == total                                   # the re-run saw every file (known ones as duplicates)
    assert (sum(r[2] for r in runs), sum(r[4] for r in runs)) == (messages, quarantine)   # nothing counted twice
