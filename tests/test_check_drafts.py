"""`auditor check --drafts` (auditor/drafts.py): the Drafts folder of a real Dovecot on 127.0.0.1 listed, a draft
chosen and checked against a copy of the sample mailbox's database, and neither the account nor the database
changed by it; plus the pure parts (which folder, which draft)."""
import json
from email.header import Header

import duckdb
import pytest

from auditor.cli import main
from auditor.drafts import Draft, choose, describe, find_drafts_folder
from auditor.errors import UsageError
from auditor.config import load_rules
from auditor.harvest import Folder

PASSWORD_ENV = "AUDITOR_TEST_IMAP_PASSWORD"
AS_OF = "2026-11-01"
FAVOUR = "A small favour for the spring reading pilot"
CAFE = "Café reading hour at the Elm Street branch"        # sent RFC 2047-encoded: the listing must decode it

DRAFTS_FOLDERS = load_rules()["sources"]["drafts_folders"]


def draft(subject_header: str, to: str, date: str, message_id: str, body: str) -> bytes:
    return (f"From: Maya Okafor <maya.okafor@riverbend-literacy.org>\r\nTo: {to}\r\nSubject: {subject_header}\r\n"
            f"Date: {date}\r\nMessage-ID: {message_id}\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
            + body.replace("\n", "\r\n")).encode()


FAVOUR_BODY = """Hi Alma,

Your notes on the Tuesday story circle last spring were the most useful feedback we had all year.

Would you be willing to look over the one-page plan for our spring reading pilot and tell us which part you
would cut first? Ten minutes of your eye on it would save us weeks. If now is a bad time, just say so.

Thank you,
Maya
"""
CAFE_BODY = """Hello Beatrice,

You mentioned in March that the Elm Street branch has a quiet corner most Saturday mornings.

Could we use it for a one-hour reading session for about eight children on 14 November? We would bring the
books and two volunteers, and leave the room as we found it.

Best wishes,
Maya
"""


def one(db, sql: str, params=None):
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params).fetchall()


@pytest.fixture
def mailbox(dovecot, imap_user, demo_db, monkeypatch):
    """Two drafts in Drafts to people of the sample mailbox, the older one flagged \\Draft, the newer with no flag
    at all (as some programs save them). Returns (the account's options, the drafts by subject, their UIDs)."""
    user, password = imap_user
    monkeypatch.setenv(PASSWORD_ENV, password)
    (warm,), = one(demo_db, "select recipient from tags where warmth = 'warm' order by recipient limit 1")
    (lapsed,), = one(demo_db, "select recipient from tags where warmth = 'lapsed' order by recipient limit 1")
    (cold,), = one(demo_db, "select recipient from tags where warmth = 'cold' order by recipient limit 1")
    drafts = {
        FAVOUR: {"to": [warm, cold], "id": "<d1.4471@riverbend-literacy.org>"},
        CAFE: {"to": [lapsed], "id": "<d2.9203@riverbend-literacy.org>"},
    }
    older = draft(FAVOUR, ", ".join(drafts[FAVOUR]["to"]), "Wed, 28 Oct 2026 12:05:00 +0000", drafts[FAVOUR]["id"],
                  FAVOUR_BODY)
    newer = draft(Header(CAFE, "utf-8").encode(), lapsed, "Fri, 30 Oct 2026 12:12:00 +0000", drafts[CAFE]["id"],
                  CAFE_BODY)
    uids = [dovecot.append(user, password, "Drafts", older, flags=[b"\\Draft"]),
            dovecot.append(user, password, "Drafts", newer)]
    options = ["--host", dovecot.host, "--port", str(dovecot.plain_port), "--security", "plain", "--user", user,
               "--password-env", PASSWORD_ENV]
    return options, drafts, uids


def drafts_flags(dovecot, user: str, password: str) -> dict:
    """Every flag, \\Recent included: a read-write SELECT anywhere would clear it (IMAP4rev1, Dovecot 2.3)."""
    with dovecot.client(user, password) as client:
        client.select_folder("Drafts", readonly=True)
        return {uid: sorted(data[b"FLAGS"]) for uid, data in client.fetch(client.search("ALL"), ["FLAGS"]).items()}


def run(capsys, *args) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(list(args))
    out, err = capsys.readouterr()
    return rc, out, err


def checked(capsys, db, options, choice) -> dict:
    rc, out, err = run(capsys, "check", "--drafts", choice, "--json", "--db", str(db), "--as-of", AS_OF, *options)
    assert rc == 0, err
    return json.loads(out[out.index("{"):])


# -- against a real Dovecot ------------------------------------------------------------------------------------

def test_the_listing_shows_every_draft_newest_first_with_its_subject_date_and_recipients(mailbox, demo_db, capsys):
    options, drafts, _ = mailbox
    rc, out, err = run(capsys, "check", "--drafts", "--db", str(demo_db), *options)
    assert rc == 0, err
    assert out.splitlines() == [
        f"  1  2026-10-30  {CAFE}  → {drafts[CAFE]['to'][0]}",
        f"  2  2026-10-28  {FAVOUR}  → {', '.join(drafts[FAVOUR]['to'])}",
    ]


def test_a_draft_chosen_by_number_or_by_subject_words_is_the_one_checked(mailbox, demo_db, capsys):
    options, drafts, _ = mailbox
    by_number = checked(capsys, demo_db, options, "1")
    assert by_number["draft"]["subject"] == CAFE
    assert sorted(by_number["draft"]["recipients"]) == sorted(drafts[CAFE]["to"])
    by_words = checked(capsys, demo_db, options, "spring FAVOUR")
    assert by_words["draft"]["subject"] == FAVOUR
    assert sorted(by_words["draft"]["recipients"]) == sorted(drafts[FAVOUR]["to"])
    assert by_words["sentences"] and by_words["ask"]["kind"] != "none"


