"""A throwaway Dovecot 2.3 IMAP server on 127.0.0.1 for tests (real server, no mocks).

`start_dovecot(base)` writes its own config, certificate, passwd-files and mail homes under `base`, starts
`dovecot -F -c <base>/dovecot.conf` and waits until it greets on both ports. Users are added while it runs
(one passwd-file per user, read by Dovecot on that user's first login). See /work/shared/MEASURED.md for the traps.
"""
from __future__ import annotations

import atexit
import grp
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from datetime import datetime
from pathlib import Path

import imapclient
from imapclient.imap_utf7 import encode as _utf7_encode

MAIL_USER = "auditortest"  # unprivileged system user owning the mail homes (Dovecot refuses to serve mail as root)
STARTUP_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0

SPECIAL_FOLDERS = {"Sent": r"\Sent", "Drafts": r"\Drafts", "Junk": r"\Junk", "Trash": r"\Trash"}
GMAIL_EXTRA_FOLDERS = {"All Mail": r"\All"}

# Dovecot's per-folder state for Maildir: deleting it makes Dovecot rebuild the folder from the message files
# (flags survive: they are in the file names; keywords live in dovecot-keywords, which is kept).
_FOLDER_STATE_FILES = ("dovecot-uidlist", "dovecot.index", "dovecot.index.log", "dovecot.index.log.2",
                       "dovecot.index.cache")
_LIST_INDEX_FILES = ("dovecot.list.index", "dovecot.list.index.log", "dovecot.list.index.log.2")


class DovecotError(RuntimeError):
    pass


def find_dovecot() -> str | None:
    if os.access("/usr/sbin/dovecot", os.X_OK):
        return "/usr/sbin/dovecot"
    return shutil.which("dovecot")


def find_doveadm() -> str | None:
    if os.access("/usr/bin/doveadm", os.X_OK):
        return "/usr/bin/doveadm"
    return shutil.which("doveadm")


def find_openssl() -> str | None:
    return shutil.which("openssl")


def ensure_mail_user(name: str = MAIL_USER) -> tuple[int, int]:
    """(uid, gid) of the unprivileged mail user, creating it as a system user (no home, no shell) if missing."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        if os.geteuid() != 0:
            raise DovecotError(f"system user {name!r} is missing and only root can create it") from None
        proc = subprocess.run(
            ["useradd", "--system", "--no-create-home", "--user-group", "--home-dir", "/nonexistent",
             "--shell", "/usr/sbin/nologin", name],
            stdin=subprocess.DEVNULL, capture_output=True, text=True,
        )
        try:  # exit status 9: created meanwhile by a parallel run; fine
            entry = pwd.getpwnam(name)
        except KeyError:
            raise DovecotError(f"useradd {name} failed ({proc.returncode}): {proc.stderr.strip()}") from None
    return entry.pw_uid, entry.pw_gid


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _check_traversable(path: Path) -> None:
    """Dovecot's auth/login/imap processes run as other users: every directory on the way must be o+x."""
    for p in [path, *path.parents]:
        mode = p.stat().st_mode
        if not mode & 0o001:
            raise DovecotError(
                f"{p} is not traversable by other users (mode {oct(mode & 0o777)}); Dovecot's unprivileged "
                f"processes could not reach {path}. Use a folder like tempfile.mkdtemp() chmod-ed to 0755."
            )


