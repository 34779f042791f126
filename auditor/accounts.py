"""IMAP accounts: where they are, how to reach them, and where their secrets come from.

Secrets are never in the config, only where to read them (an environment variable, a command, the system
keyring, a prompt); a value is read when a connection needs it and never kept, logged or repeated in an error.
"""
from __future__ import annotations

import ipaddress
import os
import subprocess
from dataclasses import dataclass, field
from typing import Callable, Sequence

from .errors import UsageError

DEFAULT_BATCH = 300
DEFAULT_SIZE_LIMIT = 1_000_000      # larger messages come as their header and text parts only
DEFAULT_TIMEOUT = 60.0
SECURITY = ("ssl", "starttls", "plain")
DEFAULT_PORTS = {"ssl": 993, "starttls": 143, "plain": 143}


@dataclass(frozen=True)
class Secret:
    """Where a password or an OAuth2 token comes from. Its value is read when needed and never kept."""

    env: str | None = None
    command: str | None = None
    keyring_key: str | None = None          # "user@host" under the service "outreach-auditor"
    prompt: Callable[[], str] | None = None

    def read(self, what: str) -> str:
        if self.env:
            value = os.environ.get(self.env)
            if not value:
                raise UsageError(f"the environment variable {self.env} that should hold the {what} is not set.")
            return value
        if self.command:
            proc = subprocess.run(self.command, shell=True, capture_output=True, text=True)
            if proc.returncode != 0 or not proc.stdout.strip():
                # Neither its output nor its error text is repeated: either may hold the secret.
                raise UsageError(f"the {what} command failed (exit {proc.returncode}): run it by hand to see why.")
            return proc.stdout.strip().splitlines()[0]
        if self.keyring_key:
            value = _keyring_get(self.keyring_key)
            if value:
                return value
        if self.prompt:
            return self.prompt()
        raise UsageError(f"no {what} given: pass --password-env VAR or --password-command CMD "
                         f"(or --oauth2-token-env / --oauth2-token-command), or store it in the system keyring.")


def _keyring_get(key: str) -> str | None:
    try:
        import keyring  # optional: used when installed
    except ImportError:
        return None
    try:
        return keyring.get_password("outreach-auditor", key)
    except Exception:  # noqa: BLE001 - a keyring without a backend is the same as no keyring
        return None


@dataclass(frozen=True)
class Account:
    name: str
    host: str
    user: str
    port: int | None = None
    security: str = "ssl"
    folders: tuple[str, ...] = ()
    ca_file: str | None = None
    batch_size: int = DEFAULT_BATCH
    size_limit: int = DEFAULT_SIZE_LIMIT
    timeout: float = DEFAULT_TIMEOUT
    password: Secret = field(default_factory=Secret)
    oauth2_token: Secret | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port or DEFAULT_PORTS[self.security]}"

    def check(self) -> None:
        if self.security not in SECURITY:
            raise UsageError(f"account {self.name}: security must be one of {', '.join(SECURITY)}, not {self.security!r}.")
        if self.security == "plain" and not is_loopback(self.host):
            raise UsageError(f"account {self.name}: security \"plain\" would send the password unencrypted to "
                             f"{self.host}; it is allowed only for a loopback address: use ssl or starttls.")
        if self.batch_size < 1:
            raise UsageError(f"account {self.name}: the batch size must be at least 1.")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


ACCOUNT_KEYS = {"host", "port", "user", "security", "folders", "ca_file", "batch_size", "size_limit", "timeout",
                "password_env", "password_command", "keyring", "oauth2_token_env", "oauth2_token_command"}


def account_from_options(name: str, options: dict, prompt: Callable[[str], Callable[[], str]] | None = None) -> Account:
    """An Account from a config table ([accounts.NAME]) or the command line's options (same keys). Secrets are
    never taken from the config itself: only where to read them."""
    leaked = sorted(k for k in options if k in ("password", "token", "oauth2_token", "secret"))
    if leaked:
        raise UsageError(f"account {name}: a {leaked[0]} does not belong in the config: use password_env, "
                         f"password_command or the system keyring.")
    unknown = sorted(k for k in options if k not in ACCOUNT_KEYS and options[k] is not None)
    if unknown:
        raise UsageError(f"account {name}: unknown setting {unknown[0]!r} (known: {', '.join(sorted(ACCOUNT_KEYS))}).")
    if not options.get("host") or not options.get("user"):
        raise UsageError(f"account {name}: host and user are required.")
    folders = options.get("folders") or ()
    if isinstance(folders, str):
        folders = tuple(f.strip() for f in folders.split(",") if f.strip())
    label = f"{options['user']}@{options['host']}"
    oauth = None
    if options.get("oauth2_token_env") or options.get("oauth2_token_command"):
        oauth = Secret(env=options.get("oauth2_token_env"), command=options.get("oauth2_token_command"))
    password = Secret(env=options.get("password_env"), command=options.get("password_command"),
                      keyring_key=label if options.get("keyring", True) else None,
                      prompt=prompt(label) if prompt else None)
    account = Account(
        name=name, host=options["host"], user=options["user"], port=options.get("port"),
        security=options.get("security") or "ssl", folders=tuple(folders), ca_file=options.get("ca_file"),
        batch_size=int(options.get("batch_size") or DEFAULT_BATCH),
        size_limit=int(options.get("size_limit") or DEFAULT_SIZE_LIMIT),
        timeout=float(options.get("timeout") or DEFAULT_TIMEOUT), password=password, oauth2_token=oauth)
    account.check()
    return account


def configured_accounts(config: dict, names: Sequence[str] = (), prompt=None) -> list[Account]:
    """The accounts named (all configured ones when none is named) from the config's [accounts.NAME] tables."""
    tables = config.get("accounts", {}) or {}
    missing = [n for n in names if n not in tables]
    if missing:
        known = ", ".join(sorted(tables)) or "none"
        raise UsageError(f"no account {missing[0]!r} in the config (configured: {known}): add [accounts.{missing[0]}].")
    return [account_from_options(n, dict(tables[n]), prompt) for n in (names or sorted(tables))]
