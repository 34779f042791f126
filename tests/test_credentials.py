"""Credentials: a password and an OAuth2 token, given every way the auditor reads them (an environment variable,
a command, a config account, a terminal prompt), never show up anywhere the auditor writes: the database file,
every file under the working and report folders, the HTML reports, exports, and the stdout and stderr of every
command, including --help, failing runs and --traceback runs.

Every command the CLI lists is run (a new command without a run here fails the test), so the search covers the
whole program. The secrets are made per test session, and also searched for as base64 (how an XOAUTH2 or a
basic-auth string would carry them)."""
from __future__ import annotations

import base64
import os
import pty
import re
import secrets
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import MAILBOX

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = f"Pw{secrets.token_hex(6)}-sesame"
WRONG_PASSWORD = PASSWORD + "-wrong"           # contains PASSWORD: a leak of either is found
TOKEN = f"Tk{secrets.token_hex(6)}-bearer"
PASSWORD_VAR, WRONG_VAR, TOKEN_VAR = "AUDITOR_TEST_PASSWORD", "AUDITOR_TEST_WRONG_PASSWORD", "AUDITOR_TEST_TOKEN"
ASK_ID = "<bp-0303-sam-lena@brightpath.org>"   # an ask in the fixture mailbox


def needles(secret: str) -> list[bytes]:
    """The secret's bytes, and the part of its base64 that any base64 text holding it contains (one for each of
    the three offsets the secret can start at within a base64 group)."""
    raw = secret.encode()
    found = [raw]
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + raw)
        found.append(encoded[4 * -(-offset // 3): 4 * ((offset + len(raw)) // 3)])
    return found


def leaks_in(data: bytes, secrets_: tuple[str, ...] = (PASSWORD, TOKEN)) -> list[str]:
    return [secret for secret in secrets_ if any(n in data for n in needles(secret))]


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]          # nothing listens once it is closed


class Commands:
    """Runs `auditor ...` in a subprocess from one working folder and keeps every output for the search."""

    def __init__(self, work: Path, home: Path):
        self.work, self.outputs = work, []
        self.env = dict(os.environ, PYTHONPATH=str(ROOT), XDG_CONFIG_HOME=str(home), HOME=str(home),
                        **{PASSWORD_VAR: PASSWORD, WRONG_VAR: WRONG_PASSWORD, TOKEN_VAR: TOKEN})
        for name in [k for k in self.env if k.startswith("AUDITOR_") and k not in (PASSWORD_VAR, WRONG_VAR, TOKEN_VAR)]:
            del self.env[name]

    def __call__(self, *args: str, expect: int) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "auditor", *args], cwd=self.work, env=self.env, timeout=300,
                              capture_output=True, stdin=subprocess.DEVNULL)
        self.outputs.append((" ".join(args), done.stdout + done.stderr))
        assert done.returncode == expect, (f"auditor {' '.join(args)}: exit {done.returncode}, expected {expect}\n"
                                           f"{done.stderr.decode(errors='replace')[-3000:]}")
        return done

    def prompted(self, *args: str, answer: str, expect: int) -> bytes:
        """Run on a terminal and type `answer` at the password prompt; returns all the terminal showed."""
        leader, follower = pty.openpty()
        proc = subprocess.Popen([sys.executable, "-m", "auditor", *args], cwd=self.work, env=self.env,
                                stdin=follower, stdout=follower, stderr=follower, close_fds=True)
        os.close(follower)
        shown, answered, deadline = b"", False, time.monotonic() + 120
        try:
            while time.monotonic() < deadline:
                ready, _, _ = select.select([leader], [], [], 0.2)
                if ready:
                    try:
                        chunk = os.read(leader, 4096)
                    except OSError:            # the terminal closed: the program ended
                        break
                    if not chunk:
                        break
                    shown += chunk
                if not answered and b"password for" in shown.lower():
                    os.write(leader, answer.encode() + b"\n")
                    answered = True
                if proc.poll() is not None and not ready:
                    break
        finally:
            os.close(leader)
            returncode = proc.wait(timeout=60)
        self.outputs.append(("(terminal) " + " ".join(args), shown))
        assert answered, f"no password prompt: {shown.decode(errors='replace')}"
        assert returncode == expect, (returncode, shown.decode(errors="replace"))
        return shown

    def assert_no_secret_anywhere(self, *folders: Path) -> None:
        found = [f"output of auditor {label}: {leaks}" for label, text in self.outputs if (leaks := leaks_in(text))]
        files = [p for folder in folders for p in folder.rglob("*") if p.is_file()]
        found += [f"{p}: {leaks}" for p in files if (leaks := leaks_in(p.read_bytes()))]
        assert not found, "a secret was found:\n" + "\n".join(found)
        assert len(self.outputs) > 10 and any(p.name.endswith(".duckdb") for p in files)


