"""Settings for one run: which database, which config file, who "me" is, and the clock.

Precedence everywhere: command-line option, then its AUDITOR_* environment twin (click does that part), then
the TOML config file, then a default. The config file is optional; naming one that does not exist is an error.
"""
from __future__ import annotations

import hashlib
import json
import os
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone
from pathlib import Path
from typing import Any

from .errors import IdentityUnknown, UsageError

DEFAULT_DB = Path("auditor.duckdb")
RULES_FILE = Path(__file__).with_name("rules.toml")


@dataclass(frozen=True)
class Identity:
    """The team: addresses and whole domains ("@example.org") whose mail is the user's own."""

    addresses: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, items: list[str] | tuple[str, ...]) -> "Identity":
        addresses, domains = set(), set()
        for item in items:
            item = item.strip().lower()
            if not item:
                continue
            if item.startswith("@"):
                domains.add(item[1:])
            elif "@" in item:
                addresses.add(item)
            else:
                raise UsageError(f"--me {item!r} is neither an address nor a domain: write name@example.org or @example.org.")
        return cls(frozenset(addresses), frozenset(domains))

    def __bool__(self) -> bool:
        return bool(self.addresses or self.domains)

    def describe(self) -> str:
        return ", ".join(sorted(self.addresses) + sorted("@" + d for d in self.domains))


@dataclass(frozen=True)
class Settings:
    db_path: Path
    config_path: Path | None
    identity: Identity
    as_of: datetime
    config: dict[str, Any] = field(default_factory=dict)
    rules: dict[str, Any] = field(default_factory=dict)

    def require_identity(self) -> Identity:
        if not self.identity:
            raise IdentityUnknown(
                "cannot tell which mail is yours: pass --me ADDRESS (or --me @yourdomain.org) "
                "or set [identity] addresses in the config."
            )
        return self.identity


def find_config(explicit: str | None) -> Path | None:
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise UsageError(f"config file {path} does not exist: check --config or AUDITOR_CONFIG.")
        return path
    local = Path("auditor.toml")
    if local.is_file():
        return local
    xdg = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "auditor" / "config.toml"
    return xdg if xdg.is_file() else None


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML ({exc}): fix the file or point --config elsewhere.") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path} ({exc.strerror}).") from None


def parse_as_of(value: str | None) -> datetime:
    """A date means the start of that day in UTC; a datetime without a zone is taken as UTC."""
    if not value:
        return datetime.now(timezone.utc)
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise UsageError(f"--as-of {value!r} is not a date: write 2026-10-31 or 2026-10-31T18:00.") from None
    if isinstance(parsed, date) and not isinstance(parsed, datetime):  # pragma: no cover - fromisoformat gives datetime
        parsed = datetime.combine(parsed, time())
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def _merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        merged[key] = _merge(merged[key], value) if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
    return merged


def load_rules(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The shipped word lists and thresholds, with the config's [rules] tables laid over them."""
    return _merge(read_toml(RULES_FILE), overrides or {})


def digest(obj: Any) -> str:
    """A short stable fingerprint: a change of word lists or thresholds changes it, and so re-tags."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def load_settings(*, db: str | None, config: str | None, me: tuple[str, ...], as_of: str | None) -> Settings:
    config_path = find_config(config)
    data = read_toml(config_path) if config_path else {}
    db_path = Path(db or data.get("store", {}).get("db") or DEFAULT_DB).expanduser()
    addresses = list(me) or list(data.get("identity", {}).get("addresses", []))
    return Settings(
        db_path=db_path,
        config_path=config_path,
        identity=Identity.parse(addresses),
        as_of=parse_as_of(as_of),
        config=data,
        rules=load_rules(data.get("rules")),
    )
