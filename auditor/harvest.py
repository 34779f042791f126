"""Harvest: raw messages from an IMAP account, read-only, in batches, resumable.

The only part of the auditor that touches a user's account, so it promises: folders are opened with EXAMINE
(`readonly=True`) and bodies fetched with BODY.PEEK, so no flag ever changes; TLS is verified (a private CA is
passed with --ca-file, never switched off); no secret is stored, logged or put in an error; a batch is fetched
in one FETCH, never one message per round trip; a dropped connection reconnects with bounded backoff and
continues from the last committed UID. It yields `RawMessage`s and knows nothing of the database.
"""
from __future__ import annotations

import imaplib
import socket
import ssl
import time
from dataclasses import dataclass
from email import message_from_bytes
from email.policy import compat32
from typing import Callable, Iterator, Sequence

from .accounts import DEFAULT_PORTS, Account
from .errors import ConnectionFailed, UsageError
from .sources import RawMessage

RECONNECT_ATTEMPTS = 5
# Usual names of the Sent folder where the server does not mark it with SPECIAL-USE (RFC 6154).
SENT_NAMES = ("sent", "sent items", "sent messages", "sent mail", "[gmail]/sent mail", "[google mail]/sent mail",
              "inbox.sent", "inbox/sent", "inbox.sent items", "inbox.sent messages", "gesendet", "gesendete elemente",
              "gesendete objekte", "envoyés", "éléments envoyés", "enviados", "elementos enviados", "posta inviata",
              "verzonden items", "skickat")
NEVER_UNLESS_ASKED = {b"\\junk", b"\\trash", b"\\drafts"}
NEVER_NAMES = {"junk", "spam", "trash", "bin", "deleted items", "deleted messages", "drafts", "[gmail]/spam",
               "[gmail]/trash", "[gmail]/drafts", "junk e-mail", "junk email"}
# Network trouble worth a reconnect; anything else (a protocol error, a bad folder) is not retried.
TRANSIENT = (OSError, EOFError, imaplib.IMAP4.abort, ssl.SSLError, TimeoutError)


@dataclass(frozen=True)
class Folder:
    name: str
    flags: frozenset[str]          # lower-case: "\\sent", "\\all", "\\noselect", ...

    @property
    def special(self) -> str | None:
        for flag in ("\\all", "\\sent", "\\inbox", "\\archive", "\\junk", "\\trash", "\\drafts", "\\flagged"):
            if flag in self.flags:
                return flag
        return "\\inbox" if self.name.upper() == "INBOX" else None


@dataclass(frozen=True)
class FolderPlan:
    folders: list[Folder]
    chosen: list[str]
    reasons: dict[str, str]         # why each folder is or is not harvested
    gmail_all: bool


def plan_folders(folders: Sequence[Folder], requested: Sequence[str] = ()) -> FolderPlan:
    """Which folders to harvest. Named folders exactly as named; else the \\All folder alone where one exists
    (Gmail: every message once, labels recorded, nothing downloaded twice against the daily transfer limit);
    else INBOX and the Sent folder(s), by SPECIAL-USE or by their usual names. Never Junk, Trash or Drafts
    unless named."""
    by_name = {f.name: f for f in folders}
    reasons: dict[str, str] = {}
    if requested:
        missing = [name for name in requested if name not in by_name]
        if missing:
            raise UsageError(f"folder {missing[0]!r} does not exist on the server: run `auditor folders` to see "
                             f"its folders.")
        chosen = list(requested)
        for name in chosen:
            reasons[name] = "named"
        return FolderPlan(list(folders), chosen, reasons, False)
    selectable = [f for f in folders if "\\noselect" not in f.flags and "\\nonexistent" not in f.flags]
    all_mail = [f for f in selectable if "\\all" in f.flags]
    if all_mail:
        chosen = [all_mail[0].name]
        reasons[chosen[0]] = "\\All: every message once, with its labels"
    else:
        chosen = [f.name for f in selectable if f.name.upper() == "INBOX"]
        sent = [f for f in selectable if "\\sent" in f.flags]
        if not sent:
            sent = [f for f in selectable if f.name.lower() in SENT_NAMES]
        chosen += [f.name for f in sent if f.name not in chosen]
        for name in chosen:
            reasons[name] = "sent mail" if name.upper() != "INBOX" else "inbox"
    for f in folders:
        if f.name in reasons:
            continue
        if f.flags & {s.decode() for s in NEVER_UNLESS_ASKED} or f.name.lower() in NEVER_NAMES:
            reasons[f.name] = "never unless named (junk, trash, drafts)"
        elif all_mail:
            reasons[f.name] = "already inside \\All"
        else:
            reasons[f.name] = "not harvested unless named (--folders)"
    return FolderPlan(list(folders), chosen, reasons, bool(all_mail))