def listed_commands(commands: Commands) -> list[str]:
    text = commands("--help", expect=0).stdout.decode()
    block = text.split("Commands:", 1)[1].split("\n\n", 1)[0]
    return [line.split()[0] for line in block.splitlines() if line.startswith("  ") and line.split()]


def write_config(path: Path, accounts: dict[str, dict], identity: str = "@brightpath.org") -> Path:
    lines = [f'[identity]\naddresses = ["{identity}"]\n']
    for name, options in accounts.items():
        lines.append(f"[accounts.{name}]")
        lines += [f"{key} = {value!r}" if isinstance(value, int) else f'{key} = "{value}"'
                  for key, value in options.items()]
        lines.append("")
    path.write_text("\n".join(lines))
    return path


@pytest.fixture
def places(tmp_path):
    """The working folder (the database, reports and exports land under it), a home without configs, and a
    folder outside both for the files that hold the secrets by design."""
    work, home, vault = tmp_path / "work", tmp_path / "home", tmp_path / "vault"
    for folder in (work, home, vault):
        folder.mkdir()
    (vault / "password").write_text(PASSWORD + "\n")
    (vault / "wrong-password").write_text(WRONG_PASSWORD + "\n")
    (vault / "token").write_text(TOKEN + "\n")
    (vault / "leaky.toml").write_text(f'[accounts.leaky]\nhost = "127.0.0.1"\nuser = "maya"\npassword = "{PASSWORD}"\n')
    (vault / "broken.toml").write_text(f'[accounts.broken]\npassword_command = "echo {PASSWORD}\n')
    (vault / "loud-failure").write_text(f"echo {PASSWORD}; echo {TOKEN} >&2; exit 3\n")
    return work, home, vault


def test_the_search_finds_a_secret_however_it_is_written():
    xoauth2 = base64.b64encode(f"user=maya@example.org\1auth=Bearer {TOKEN}\1\1".encode())
    assert leaks_in(xoauth2) == [TOKEN]
    assert leaks_in(b"...basic " + base64.b64encode(f"maya:{PASSWORD}".encode())) == [PASSWORD]
    assert leaks_in(f"error: {WRONG_PASSWORD}".encode()) == [PASSWORD]
    assert leaks_in(b"nothing here") == []


def test_no_command_shows_or_stores_a_password_or_token(places):
    work, home, vault = places
    run = Commands(work, home)
    port = closed_port()
    unreachable = {"host": "127.0.0.1", "port": port, "security": "plain", "user": "maya"}
    write_config(work / "auditor.toml", {
        "bycommand": dict(unreachable, password_command=f"cat {vault / 'password'}"),
        "byenv": dict(unreachable, password_env=PASSWORD_VAR),
        "bytoken": dict(unreachable, oauth2_token_command=f"cat {vault / 'token'}"),
        "bytokenenv": dict(unreachable, oauth2_token_env=TOKEN_VAR),
    })
    no_accounts = write_config(work / "no-accounts.toml", {})
    spelled = ["--host", "127.0.0.1", "--port", str(port), "--security", "plain", "--user", "maya"]

    commands = listed_commands(run)
    for command in commands:
        run(command, "--help", expect=0)
    planned = {"ingest", "tag", "match", "report", "query", "export", "explain", "audit", "demo", "harvest",
               "folders", "forget", "check"}
    assert set(commands) <= planned, f"commands without a run in this test: {sorted(set(commands) - planned)}"

    run("ingest", str(MAILBOX), expect=0)
    run("tag", expect=0)
    run("match", expect=0)
    run("report", expect=0)
    run("report", "-o", "reports/named.html", "--show-recipients", "--since", "2026-01-01", expect=0)
    run("query", "--list", expect=0)
    run("query", "export_asks", "--format", "json", expect=0)
    run("query", "no_such_query", expect=2)
    run("export", "-o", "exports/asks.parquet", expect=0)
    run("export", "-o", "exports/asks.csv", "--format", "csv", expect=0)
    run("explain", ASK_ID, expect=0)
    run("explain", "<no-such-ask@example.org>", expect=2)
    (work / "draft.txt").write_text("Hi Dana,\n\nWould you join our reading night on Friday?\n\nThanks, Sam\n")
    run("check", "draft.txt", "--to", "dana@example.net", expect=0)
    run("check", "draft.txt", "--to", "dana@example.net", "--json", "--html", "reports/check.html", expect=0)
    run("check", "--calibration", expect=0)
    run("audit", "--config", str(no_accounts), str(MAILBOX), expect=0)
    run("demo", "--out-dir", "demo", expect=0)

    # Every way to name a secret, against a port nothing listens on: exit 3, one sentence.
    run("audit", str(MAILBOX), expect=3)                                  # every configured account
    run("audit", str(MAILBOX), "--traceback", expect=1)
    run("harvest", expect=3)
    for account in ("bycommand", "byenv", "bytoken", "bytokenenv"):
        run("harvest", "--account", account, expect=3)
        run("folders", "--account", account, "--traceback", expect=1)
        run("check", "--drafts", "--account", account, expect=3)
    run("check", "--drafts", expect=2)                                    # whose Drafts folder: say --account
    run("check", "--drafts", *spelled, "--password-env", PASSWORD_VAR, expect=3)
    run("harvest", *spelled, "--password-env", PASSWORD_VAR, expect=3)
    run("folders", *spelled, "--oauth2-token-env", TOKEN_VAR, expect=3)
    run("harvest", *spelled, "--password-command", f"printf '%s\\n' {PASSWORD}", expect=3)
    run("folders", *spelled, "--oauth2-token-command", f"echo {TOKEN}", "--traceback", expect=1)
    run("harvest", "--host", "nothing.invalid", "--user", "maya", "--password-env", PASSWORD_VAR, expect=3)
    run("harvest", "--host", "imap.example.org", "--security", "plain", "--user", "maya",
        "--password-env", PASSWORD_VAR, expect=2)                         # plain text off loopback: refused
    # Secrets where they do not belong: in the config file itself, or in one that does not parse.
    run("harvest", "--config", str(vault / "leaky.toml"), expect=2)
    run("harvest", "--config", str(vault / "broken.toml"), expect=2)
    run("harvest", "--config", str(vault / "broken.toml"), "--traceback", expect=1)
    run("forget", "--yes", "omar@cedar-fund.example", expect=0)
    run("report", expect=0)

    run.assert_no_secret_anywhere(work)


