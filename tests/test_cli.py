"""The command line through click's CliRunner: exit codes, exact first lines, env-var twins."""
import re
import subprocess
from pathlib import Path
import sys

import pytest
from click.testing import CliRunner

from auditor.cli import cli, main

from conftest import MAILBOX, TEAM


@pytest.fixture
def run(tmp_path, monkeypatch):
    """Invoke the CLI the way the entry point does (errors mapped to exit codes), in a clean working folder."""
    monkeypatch.chdir(tmp_path)
    for var in ("AUDITOR_DB", "AUDITOR_CONFIG", "AUDITOR_ME", "AUDITOR_NOW", "XDG_CONFIG_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))

    def invoke(*args, env=None):
        runner = CliRunner()
        code = {}

        def entry():
            code["rc"] = main(list(args))

        result = runner.invoke(_wrap(entry), [], env=env, catch_exceptions=False)
        result.rc = code.get("rc")
        return result
    return invoke


def _wrap(function):
    import click

    @click.command()
    def command():
        function()
    return command


def test_help_lists_every_command():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("ingest", "tag", "match", "report", "audit", "demo"):
        assert f"  {command} " in result.output
    assert "Examples:" in result.output


def test_every_command_takes_the_common_options():
    for command in ("ingest", "tag", "match", "report", "audit"):
        out = CliRunner().invoke(cli, [command, "--help"]).output
        for option in ("--db", "--config", "--me", "--as-of", "AUDITOR_DB", "AUDITOR_NOW"):
            assert option in out, (command, option)


def test_a_missing_path_exits_2_with_one_sentence(run, tmp_path):
    result = run("ingest", str(tmp_path / "nowhere"))
    assert result.rc == 2
    errors = [l for l in result.stderr.splitlines() if l.startswith("error:")]
    assert errors == [f"error: {tmp_path / 'nowhere'} does not exist: give a .eml file, a folder, an mbox file or a Maildir."]
    assert "Traceback" not in result.output + result.stderr


def test_truncated_binary_and_empty_files_are_all_accounted_for(run, tmp_path):
    folder = tmp_path / "odd"
    folder.mkdir()
    (folder / "truncated.eml").write_bytes(b"From: a@x.org\nTo: b@y.org\nSubject: cut off in the midd")
    (folder / "binary.eml").write_bytes(bytes(range(256)) * 4)
    (folder / "empty.eml").write_bytes(b"")
    result = run("ingest", str(folder), "--db", str(tmp_path / "a.duckdb"))
    assert result.rc == 0, result.stderr
    assert result.stdout.splitlines()[0] == "read 3: 1 new, 0 duplicate, 2 quarantined"
    assert "quarantined 1: empty file" in result.stdout
    assert f"database: {tmp_path / 'a.duckdb'}" in result.stderr


def test_db_comes_from_the_env_twin_then_the_config(run, tmp_path):
    (tmp_path / "auditor.toml").write_text(f'[store]\ndb = "{tmp_path / "from-config.duckdb"}"\n')
    result = run("ingest", str(MAILBOX))
    assert result.rc == 0 and f"database: {tmp_path / 'from-config.duckdb'}" in result.stderr
    result = run("ingest", str(MAILBOX), env={"AUDITOR_DB": str(tmp_path / "from-env.duckdb")})
    assert result.rc == 0 and f"database: {tmp_path / 'from-env.duckdb'}" in result.stderr
    assert result.stdout.startswith("read 14: 12 new")


def test_a_config_file_that_does_not_exist_is_a_usage_error(run, tmp_path):
    result = run("tag", "--config", str(tmp_path / "nope.toml"))
    assert result.rc == 2 and "does not exist" in result.stderr


def test_a_bad_identity_or_date_is_a_usage_error(run, tmp_path):
    assert run("tag", "--me", "not-an-address", "--db", str(tmp_path / "a.duckdb")).rc == 2
    result = run("report", "--as-of", "last tuesday", "--db", str(tmp_path / "a.duckdb"))
    assert result.rc == 2 and "--as-of" in result.stderr


def test_report_on_a_database_that_was_only_ingested_runs_every_stage(run, tmp_path):
    db = str(tmp_path / "a.duckdb")
    assert run("ingest", str(MAILBOX), "--db", db).rc == 0
    result = run("report", "--db", db, "--me", TEAM, "--as-of", "2026-06-01", "-o", str(tmp_path / "r.html"))
    assert result.rc == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"report: {tmp_path / 'r.html'}"
    assert lines[1] == "asks: 4 sent, 3 of them requests (8 request sequences)"
    assert lines[2] == "people reached: 7"
    assert lines[3] == "answered: 42.9% (3 of 7 delivered, closed sequences; 0 pending)"
    assert (tmp_path / "r.html").stat().st_size > 1_000_000
    again = run("tag", "--db", db, "--me", TEAM)
    assert again.stdout.strip() == "tags are up to date"


def test_identity_from_env_twin_and_inference(run, tmp_path):
    db = str(tmp_path / "a.duckdb")
    run("ingest", str(MAILBOX), "--db", db)
    inferred = run("tag", "--db", db)
    assert "identity inferred from the Sent folder: sam@brightpath.org" in inferred.stderr
    result = run("tag", "--db", db, env={"AUDITOR_ME": "@brightpath.org"})
    assert result.rc == 0 and result.stdout.startswith("tagged 4 asks (9 ask-recipient pairs)")


def test_an_identity_given_once_is_kept_in_the_database_and_a_new_one_replaces_it(run, tmp_path):
    db = str(tmp_path / "a.duckdb")
    first = run("audit", str(MAILBOX), "--db", db, "--me", "sam@brightpath.org", "--as-of", "2026-06-01",
                "-o", str(tmp_path / "r.html"))
    assert first.rc == 0, first.stderr
    assert "identity:" not in first.stderr            # said on the command line: nothing to tell
    report = run("report", "--db", db, "--as-of", "2026-06-01", "-o", str(tmp_path / "r2.html"))
    assert report.rc == 0, report.stderr
    assert "identity: sam@brightpath.org (kept in the database)" in report.stderr
    assert report.stdout.splitlines()[1:] == first.stdout.splitlines()[-5:]   # the same tags, the same figures
    wider = run("tag", "--db", db, "--me", "@brightpath.org")
    assert "identity: @brightpath.org (replaces sam@brightpath.org, kept in the database)" in wider.stderr
    again = run("tag", "--db", db)
    assert "identity: @brightpath.org (kept in the database)" in again.stderr
    assert again.stdout.strip() == "tags are up to date"
    import duckdb
    with duckdb.connect(db, read_only=True) as con:
        assert con.execute("SELECT item FROM identity").fetchall() == [("@brightpath.org",)]


def test_a_busy_database_exits_4(run, tmp_path):
    db = tmp_path / "a.duckdb"
    assert run("ingest", str(MAILBOX), "--db", str(db)).rc == 0
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys; c = duckdb.connect(sys.argv[1]); print('ready', flush=True); sys.stdin.read()", str(db)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        result = run("tag", "--db", str(db), "--me", TEAM)
        assert result.rc == 4
        assert f"error: the database is in use by another process (PID {holder.pid})" in result.stderr
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)


