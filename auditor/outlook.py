"""Outlook's own files: `.pst`/`.ost` data files (through libpff-python) and single `.msg` messages (through
extract-msg), both in the optional extra `outlook`: `pip install 'outreach-auditor[outlook]'`.

Outlook keeps a message as properties, not as the bytes that travelled. Each is written back as one RFC 822
message: its transport headers where Outlook kept them (mail it received), else headers made from its properties
(mail it sent: sender, To and Cc from the recipient table, date, Message-ID, In-Reply-To, References), with its
text body, or its HTML body where it has no text. Attachments are left out: the audit reads words, and the parser
would only skip them. A folder's name decides Sent and skipped folders as it does for a Maildir.
"""
from __future__ import annotations

import base64
from email.header import Header
from email.parser import HeaderParser
from email.utils import format_datetime, formataddr, parsedate_to_datetime
from pathlib import Path
from typing import Callable, Iterable, Iterator

from .errors import UsageError
from .sources import NOT_CORRESPONDENCE, is_skipped

SUFFIXES = (".pst", ".ost", ".msg")
EXTRA = "pip install 'outreach-auditor[outlook]'"
# The headers a message is rebuilt with replace these: its body is re-encoded, its MIME parts are gone.
_MIME = {"content-type", "content-transfer-encoding", "mime-version", "content-disposition"}
# MAPI properties (MS-OXPROPS) read from a .pst message and its recipient table.
PR_SENDER_NAME, PR_SENDER_EMAIL, PR_SENDER_SMTP = 0x0C1A, 0x0C1F, 0x5D01
PR_MESSAGE_ID, PR_IN_REPLY_TO, PR_REFERENCES = 0x1035, 0x1042, 0x1039
PR_RECIPIENT_TYPE, PR_DISPLAY_NAME, PR_EMAIL_ADDRESS, PR_SMTP_ADDRESS = 0x0C15, 0x3001, 0x3003, 0x39FE
RECIPIENT_FIELD = {1: "To", 2: "Cc", 3: "Bcc"}


def _require(module: str, file: Path):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise UsageError(f"reading {file.name} needs the Outlook extra, which is not installed: {EXTRA}") from None


def _header(name: str, value: str) -> bytes:
    value = str(value)
    if "\n" in value or "\r" in value:         # a header is one line: folds and stray line ends become spaces
        value = " ".join(value.split())
    if not value.isascii():
        value = Header(value, "utf-8", header_name=name).encode()
    return f"{name}: {value}\r\n".encode("ascii", "replace")


def compose(headers: Iterable[tuple[str, str]], text: str | None, html: str | None,
            sent_at=None) -> bytes:
    """One RFC 822 message from header (name, value) pairs and a body. A Date that does not parse is replaced by
    `sent_at` (Outlook's own submit or delivery time); empty headers are dropped."""
    out, has_date = [], False
    for name, value in headers:
        if not value or not str(value).strip() or name.lower() in _MIME:
            continue
        if name.lower() == "date":
            try:
                parsedate_to_datetime(str(value))
            except (TypeError, ValueError, IndexError):
                continue
            has_date = True
        out.append(_header(name, value))
    if not has_date and sent_at is not None:
        out.append(_header("Date", format_datetime(sent_at)))
    subtype, body = ("plain", text) if text and text.strip() else ("html", html or "")
    out += [b"MIME-Version: 1.0\r\n", f"Content-Type: text/{subtype}; charset=utf-8\r\n".encode(),
            b"Content-Transfer-Encoding: base64\r\n", b"\r\n", base64.encodebytes(body.encode("utf-8", "replace"))]
    return b"".join(out)


def _text(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, bytes):
        for encoding in ("utf-8", "cp1252"):
            try:
                return value.decode(encoding)
            except UnicodeDecodeError:
                continue
        return value.decode("latin-1")
    return str(value)


def _entries(record_set) -> dict[int, object]:
    """A record set as {property tag: value}: strings as str, the rest as bytes."""
    found: dict[int, object] = {}
    for i in range(record_set.number_of_entries):
        entry = record_set.get_entry(i)
        try:
            found[entry.entry_type] = entry.get_data_as_string()
        except (IOError, OSError, TypeError, ValueError):
            found[entry.entry_type] = entry.data
    return found


def _address(name: str | None, email: str | None) -> str | None:
    if email and "@" in email:
        return formataddr((name or "", email))
    return name or email or None