def _connection_error(account: Account, exc: BaseException) -> ConnectionFailed:
    """One sentence per failure, naming user and host, never the secret."""
    where = f"{account.address}"
    if isinstance(exc, imaplib.IMAP4.error) and "compliant" in str(exc):
        # imaplib refuses, before any login, a server whose greeting lacks IMAP4rev1.
        return ConnectionFailed(f"{where} is not an IMAP4rev1 server: the harvester needs one.")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ConnectionFailed(f"the TLS certificate of {where} is not trusted ({exc.verify_message}): if the server "
                                f"uses a private CA, pass its certificate with --ca-file PEM.")
    if isinstance(exc, ssl.SSLError):
        return ConnectionFailed(f"the TLS handshake with {where} failed ({exc.reason or exc}): check --security and --port.")
    if isinstance(exc, socket.gaierror):
        return ConnectionFailed(f"cannot find the host {account.host}: check --host.")
    if isinstance(exc, ConnectionRefusedError):
        return ConnectionFailed(f"nothing accepts connections at {where}: check --host and --port.")
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return ConnectionFailed(f"{where} did not answer within {account.timeout:.0f} s: check the host, port and network.")
    if isinstance(exc, OSError):
        return ConnectionFailed(f"cannot reach {where} ({exc.strerror or exc}): check the host, port and network.")
    return ConnectionFailed(f"the connection to {where} failed ({type(exc).__name__}).")


def connect(account: Account):
    """A logged-in IMAPClient. Every failure becomes a ConnectionFailed sentence (exit 3)."""
    from imapclient import IMAPClient
    from imapclient.exceptions import LoginError

    account.check()
    context = ssl.create_default_context(cafile=account.ca_file) if account.security != "plain" else None
    port = account.port or DEFAULT_PORTS[account.security]
    try:
        client = IMAPClient(account.host, port=port, ssl=account.security == "ssl", ssl_context=context,
                            timeout=account.timeout)
        if account.security == "starttls":
            client.starttls(context)
    except Exception as exc:  # noqa: BLE001 - every way of not getting a connection is one sentence
        raise _connection_error(account, exc) from None
    try:
        if not (client.has_capability("IMAP4REV1") or client.has_capability("IMAP4REV2")):
            raise ConnectionFailed(f"{account.address} is not an IMAP4rev1 server: the harvester needs one.")
        if account.oauth2_token is not None:
            client.oauth2_login(account.user, account.oauth2_token.read("OAuth2 token"))
        else:
            client.login(account.user, account.password.read("password"))
    except LoginError:
        _close(client)
        raise ConnectionFailed(f"login as {account.user} at {account.address} was refused: check the user name "
                               f"and password (or token).") from None
    except ConnectionFailed:
        _close(client)
        raise
    except UsageError:
        _close(client)
        raise
    except Exception as exc:  # noqa: BLE001
        _close(client)
        raise _connection_error(account, exc) from None
    return client


def _close(client) -> None:
    try:
        client.logout()
    except Exception:  # noqa: BLE001 - closing a broken connection may fail; nothing to do about it
        try:
            client.shutdown()
        except Exception:  # noqa: BLE001
            pass


def list_folders(client) -> list[Folder]:
    return [Folder(name, frozenset(f.decode().lower() if isinstance(f, bytes) else str(f).lower() for f in flags))
            for flags, _delimiter, name in client.list_folders()]


@dataclass
class Batch:
    folder: str
    uidvalidity: int
    last_uid: int                    # highest UID in this batch: the mark to commit with it
    messages: list[RawMessage]
    partial: int = 0                 # messages over the size limit fetched as header and text parts only


