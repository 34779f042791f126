"""auditor forget: a person's mail and everything derived from it leave the database, the file is rewritten so none
of its bytes stay behind, a salted hash keeps them out of later ingests, and the command keeps the store's promises
(the lock, owner-only files, one-sentence errors with their exit codes). Real DuckDB files throughout."""
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from auditor.cli import cli as auditor_cli, main
from auditor.errors import UsageError
from auditor.forget import addresses_in, forget_addresses
from auditor.ingest import ingest_paths
from auditor.parse import content_sha256
from auditor.pipeline import up_to_match, up_to_report
from auditor.store import Store

from conftest import MAILBOX, write_eml

ROOT = Path(__file__).resolve().parent.parent
LENA = "lena.vogt@hillside-school.org"
# Lena's own mail (from her, to her, or Bcc'd to her): the five fixture files that name her.
HERS = ["Inbox/01-hello-from-lena.eml", "Inbox/04-lena-yes.eml", "Sent/02-reply-to-lena.eml",
        "Sent/03-ask-lena-podcast.eml", "Sent/05-spring-appeal.eml"]
# Words that stand only in mail that names her: in the file before forget, nowhere in it after.
HER_WORDS = [LENA.encode(), b"lena", b"hillside", b"so glad to hear it", b"reading circles"]
OMAR_NAMES_HER = """
From: Omar Haddad <omar@cedar-fund.example>
To: Sam Ortiz <sam@brightpath.org>
Subject: a teacher you should meet
Date: Mon, 20 Apr 2026 09:00:00 +0000
Message-ID: <cf-0420-omar@cedar-fund.example>

Sam, write to LENA.VOGT@Hillside-School.org about the reading programme. She said yes to ours.

Omar
"""


def file_bytes(db: Path) -> bytes:
    """The database and its WAL (if any), lower-cased: what someone reading the disk would find."""
    wal = db.with_name(db.name + ".wal")
    return db.read_bytes().lower() + (wal.read_bytes().lower() if wal.exists() else b"")


@pytest.fixture
def audited(tmp_path, settings):
    """The fixture mailbox and a note from Omar naming Lena's address in its body: ingested, tagged and matched.
    Returns (database, the folder of Omar's note)."""
    extra = tmp_path / "extra"
    write_eml(extra / "Inbox", "20-omar-names-lena.eml", OMAR_NAMES_HER)
    with Store.open(settings.db_path) as store:
        run_id = store.begin_run("ingest")
        counts = ingest_paths(store, run_id, [MAILBOX, extra])
        assert (counts.read, counts.new, counts.quarantined) == (15, 13, 2)
        up_to_match(store, run_id, settings)
        assert store.scalar("SELECT count(*) FROM tags WHERE recipient = ?", [LENA]) > 0
    return settings.db_path, extra


def digests(*paths: Path) -> set[str]:
    return {content_sha256(p.read_bytes()) for p in paths}


@pytest.fixture
def cli(tmp_path, monkeypatch):
    """The CLI as its entry point runs it (errors mapped to exit codes), in a clean folder without AUDITOR_* vars."""
    import click

    monkeypatch.chdir(tmp_path)
    for var in ("AUDITOR_DB", "AUDITOR_CONFIG", "AUDITOR_ME", "AUDITOR_NOW"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))

    def invoke(*args):
        code = {}

        @click.command()
        def entry():
            code["rc"] = main(list(args))

        result = CliRunner().invoke(entry, [], catch_exceptions=False)
        result.rc = code.get("rc")
        return result
    return invoke


