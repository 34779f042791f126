"""Scale out: three mailboxes, each audited into its own database and exported as Parquet partitioned by account and
month; `auditor report --from-parquet DIR` builds the organisation's report from the exports alone."""
from __future__ import annotations

import contextlib
import io
import re
import shutil
from email.parser import BytesHeaderParser
from email.utils import getaddresses
from pathlib import Path

import duckdb
import pytest

from auditor.cli import main

SAMPLE = Path(__file__).resolve().parent.parent / "sample_mail"
DOMAIN = "@riverbend-literacy.org"


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(args))
    return rc, out.getvalue(), err.getvalue()


def split_by_member(root: Path) -> dict[str, Path]:
    """The sample Maildir as three people's own mailboxes: each keeps the mail they sent or received, so mail
    among them lands in several mailboxes (as it would in a real team)."""
    parser = BytesHeaderParser()
    boxes: dict[str, Path] = {}
    for path in sorted(p for p in SAMPLE.rglob("*") if p.is_file() and p.parent.name in ("cur", "new")):
        headers = parser.parsebytes(path.read_bytes())
        people = {a.lower() for _, a in getaddresses(headers.get_all("from", []) + headers.get_all("to", [])
                                                     + headers.get_all("cc", []) + headers.get_all("bcc", []))}
        for member in sorted(a for a in people if a.endswith(DOMAIN)):
            folder = path.parent.parent.relative_to(SAMPLE)
            box = boxes.setdefault(member, root / member.split("@")[0])
            target = box / folder / path.parent.name
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, target / path.name)
    for box in boxes.values():
        for folder in [box] + [p for p in box.iterdir() if p.is_dir() and p.name.startswith(".")]:
            for sub in ("cur", "new", "tmp"):
                (folder / sub).mkdir(exist_ok=True)
    return boxes


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    root = tmp_path_factory.mktemp("org")
    boxes = split_by_member(root / "mail")
    senders = [m for m in boxes if m.split("@")[0] in ("maya.okafor", "priya.raman", "theo.lindqvist")]
    assert len(senders) == 3
    exported = root / "exports"
    per_box = {}
    for member in senders:
        db = root / f"{member.split('@')[0]}.duckdb"
        rc, _, err = run("audit", str(boxes[member]), "--db", str(db), "--me", DOMAIN, "--as-of", "2026-11-01",
                         "-o", str(root / f"{member}.html"))
        assert rc == 0, err
        rc, _, err = run("export", "--db", str(db), "--me", DOMAIN, "--as-of", "2026-11-01", "--format", "parquet",
                         "--partition-by", "account,month", "-o", str(exported / member.split("@")[0]))
        assert rc == 0, err
        per_box[member] = db
    return root, exported, per_box


def test_the_organisation_report_counts_every_ask_once(exports, tmp_path):
    root, exported, per_box = exports
    # What the three databases hold together, an ask copied into two mailboxes counted once.
    union = " UNION ALL ".join(
        f"SELECT message_id, recipient, sender, ask_kind FROM read_parquet('{exported}/{m.split('@')[0]}/**/*.parquet', hive_partitioning = true)"
        for m in per_box)
    with duckdb.connect() as con:
        asks, pairs, requests = con.execute(
            f"SELECT count(DISTINCT message_id), count(DISTINCT (message_id, recipient)), "
            f"count(DISTINCT message_id) FILTER (WHERE ask_kind <> 'none') FROM ({union})").fetchall()[0]
        copies = con.execute(f"SELECT count(*) FROM ({union})").fetchall()[0][0]
    assert copies > pairs                               # some asks sit in two mailboxes
    report = tmp_path / "org.html"
    rc, out, err = run("report", "--from-parquet", str(exported), "--as-of", "2026-11-01", "-o", str(report))
    assert rc == 0, err
    assert f"asks: {asks:,} sent, {requests:,} of them requests" in out
    page = report.read_text()
    assert "organisation, 3 senders" in page
    table = re.search(r'id="by-sender">(.*?)</section>', page, re.S).group(1)
    assert sorted(re.findall(r'<td class="name">([^<]+)</td>', table)) == sorted(per_box)
    assert "in each mailbox&#39;s own report" in page
    assert not list(tmp_path.glob("auditor-org-*"))     # the throwaway database is gone


def test_its_rates_equal_a_single_database_holding_all_the_mail(exports, tmp_path, demo):
    """The sample mailbox audited whole (the demo) and the same mail audited as three mailboxes and joined from
    Parquet agree on who was asked and what came back."""
    root, exported, _ = exports
    rc, out, err = run("report", "--from-parquet", str(exported), "--as-of", "2026-11-01", "-o", str(tmp_path / "o.html"))
    assert rc == 0, err
    demo_out, printed = demo
    whole = next(l for l in printed.splitlines() if l.startswith("people reached"))
    assert whole in out


def test_a_folder_without_exports_is_one_sentence(tmp_path):
    (tmp_path / "empty").mkdir()
    rc, _, err = run("report", "--from-parquet", str(tmp_path / "empty"), "-o", str(tmp_path / "x.html"))
    assert rc == 2 and "no Parquet files under" in err and "Traceback" not in err
    rc, _, err = run("report", "--from-parquet", str(tmp_path / "missing"), "-o", str(tmp_path / "x.html"))
    assert rc == 2 and "is not a folder" in err