def test_the_entry_point_prints_no_traceback(tmp_path):
    import os
    from pathlib import Path

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    proc = subprocess.run([sys.executable, "-m", "auditor", "ingest", str(tmp_path / "missing")],
                          capture_output=True, text=True, cwd=tmp_path, env=env)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error: ") and "Traceback" not in proc.stderr


def test_a_database_out_of_its_memory_limit_says_how_to_raise_it(tmp_path):
    import os
    from pathlib import Path

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent), AUDITOR_DB_MEMORY="8MB")
    proc = subprocess.run([sys.executable, "-m", "auditor", "audit", "--db", str(tmp_path / "a.duckdb"), "--me", TEAM,
                           "-o", str(tmp_path / "a.html"), str(MAILBOX)], capture_output=True, text=True, cwd=tmp_path,
                          env=env)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == ("error: the database needed more than its 8MB of memory for this "
                                                    "mailbox: run again with AUDITOR_DB_MEMORY=2GB (or more) in the "
                                                    "environment.")


def test_a_report_of_an_empty_database_says_there_is_too_little_to_tell(run, tmp_path):
    result = run("report", "--db", str(tmp_path / "empty.duckdb"), "--me", TEAM, "-o", str(tmp_path / "e.html"))
    assert result.rc == 0, result.stderr
    assert result.stdout.splitlines()[-2:] == ["best style: too few asks to tell", "worst style: too few asks to tell"]
    assert (tmp_path / "e.html").is_file()