def test_forget_leaves_no_byte_of_the_person_in_the_file_and_the_rest_intact(audited, settings, tmp_path):
    db, extra = audited
    before = file_bytes(db)
    for word in HER_WORDS:
        assert word in before, word                  # so their absence below means something
    with Store.open(db) as store:
        everyone = {h for (h,) in store.run("SELECT raw_sha256 FROM messages")}
        quarantined = store.run("SELECT raw_sha256, reason FROM quarantine ORDER BY 1")
    doomed = digests(*(MAILBOX / f for f in HERS), extra / "Inbox" / "20-omar-names-lena.eml")

    result = forget_addresses(db, [f"Lena Vogt <{LENA.upper()}>"])

    assert (len(result.plan.messages), result.plan.participant, len(result.plan.locations)) == (6, 5, 6)
    assert result.plan.messages == doomed and result.rewritten and result.derived_rows > 0
    after = file_bytes(db)
    for word in HER_WORDS:
        assert word not in after, word
    assert sorted(p.name for p in db.parent.iterdir() if p.name.startswith((".", db.name))) == [db.name]
    with Store.open(db) as store:
        assert {h for (h,) in store.run("SELECT raw_sha256 FROM messages")} == everyone - doomed
        assert store.run("SELECT raw_sha256, reason FROM quarantine ORDER BY 1") == quarantined
        assert store.scalar("SELECT count(*) FROM locations WHERE raw_sha256 NOT IN "
                            "(SELECT raw_sha256 FROM messages UNION ALL SELECT raw_sha256 FROM quarantine)") == 0
        for (table,) in store.run("SELECT DISTINCT table_name FROM duckdb_columns() WHERE column_name = 'raw_sha256' "
                                  "AND database_name = current_database()"):     # any table about one message
            assert not {h for (h,) in store.run(f"SELECT raw_sha256 FROM {table}")} & doomed, table
        for table in ("mails", "tags", "tag_sentences", "touches", "outcomes", "stage_state"):
            assert store.scalar(f"SELECT count(*) FROM {table}") == 0, table
        (digest,) = store.run("SELECT address_hash FROM forgotten")[0]
        assert len(digest) == 64 and LENA not in digest
        assert store.run("SELECT command, status, sources FROM runs ORDER BY run_id DESC LIMIT 1") == [("forget", "ok", [])]
        run_id = store.begin_run("report")
        report = up_to_report(store, run_id, settings, tmp_path / "r.html")     # the rest still audits
        assert not report.tag.skipped and report.tag.asks > 0 and not report.match.skipped
        assert store.scalar("SELECT count(*) FROM tags WHERE recipient = ?", [LENA]) == 0
        store.finish_run(run_id, "ok")
    assert LENA.encode() not in file_bytes(db) and (tmp_path / "r.html").exists()


def test_ingesting_the_same_mail_again_counts_the_person_as_forgotten(audited, tmp_path):
    db, extra = audited
    forget_addresses(db, [LENA])
    write_eml(tmp_path / "copy" / "Inbox", "lena-again.eml", (MAILBOX / HERS[0]).read_text())   # a second copy
    for _ in range(2):                        # and again: what is not stored is read and counted every time
        with Store.open(db) as store:
            run_id = store.begin_run("ingest")
            counts = ingest_paths(store, run_id, [MAILBOX, extra, tmp_path / "copy"])
            row = store.run('SELECT "read", new, duplicate, quarantined, forgotten FROM runs WHERE run_id = ?', [run_id])
            assert store.scalar("SELECT count(*) FROM messages WHERE from_addr = ?", [LENA]) == 0
        assert (counts.read, counts.new, counts.duplicate, counts.quarantined, counts.forgotten) == (16, 0, 9, 0, 7)
        assert counts.new + counts.duplicate + counts.quarantined + counts.forgotten == counts.read
        assert row == [(16, 0, 9, 0, 7)]
    assert LENA.encode() not in file_bytes(db)


def test_a_harvest_skips_a_forgotten_person_and_counts_them(dovecot, imap_user, audited, monkeypatch):
    from auditor.accounts import account_from_options
    from auditor.harvest import Harvester
    from auditor.pipeline import harvest

    db, _ = audited
    forget_addresses(db, [LENA])
    user, password = imap_user
    for name in (HERS[0], "Inbox/06-ooo-ben.eml"):             # Lena's note and Ben's out-of-office, over IMAP
        raw = (MAILBOX / name).read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        dovecot.append(user, password, "INBOX", raw)
    monkeypatch.setenv("AUDITOR_TEST_IMAP_PASSWORD", password)
    account = account_from_options(f"{user}@test", {
        "host": dovecot.host, "port": dovecot.tls_port, "user": user, "security": "ssl",
        "ca_file": str(dovecot.ca_file), "password_env": "AUDITOR_TEST_IMAP_PASSWORD"})
    with Store.open(db) as store:
        run_id = store.begin_run("harvest")
        result = harvest(store, run_id, account, harvester=Harvester(account, backoff=0.01))
        row = store.run('SELECT "read", new, duplicate, quarantined, forgotten FROM runs WHERE run_id = ?', [run_id])
    counts = result.counts
    assert (counts.read, counts.new, counts.duplicate, counts.quarantined, counts.forgotten) == (2, 0, 1, 0, 1)
    assert row == [(2, 0, 1, 0, 1)]
    assert LENA.encode() not in file_bytes(db)


def test_the_rewritten_file_is_owner_only(audited):
    db, _ = audited
    os.chmod(db, 0o644)
    old = os.umask(0o022)
    try:
        forget_addresses(db, [LENA])
    finally:
        os.umask(old)
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