def _text_parts(structure, prefix: str = "") -> list[str]:
    """Part numbers of the text/plain and text/html leaves of a BODYSTRUCTURE (multipart or not)."""
    if structure is None:
        return []
    if structure.is_multipart:
        parts, children = [], structure[0]
        for i, child in enumerate(children, start=1):
            parts += _text_parts(child, f"{prefix}{i}.")
        return parts
    kind = (structure[0] or b"").lower(), (structure[1] or b"").lower()
    if kind in ((b"text", b"plain"), (b"text", b"html")):
        return [prefix.rstrip(".") or "1"]
    return []


def _assemble_partial(header: bytes, parts: list[tuple[bytes, bytes]]) -> bytes:
    """A stand-in for a message too large to fetch whole: its own header and its text parts, as a multipart
    message, with a header saying what was left out. Its hash differs from the full copy's; its mail_key
    (Message-ID, From, Date) does not."""
    msg = message_from_bytes(header, policy=compat32)
    boundary = "auditor-partial-boundary"
    for name in ("Content-Type", "Content-Transfer-Encoding"):
        del msg[name]
    head = msg.as_bytes().rstrip(b"\r\n")
    head += (f"\r\nContent-Type: multipart/mixed; boundary=\"{boundary}\"\r\n"
             f"X-Auditor-Partial: attachments not fetched\r\n\r\n").encode()
    body = b"".join(f"--{boundary}\r\n".encode() + mime.rstrip(b"\r\n") + b"\r\n\r\n" + content + b"\r\n"
                    for mime, content in parts)
    return head + body + f"--{boundary}--\r\n".encode()


