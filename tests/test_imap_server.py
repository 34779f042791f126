"""The IMAP test infrastructure itself: the throwaway Dovecot (tests/imap_server.py) and the cutting proxy
(tests/tcp_proxy.py). Everything runs against a real Dovecot on 127.0.0.1; nothing is mocked."""
from __future__ import annotations

import imaplib
import os
import shutil
import ssl
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import imapclient
import pytest
from imapclient.exceptions import LoginError

from imap_server import DovecotError, start_dovecot
from tcp_proxy import CuttingProxy

NEEDED_CAPABILITIES = {b"IMAP4REV1", b"UIDPLUS", b"SPECIAL-USE", b"MOVE", b"CONDSTORE", b"IDLE"}


def message(subject: str, body: str = "Hello.\r\n") -> bytes:
    return (
        f"From: Sam Ortiz <sam@brightpath.org>\r\nTo: Pat <pat@example.org>\r\nSubject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '.')}@test.invalid>\r\nDate: Tue, 03 Mar 2026 10:00:00 +0000\r\n"
        f"\r\n{body}"
    ).encode()


def in_chain(exc: BaseException, kind: type) -> bool:
    while exc is not None:
        if isinstance(exc, kind):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def test_starttls_login_on_plain_port_verifies_certificate(dovecot, imap_user):
    c = imapclient.IMAPClient(dovecot.host, port=dovecot.plain_port, ssl=False, timeout=10)
    try:
        assert b"STARTTLS" in c.capabilities()
        c.starttls(ssl.create_default_context(cafile=str(dovecot.ca_file)))
        assert isinstance(c._imap.sock, ssl.SSLSocket)
        assert c._imap.sock.version() in ("TLSv1.2", "TLSv1.3")
        c.login(*imap_user)
        assert NEEDED_CAPABILITIES <= set(c.capabilities())
        assert c.select_folder("INBOX")[b"EXISTS"] == 0  # a fresh user has an empty mailbox
    finally:
        c.logout()


def test_imaps_login_on_tls_port_verifies_certificate(dovecot, imap_user):
    ctx = ssl.create_default_context(cafile=str(dovecot.ca_file))
    assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
    with imapclient.IMAPClient(dovecot.host, port=dovecot.tls_port, ssl=True, ssl_context=ctx, timeout=10) as c:
        assert isinstance(c._imap.sock, ssl.SSLSocket)
        c.login(*imap_user)
        assert NEEDED_CAPABILITIES <= set(c.capabilities())


def test_plain_port_allows_plaintext_login_from_loopback(dovecot, imap_user):
    # Dovecot counts 127.0.0.1 -> 127.0.0.1 as secured, so disable_plaintext_auth=yes still lets LOGIN through here.
    with dovecot.client(*imap_user) as c:
        assert not isinstance(c._imap.sock, ssl.SSLSocket)
        assert b"UIDPLUS" in c.capabilities()


@pytest.mark.parametrize("how", ["imaps", "starttls"])
def test_client_without_the_ca_fails_verification(dovecot, how):
    untrusting = ssl.create_default_context()  # system CAs only: the self-signed certificate is unknown
    with pytest.raises(Exception) as caught:
        if how == "imaps":
            imapclient.IMAPClient(dovecot.host, port=dovecot.tls_port, ssl=True, ssl_context=untrusting, timeout=10)
        else:
            c = imapclient.IMAPClient(dovecot.host, port=dovecot.plain_port, ssl=False, timeout=10)
            try:
                c.starttls(untrusting)
            finally:
                c.shutdown()
    assert in_chain(caught.value, ssl.SSLCertVerificationError), repr(caught.value)


def test_wrong_password_and_unknown_user_fail_login(dovecot, imap_user):
    user, password = imap_user
    for who, secret in [(user, password + "x"), ("nobody" + user, password)]:
        c = imapclient.IMAPClient(dovecot.host, port=dovecot.tls_port, ssl=True, ssl_context=dovecot.ssl_context(),
                                  timeout=10)
        try:
            with pytest.raises(LoginError) as caught:
                c.login(who, secret)
            # a real rejection, not "[UNAVAILABLE] Temporary authentication failure" (an unreadable passwd-file)
            assert "AUTHENTICATIONFAILED" in str(caught.value)
        finally:
            c.shutdown()
    with dovecot.client(user, password, tls=True) as c:  # the right one still works
        assert c.noop()


def test_special_use_folders_are_listed(dovecot, imap_user):
    with dovecot.client(*imap_user) as c:
        listed = {name: set(flags) for flags, _sep, name in c.list_folders()}
        for name, flag in [("Sent", b"\\Sent"), ("Junk", b"\\Junk"), ("Trash", b"\\Trash"),
                           ("Drafts", b"\\Drafts")]:
            assert flag in listed.get(name, set()), (name, listed)
            assert c.find_special_folder(flag) == name
        assert "INBOX" in listed
        assert not any(b"\\All" in flags for flags in listed.values())  # \All only on the gmail-like server
        assert {"Sent", "Junk", "Trash", "Drafts"} <= {name for _f, _s, name in c.list_sub_folders()}


def test_gmail_like_server_lists_an_all_folder(dovecot_gmail):
    user, password = dovecot_gmail.add_user()
    with dovecot_gmail.client(user, password, tls=True) as c:
        assert c.find_special_folder(b"\\All") == "All Mail"
        assert c.find_special_folder(b"\\Sent") == "Sent"