def test_a_real_server_never_sees_its_secrets_repeated(dovecot, places):
    work, home, vault = places
    user, _ = dovecot.add_user(password=PASSWORD)
    for folder, name in (("INBOX", "Inbox/04-lena-yes.eml"), ("Sent", "Sent/03-ask-lena-podcast.eml")):
        dovecot.append(user, PASSWORD, folder, (MAILBOX / name).read_bytes())
    server = {"host": dovecot.host, "port": dovecot.tls_port, "user": user, "ca_file": str(dovecot.ca_file)}
    write_config(work / "auditor.toml", {
        "good": dict(server, password_env=PASSWORD_VAR),
        "wrongcommand": dict(server, password_command=f"cat {vault / 'wrong-password'}"),
        "wrongenv": dict(server, password_env=WRONG_VAR),
        "token": dict(server, oauth2_token_command=f"cat {vault / 'token'}"),
        "tokenenv": dict(server, oauth2_token_env=TOKEN_VAR),
        "loud": dict(server, password_command=f"sh {vault / 'loud-failure'}"),
    })
    spelled = ["--host", dovecot.host, "--port", str(dovecot.tls_port), "--user", user, "--ca-file",
               str(dovecot.ca_file)]
    run = Commands(work, home)

    assert "harvest" in run("folders", "--account", "good", expect=0).stdout.decode()
    assert b"2 new" in run("harvest", "--account", "good", expect=0).stdout
    run("harvest", *spelled, "--password-env", PASSWORD_VAR, expect=0)
    run("audit", "--account", "good", str(MAILBOX), expect=0)
    for account in ("wrongcommand", "wrongenv", "token", "tokenenv"):
        run("harvest", "--account", account, expect=3)
        run("harvest", "--account", account, "--traceback", expect=1)
        run("folders", "--account", account, expect=3)
    assert b"command failed" in run("harvest", "--account", "loud", expect=2).stderr
    run("harvest", "--account", "loud", "--traceback", expect=1)
    run("audit", str(MAILBOX), expect=2)                  # every account by name: good, then loud's failing command
    run("harvest", *spelled, "--password-command", f"echo {WRONG_PASSWORD}", "--traceback", expect=1)
    run("folders", *spelled, "--oauth2-token-env", TOKEN_VAR, "--traceback", expect=1)
    run("harvest", *spelled, "--oauth2-token-command", f"echo {TOKEN}", expect=3)
    # Typed at the prompt (no password option, a terminal): not echoed, not kept.
    shown = run.prompted("harvest", *spelled, answer=PASSWORD, expect=0)
    assert re.search(rb"read \d+: 0 new", shown), shown
    run.prompted("folders", *spelled, answer=WRONG_PASSWORD, expect=3)

    run.assert_no_secret_anywhere(work)
