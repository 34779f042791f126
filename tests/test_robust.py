"""No crash on any real mailbox (issue 23): `auditor audit` on random sub-mailboxes of real public mail
(`../shared/realmail`: business mail, spam, newsletters, a list archive) and the sample mailbox, with a random
`--me` among their senders and a random `--as-of`, exits 0 and writes its report every time. Every report section
must handle an empty group, a group where nobody or everybody answered, a single ask, sender or month, no asks and
no replies, and say "too few to tell" where it cannot say more.

Hypothesis draws the sub-mailboxes, derandomized so CI sees the same ones on every run; set
AUDITOR_ROBUST_EXAMPLES to draw more here."""
from __future__ import annotations

import contextlib
import io
import os
import random
import re
from datetime import date
from email.utils import getaddresses
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from auditor.cli import main
from auditor.sources import _mbox_messages

from conftest import require_or_skip

ROOT = Path(__file__).resolve().parent.parent
REALMAIL = ROOT.parent / "shared" / "realmail"
SAMPLE = ROOT / "sample_mail"
EXAMPLES = int(os.environ.get("AUDITOR_ROBUST_EXAMPLES", "12"))


def sender(raw: bytes) -> str | None:
    head = raw.split(b"\n\n", 1)[0].decode("utf-8", "replace")
    found = re.search(r"(?im)^from:[ \t]*(.*(?:\n[ \t].*)*)", head)
    addresses = [a for _, a in getaddresses([found.group(1)])] if found else []
    return addresses[0].lower() if addresses and "@" in addresses[0] else None


def maildir_files(folder: Path) -> list[bytes]:
    return [p.read_bytes() for sub in ("cur", "new") for p in sorted((folder / sub).iterdir()) if not p.name.startswith(".")]


@pytest.fixture(scope="module")
def pool() -> dict[str, list[bytes]]:
    """Every message there is to draw from, as bytes: real items, the list archive's posts, the sample's Inbox and
    Sent (its broken files included)."""
    require_or_skip((REALMAIL / "items").is_dir(), f"the real mail at {REALMAIL}")
    archive = next((REALMAIL / "threads").glob("*.mbox"))
    return {
        "real": [p.read_bytes() for p in sorted((REALMAIL / "items").glob("*.eml"))],
        "list": [m.raw for m in _mbox_messages(archive, "list")],
        "inbox": maildir_files(SAMPLE),
        "sent": maildir_files(SAMPLE / ".Sent"),
    }


def audit(folder: Path, me: list[str], as_of: str, tmp: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    args = ["audit", str(folder), "--db", str(tmp / "a.duckdb"), "--as-of", as_of, "-o", str(tmp / "r.html")]
    for item in me:
        args += ["--me", item]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(args)
    return rc, out.getvalue(), err.getvalue()


def assert_audited(rc: int, out: str, err: str, tmp: Path) -> None:
    assert rc == 0, err[-3000:]
    assert "Traceback" not in err
    assert (tmp / "r.html").stat().st_size > 10_000
    assert out.splitlines()[-2].startswith("best style: ") and out.splitlines()[-1].startswith("worst style: ")


def test_the_mixed_folder_of_real_public_mail_audits(pool, tmp_path):
    """The fixed case: every real item in one folder, the most frequent sender as the team (the audit that once
    stopped in the report's Kaplan-Meier curve)."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    for n, raw in enumerate(pool["real"]):
        (folder / f"{n:03d}.eml").write_bytes(raw)
    senders = [s for s in map(sender, pool["real"]) if s]
    me = max(set(senders), key=senders.count)
    assert_audited(*audit(folder, [me], "2008-01-01", tmp_path), tmp_path)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1),
       sizes=st.tuples(st.integers(0, 40), st.integers(0, 40), st.integers(0, 120), st.integers(0, 80)),
       as_of=st.dates(min_value=date(1999, 1, 1), max_value=date(2027, 12, 31)),
       whole_domain=st.booleans())
def test_any_sub_mailbox_with_any_identity_and_date_audits(pool, tmp_path_factory, seed, sizes, as_of, whole_domain):
    rng = random.Random(seed)
    tmp = tmp_path_factory.mktemp("robust")
    drawn = {kind: rng.sample(pool[kind], min(n, len(pool[kind]))) for kind, n in zip(("real", "list", "inbox", "sent"), sizes)}
    # Some real mail goes in the Sent folder too: a team of real senders, as a user of this tool would have.
    to_sent = drawn["sent"] + [raw for raw in drawn["real"] if rng.random() < 0.3]
    inbox = [raw for raw in drawn["real"] + drawn["list"] + drawn["inbox"] if raw not in to_sent]
    for folder, messages in (("Sent", to_sent), ("Inbox", inbox)):
        (tmp / "mail" / folder).mkdir(parents=True)
        for n, raw in enumerate(messages):
            (tmp / "mail" / folder / f"{n:04d}.eml").write_bytes(raw)
    senders = sorted({s for s in map(sender, to_sent + inbox) if s}) or ["nobody@example.org"]
    me = rng.choice(senders)
    me = "@" + me.split("@", 1)[1] if whole_domain else me
    assert_audited(*audit(tmp / "mail", [me], as_of.isoformat(), tmp), tmp)


def test_real_mail_checked_as_drafts_never_crashes(demo_db):
    """A third of the real items (business mail, spam, newsletters, cold outreach), each checked as a draft against
    the sample's history: a result with the report's colours, or one sentence why not; never a crash."""
    from auditor import check
    from auditor.config import Identity, load_settings
    from auditor.errors import UsageError
    from auditor.store import Store

    require_or_skip((REALMAIL / "items").is_dir(), f"the real mail at {REALMAIL}")
    items = sorted((REALMAIL / "items").glob("*.eml"))[::3]
    settings = load_settings(db=str(demo_db), config=None, me=(), as_of="2026-11-01")
    checked = refused = 0
    with Store.open(demo_db) as store:
        identity = Identity.parse(["@riverbend-literacy.org"])
        for path in items:
            try:
                result = check.check_draft(store, settings, identity, path.read_bytes())
            except UsageError as exc:
                assert "\n" not in str(exc), path.name
                refused += 1
                continue
            checked += 1
            assert {s["colour"] for s in result["sentences"]} <= {"self", "other", "neutral"}, path.name
            assert result["audience"]["label"] in ("mass", "personal") and result["recipients"], path.name
            assert "\n".join(check.render(result))
    # Nearly every real message names a recipient; one without is refused in one sentence.
    assert checked >= len(items) - 3 and checked + refused == len(items)
