"""The IMAP harvester against a real Dovecot on 127.0.0.1 (tests/imap_server.py), plus its pure parts."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from auditor.errors import ConnectionFailed, UsageError
from auditor.accounts import Account, Secret, account_from_options, is_loopback
from auditor.harvest import Folder, Harvester, _assemble_partial, _text_parts, plan_folders
from auditor.parse import parse_raw
from auditor.pipeline import harvest
from auditor.store import Store

ROOT = Path(__file__).resolve().parent.parent
PASSWORD_ENV = "AUDITOR_TEST_IMAP_PASSWORD"


def mail(i: int, folder: str = "INBOX", size: int = 0) -> bytes:
    body = f"Hello number {i}.\r\n" + ("x" * 76 + "\r\n") * (size // 78)
    return (f"From: Person {i} <p{i}@example.org>\r\nTo: me@team.example\r\nSubject: note {i}\r\n"
            f"Date: Tue, 3 Mar 2026 10:{i % 60:02}:00 +0000\r\nMessage-ID: <{folder}-{i}@example.org>\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}").encode()


def account_for(server, user, password, monkeypatch, **overrides) -> Account:
    monkeypatch.setenv(PASSWORD_ENV, password)
    options = {"host": server.host, "port": server.tls_port, "user": user, "security": "ssl",
               "ca_file": str(server.ca_file), "password_env": PASSWORD_ENV, "batch_size": 4}
    options.update(overrides)
    return account_from_options(f"{user}@test", options)


def run_harvest(db: Path, account: Account, **kwargs):
    with Store.open(db) as store:
        run_id = store.begin_run("harvest")
        result = harvest(store, run_id, account, harvester=Harvester(account, backoff=0.01), **kwargs)
        store.finish_run(run_id, "ok")
        ids = sorted(r[0] for r in store.run("SELECT message_id FROM messages"))
    return result, ids


def all_flags(server, user, password) -> dict:
    client = server.client(user, password)
    try:
        out = {}
        for flags, _, name in client.list_folders():
            if b"\\Noselect" in flags:
                continue
            client.select_folder(name, readonly=True)
            uids = client.search("ALL")
            out[name] = {uid: tuple(sorted(d[b"FLAGS"])) for uid, d in (client.fetch(uids, ["FLAGS"]) if uids else {}).items()}
        return out
    finally:
        client.logout()


# -- pure parts ------------------------------------------------------------------------------------------------

def folders(*spec):
    return [Folder(name, frozenset(flags)) for name, *flags in spec]


def test_plan_prefers_special_use_sent_and_inbox_and_never_junk():
    plan = plan_folders(folders(("INBOX",), ("Sent", "\\sent"), ("Junk", "\\junk"), ("Trash", "\\trash"),
                                ("Projects",), ("Drafts", "\\drafts")))
    assert plan.chosen == ["INBOX", "Sent"] and not plan.gmail_all
    assert plan.reasons["Junk"].startswith("never")


def test_plan_falls_back_to_usual_sent_names():
    assert plan_folders(folders(("INBOX",), ("INBOX.Sent Items",), ("Archive",))).chosen == ["INBOX", "INBOX.Sent Items"]
    assert plan_folders(folders(("INBOX",), ("[Gmail]/Sent Mail",))).chosen == ["INBOX", "[Gmail]/Sent Mail"]


def test_plan_takes_the_all_folder_alone():
    plan = plan_folders(folders(("INBOX",), ("[Gmail]/All Mail", "\\all"), ("[Gmail]/Sent Mail", "\\sent")))
    assert plan.chosen == ["[Gmail]/All Mail"] and plan.gmail_all


def test_plan_of_named_folders_is_exact_and_a_missing_one_is_an_error():
    assert plan_folders(folders(("INBOX",), ("Junk", "\\junk")), ["Junk"]).chosen == ["Junk"]
    with pytest.raises(UsageError, match="'Nope' does not exist"):
        plan_folders(folders(("INBOX",)), ["Nope"])


def test_plain_is_refused_off_loopback_and_secrets_stay_out_of_the_config():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and not is_loopback("10.1.1.1")
    with pytest.raises(UsageError, match="unencrypted"):
        account_from_options("a", {"host": "mail.example.org", "user": "u", "security": "plain"})
    with pytest.raises(UsageError, match="does not belong in the config"):
        account_from_options("a", {"host": "h", "user": "u", "password": "hunter2"})


def test_a_failing_password_command_does_not_repeat_its_output():
    secret = Secret(command=f"{sys.executable} -c \"import sys; print('hunter2'); sys.exit(3)\"")
    with pytest.raises(UsageError) as err:
        secret.read("password")
    assert "hunter2" not in str(err.value) and "exit 3" in str(err.value)
    assert Secret(command="echo s3cret").read("password") == "s3cret"


def test_text_parts_and_partial_assembly():
    from imapclient.response_types import BodyData

    structure = BodyData.create(((( b"text", b"plain", (b"charset", b"utf-8"), None, None, b"7bit", 10, 1),
                                   (b"text", b"html", (b"charset", b"utf-8"), None, None, b"7bit", 20, 1), b"alternative"),
                                  (b"application", b"pdf", (b"name", b"a.pdf"), None, None, b"base64", 9000000),
                                  b"mixed"))
    assert _text_parts(structure) == ["1.1", "1.2"]
    raw = _assemble_partial(b"From: a@x.org\r\nSubject: big\r\nMessage-ID: <b@x.org>\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n",
                            [(b"Content-Type: text/plain; charset=utf-8\r\n\r\n", b"Hello there")])
    rec = parse_raw(raw)
    assert rec["message_id"] == "<b@x.org>" and rec["body_text"] == "Hello there"
    assert rec["headers"]["x-auditor-partial"] == "attachments not fetched" and "partial_fetch" in rec["flags"]


# -- against a real Dovecot ------------------------------------------------------------------------------------

def test_first_and_incremental_harvest_fetch_each_message_once(dovecot, imap_user, tmp_path, monkeypatch):
    user, password = imap_user
    for i in range(6):
        dovecot.append(user, password, "INBOX", mail(i))
    dovecot.append(user, password, "Sent", mail(100, "Sent"))
    dovecot.append(user, password, "Junk", mail(200, "Junk"))
    account = account_for(dovecot, user, password, monkeypatch)
    first, ids = run_harvest(tmp_path / "h.duckdb", account)
    assert first.folders == ["INBOX", "Sent"]
    assert (first.counts.read, first.counts.new) == (7, 7)
    assert "<Junk-200@example.org>" not in ids
    dovecot.append(user, password, "INBOX", mail(6))
    second, ids = run_harvest(tmp_path / "h.duckdb", account)
    assert (second.counts.read, second.counts.new) == (1, 1)          # only the new UID is fetched
    assert len(ids) == 8
    third, _ = run_harvest(tmp_path / "h.duckdb", account)
    assert third.counts.read == 0


def test_harvest_changes_no_flag(dovecot, imap_user, tmp_path, monkeypatch):
    user, password = imap_user
    dovecot.append(user, password, "INBOX", mail(1))                     # unseen
    dovecot.append(user, password, "INBOX", mail(2), flags=[b"\\Seen", b"\\Flagged"])
    dovecot.append(user, password, "Sent", mail(3, "Sent"), flags=[b"\\Seen"])
    dovecot.append(user, password, "INBOX", mail(4, size=1_500_000))     # fetched in parts
    before = all_flags(dovecot, user, password)
    run_harvest(tmp_path / "h.duckdb", account_for(dovecot, user, password, monkeypatch))
    assert all_flags(dovecot, user, password) == before


def test_a_changed_uidvalidity_rescans_without_duplicates(dovecot, imap_user, tmp_path, monkeypatch):
    user, password = imap_user
    for i in range(5):
        dovecot.append(user, password, "INBOX", mail(i))
    account = account_for(dovecot, user, password, monkeypatch)
    run_harvest(tmp_path / "h.duckdb", account)
    dovecot.reset_uidvalidity(user, password, "INBOX")
    result, ids = run_harvest(tmp_path / "h.duckdb", account)
    assert result.rescanned == ["INBOX"]
    assert (result.counts.new, result.counts.duplicate) == (0, 5) and len(ids) == 5


def test_the_same_message_in_two_folders_is_one_message_with_two_locations(dovecot, imap_user, tmp_path, monkeypatch):
    user, password = imap_user
    dovecot.append(user, password, "INBOX", mail(1))
    dovecot.append(user, password, "Sent", mail(1))
    run_harvest(tmp_path / "h.duckdb", account_for(dovecot, user, password, monkeypatch))
    with Store.open(tmp_path / "h.duckdb") as store:
        assert store.scalar("SELECT count(*) FROM messages") == 1
        assert sorted(r[0] for r in store.run("SELECT folder FROM locations")) == ["INBOX", "Sent"]


def test_an_all_folder_is_harvested_alone(dovecot_gmail, tmp_path, monkeypatch):
    user, password = dovecot_gmail.add_user()
    dovecot_gmail.append(user, password, "All Mail", mail(1))
    dovecot_gmail.append(user, password, "All Mail", mail(2))
    dovecot_gmail.append(user, password, "INBOX", mail(1))
    result, ids = run_harvest(tmp_path / "h.duckdb", account_for(dovecot_gmail, user, password, monkeypatch))
    assert result.folders == ["All Mail"] and result.counts.read == 2 and len(ids) == 2


def test_a_large_message_is_fetched_as_its_header_and_text_parts(dovecot, imap_user, tmp_path, monkeypatch):
    import email.mime.application
    import email.mime.multipart
    import email.mime.text

    user, password = imap_user
    msg = email.mime.multipart.MIMEMultipart()
    msg["From"], msg["To"], msg["Subject"] = "Big <big@example.org>", "me@team.example", "the report"
    msg["Message-ID"], msg["Date"] = "<big-1@example.org>", "Tue, 3 Mar 2026 10:00:00 +0000"
    msg.attach(email.mime.text.MIMEText("Here is the annual report you asked for.", "plain", "utf-8"))
    msg.attach(email.mime.application.MIMEApplication(os.urandom(2_000_000), Name="report.pdf"))
    dovecot.append(user, password, "INBOX", msg.as_bytes())
    result, ids = run_harvest(tmp_path / "h.duckdb", account_for(dovecot, user, password, monkeypatch, size_limit=100_000))
    assert result.partial == 1 and ids == ["<big-1@example.org>"]
    with Store.open(tmp_path / "h.duckdb") as store:
        body, size = store.run("SELECT body_text, size FROM messages")[0]
    assert body == "Here is the annual report you asked for." and size < 20_000


def test_a_connection_cut_mid_fetch_reconnects_and_loses_nothing(dovecot, imap_user, tmp_path, monkeypatch):
    from tcp_proxy import CuttingProxy

    user, password = imap_user
    for i in range(12):
        dovecot.append(user, password, "INBOX", mail(i, size=20_000))
    with CuttingProxy(dovecot.host, dovecot.tls_port, cut_after=60_000) as proxy:
        account = account_for(dovecot, user, password, monkeypatch, port=proxy.port)
        result, ids = run_harvest(tmp_path / "h.duckdb", account)
    assert proxy.cuts == 1 and result.reconnects >= 1
    assert result.counts.new == 12 and len(ids) == 12


def test_sigkill_after_a_batch_then_resume_ends_with_exactly_the_servers_messages(dovecot, imap_user, tmp_path):
    user, password = imap_user
    for i in range(10):
        dovecot.append(user, password, "INBOX", mail(i))
    db = tmp_path / "h.duckdb"
    args = [sys.executable, "-m", "auditor", "harvest", "--db", str(db), "--host", dovecot.host,
            "--port", str(dovecot.tls_port), "--user", user, "--ca-file", str(dovecot.ca_file),
            "--password-env", PASSWORD_ENV, "--batch-size", "3"]
    env = dict(os.environ, PYTHONPATH=str(ROOT), AUDITOR_FAULT="harvest.after_batch:2", **{PASSWORD_ENV: password})
    killed = subprocess.run(args, env=env, capture_output=True, text=True)
    assert killed.returncode == -9
    with Store.open(db) as store:
        assert store.scalar("SELECT count(*) FROM messages") == 6      # two whole batches of three
    env.pop("AUDITOR_FAULT")
    resumed = subprocess.run(args, env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert "read 4: 4 new" in resumed.stdout
    with Store.open(db) as store:
        assert store.scalar("SELECT count(*) FROM messages") == 10
        assert store.scalar("SELECT count(DISTINCT message_id) FROM messages") == 10


def test_tls_is_verified_and_a_ca_file_makes_it_pass(dovecot, imap_user, tmp_path, monkeypatch):
    user, password = imap_user
    untrusted = account_for(dovecot, user, password, monkeypatch, ca_file=None)
    with pytest.raises(ConnectionFailed, match="not trusted.*--ca-file"):
        Harvester(untrusted).open()
    starttls = account_for(dovecot, user, password, monkeypatch, port=dovecot.plain_port, security="starttls")
    with Harvester(starttls) as h:
        assert "INBOX" in [f.name for f in h.folders()]


def test_a_wrong_password_is_one_sentence_without_the_password(dovecot, imap_user, tmp_path, monkeypatch):
    user, _ = imap_user
    account = account_for(dovecot, user, "not-the-password-xyz", monkeypatch)
    with pytest.raises(ConnectionFailed) as err:
        Harvester(account).open()
    assert str(err.value) == (f"login as {user} at {dovecot.host}:{dovecot.tls_port} was refused: check the user name "
                              f"and password (or token).")
    assert err.value.exit_code == 3


# -- the client seam and hand-made servers ------------------------------------------------------------------------

class LabelClient:
    """A stand-in for a Gmail IMAPClient at the seam: an \\All folder whose FETCH answers with X-GM-LABELS."""

    def __init__(self, messages):
        self.messages = messages            # uid -> (raw, labels)
        self.selected_readonly = []

    def has_capability(self, name):
        return name in ("X-GM-EXT-1", "IMAP4REV1")

    def list_folders(self):
        return [((b"\\HasNoChildren",), b"/", "INBOX"), ((b"\\All", b"\\HasNoChildren"), b"/", "[Gmail]/All Mail"),
                ((b"\\Sent",), b"/", "[Gmail]/Sent Mail")]

    def select_folder(self, name, readonly=False):
        self.selected_readonly.append(readonly)
        return {b"UIDVALIDITY": 7, b"EXISTS": len(self.messages)}

    def search(self, criteria):
        return [] if "LARGER" in criteria else list(self.messages)

    def fetch(self, uids, items):
        out = {}
        for uid in uids:
            raw, labels = self.messages[uid]
            data = {}
            if "RFC822.SIZE" in items:
                data[b"RFC822.SIZE"] = len(raw)
            if "X-GM-LABELS" in items:
                data[b"X-GM-LABELS"] = labels
            if "BODY.PEEK[]" in items:
                data[b"BODY[]"] = raw
            out[uid] = data
        return out

    def logout(self):
        pass


def test_gmail_labels_are_recorded_and_sent_labels_identify_the_user(tmp_path):
    from auditor.config import Identity
    from auditor.tag import infer_identity

    sent = (b"From: Maya <maya@team.example>\r\nTo: x@example.org\r\nSubject: hi\r\nMessage-ID: <s1@team.example>\r\n"
            b"Date: Tue, 3 Mar 2026 10:00:00 +0000\r\n\r\nWould you join us?\r\n")
    client = LabelClient({1: (mail(1), (b"\\Inbox", b"Donors")), 2: (sent, (b"\\Sent",))})
    account = Account("gmail", "imap.gmail.com", "maya@team.example")
    with Store.open(tmp_path / "g.duckdb") as store:
        result = harvest(store, store.begin_run("harvest"), account, harvester=Harvester(account, connect_fn=lambda a: client))
        labels = dict(store.run("SELECT location, labels FROM locations ORDER BY location"))
        assert result.folders == ["[Gmail]/All Mail"]
        assert labels == {"7:1": ["\\Inbox", "Donors"], "7:2": ["\\Sent"]}
        assert infer_identity(store) == Identity.parse(["maya@team.example"])
    assert client.selected_readonly and all(client.selected_readonly)


class SilentOrOddServer:
    """A loopback socket server that either never greets (a hung server) or greets without IMAP4rev1."""

    def __init__(self, greeting: bytes | None):
        import socket
        import threading

        self.greeting = greeting
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            while True:
                conn, _ = self.sock.accept()
                self.conns.append(conn)
                if self.greeting is None:
                    continue
                conn.sendall(self.greeting)
                data = b""
                while b"\r\n" not in data:
                    chunk = conn.recv(1024)
                    if not chunk:
                        break
                    data += chunk
                tag = data.split(b" ", 1)[0]
                conn.sendall(b"* CAPABILITY POP3ISH AUTH=PLAIN\r\n" + tag + b" OK done\r\n")
        except OSError:
            return

    def close(self):
        for c in self.conns:
            c.close()
        self.sock.close()


@pytest.mark.parametrize("greeting, message", [
    (None, "did not answer within 1 s"),
    (b"* OK [CAPABILITY POP3ISH AUTH=PLAIN] ready\r\n", "is not an IMAP4rev1 server"),
])
def test_a_hung_server_and_a_server_without_imap4rev1_are_one_sentence(greeting, message):
    server = SilentOrOddServer(greeting)
    try:
        account = Account("odd", "127.0.0.1", "u", port=server.port, security="plain", timeout=1.0,
                          password=Secret(command="echo pw"))
        with pytest.raises(ConnectionFailed, match=message) as err:
            Harvester(account).open()
        assert err.value.exit_code == 3
    finally:
        server.close()


def test_audit_harvests_every_configured_account(dovecot, imap_user, tmp_path, monkeypatch):
    from auditor.cli import main

    user, password = imap_user
    dovecot.append(user, password, "INBOX", mail(1))
    dovecot.append(user, password, "Sent", mail(2, "Sent"))
    (tmp_path / "auditor.toml").write_text(
        f'[accounts.main]\nhost = "{dovecot.host}"\nport = {dovecot.tls_port}\nuser = "{user}"\n'
        f'ca_file = "{dovecot.ca_file}"\npassword_env = "{PASSWORD_ENV}"\n')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(PASSWORD_ENV, password)
    rc = main(["audit", "--db", str(tmp_path / "a.duckdb"), "--me", "@team.example", "-o", str(tmp_path / "r.html")])
    assert rc == 0
    with Store.open(tmp_path / "a.duckdb") as store:
        assert store.scalar("SELECT count(*) FROM messages") == 2
        assert store.run("SELECT sources FROM runs")[0][0] == ["imap:main"]


def test_an_oauth2_token_command_runs_again_on_every_reconnect(tmp_path):
    """XOAUTH2 tokens live an hour: the command is run at each connection, never cached."""
    counter = tmp_path / "n"
    counter.write_text("0")
    command = (f"{sys.executable} -c \"import pathlib; p = pathlib.Path(r'{counter}'); n = int(p.read_text()) + 1; "
               f"p.write_text(str(n)); print('token-' + str(n))\"")
    account = account_from_options("g", {"host": "imap.example.org", "user": "u", "oauth2_token_command": command})
    tokens = []

    searches = []

    class TokenClient(LabelClient):
        def __init__(self):
            super().__init__({1: (mail(1), ())})

        def search(self, criteria):
            searches.append(criteria)
            if len(searches) == 1:               # the first SEARCH finds the connection dropped
                raise ConnectionResetError("peer went away")
            return super().search(criteria)

    def connect_fn(acct):
        tokens.append(acct.oauth2_token.read("OAuth2 token"))   # what connect() does before oauth2_login
        return TokenClient()

    with Store.open(tmp_path / "o.duckdb") as store:
        harvest(store, store.begin_run("h"), account, harvester=Harvester(account, connect_fn=connect_fn, backoff=0.0))
    assert tokens == ["token-1", "token-2"]
