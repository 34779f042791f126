"""Errors the auditor raises on purpose. Each carries the exit code the CLI returns and a message that is one
sentence saying what is wrong and what to do; the CLI prints it without a traceback (unless --traceback)."""
from __future__ import annotations


class AuditorError(Exception):
    """A failure the user can act on; exit code 1 (the run failed)."""

    exit_code = 1


class UsageError(AuditorError):
    """Bad input from the user: a missing path, an unreadable config, a malformed option value."""

    exit_code = 2


class ConnectionFailed(AuditorError):
    """Authentication or network trouble with a mail server."""

    exit_code = 3


class DatabaseBusy(AuditorError):
    """Another process holds the DuckDB file's lock."""

    exit_code = 4


class IdentityUnknown(UsageError):
    """The auditor cannot tell which mail is the user's own."""