def pst_headers(message) -> list[tuple[str, str]]:
    """A .pst message's headers: those it arrived with, else made from its properties (sent mail)."""
    transport = _text(message.transport_headers)
    if transport and ":" in transport:
        return list(HeaderParser().parsestr(transport.strip() + "\r\n\r\n").items())
    props = _entries(message.get_record_set(0)) if message.number_of_record_sets else {}
    headers = [("From", _address(props.get(PR_SENDER_NAME) or message.sender_name,
                                 props.get(PR_SENDER_SMTP) or props.get(PR_SENDER_EMAIL))),
               ("Subject", message.subject)]
    fields: dict[str, list[str]] = {}
    recipients = message.recipients
    for i in range(recipients.number_of_record_sets if recipients is not None else 0):
        entry = _entries(recipients.get_record_set(i))
        kind = entry.get(PR_RECIPIENT_TYPE)
        kind = int.from_bytes(kind[:4], "little") if isinstance(kind, bytes) else 1
        who = _address(entry.get(PR_DISPLAY_NAME), entry.get(PR_SMTP_ADDRESS) or entry.get(PR_EMAIL_ADDRESS))
        if who:
            fields.setdefault(RECIPIENT_FIELD.get(kind, "To"), []).append(who)
    headers += [(field, ", ".join(people)) for field, people in fields.items()]
    headers += [("Message-ID", props.get(PR_MESSAGE_ID)), ("In-Reply-To", props.get(PR_IN_REPLY_TO)),
                ("References", props.get(PR_REFERENCES))]
    return [(k, _text(v)) for k, v in headers if v]


def pst_messages(file: Path, skip: set[str], on_skip: Callable[[str], None]) -> Iterator:
    from .sources import RawMessage

    pypff = _require("pypff", file)
    data = pypff.file()
    try:
        data.open(str(file))
    except (IOError, OSError) as exc:
        raise UsageError(f"cannot read {file} as an Outlook data file ({exc}): is it a .pst or .ost file?") from None

    def walk(folder, path: str) -> Iterator[RawMessage]:
        for i in range(folder.number_of_sub_folders):
            sub = folder.get_sub_folder(i)
            name = (sub.name or "").strip() or f"folder {i}"
            where = f"{path}/{name}" if path else name
            if is_skipped(name, skip):
                on_skip(f"{file}: folder {where} ({NOT_CORRESPONDENCE})")
                continue
            for j in range(sub.number_of_sub_messages):
                try:
                    message = sub.get_sub_message(j)
                    raw = compose(pst_headers(message), _text(message.plain_text_body), _text(message.html_body),
                                  message.client_submit_time or message.delivery_time)
                    location = str(message.identifier)
                except (IOError, OSError, ValueError, TypeError) as exc:
                    on_skip(f"{file}: message {j + 1} of folder {where}, which libpff could not read ({exc})")
                    continue
                yield RawMessage("pst", str(file), where, location, raw)
            yield from walk(sub, where)

    try:
        root = data.get_root_folder()
        yield from walk(root, "")
    finally:
        data.close()


def msg_message(file: Path):
    from .sources import RawMessage

    extract_msg = _require("extract_msg", file)
    try:
        message = extract_msg.openMsg(str(file))
    except Exception as exc:        # the library raises its own errors and any of the stdlib's on a broken file
        raise UsageError(f"cannot read {file} as an Outlook message ({type(exc).__name__}): is it a .msg file?") from None
    try:
        html = message.htmlBody
        html = html.decode("utf-8", "replace") if isinstance(html, bytes) else html
        headers = [(k, v) for k, v in message.header.items() if v and str(v).strip()]
        # Without transport headers extract-msg makes some from the properties, not always all of them.
        present = {k.lower() for k, _ in headers}
        headers += [(k, v) for k, v in (("From", message.sender), ("Subject", message.subject))
                    if k.lower() not in present and v]
        raw = compose(headers, message.body, html, getattr(message, "date", None))
    finally:
        message.close()
    return RawMessage("msg", str(file.parent), file.parent.name, file.name, raw)


def messages(file: Path, skip: set[str], on_skip: Callable[[str], None]) -> Iterator:
    if file.suffix.lower() == ".msg":
        yield msg_message(file)
    else:
        yield from pst_messages(file, skip, on_skip)