def make_certificate(folder: Path, openssl: str) -> tuple[Path, Path]:
    """A self-signed certificate for IP 127.0.0.1 (usable as its own CA, strict-X509 friendly) and its key."""
    cnf = folder / "openssl.cnf"
    cnf.write_text(
        "[req]\nprompt = no\ndistinguished_name = dn\nx509_extensions = v3\n"
        "[dn]\nCN = 127.0.0.1\nO = outreach-auditor tests\n"
        "[v3]\nbasicConstraints = critical, CA:TRUE\nkeyUsage = critical, digitalSignature, keyCertSign\n"
        "extendedKeyUsage = serverAuth\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid:always\n"
        "subjectAltName = IP:127.0.0.1\n"
    )
    cert, key = folder / "cert.pem", folder / "key.pem"
    proc = subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "7", "-config", str(cnf), "-keyout", str(key), "-out", str(cert)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30, umask=0o077,
    )
    if proc.returncode != 0 or not cert.exists():
        raise DovecotError(f"openssl req failed ({proc.returncode}): {proc.stderr.strip()}")
    os.chmod(key, 0o600)  # read by Dovecot's config process, which runs as root
    os.chmod(cert, 0o644)
    return cert, key


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_config(*, base: Path, plain_port: int, tls_port: int, uid: int, gid: int, cert: Path, key: Path,
                  gmail_like: bool) -> str:
    folders = dict(SPECIAL_FOLDERS)
    if gmail_like:
        folders.update(GMAIL_EXTRA_FOLDERS)
    mailboxes = "\n".join(
        f"  mailbox {_quote(name)} {{\n    special_use = {use}\n    auto = subscribe\n  }}"
        for name, use in folders.items()
    )
    dh = Path("/usr/share/dovecot/dh.pem")
    dh_line = f"ssl_dh = <{dh}" if dh.exists() else "# no ssl_dh file: only ECDHE ciphers"
    return f"""\
# Generated by tests/imap_server.py; Dovecot 2.3 syntax. A throwaway server: nothing here touches /etc/dovecot.
instance_name = auditor-test-{base.name}
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
info_log_path = {base}/dovecot.log
debug_log_path = {base}/dovecot.log
log_timestamp = "%Y-%m-%d %H:%M:%S "

protocols = imap
listen = 127.0.0.1

ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
{dh_line}
ssl_min_protocol = TLSv1.2
ssl_prefer_server_ciphers = yes
# Plaintext LOGIN/PLAIN only after TLS, except from 127.0.0.1 to 127.0.0.1, which Dovecot counts as secured.
disable_plaintext_auth = yes
auth_mechanisms = plain login
auth_verbose = yes
auth_cache_size = 0
# Failed logins are slowed by auth_failure_delay (2 s) and by anvil's per-IP auth penalty (2, 4, 8, 15 s, for
# ~30 s; login_trusted_networks does not lift it in 2.3). Every test connects from 127.0.0.1, so one wrong-password
# test would slow every later login: no delay, and the penalty socket made unusable (mode 0) so auth disables it.
auth_failure_delay = 0
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}

passdb {{
  driver = passwd-file
  # one file per user: a new path is read at once, while a changed single file is re-checked at most once a second
  args = scheme=PLAIN username_format=%u {base}/users/%u
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={base}/home/%u
}}
first_valid_uid = {uid}
last_valid_uid = {uid}
first_valid_gid = {gid}
last_valid_gid = {gid}

mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
{mailboxes}
}}

protocol imap {{
  mail_max_userip_connections = 100
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {plain_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
    ssl = yes
  }}
}}
"""


