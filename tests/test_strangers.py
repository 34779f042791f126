"""Mail from strangers is stored with its header only: in a real inbox most mail comes from people the team never
wrote to, and none of it can answer an ask or warm anyone up. What turns out to matter is read whole before
tagging, so no tag or outcome depends on what the ingest guessed."""
from pathlib import Path

import polars as pl

from auditor.config import load_rules
from auditor.ingest import ingest_messages, ingest_paths
from auditor.parse import DEFERRED_STRANGER
from auditor.pipeline import up_to_match
from auditor.samplegen import TEAM_DOMAIN
from auditor.sources import iter_source
from auditor.store import Store

from conftest import make_settings, write_eml

SAMPLE = Path(__file__).resolve().parent.parent / "sample_mail"


def note(sender: str, to: str, msgid: str, subject: str, extra: str = "") -> str:
    return f"""
From: {sender}
To: {to}
Subject: {subject}
Date: Tue, 3 Mar 2026 09:00:00 +0000
Message-ID: <{msgid}>
{extra}Content-Type: text/plain; charset=utf-8

Some words of {msgid} for the body.
"""


def bodies(store: Store) -> dict[str, str]:
    return dict(store.run("SELECT message_id, body_kind FROM messages"))


def test_a_strangers_mail_is_stored_with_its_header_only_and_read_whole_once_the_team_writes_to_them(tmp_path):
    mailbox, rules = tmp_path / "mail", load_rules()
    sent, inbox = mailbox / ".Sent" / "cur", mailbox / "cur"
    for sub in ("cur", "new", "tmp"):
        (mailbox / sub).mkdir(parents=True, exist_ok=True)
        (mailbox / ".Sent" / sub).mkdir(parents=True, exist_ok=True)
    write_eml(sent, "1:2,S", note("Sam <sam@brightpath.org>", "lena@hillside-school.example, ada@gmail.com",
                                  "ask-1@brightpath.org", "A reading hour?"))
    settings = make_settings(tmp_path, me=("@brightpath.org",))
    with Store.open(settings.db_path) as store:
        ingest_paths(store, store.begin_run("ingest"), [mailbox], rules=rules)
        inbound = {
            "lena-1@hillside-school.example": note("lena@hillside-school.example", "sam@brightpath.org",
                                                   "lena-1@hillside-school.example", "Hello again"),
            "kai-1@hillside-school.example": note("kai@hillside-school.example", "sam@brightpath.org",   # her colleague
                                                  "kai-1@hillside-school.example", "About Lena's class"),
            "bob-1@gmail.com": note("bob@gmail.com", "sam@brightpath.org", "bob-1@gmail.com", "Hi"),    # free mail
            "pitch-1@growth.example": note("Eve <eve@growth.example>", "sam@brightpath.org",
                                           "pitch-1@growth.example", "Triple your donors"),
            "pitch-2@growth.example": note("Eve <eve@growth.example>", "sam@brightpath.org",
                                           "pitch-2@growth.example", "Re: A reading hour?",
                                           "In-Reply-To: <ask-1@brightpath.org>\n"),
            "dsn-1@mx.example": note("Mail Delivery System <mailer-daemon@mx.example>", "sam@brightpath.org",
                                     "dsn-1@mx.example", "Undelivered Mail Returned to Sender"),
        }
        for i, text in enumerate(inbound.values()):
            write_eml(inbox, f"{i + 10}:2,S", text)
        ingest_paths(store, store.begin_run("ingest"), [mailbox], rules=rules)
        assert bodies(store) == {
            "<ask-1@brightpath.org>": "plain",
            "<lena-1@hillside-school.example>": "plain", "<kai-1@hillside-school.example>": "plain",
            "<bob-1@gmail.com>": "deferred", "<pitch-1@growth.example>": "deferred",
            "<pitch-2@growth.example>": "plain", "<dsn-1@mx.example>": "plain"}
        flags = dict(store.run("SELECT message_id, flags FROM messages WHERE body_kind = 'deferred'"))
        assert all(f == [DEFERRED_STRANGER] for f in flags.values())

        # Sam writes to Eve: her first mail is now from someone the team wrote to, and the tag stage reads it.
        write_eml(sent, "2:2,S", note("Sam <sam@brightpath.org>", "eve@growth.example", "ask-2@brightpath.org",
                                      "Thanks, and a question"))
        ingest_paths(store, store.begin_run("ingest"), [mailbox], rules=rules)
        up_to_match(store, store.begin_run("audit"), settings)
        after = bodies(store)
        assert after["<pitch-1@growth.example>"] == "plain" and after["<bob-1@gmail.com>"] == "deferred"
        text = store.scalar("SELECT body_text FROM messages WHERE message_id = '<pitch-1@growth.example>'")
        assert "Some words of pitch-1@growth.example" in text


def test_without_the_rules_or_before_any_sent_mail_nobody_is_a_stranger(tmp_path):
    """The ingest cannot tell a stranger before it knows whom the team wrote to: everything is read whole."""
    mailbox = tmp_path / "mail"
    write_eml(mailbox, "pitch.eml", note("eve@growth.example", "sam@brightpath.org", "pitch-1@growth.example", "Hi"))
    for rules in (None, load_rules()):
        with Store.open(tmp_path / f"{rules is None}.duckdb") as store:
            ingest_paths(store, store.begin_run("ingest"), [mailbox], rules=rules)
            assert bodies(store) == {"<pitch-1@growth.example>": "plain"}


def test_sent_folders_are_read_before_the_inbox():
    folders = [m.folder for m in iter_source(SAMPLE)]
    first_inbox = folders.index("INBOX")
    assert "Sent" in folders[:first_inbox] and "Sent" not in folders[first_inbox:]


def test_reading_strangers_mail_by_its_header_changes_no_mail_tag_or_outcome(tmp_path, monkeypatch):
    """The sample mailbox audited twice, once with strangers' mail read by its header and once with everything
    read whole, ends with the same mails, asks, tags and outcomes."""
    import auditor.ingest

    def audited(name: str) -> tuple[int, int, dict[str, pl.DataFrame]]:
        settings = make_settings(tmp_path / name, me=(f"@{TEAM_DOMAIN}",), as_of="2026-11-01")
        with Store.open(settings.db_path) as store:
            run_id = store.begin_run("audit")
            ingest_messages(store, run_id, iter_source(SAMPLE), batch_size=100, rules=settings.rules)
            deferred = "SELECT count(*) FROM messages WHERE list_contains(flags, ?)"
            before = store.scalar(deferred, [DEFERRED_STRANGER])
            up_to_match(store, run_id, settings)
            return before, store.scalar(deferred, [DEFERRED_STRANGER]), tables(store)

    deferred, still, ours = audited("headers")
    monkeypatch.setattr(auditor.ingest.Correspondents, "stranger", lambda self, address: False)
    none, _, whole = audited("whole")
    assert none == 0 and deferred > 5 and 0 < still <= deferred
    for table in whole:
        assert ours[table].equals(whole[table]), table


def tables(store: Store) -> dict[str, pl.DataFrame]:
    keys = {"mails": "mail_key", "asks": "message_id", "tags": "message_id, recipient",
            "outcomes": "message_id, recipient"}
    dropped = {"tags": "EXCLUDE (run_id, tagged_at)", "outcomes": "EXCLUDE (run_id, matched_at)"}
    return {t: store.frame(f"SELECT * {dropped.get(t, '')} FROM {t} ORDER BY {key}") for t, key in keys.items()}