def test_listing_and_checking_change_no_flag_and_store_no_draft(mailbox, dovecot, imap_user, demo_db, capsys):
    options, drafts, uids = mailbox
    user, password = imap_user
    before = drafts_flags(dovecot, user, password)
    assert sorted(before) == sorted(uids) and b"\\Seen" not in before[uids[0]] + before[uids[1]]
    assert b"\\Draft" in before[uids[0]] and b"\\Draft" not in before[uids[1]]
    messages = one(demo_db, "select count(*) from messages")[0][0]
    assert run(capsys, "check", "--drafts", "--db", str(demo_db), *options)[0] == 0
    checked(capsys, demo_db, options, "1")
    checked(capsys, demo_db, options, "2")
    assert drafts_flags(dovecot, user, password) == before
    ids = [d["id"] for d in drafts.values()]
    assert one(demo_db, "select count(*) from messages where message_id in (?, ?)", ids)[0][0] == 0
    assert one(demo_db, "select count(*) from messages")[0][0] == messages


@pytest.mark.parametrize("choice, said", [
    ("reading", f"\"reading\" matches 2 drafts (1 \"{CAFE}\"; 2 \"{FAVOUR}\"): give the number of the one to check."),
    ("gala dinner", "no draft's subject has the words \"gala dinner\": run `auditor check --drafts` to list them, "
                    "then give the number of the one to check."),
    ("7", "there is no draft 7 (the Drafts folder holds 2): run `auditor check --drafts` to list them."),
])
def test_an_ambiguous_or_unknown_choice_is_one_sentence_and_exit_2(mailbox, demo_db, capsys, choice, said):
    options, _, _ = mailbox
    rc, out, err = run(capsys, "check", "--drafts", choice, "--db", str(demo_db), *options)
    assert rc == 2 and out == ""
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("error:")] == [f"error: {said}"]
    assert err.rstrip().endswith(said)


def test_a_refused_login_is_harvest_s_sentence_and_exit_3(mailbox, demo_db, capsys, monkeypatch, dovecot, imap_user):
    options, _, _ = mailbox
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    rc, out, err = run(capsys, "check", "--drafts", "--db", str(demo_db), *options)
    assert rc == 3 and out == "" and "Traceback" not in err
    assert f"login as {imap_user[0]} at {dovecot.host}:{dovecot.plain_port} was refused" in err


def test_an_account_without_a_drafts_folder_is_told_so_in_one_sentence(mailbox, demo_db, capsys, monkeypatch):
    """Dovecot always has its \\Drafts folder here, so the server is seen through a listing without it."""
    import auditor.drafts
    from auditor.harvest import Harvester

    class WithoutDrafts(Harvester):
        def folders(self):
            return [f for f in super().folders() if f.special != "\\drafts" and f.name != "Drafts"]

    monkeypatch.setattr(auditor.drafts, "Harvester", WithoutDrafts)
    options, _, _ = mailbox
    rc, out, err = run(capsys, "check", "--drafts", "1", "--db", str(demo_db), *options)
    assert rc == 2 and out == "" and "Traceback" not in err
    assert err.splitlines()[-1].endswith("has no Drafts folder (none flagged \\Drafts or named Drafts): check the "
                                         "draft from a file instead (auditor check draft.eml).")


# -- pure parts ------------------------------------------------------------------------------------------------

def folders(*spec):
    return [Folder(name, frozenset(flags)) for name, *flags in spec]


def test_the_drafts_folder_is_the_flagged_one_else_the_usual_name_in_the_account_s_language():
    assert find_drafts_folder(folders(("INBOX",), ("Entwürfe",), ("Work", "\\drafts")), DRAFTS_FOLDERS).name == "Work"
    assert find_drafts_folder(folders(("INBOX",), ("INBOX.Brouillons",)), DRAFTS_FOLDERS).name == "INBOX.Brouillons"
    assert find_drafts_folder(folders(("INBOX",), ("[Gmail]/Entwürfe",)), DRAFTS_FOLDERS).name == "[Gmail]/Entwürfe"
    assert find_drafts_folder(folders(("Drafts", "\\noselect"), ("INBOX",), ("Sent", "\\sent")), DRAFTS_FOLDERS) is None


def test_choose_prefers_the_number_then_the_one_subject_holding_every_word():
    listed = [Draft(1, 30, "Board seat", None, ()), Draft(2, 20, "Board seat follow-up", None, ()),
              Draft(3, 10, "2026 plans", None, ())]
    assert choose(listed, "2").uid == 20
    assert choose(listed, "board seat").uid == 30            # the whole subject typed out wins
    assert choose(listed, "follow").uid == 20
    assert choose(listed, "2026").uid == 10                  # no draft 2026: the subject's words
    with pytest.raises(UsageError, match="matches 2 drafts"):
        choose(listed, "board")
    with pytest.raises(UsageError, match="Drafts folder is empty"):
        choose([], "1")


def test_the_listing_line_shortens_long_recipient_lists_and_names_a_missing_subject():
    many = Draft(12, 1, "", None, tuple(f"p{i}@example.org" for i in range(5)))
    assert describe(many) == (" 12  ––––––––––  (no subject)  → p0@example.org, p1@example.org, p2@example.org "
                              "+2 more")