def test_a_busy_database_exits_4_and_keeps_the_person(audited, cli):
    db, _ = audited
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); sys.stdin.read()", str(db)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        result = cli("forget", "--yes", LENA, "--db", str(db))
        assert result.rc == 4
        assert f"error: the database is in use by another process (PID {holder.pid}): wait for it to finish or " \
               "pass another --db." in result.stderr.splitlines()
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)
    assert LENA.encode() in file_bytes(db)


def test_forget_through_the_cli(audited, cli):
    db, _ = audited
    refused = cli("forget", LENA, "--db", str(db))               # CliRunner's stdin is no terminal
    assert refused.rc == 2
    assert refused.stderr.strip() == ("error: forget removes mail for good and there is no terminal to ask on: "
                                      "pass --yes to go ahead.")
    assert LENA.encode() in file_bytes(db)

    result = cli("forget", "--yes", LENA, "--db", str(db))
    assert result.rc == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"forgot {LENA}: removed 6 messages (5 from or to them, 1 naming them), 6 locations and 0 quarantined files; "
        f"rewrote {db}"]
    assert f"database: {db}" in result.stderr and "derived rows (tags, outcomes) were cleared" in result.stderr
    assert LENA.encode() not in file_bytes(db)

    again = cli("forget", "-y", LENA, "--db", str(db))
    assert again.rc == 0 and again.stdout.strip() == f"already forgotten: {LENA} (nothing stored names them)"
    help_text = CliRunner().invoke(auditor_cli, ["forget", "--help"]).output
    assert "Examples:" in help_text and "--yes" in help_text and "AUDITOR_DB" in help_text


def test_an_address_nothing_names_changes_nothing_and_exits_2(audited, cli):
    db, _ = audited
    before = file_bytes(db)
    result = cli("forget", "--yes", LENA, "nobody@nowhere.example", "--db", str(db))
    assert result.rc == 2
    assert result.stderr.splitlines()[-1] == ("error: nothing stored names nobody@nowhere.example (check the "
                                              "spelling): nothing was changed.")
    assert file_bytes(db) == before
    not_one = cli("forget", "--yes", "lena at hillside", "--db", str(db))
    assert not_one.rc == 2 and "is not an email address" in not_one.stderr


def test_declining_the_plan_changes_nothing(audited):
    db, _ = audited
    seen = []

    def decline(plan):
        seen.append((len(plan.messages), plan.participant))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        forget_addresses(db, [LENA], confirm=decline)
    assert seen == [(6, 5)]
    assert LENA.encode() in file_bytes(db)
    with Store.open(db) as store:
        assert store.scalar("SELECT count(*) FROM forgotten") == 0


def test_a_forget_killed_before_the_swap_leaves_the_original_whole(audited):
    db, _ = audited
    env = dict(os.environ, AUDITOR_FAULT="forget.before_replace", PYTHONPATH=str(ROOT))
    killed = subprocess.run([sys.executable, "-m", "auditor", "forget", "--yes", LENA, "--db", str(db)],
                            env=env, capture_output=True, text=True)
    assert killed.returncode == -9, killed.stderr
    assert (db.parent / f".{db.name}.forget").exists()       # the new file was made, not swapped in
    with Store.open(db) as store:
        assert store.scalar("SELECT count(*) FROM messages") == 13
        assert store.scalar("SELECT count(*) FROM forgotten") == 0
    result = forget_addresses(db, [LENA])                      # again: finishes the job and clears what was left
    assert result.rewritten and LENA.encode() not in file_bytes(db)
    assert not list(db.parent.glob(f".{db.name}.forget*"))


def test_an_address_is_found_whole_and_only_whole(store, tmp_path):
    assert addresses_in("mailto:Ann@X.org, <ann@x.org>. ?email=ann@x.org") == {"ann@x.org"}
    assert addresses_in("joann@x.org ann@x.org.uk ann@x-org.com") == {"joann@x.org", "ann@x.org.uk", "ann@x-org.com"}
    assert addresses_in(["a@b.co", {"k": b"\xc2\xa0ann@x.org!"}]) == {"a@b.co", "ann@x.org"}
    for name, sender in (("ann.eml", "ann@x.org"), ("joann.eml", "joann@x.org")):
        write_eml(tmp_path / "m" / "Inbox", name, f"From: {sender}\nTo: sam@y.org\nSubject: hi\n"
                                                   f"Message-ID: <{name}@x.org>\n\nWrite to {sender} any time.\n")
    ingest_paths(store, store.begin_run("ingest"), [tmp_path / "m"])
    store.close()
    result = forget_addresses(store.path, ["ann@x.org"])
    assert len(result.plan.messages) == 1
    with Store.open(store.path) as reopened:
        assert reopened.run("SELECT from_addr FROM messages") == [("joann@x.org",)]


def test_not_an_address_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="is not an email address"):
        forget_addresses(tmp_path / "a.duckdb", ["lena"])