def test_without_an_identity_or_a_sent_folder_the_error_says_what_to_do(run, tmp_path):
    result = run("tag", "--db", str(tmp_path / "empty.duckdb"))
    assert result.rc == 2
    assert "pass --me ADDRESS" in result.stderr and "Traceback" not in result.stderr


def test_query_lists_and_runs_named_queries(run, tmp_path):
    db = str(tmp_path / "a.duckdb")
    listed = run("query", "--list", "--db", db)
    assert listed.rc == 0 and "report_headline" in listed.stdout and "The headline" in listed.stdout
    run("ingest", str(MAILBOX), "--db", db)
    result = run("query", "report_rates_by_axis", "--format", "json", "--db", db, "--me", TEAM, "--as-of", "2026-06-01")
    import json

    rows = json.loads(result.stdout)
    audience = {r["label"]: (r["answered"], r["delivered"]) for r in rows if r["axis"] == "audience"}
    assert audience == {"personal": (2, 2), "mass": (1, 5)}
    assert run("query", "nope", "--db", db).rc == 2


def test_export_writes_partitioned_parquet_that_duckdb_reads_back(run, tmp_path):
    import duckdb

    db = str(tmp_path / "a.duckdb")
    run("ingest", str(MAILBOX), "--db", db)
    out = tmp_path / "export"
    result = run("export", "-o", str(out), "--partition-by", "account,month", "--db", db, "--me", TEAM, "--as-of", "2026-06-01")
    assert result.rc == 0, result.stderr
    assert result.stdout.strip() == f"exported 9 ask-recipient rows to {out}"
    con = duckdb.connect()
    rows = con.execute(f"SELECT month, outcome, count(*) FROM read_parquet('{out}/**/*.parquet', hive_partitioning = true) "
                       "GROUP BY ALL ORDER BY ALL").fetchall()
    assert sum(n for *_, n in rows) == 9
    assert {m for m, *_ in rows} == {"2026-01", "2026-03"}
    assert sorted(p.name.split("=")[0] for p in out.iterdir()) == ["account"]
    csv = tmp_path / "asks.csv"
    assert run("export", "-o", str(csv), "--format", "csv", "--db", db, "--me", TEAM).rc == 0
    assert csv.read_text().splitlines()[0].startswith("message_id,recipient,sender")


def test_explain_prints_labels_reasons_and_coloured_sentences(run, tmp_path):
    db = str(tmp_path / "a.duckdb")
    run("ingest", str(MAILBOX), "--db", db)
    result = run("explain", "bp-0310-appeal@brightpath.org", "--db", db, "--me", TEAM, "--as-of", "2026-06-01")
    assert result.rc == 0, result.stderr
    out = result.stdout
    assert out.splitlines()[0].startswith("<bp-0310-appeal@brightpath.org>  2026-03-10 13:00  from sam@brightpath.org")
    assert "ask: donation ($25): \"Will you chip in $25 to help us hit our goal?\"" in out
    assert "audience: mass (score" in out and "List-Unsubscribe" in out
    assert "  eli@mailbox.example: cold (no earlier mail with them); touch 1; bounce" in out
    # each sentence with its colour, the model's confidence and the cues that decided it
    ask_line = next(line for line in out.splitlines() if line.startswith("→ "))
    assert re.fullmatch(r"→ Will you chip in \$25 to help us hit our goal\?  \[about us \(\d+%\): .+\]", ask_line), ask_line
    assert "a phrase of the writer's need" in ask_line
    assert "  Dear Friend,  [about neither side (" in out
    assert "craft: 0 open and 1 closed questions, the commitment stated: the commitment stated: \"We are raising $40,000" in out
    assert re.search(r"measures: \d+ words, 1 questions, subject 3 words, reading grade [\d.]+, sentiment [+-]\d\.\d\d, "
                     r"personalization 100% \(campaign: Our spring appeal\), 0 visible co-recipients", out), out
    missing = run("explain", "<nope@x>", "--db", db, "--me", TEAM)
    assert missing.rc == 2 and "no ask with Message-ID" in missing.stderr