def test_append_returns_uid_and_keeps_flags_and_date(dovecot, imap_user):
    when = datetime(2026, 3, 3, 10, 0, 0, tzinfo=timezone(timedelta(hours=2)))
    flags = (b"\\Seen", b"\\Answered", b"\\Flagged", b"$Followup")
    first = dovecot.append(*imap_user, "Sent", message("first"), flags=flags, when=when)
    second = dovecot.append(*imap_user, "Sent", message("second"))
    assert first >= 1 and second == first + 1
    with dovecot.client(*imap_user) as c:
        c.select_folder("Sent", readonly=True)
        got = c.fetch([first, second], ["FLAGS", "INTERNALDATE", "BODY.PEEK[]"])
    assert set(flags) <= set(got[first][b"FLAGS"])
    assert not {b"\\Seen", b"\\Flagged"} & set(got[second][b"FLAGS"])
    internal = got[first][b"INTERNALDATE"]
    internal = internal if internal.tzinfo else internal.astimezone()  # imapclient gives local naive datetimes
    assert internal == when
    assert got[first][b"BODY[]"] == message("first")


@pytest.mark.parametrize("folder", ["INBOX", "Sent", "All Mail"])
def test_reset_uidvalidity_changes_it_and_keeps_messages(dovecot, dovecot_gmail, folder):
    server = dovecot_gmail if folder == "All Mail" else dovecot
    user, password = server.add_user()
    for i in range(3):
        server.append(user, password, folder, message(f"msg {i}"), flags=[b"\\Seen"] if i == 1 else [])
    before_validity, before_count = server.folder_state(user, password, folder)
    assert before_count == 3
    server.reset_uidvalidity(user, password, folder)
    with server.client(user, password) as c:
        info = c.select_folder(folder, readonly=True)
        got = c.fetch(c.search("ALL"), ["FLAGS", "BODY.PEEK[HEADER.FIELDS (SUBJECT)]"])
    assert info[b"UIDVALIDITY"] != before_validity
    assert info[b"EXISTS"] == 3
    seen = {v[b"BODY[HEADER.FIELDS (SUBJECT)]"].strip(): b"\\Seen" in v[b"FLAGS"] for v in got.values()}
    assert seen == {b"Subject: msg 0": False, b"Subject: msg 1": True, b"Subject: msg 2": False}
    # and the server keeps working for this folder afterwards
    uid = server.append(user, password, folder, message("after reset"))
    assert uid > max(got)


def test_start_refuses_a_folder_other_users_cannot_enter(dovecot):
    # (uses the dovecot fixture only so that it skips/fails like the others when Dovecot is missing)
    with tempfile.TemporaryDirectory() as private:
        os.chmod(private, 0o700)
        with pytest.raises(DovecotError, match="not traversable"):
            start_dovecot(Path(private) / "server")


def test_works_under_a_private_umask(dovecot):
    # auditor.store.Store.open sets umask 077 for the rest of the process; servers and users made after that must
    # still be reachable by Dovecot's unprivileged processes.
    old = os.umask(0o077)
    base = Path(tempfile.mkdtemp(prefix="auditor-dovecot-umask-"))
    server = None
    try:
        server = start_dovecot(base)
        for srv in (server, dovecot):
            user, password = srv.add_user()
            assert srv.append(user, password, "Sent", message("umask")) >= 1
            with srv.client(user, password, tls=True) as c:
                assert c.select_folder("Sent")[b"EXISTS"] == 1
    finally:
        os.umask(old)
        if server is not None:
            server.stop()
        shutil.rmtree(base, ignore_errors=True)


def test_proxy_cuts_the_first_connection_mid_fetch_and_passes_the_second(dovecot, imap_user):
    big = message("big", "".join(f"line {i:06d} " + "x" * 60 + "\r\n" for i in range(16_000)))  # ~1.1 MB
    uid = dovecot.append(*imap_user, "INBOX", big)
    cut_after = 64 * 1024  # well past greeting + LOGIN + SELECT, well short of the message
    with CuttingProxy(dovecot.host, dovecot.plain_port, cut_after=cut_after) as proxy:
        c = imapclient.IMAPClient(dovecot.host, port=proxy.port, ssl=False, timeout=10)
        c.login(*imap_user)
        c.select_folder("INBOX", readonly=True)
        assert proxy.cuts == 0
        with pytest.raises((imaplib.IMAP4.abort, OSError)):
            c.fetch([uid], ["BODY.PEEK[]"])
        c.shutdown()
        assert proxy.cuts == 1
        assert proxy.bytes_to_client == cut_after

        c = imapclient.IMAPClient(dovecot.host, port=proxy.port, ssl=False, timeout=10)
        c.login(*imap_user)
        c.select_folder("INBOX", readonly=True)
        body = c.fetch([uid], ["BODY.PEEK[]"])[uid][b"BODY[]"]
        c.logout()
        assert body == big
        assert proxy.connections == 2 and proxy.cuts == 1


def test_reset_uidvalidity_disconnects_open_sessions_of_that_user(dovecot):
    user, password = dovecot.add_user()
    other = dovecot.add_user()
    dovecot.append(user, password, "INBOX", message("held"))
    held = dovecot.client(user, password)
    held.select_folder("INBOX")
    bystander = dovecot.client(*other)
    assert dovecot.session_pids(user)
    dovecot.reset_uidvalidity(user, password, "INBOX")
    with pytest.raises((imaplib.IMAP4.abort, OSError)):  # like a server restart: EOF, the client must reconnect
        held.noop()
    held.shutdown()
    assert bystander.noop()  # other users' sessions are untouched
    bystander.logout()
