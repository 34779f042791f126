"""Tests for auditor/samplegen.py: the deterministic sample mailbox and its ground truth."""
from __future__ import annotations

import email
import email.policy
import inspect
import itertools
import mailbox
import tracemalloc
from collections import Counter
from datetime import datetime, timedelta, timezone
from email.utils import getaddresses, parsedate_to_datetime
from pathlib import Path

import pytest

from auditor import samplegen as sg

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def sample() -> list[sg.SampleMessage]:
    return list(sg.iter_messages())


def _head(raw: bytes) -> email.message.Message:
    return email.message_from_bytes(raw)


def _asks(sample):
    return [m for m in sample if m.truth and m.truth["kind"] != "none"]


# ------------------------------------------------------------------------------------------------ determinism

def test_same_seed_gives_identical_bytes(sample):
    again = list(sg.iter_messages())
    assert len(again) == len(sample)
    for a, b in zip(sample, again):
        assert (a.folder, a.when, a.raw, a.truth) == (b.folder, b.when, b.raw, b.truth)


def test_other_seed_gives_other_mail(sample):
    other = list(itertools.islice(sg.iter_messages(seed=sg.SAMPLE_SEED + 1), 200))
    assert [m.raw for m in other] != [m.raw for m in sample[:200]]


def test_written_maildir_is_identical_twice(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    na = sg.write_maildir(a, sg.iter_messages())
    nb = sg.write_maildir(b, sg.iter_messages())
    assert na == nb
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    assert files_a == files_b
    for rel in files_a:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel


def test_committed_sample_is_up_to_date(tmp_path):
    """sample_mail/ must be exactly what `python -m auditor.samplegen sample_mail` writes today."""
    committed = REPO / "sample_mail"
    fresh = tmp_path / "sample_mail"
    assert sg.main([str(fresh)]) == 0
    want = sorted(str(p.relative_to(fresh)) for p in fresh.rglob("*") if p.is_file())
    have = sorted(str(p.relative_to(committed)) for p in committed.rglob("*") if p.is_file())
    assert have == want, "sample_mail/ is stale: run `python -m auditor.samplegen sample_mail`"
    for rel in want:
        assert (committed / rel).read_bytes() == (fresh / rel).read_bytes(), rel
    size = sum((fresh / rel).stat().st_size for rel in want)
    assert size < 4_000_000


# ------------------------------------------------------------------------------------------------ contents

def test_constants():
    assert sg.SAMPLE_SEED == 2026
    assert sg.TEAM_DOMAIN == "riverbend-literacy.org"
    assert len(sg.TEAM) == 3 and all(a.endswith("@" + sg.TEAM_DOMAIN) for a in sg.TEAM)
    assert sg.SAMPLE_AS_OF == datetime(2026, 11, 1, tzinfo=timezone.utc)


def test_counts_within_ranges(sample):
    assert 1000 <= len(sample) <= 2500
    folders = Counter(m.folder for m in sample)
    assert set(folders) == {"INBOX", "Sent"}
    asks = _asks(sample)
    assert 300 <= len(asks) <= 600
    kinds = Counter(m.truth["kind"] for m in asks)
    assert set(kinds) == set(sg.KINDS), kinds
    assert kinds["endorsement"] >= 3
    audience = Counter(m.truth["audience"] for m in asks)
    assert audience["mass"] >= 100 and audience["personal"] >= 150
    assert Counter(m.truth["focus"] for m in asks).keys() == {"self", "other"}
    warmth = Counter(m.truth["warmth"] for m in asks)
    assert warmth["warm"] >= 50 and warmth["lapsed"] >= 20 and warmth["cold"] >= 50, warmth
    bounces = [m for m in sample if b"report-type=delivery-status" in m.raw]
    assert 10 <= len(bounces) <= 25
    # asks inside the period, everything else after early 2024 and before the demo clock
    start, last = datetime(2026, 3, 1, tzinfo=timezone.utc), datetime(2026, 10, 26, tzinfo=timezone.utc)
    assert all(start <= m.when < last for m in asks)
    assert all(datetime(2024, 1, 1, tzinfo=timezone.utc) <= m.when < sg.SAMPLE_AS_OF for m in sample)
    assert min(m.when for m in sample) < datetime(2024, 4, 1, tzinfo=timezone.utc)


def test_people_pool_size(sample):
    outside = set()
    for m in sample:
        if m.truth:
            outside.update(m.truth["recipients"])
    assert 250 <= len(outside) <= 400
    domains = Counter(a.split("@")[1] for a in outside)
    assert domains["gmail.com"] > 10 and sum(1 for d in domains if d.endswith(".org")) > 5
    assert not any(d == sg.TEAM_DOMAIN for d in domains)


def test_every_message_parses_with_required_headers(sample):
    no_date = bad_date = 0
    ids = set()
    for m in sample:
        assert m.when.tzinfo is not None and m.when.utcoffset() == timedelta(0)
        assert b"\n" not in m.raw.replace(b"\r\n", b""), "bare LF"
        msg = _head(m.raw)
        assert msg["From"] and msg["Message-ID"]
        assert msg["Message-ID"] not in ids
        ids.add(msg["Message-ID"])
        if msg["Date"] is None:
            no_date += 1
            assert m.folder == "INBOX" and msg["Received"] and ";" in msg["Received"]
            continue
        try:
            parsedate_to_datetime(msg["Date"])
        except (TypeError, ValueError):
            bad_date += 1
            assert m.folder == "INBOX"
        # the modern parser copes with every header and text part too
        modern = email.message_from_bytes(m.raw, policy=email.policy.default)
        str(modern["Subject"]), str(modern["From"])
        for part in modern.walk():
            if part.get_content_maintype() == "text":
                part.get_content()
    assert no_date == 1 and bad_date == 1


def test_outbound_headers(sample):
    for m in sample:
        if m.folder != "Sent":
            continue
        msg = _head(m.raw)
        for h in ("Date", "From", "Subject", "Message-ID", "MIME-Version", "Content-Type"):
            assert msg[h], h
        assert msg["Message-ID"].endswith("@" + sg.TEAM_DOMAIN + ">")
        assert getaddresses([msg["From"]])[0][1] in sg.TEAM
        ct = msg["Content-Type"]
        assert "charset" in ct or ct.startswith("multipart/")
        if m.truth:
            listed = {a.lower() for _, a in getaddresses(msg.get_all("To", []) + msg.get_all("Cc", [])
                                                           + msg.get_all("Bcc", []))}
            assert set(m.truth["recipients"]) <= listed
            assert set(m.truth["answered_by"]) <= set(m.truth["recipients"])


def test_truth_never_in_bytes(sample):
    for m in sample:
        assert b"answered_by" not in m.raw and b"truth" not in m.raw.lower()


def test_mass_mail_shapes(sample):
    merge = [m for m in sample if m.truth and m.truth["audience"] == "mass" and b"Precedence: bulk" in m.raw
             and m.truth["kind"] != "none"]
    assert len(merge) >= 100
    for m in merge:
        assert b"List-Unsubscribe:" in m.raw and b"X-Mailer:" in m.raw
    bcc = [m for m in sample if m.folder == "Sent" and b"To: undisclosed-recipients:;" in m.raw]
    assert len(bcc) == 2
    for m in bcc:
        assert 20 <= len(m.truth["recipients"]) <= 40
        assert len(getaddresses(_head(m.raw).get_all("Bcc"))) == len(m.truth["recipients"])
    hi_all = [m for m in sample if m.folder == "Sent" and b"\r\n\r\nHi all," in m.raw]
    assert len(hi_all) == 1 and len(hi_all[0].truth["recipients"]) == 8


def test_answer_rates_follow_style(sample):
    def rate(pred):
        hit = tot = 0
        for m in _asks(sample):
            if pred(m.truth):
                tot += len(m.truth["recipients"])
                hit += len(m.truth["answered_by"])
        return hit / tot
    best = rate(lambda t: t["audience"] == "personal" and t["focus"] == "other" and t["warmth"] == "warm")
    mass = rate(lambda t: t["audience"] == "mass")
    assert 0.45 <= best <= 0.85, best
    assert 0.01 <= mass <= 0.12, mass
    assert rate(lambda t: t["focus"] == "other") > rate(lambda t: t["focus"] == "self")
    assert rate(lambda t: t["audience"] == "personal") > 2 * mass


def test_replies_auto_replies_and_threads(sample):
    inbound = [m for m in sample if m.folder == "INBOX"]
    auto = [m for m in inbound if b"Auto-Submitted: auto-replied" in m.raw or b"X-Autoreply: yes" in m.raw]
    subjects = [str(email.header.make_header(email.header.decode_header(_head(m.raw)["Subject"])))
                for m in inbound]
    assert any(s.startswith("Abwesenheitsnotiz:") for s in subjects)
    assert any(s.startswith("Réponse automatique :") for s in subjects)
    headerless_ooo = [s for m, s in zip(inbound, subjects) if s.startswith(("Out of Office", "Automatic reply",
                      "Away:")) and b"Auto-Submitted" not in m.raw and b"X-Autoreply" not in m.raw]
    assert 1 <= len(headerless_ooo) <= 4
    assert len(auto) >= 10
    human = [m for m, s in zip(inbound, subjects) if s.lower().startswith("re:") and m not in auto]
    assert len(human) >= 100
    without_refs = [m for m in human if b"In-Reply-To:" not in m.raw and b"References:" not in m.raw]
    assert 0.04 <= len(without_refs) / len(human) <= 0.2
    assert any(b"-----Original Message-----" in m.raw for m in human)
    assert any(b" wrote:\r\n> " in m.raw for m in human)
    follow = [m for m in sample if m.folder == "Sent" and b"Subject: Following up:" in m.raw]
    assert follow and all(b"In-Reply-To:" in m.raw for m in follow)


def test_bounce_structure(sample):
    for m in (m for m in sample if b"report-type=delivery-status" in m.raw):
        msg = _head(m.raw)
        assert msg["From"].split("<")[-1].startswith("MAILER-DAEMON@")
        parts = [p.get_content_type() for p in msg.walk()]
        assert parts[:2] == ["multipart/report", "text/plain"]
        assert "message/delivery-status" in parts and "text/rfc822-headers" in parts
        assert b"Final-Recipient: rfc822; " in m.raw and b"Status: " in m.raw
        assert m.raw.count(b"Message-ID: <") == 2  # its own and the original's
    soft = [m for m in sample if b"Status: 4." in m.raw]
    assert 1 <= len(soft) <= 2


def test_encoded_names_and_internal_mail(sample):
    assert any(b"=?utf-8?" in m.raw.split(b"\r\n\r\n")[0] for m in sample if m.folder == "Sent")
    offsets = {m.raw.split(b"\r\nDate: ", 1)[1][26:31] for m in sample if b"\r\nDate: " in m.raw}
    assert len(offsets) >= 5
    internal = []
    for m in sample:
        if m.folder != "Sent":
            continue
        msg = _head(m.raw)
        rcpts = [a for _, a in getaddresses(msg.get_all("To", []) + msg.get_all("Cc", []))]
        if rcpts and all(a in sg.TEAM for a in rcpts):
            internal.append(m)
            assert m.truth is None
    assert len(internal) >= 10
    assert any(b"List-Id:" in m.raw for m in sample if m.folder == "INBOX")
    assert any(b"Content-Type: text/html" in m.raw.split(b"\r\n\r\n")[0] for m in sample)


# ------------------------------------------------------------------------------------------------ streaming

def test_n_messages_is_a_lazy_generator_with_flat_memory():
    gen = sg.iter_messages(n_messages=20000)
    assert inspect.isgenerator(gen)
    tracemalloc.start()
    try:
        count = 0
        outside = set()
        for m in gen:
            count += 1
            if m.truth:
                outside.update(m.truth["recipients"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 20000
    assert peak < 50_000_000, peak
    assert len(outside) > 2000  # the extra messages go to more people, not the same ones again


def test_n_messages_exact_and_prefix():
    assert list(sg.iter_messages(n_messages=0)) == []
    assert len(list(sg.iter_messages(n_messages=7))) == 7
    first = list(itertools.islice(sg.iter_messages(), 50))
    assert [m.raw for m in sg.iter_messages(n_messages=50)] == [m.raw for m in first]


# ------------------------------------------------------------------------------------------------ writers

def test_write_mbox_round_trips(tmp_path, sample):
    path = tmp_path / "all.mbox"
    n = sg.write_mbox(path, sample)
    assert n == len(sample)
    box = mailbox.mbox(path, create=False)
    try:
        got = list(box)
        assert len(got) == len(sample)
        assert got[0]["Message-ID"] == _head(sample[0].raw)["Message-ID"]
        assert got[-1]["Message-ID"] == _head(sample[-1].raw)["Message-ID"]
        assert got[0].get_from().split()[0] == getaddresses([_head(sample[0].raw)["From"]])[0][1]
    finally:
        box.close()


def test_write_mbox_escapes_from_lines(tmp_path):
    raw = (b"From: a@example.org\r\nDate: Mon, 02 Mar 2026 10:00:00 -0600\r\nMessage-ID: <x@example.org>\r\n"
           b"Subject: t\r\n\r\nFrom the desk of Maya\r\n>From quoted\r\nbody\r\n")
    msgs = [sg.SampleMessage("INBOX", datetime(2026, 3, 2, 16, tzinfo=timezone.utc), raw, None)] * 2
    path = tmp_path / "x.mbox"
    assert sg.write_mbox(path, msgs) == 2
    text = path.read_bytes()
    assert b"\n>From the desk" in text and b"\n>>From quoted" in text
    box = mailbox.mbox(path, create=False)
    try:
        assert len(box) == 2
    finally:
        box.close()


def test_maildir_layout_and_malformed_files(tmp_path):
    root = tmp_path / "md"
    msgs = list(itertools.islice(sg.iter_messages(), 300))
    n = sg.write_maildir(root, msgs, malformed=True)
    for d in (root, root / ".Sent"):
        for sub in ("cur", "new", "tmp"):
            assert (d / sub).is_dir()
    files = [p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")
             and p.name != "maildirfolder"]
    assert n == len(files) == 300 + 4
    for p in files:
        assert ":2," in p.name and p.name.split(".")[1].startswith("M") or p.parent.name == "new"
    inbox = mailbox.Maildir(root, factory=None, create=False)
    assert inbox.list_folders() == ["Sent"]
    broken = {p.name: p.read_bytes() for p in (root / "cur").iterdir()}
    data = list(broken.values())
    assert b"" in data, "empty file"
    assert any(d.startswith(b"\x89PNG") and b"\x00" in d for d in data), "binary file"
    assert any(b"Subject:" in d and b"\r\n\r\n" not in d for d in data), "truncated headers"
    assert any(b'charset="x-rb-unknown-8bit"' in d for d in data), "unknown charset"
    assert len(list((root / ".Sent" / "cur").iterdir())) == sum(1 for m in msgs if m.folder == "Sent")


def test_main_refuses_to_delete_a_foreign_folder(tmp_path):
    victim = tmp_path / "precious"
    victim.mkdir()
    (victim / "thesis.txt").write_text("do not delete")
    with pytest.raises(SystemExit):
        sg.main([str(victim), "-n", "5"])
    assert (victim / "thesis.txt").exists()