def test_progress_shows_count_total_and_rate_on_a_terminal_and_one_line_otherwise(capsys):
    from auditor.cli import FolderProgress

    live = FolderProgress()
    live.live = True                      # as on a terminal
    live("INBOX", 600, 0)
    live("INBOX", 600, 300)
    live("INBOX", 600, 300)
    live.finish()
    err = capsys.readouterr().err
    assert "\rharvest INBOX: 600/600 (" in err and err.rstrip().endswith("/s)")
    quiet = FolderProgress()
    quiet.live = False                    # CI, cron, a pipe
    quiet("Sent", 42, 0)
    quiet("Sent", 42, 42)
    quiet.finish()
    assert capsys.readouterr().err == "harvest Sent: 42 new messages\n"


def test_the_report_names_no_recipient_unless_asked(run, tmp_path):
    import re

    db = str(tmp_path / "a.duckdb")
    run("ingest", str(MAILBOX), "--db", db)
    common = ["--db", db, "--me", TEAM, "--as-of", "2026-06-01"]
    assert run("report", "-o", str(tmp_path / "shared.html"), *common).rc == 0
    assert run("report", "-o", str(tmp_path / "again.html"), *common).rc == 0
    assert run("report", "-o", str(tmp_path / "internal.html"), "--show-recipients", *common).rc == 0
    shared = (tmp_path / "shared.html").read_text()
    for address in ("lena.vogt@hillside-school.org", "omar@cedar-fund.example", "ada@mailbox.example"):
        assert address not in shared
    names = set(re.findall(r"person-[0-9a-f]{8}", shared))
    assert names and names == set(re.findall(r"person-[0-9a-f]{8}", (tmp_path / "again.html").read_text()))
    assert "lena.vogt@hillside-school.org" in (tmp_path / "internal.html").read_text()
    from auditor.report import pseudonym

    assert not any(pseudonym("lena.vogt@hillside-school.org", b"guessed key") == n for n in names)


def test_a_monthly_report_covers_that_month_and_compares_with_the_one_before(run, tmp_path):
    db = str(tmp_path / "a.duckdb")
    run("ingest", str(MAILBOX), "--db", db)
    common = ["--db", db, "--me", TEAM, "--as-of", "2026-06-01"]
    march = run("report", "--month", "2026-03", *common)
    assert march.rc == 0, march.stderr
    lines = march.stdout.splitlines()
    assert lines[0] == f"report: {Path('reports') / '2026-03.html'}"
    assert lines[1] == "asks: 3 sent, 3 of them requests (8 request sequences)"
    assert lines[3].startswith("answered: 42.9% (3 of 7 delivered") and "no closed asks to compare in 2026-02" in lines[3]
    assert (tmp_path / "reports" / "2026-03.html").is_file()
    january = run("report", "--month", "2026-01", *common)
    assert january.stdout.splitlines()[1] == "asks: 1 sent, 0 of them requests (0 request sequences)"
    nobody = run("report", "--since", "2026-03-11", "--until", "2026-04-01", "--sender", "SAM@brightpath.org", *common)
    assert nobody.stdout.splitlines()[1] == "asks: 1 sent, 1 of them requests (1 request sequences)"
    assert run("report", "--month", "March", *common).rc == 2
    assert run("report", "--month", "2026-03", "--since", "2026-01-01", *common).rc == 2