class DovecotServer:
    host = "127.0.0.1"

    def __init__(self, *, base: Path, plain_port: int, tls_port: int, ca_file: Path, uid: int, gid: int,
                 gmail_like: bool, proc: subprocess.Popen):
        self.base = base
        self.plain_port = plain_port
        self.tls_port = tls_port
        self.ca_file = ca_file
        self.gmail_like = gmail_like
        self.log_path = base / "dovecot.log"
        self.stderr_path = base / "dovecot.stderr"
        self.passwd_dir = base / "users"  # one passwd-file per user
        self._auth_gid = grp.getgrnam("dovecot").gr_gid  # the auth process runs as user dovecot
        self.uid, self.gid = uid, gid
        self._proc = proc
        self._lock = threading.Lock()
        self._users: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"<DovecotServer {self.host} plain={self.plain_port} tls={self.tls_port} base={self.base}>"

    # -- diagnostics ------------------------------------------------------------------------------------------
    def log_tail(self, lines: int = 40) -> str:
        out = []
        for path in (self.stderr_path, self.log_path):
            if path.exists():
                text = path.read_text(errors="replace").splitlines()[-lines:]
                if text:
                    out.append(f"--- {path} (last {len(text)} lines) ---\n" + "\n".join(text))
        return "\n".join(out) or "(Dovecot wrote no log)"

    # -- users --------------------------------------------------------------------------------------------------
    def add_user(self, name: str | None = None, password: str | None = None) -> tuple[str, str]:
        """A fresh user with an empty mailbox (the special folders appear at first login)."""
        name = name or "u" + secrets.token_hex(5)
        password = password or secrets.token_urlsafe(12)
        if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,63}", name):  # Dovecot lower-cases logins; keep paths plain
            raise ValueError(f"user name {name!r}: use lower-case letters, digits, '.', '_', '-'")
        if any(c in password for c in ":\n\r\0"):
            raise ValueError("password may not contain ':' or line breaks (passwd-file format)")
        with self._lock:
            if name in self._users:
                raise ValueError(f"user {name!r} already exists")
            home = self.base / "home" / name
            home.mkdir()
            os.chmod(home, 0o700)
            os.chown(home, self.uid, self.gid)
            # Its own passwd-file (users/<name>): Dovecot opens a path it has not seen on the first lookup. Appending to
            # one shared file is not enough: the auth process stats it at most once per second.
            entry = self.passwd_dir / name
            tmp = self.passwd_dir / f".{name}.tmp"
            tmp.write_text(f"{name}:{{PLAIN}}{password}::::::\n")
            os.chmod(tmp, 0o640)
            os.chown(tmp, 0, self._auth_gid)
            tmp.rename(entry)
            self._users[name] = password
        return name, password

    def maildir(self, user: str) -> Path:
        return self.base / "home" / user / "Maildir"

    # -- clients -------------------------------------------------------------------------------------------------
    def ssl_context(self) -> ssl.SSLContext:
        """A client context that trusts exactly this server's self-signed certificate."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def client(self, user: str, password: str, *, tls: bool = False, timeout: float = 15) -> imapclient.IMAPClient:
        """A logged-in client: IMAPS on tls_port when tls=True, else plaintext login on plain_port (allowed from
        loopback). Caller logs out (or use it as a context manager)."""
        if tls:
            c = imapclient.IMAPClient(self.host, port=self.tls_port, ssl=True, ssl_context=self.ssl_context(),
                                      timeout=timeout)
        else:
            c = imapclient.IMAPClient(self.host, port=self.plain_port, ssl=False, timeout=timeout)
        try:
            c.login(user, password)
        except BaseException:
            c.shutdown()
            raise
        return c

    def append(self, user: str, password: str, folder: str, raw: bytes, flags=(), when: datetime | None = None) -> int:
        """APPEND one message; returns its UID (from UIDPLUS APPENDUID)."""
        with self.client(user, password) as c:  # the context manager logs out
            resp = c.append(folder, raw, flags=tuple(flags), msg_time=when)
        text = resp.decode(errors="replace") if isinstance(resp, bytes) else str(resp)
        m = re.search(r"APPENDUID (\d+) (\d+)", text)
        if not m:
            raise DovecotError(f"APPEND to {folder!r} gave no APPENDUID: {text!r}")
        return int(m.group(2))

    def folder_state(self, user: str, password: str, folder: str) -> tuple[int, int]:
        """(UIDVALIDITY, message count) as SELECT reports them on a fresh connection."""
        with self.client(user, password) as c:
            info = c.select_folder(folder, readonly=True)
        return int(info[b"UIDVALIDITY"]), int(info[b"EXISTS"])

    def folder_path(self, user: str, folder: str) -> Path:
        root = self.maildir(user)
        if folder.upper() == "INBOX":
            return root
        # Maildir++ layout: one dot-folder per mailbox, hierarchy separator '.', names in modified UTF-7.
        return root / ("." + _utf7_encode(folder).decode("ascii"))

    def _doveadm(self, *args: str) -> str:
        doveadm = find_doveadm()
        if not doveadm:
            raise DovecotError("doveadm is missing (it comes with dovecot-core)")
        proc = subprocess.run([doveadm, "-c", str(self.base / "dovecot.conf"), *args], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=30)
        if proc.returncode != 0:
            raise DovecotError(f"doveadm {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc.stdout

    def session_pids(self, user: str) -> set[int]:
        """Pids of the imap processes serving `user` now (doveadm who)."""
        pids: set[int] = set()
        for line in self._doveadm("who", user).splitlines()[1:]:
            fields = line.split()
            if fields and fields[0] == user:
                m = re.search(r"\(([\d ]+)\)", line)
                if m:
                    pids.update(int(x) for x in m.group(1).split())
        return pids

    def kick(self, user: str, timeout: float = 5.0) -> int:
        """Disconnect every IMAP session of `user` (doveadm kick: the clients see EOF, as after a server restart) and
        wait until their processes are gone. Returns how many processes there were."""
        pids = self.session_pids(user)
        if not pids:
            return 0
        self._doveadm("kick", user)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            alive = set()
            for pid in pids:
                try:
                    os.kill(pid, 0)
                    alive.add(pid)
                except ProcessLookupError:
                    pass
            if not alive:
                return len(pids)
            time.sleep(0.02)
        raise DovecotError(f"sessions of {user} still running {timeout} s after doveadm kick: {sorted(alive)}")

    def reset_uidvalidity(self, user: str, password: str, folder: str) -> None:
        """Make `folder`'s UIDVALIDITY change while keeping its messages (and their flags), as a server that lost or
        rebuilt its index would. The server keeps running; the user's open sessions are kicked first (a session
        holding the old index open would otherwise answer with [SERVERBUG] errors), then Dovecot's uidlist/index
        files for the folder (and the user's mailbox list index) are deleted, so the next access rebuilds them with
        a new UIDVALIDITY and UIDs 1..n. Verified: raises DovecotError if the UIDVALIDITY or message count is off."""
        old_validity, old_count = self.folder_state(user, password, folder)
        path = self.folder_path(user, folder)
        if not (path / "cur").is_dir():
            raise DovecotError(f"no Maildir folder at {path} for {folder!r}")
        for _attempt in range(3):
            self.kick(user)
            for name in _FOLDER_STATE_FILES:
                (path / name).unlink(missing_ok=True)
            for name in _LIST_INDEX_FILES:
                (self.maildir(user) / name).unlink(missing_ok=True)
            validity, count = self.folder_state(user, password, folder)
            if validity != old_validity:
                break
            time.sleep(1.1)  # UIDVALIDITY is time based; only reached if the rebuild picked the same value
        else:
            raise DovecotError(f"UIDVALIDITY of {user}/{folder} stayed {old_validity}\n{self.log_tail()}")
        if count != old_count:
            raise DovecotError(f"{user}/{folder} had {old_count} messages, {count} after the UIDVALIDITY reset")

    # -- lifecycle -------------------------------------------------------------------------------------------------
    def master_pid(self) -> int | None:
        try:
            return int((self.base / "run" / "master.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def running(self) -> bool:
        return self._proc.poll() is None

    def stop(self) -> None:
        """SIGTERM the master and wait for it (it stops its children; about a second), SIGKILL its process group if
        it hangs. With `dovecot -F` the master is our own child, the pid in base_dir/master.pid."""
        if self._proc.poll() is not None:
            return
        try:
            os.kill(self._proc.pid, signal.SIGTERM)
            self._proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self._proc.pid, signal.SIGKILL)  # its own session: only Dovecot's processes
            except ProcessLookupError:
                pass
            self._proc.wait(timeout=STOP_TIMEOUT)
        except ProcessLookupError:
            self._proc.wait(timeout=STOP_TIMEOUT)


def _wait_until_up(proc: subprocess.Popen, ports: list[int], deadline: float) -> str | None:
    """None when every port greets with '* OK' (plain) or completes a TCP connect (TLS); else why not."""
    pending = list(ports)
    why = "not started"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return f"dovecot exited with status {proc.returncode}"
        port = pending[0]
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if port == ports[0]:
                    s.settimeout(2)
                    greeting = s.recv(200)
                    if not greeting.startswith(b"* OK"):
                        why = f"port {port} greeted with {greeting!r}"
                        time.sleep(0.1)
                        continue
            pending.pop(0)
            if not pending:
                return None
        except OSError as exc:
            why = f"port {port}: {exc}"
            time.sleep(0.05)
    return f"not up after {STARTUP_TIMEOUT:.0f} s ({why})"


def start_dovecot(base: Path, *, gmail_like: bool = False) -> DovecotServer:
    """Start a Dovecot on 127.0.0.1 with everything under `base` (created, must be reachable by other users)."""
    dovecot, openssl = find_dovecot(), find_openssl()
    if not dovecot:
        raise DovecotError("dovecot is not installed (apt-get install dovecot-imapd)")
    if not openssl:
        raise DovecotError("openssl is not installed (apt-get install openssl)")
    if os.geteuid() != 0:
        raise DovecotError("the test Dovecot must be started as root (it drops to its own users)")
    uid, gid = ensure_mail_user()
    for needed in ("dovecot", "dovenull"):  # default_internal_user / default_login_user, made by the package
        pwd.getpwnam(needed)

    # Every mode below is set explicitly: the process umask may be 077 (auditor.store.Store.open sets it for good),
    # and Dovecot's auth, login and imap processes run as other users.
    base = Path(base).resolve()
    base.mkdir(parents=True, exist_ok=True)
    os.chmod(base, 0o755)
    _check_traversable(base)
    for sub in ("home", "state", "users"):  # users/: passwd-files, one per user, added while it runs
        (base / sub).mkdir(exist_ok=True)
        os.chmod(base / sub, 0o755)
    cert, key = make_certificate(base, openssl)

    last_error = ""
    for _attempt in range(3):  # a free port found by bind(0) can be taken before Dovecot binds it: retry
        plain_port, tls_port = free_port(), free_port()
        while tls_port == plain_port:
            tls_port = free_port()
        conf = base / "dovecot.conf"
        conf.write_text(render_config(base=base, plain_port=plain_port, tls_port=tls_port, uid=uid, gid=gid,
                                      cert=cert, key=key, gmail_like=gmail_like))
        os.chmod(conf, 0o644)
        log = base / "dovecot.log"
        log.unlink(missing_ok=True)
        with open(base / "dovecot.stderr", "wb") as err:
            # -F: stay in the foreground as our child, so we can wait for it; its own session, so a hard kill can
            # take its process group; stdio not inherited from pytest (a daemon holding a pipe hangs the caller).
            # umask 022: Dovecot creates base_dir, its sockets and the mail folders under the umask it inherits.
            proc = subprocess.Popen([dovecot, "-F", "-c", str(conf)], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=err, start_new_session=True, close_fds=True,
                                    umask=0o022)
        server = DovecotServer(base=base, plain_port=plain_port, tls_port=tls_port, ca_file=cert, uid=uid, gid=gid,
                               gmail_like=gmail_like, proc=proc)
        problem = _wait_until_up(proc, [plain_port, tls_port], time.monotonic() + STARTUP_TIMEOUT)
        if problem is None:
            atexit.register(server.stop)  # in case the session is torn down without its finalizers
            return server
        last_error = f"{problem}\n{server.log_tail()}"
        server.stop()
        if "Address already in use" not in last_error:
            break
    raise DovecotError(f"Dovecot did not come up on 127.0.0.1 (config {base / 'dovecot.conf'}): {last_error}")