class Harvester:
    """One account's connection, re-made when it drops. `connect_fn` is the seam where tests put another
    client; an OAuth2 token command runs again on every reconnect (tokens live an hour)."""

    def __init__(self, account: Account, connect_fn: Callable[[Account], object] = connect,
                 backoff: float = 1.0, sleep: Callable[[float], None] = time.sleep):
        self.account = account
        self._connect = connect_fn
        self.backoff = backoff
        self.sleep = sleep
        self.client = None
        self.reconnects = 0
        self.gmail = False

    def __enter__(self) -> "Harvester":
        self.open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def open(self) -> None:
        self.client = self._connect(self.account)
        self.gmail = self.client.has_capability("X-GM-EXT-1")

    def close(self) -> None:
        if self.client is not None:
            _close(self.client)
            self.client = None

    def folders(self) -> list[Folder]:
        return list_folders(self.client)

    def _retry(self, action: Callable[[], object], folder: str | None, uidvalidity: int | None):
        """Run `action`; on network trouble reconnect (bounded backoff), re-select the folder and try again."""
        for attempt in range(RECONNECT_ATTEMPTS + 1):
            try:
                return action()
            except TRANSIENT as exc:
                if attempt == RECONNECT_ATTEMPTS:
                    raise ConnectionFailed(f"the connection to {self.account.address} kept dropping "
                                           f"({type(exc).__name__}); every batch fetched so far is stored: run "
                                           f"the harvest again to continue.") from None
                self.sleep(min(self.backoff * 2 ** attempt, 30.0))
                self.close()
                try:
                    self.open()
                except ConnectionFailed:
                    continue
                self.reconnects += 1
                if folder is not None:
                    info = self.client.select_folder(folder, readonly=True)
                    if uidvalidity is not None and int(info[b"UIDVALIDITY"]) != uidvalidity:
                        raise ConnectionFailed(f"folder {folder} changed its UIDVALIDITY during the harvest: run "
                                               f"the harvest again to rescan it.") from None
        raise AssertionError("unreachable")

    def examine(self, folder: str) -> tuple[int, int]:
        """Open read-only (EXAMINE); (UIDVALIDITY, number of messages)."""
        info = self._retry(lambda: self.client.select_folder(folder, readonly=True), None, None)
        return int(info[b"UIDVALIDITY"]), int(info.get(b"EXISTS", 0))

    def new_uids(self, folder: str, uidvalidity: int, after: int) -> list[int]:
        # "N:*" always matches the last message even when its UID is below N, so filter.
        uids = self._retry(lambda: self.client.search(["UID", f"{after + 1}:*"]), folder, uidvalidity)
        return sorted(u for u in uids if u > after)

    def envelopes(self, folder: str, uidvalidity: int, uids: Sequence[int]) -> dict:
        """ENVELOPE and INTERNALDATE of `uids`: a folder listed without reading a message, so no flag changes."""
        return self._retry(lambda: self.client.fetch(uids, ["ENVELOPE", "INTERNALDATE"]), folder, uidvalidity)

    def large_uids(self, folder: str, uidvalidity: int, after: int) -> set[int]:
        """UIDs over the size limit, asked of the server in one SEARCH per folder: a per-batch FETCH of every
        message's size would cost a quarter of the fetch time in response parsing alone."""
        criteria = ["UID", f"{after + 1}:*", "LARGER", str(self.account.size_limit)]
        return set(self._retry(lambda: self.client.search(criteria), folder, uidvalidity))

    def fetch(self, folder: str, uidvalidity: int, uids: Sequence[int], large: set[int] = frozenset()) -> Batch:
        """One batch: the small messages whole in one FETCH (with Gmail's labels), the large ones as header and
        text parts. Never one FETCH per message for the small ones."""
        return self._retry(lambda: self._fetch(folder, uidvalidity, uids, large), folder, uidvalidity)

    def _fetch(self, folder: str, uidvalidity: int, uids: Sequence[int], large_set: set[int]) -> Batch:
        client = self.client
        labels_item = ["X-GM-LABELS"] if self.gmail else []
        small = [u for u in uids if u not in large_set]
        large = [u for u in uids if u in large_set]
        raws: dict[int, bytes] = {}
        labels: dict[int, object] = {}
        if small:
            for uid, data in client.fetch(small, ["BODY.PEEK[]"] + labels_item).items():
                raws[uid] = data.get(b"BODY[]") or b""
                labels[uid] = data.get(b"X-GM-LABELS")
        if large:
            structures = client.fetch(large, ["BODYSTRUCTURE"] + labels_item)
            for uid in large:
                if uid not in structures:
                    continue
                labels[uid] = structures[uid].get(b"X-GM-LABELS")
                parts = _text_parts(structures[uid].get(b"BODYSTRUCTURE"))
                items = ["BODY.PEEK[HEADER]"] + [f"BODY.PEEK[{p}.MIME]" for p in parts] + [f"BODY.PEEK[{p}]" for p in parts]
                # Large messages are rare; one round trip each is dwarfed by the attachment bytes it saves.
                data = client.fetch([uid], items).get(uid, {})
                header = data.get(b"BODY[HEADER]") or b""
                pieces = [(data.get(f"BODY[{p}.MIME]".encode()) or b"", data.get(f"BODY[{p}]".encode()) or b"")
                          for p in parts]
                raws[uid] = _assemble_partial(header, pieces)
        messages = []
        for uid in uids:
            if uid not in raws:
                continue                  # expunged between SEARCH and FETCH
            found = labels.get(uid) if self.gmail else None
            messages.append(RawMessage(
                "imap", self.account.name, folder, f"{uidvalidity}:{uid}", raws[uid],
                labels=tuple(l.decode() if isinstance(l, bytes) else str(l) for l in found) if found is not None else None))
        return Batch(folder, uidvalidity, max(uids), messages, partial=len(large))


def iter_batches(harvester: Harvester, folder: str, mark: tuple[int, int] | None,
                 on_total: Callable[[int], None] | None = None) -> Iterator[Batch]:
    """The batches of one folder after the committed mark (UIDVALIDITY, last UID). A changed UIDVALIDITY means
    the server renumbered the folder: start again from UID 0 (stored content is recognised by its hash)."""
    uidvalidity, _exists = harvester.examine(folder)
    after = mark[1] if mark and mark[0] == uidvalidity else 0
    uids = harvester.new_uids(folder, uidvalidity, after)
    if on_total:
        on_total(len(uids))
    large = harvester.large_uids(folder, uidvalidity, after) if uids else set()
    size = harvester.account.batch_size
    for start in range(0, len(uids), size):
        yield harvester.fetch(folder, uidvalidity, uids[start:start + size], large)

