"""Parse: raw bytes in, one normalised record out (or a quarantine reason). Pure functions, no I/O, so they run
in worker processes and in tests alike.

Every message is hostile input. A message we cannot make sense of is never dropped: `parse_raw` raises
`Unparseable` with a reason, and the caller stores the bytes in the quarantine table.
"""
from __future__ import annotations

import email
import email.header
import email.message
import hashlib
import logging
import re
from datetime import datetime, timezone
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any

import mailparser

# mail-parser logs a warning for every part type it does not decode (text/rfc822-headers in each bounce); the
# parts are read here where they matter, and the noise would drown the CLI's own output.
logging.getLogger("mailparser").setLevel(logging.ERROR)

# Headers kept in the `headers` map: what the tagger and the reply matcher read (bulk, list, auto-reply and
# mail-merge markers). The raw bytes stay in the database for anything else a later stage needs.
KEPT_HEADER_PREFIXES = ("list-", "x-auto", "x-ms-exchange", "x-mailer", "x-campaign", "x-mc-", "x-mailgun",
                        "x-sg-", "x-ses", "x-failed-recipients", "x-original-to")
KEPT_HEADERS = {"x-auditor-partial", "precedence", "auto-submitted", "x-autoreply", "x-autorespond", "x-auto-response-suppress",
                "user-agent", "content-type", "return-path", "reply-to", "sender", "feedback-id", "x-spam-flag",
                "x-precedence", "delivered-to", "x-forwarded-to"}
MAX_HEADER_VALUE = 2000
# Magic numbers of files people drop into mail folders by mistake.
_BINARY_MAGIC = {b"%PDF": "a PDF document", b"PK\x03\x04": "a zip archive", b"\x89PNG": "a PNG image",
                 b"GIF8": "a GIF image", b"\xff\xd8\xff": "a JPEG image", b"\x1f\x8b": "a gzip archive",
                 b"\x7fELF": "a program"}
_MSGID = re.compile(r"<[^<>\s]+>")
_MAIL_HEADERS = ("from", "to", "cc", "date", "message-id", "subject", "received", "return-path", "sender")


class Unparseable(Exception):
    """The bytes are not a mail message we can store; the message is the quarantine reason."""


def normalise_line_ends(raw: bytes) -> bytes:
    """CRLF everywhere, so a Maildir copy (LF) and an IMAP copy (CRLF) of one file hash alike."""
    return raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n").replace(b"\n", b"\r\n")


def content_sha256(raw: bytes, chunk: int = 1 << 20) -> str:
    """The hash of the normalised bytes, a chunk at a time: a 50 MB message is not copied whole."""
    digest, start = hashlib.sha256(), 0
    while start < len(raw):
        end = start + chunk
        if raw[end - 1:end] == b"\r" and raw[end:end + 1] == b"\n":
            end += 1                     # never split a CRLF between two chunks
        digest.update(normalise_line_ends(raw[start:end]))
        start = end
    return digest.hexdigest()


_HEADER_BLOCK_MAX = 65536


def _without_preamble(raw: bytes) -> bytes:
    """The message without a byte-order mark or blank lines before its first header (some exporters write them),
    which would make every header body text. The stored bytes keep them; the parsers do not see them."""
    return raw.removeprefix(b"\xef\xbb\xbf").lstrip(b"\r\n")


def _header_block(raw: bytes) -> bytes:
    """The bytes before the first blank line, at most _HEADER_BLOCK_MAX of them."""
    return raw[:_HEADER_BLOCK_MAX + 4].split(b"\n\n", 1)[0].split(b"\r\n\r\n", 1)[0][:_HEADER_BLOCK_MAX]


def _check_bytes(raw: bytes) -> None:
    if not raw or raw.isspace():
        raise Unparseable("empty file")
    head = raw[:1024]
    for magic, what in _BINARY_MAGIC.items():
        if head.startswith(magic):
            raise Unparseable(f"not an email: the file is {what}")
    if b"\x00" in _header_block(raw):
        raise Unparseable("not an email: binary data (NUL bytes) in the header block")


# One mailbox in its plain forms, `Name <local@domain>` or `local@domain`: no quotes, comments, groups, routes or
# escapes, so no comma inside an item. What getaddresses makes of these is the name with its runs of white space
# made one, and the address as written; `_addresses` reads them itself and leaves every other form to it.
_ATOM_RUN = r'[^\s<>()\[\]",;:\\@]+'
_PLAIN_MAILBOX = re.compile(rf'(?:(?P<name>[^<>()\[\]",;:\\@]*?)\s*<(?P<addr>{_ATOM_RUN}@{_ATOM_RUN})>'
                            rf'|(?P<bare>{_ATOM_RUN}@{_ATOM_RUN}))')


def _addresses(values: list[str]) -> list[tuple[str, str]]:
    """(display name, lower-case address) of every mailbox in the header values. The plain forms most mail uses
    are read with one regular expression; getaddresses, a tenth of the parse's time, reads the rest."""
    out = []
    for value in values:
        for item in value.split(",") if value else ():
            item = item.strip()
            if not item:
                continue
            plain = _PLAIN_MAILBOX.fullmatch(item)
            if plain is None:
                return _addresses_of_any_form(values)
            if plain["bare"]:
                out.append(("", plain["bare"].lower()))
            else:
                out.append((" ".join(plain["name"].split()), plain["addr"].lower()))
    return out


def _addresses_of_any_form(values: list[str]) -> list[tuple[str, str]]:
    out = []
    for name, addr in getaddresses([v for v in values if v]):
        addr = addr.strip().strip("<>").lower()
        if "@" in addr and " " not in addr:
            out.append((name.strip(), addr))
    return out


def _header_values(msg: email.message.Message, name: str) -> list[str]:
    return [str(v) for v in (msg.get_all(name) or [])]


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def _bytes_text(data: bytes, charset: str | None) -> str:
    """Bytes in a declared charset; undeclared 8-bit bytes as UTF-8, else windows-1252 (what unlabelled 8-bit
    headers almost always are). An unknown charset never raises."""
    if charset and charset.lower() not in ("unknown-8bit", "us-ascii", "ascii"):
        try:
            return data.decode(charset, "replace")
        except LookupError:
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", "replace")


def _decode(value) -> str:
    """A header value as text: RFC 2047 words decoded, raw 8-bit bytes read rather than dropped, folding undone,
    control characters removed."""
    if isinstance(value, str) and any("\udc80" <= ch <= "\udcff" for ch in value):
        value = _bytes_text(value.encode("utf-8", "surrogateescape"), None)
    try:
        parts = email.header.decode_header(value)
        text = "".join(_bytes_text(p, c) if isinstance(p, bytes) else p for p, c in parts)
    except Exception:  # noqa: BLE001 - a broken encoded word: keep the undecoded text
        text = str(value)
    return _CONTROL.sub("", re.sub(r"\r?\n[ \t]+", " ", text)).strip()


def _msgids(value: str | None) -> list[str]:
    return _MSGID.findall(value or "")


def _received_date(msg: email.message.Message) -> datetime | None:
    for value in _header_values(msg, "received"):
        stamp = value.rsplit(";", 1)[-1].strip() if ";" in value else ""
        parsed = _to_utc(stamp)
        if parsed:
            return parsed
    return None


def _to_utc(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    # parsedate maps two-digit years into this century, and so "0000" into 2000: a written four-digit year that
    # does not survive parsing means the date cannot be trusted.
    written = re.search(r"(?<![+\-\d])\b(\d{4})\b(?!:)", value)
    if written and int(written.group(1)) != parsed.year:
        return None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def _stdlib_text(msg: email.message.Message) -> str:
    """The text/plain parts decoded by the standard library with their declared charset."""
    texts = []
    for part in msg.walk():
        if part.get_content_type() != "text/plain" or part.get_filename():
            continue
        payload = part.get_payload(decode=True) or b""
        charset = part.get_content_charset() or "utf-8"
        try:
            texts.append(payload.decode(charset, "replace"))
        except LookupError:
            texts.append(payload.decode("utf-8", "replace"))
    return "\n".join(texts).strip()


def _body_view(msg: email.message.Message) -> email.message.Message:
    """The message as mail-parser needs it to find the text parts: its MIME headers and its parts.

    Given every header, mail-parser parses each address, date and Received line with its own diagnostics and
    builds a dictionary of all of them, twice: two thirds of its time, spent on what this module reads itself
    from `msg`. The parts are shared, not copied. What mail-parser then reports as defects is the body's
    (MIME structure, charsets); date and address problems are flagged here."""
    view = email.message.Message(policy=compat32)
    for name, value in msg.items():
        if name.lower().startswith(("content-", "mime-version")):
            view[name] = value
    # The stored payload itself: get_payload() would decode undeclared 8-bit text lossily, hiding what
    # mail-parser reports as a charset defect (it reads `_payload` the same way).
    view._payload = msg._payload
    view.preamble, view.epilogue, view.defects = msg.preamble, msg.epilogue, msg.defects
    return view


class _BodyParser(mailparser.MailParser):
    """mail-parser's walk of the parts, without the two dictionaries of every header it builds at the end of each
    parse (`mail` and `mail_partial`): a quarter of its time, and nothing here reads them. Should a later
    mail-parser stop calling `_make_mail`, this costs the time again and changes nothing else."""

    def _make_mail(self, complete: bool = True) -> dict:
        return {}


def _html_to_text(html: str) -> str:
    from inscriptis import get_text

    try:
        return get_text(html)
    except Exception:  # noqa: BLE001 - malformed HTML: fall back to stripping tags
        return re.sub(r"<[^>]+>", " ", html)


_BOUNCE_SENDER = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailerdaemon|bounces?)@", re.I)
_BOUNCE_SUBJECT = re.compile(r"undeliver|delivery (status|failure|has failed)|failure notice|returned mail|"
                             r"mail delivery (failed|system)|nicht zustellbar|non remis|no se pudo entregar", re.I)


def _looks_like_bounce(msg: email.message.Message, from_addr: str | None, subject: str) -> bool:
    return (msg.get_content_type() == "multipart/report" or msg.get("X-Failed-Recipients") is not None
            or bool(from_addr and _BOUNCE_SENDER.match(from_addr)) or bool(_BOUNCE_SUBJECT.search(subject or "")))


def _bounce(msg: email.message.Message) -> tuple[list[str], list[str], str | None, str | None]:
    """Hard-failed recipients, soft-failed (4.x.x, delayed) ones, the worst status and the original Message-ID
    of a bounce. RFC 3464 reports are read here; the many non-standard formats of mail servers are left to
    flufl.bounce, which knows them."""
    hard, soft, statuses, original = set(), set(), [], None
    for part in msg.walk():
        ctype = part.get_content_type()
        if ctype == "message/delivery-status":
            payload = part.get_payload()
            for block in payload if isinstance(payload, list) else []:
                final = block.get("Final-Recipient") or block.get("Original-Recipient")
                if not final:
                    continue
                address = final.split(";", 1)[-1].strip().strip("<>").lower()
                action = (block.get("Action") or "").strip().lower()
                status = (block.get("Status") or "").strip()
                if action in ("delivered", "relayed", "expanded"):
                    continue
                (soft if action == "delayed" or status.startswith("4") else hard).add(address)
                if status:
                    statuses.append(status)
        elif ctype in ("text/rfc822-headers", "message/rfc822") and original is None:
            payload = part.get_payload()
            if isinstance(payload, list) and payload:
                original = (payload[0].get("Message-ID") or "").strip() or None
            elif isinstance(payload, str):
                found = re.search(r"(?im)^message-id:\s*(<[^>]+>)", payload)
                original = found.group(1) if found else None
    for value in _header_values(msg, "x-failed-recipients"):
        hard.update(a for _, a in _addresses([value]))
    try:
        from flufl.bounce import all_failures

        temporary, permanent = all_failures(msg)
    except Exception:  # noqa: BLE001 - a detector crash on a strange bounce must not lose the message
        temporary, permanent = set(), set()
    decode = lambda found: {(a.decode("ascii", "replace") if isinstance(a, bytes) else str(a)).strip("<>").lower()
                            for a in found if a}
    hard |= decode(permanent)
    soft = (soft | decode(temporary)) - hard
    if original is None:
        # Non-standard bounces quote the original inline: its Message-ID is the one that is not the bounce's own.
        own = (msg.get("Message-ID") or "").strip()
        for part in msg.walk():
            if part.get_content_maintype() == "text":
                text = part.get_payload(decode=True) or b""
                for found in re.findall(rb"(?im)^\s*message-id:\s*(<[^>\s]+>)", text):
                    if found.decode("ascii", "replace") != own:
                        original = found.decode("ascii", "replace")
                        break
            if original:
                break
    if not statuses and (hard or soft):
        # Non-standard bounces often state the enhanced status in their text ("#5.1.1", "550 5.1.1").
        for part in msg.walk():
            if part.get_content_maintype() == "text":
                text = (part.get_payload(decode=True) or b"").decode("ascii", "replace")
                statuses += re.findall(r"(?<![\d.])([245]\.\d{1,3}\.\d{1,3})(?![\d.])", text)
    worst = sorted(statuses, key=lambda st: (not st.startswith("5"), st))[0] if statuses else ("5.0.0" if hard else None)
    return sorted(a for a in hard if "@" in a), sorted(a for a in soft if "@" in a), worst, original


def synthetic_message_id(msg: email.message.Message) -> str:
    """A stable stand-in for a missing Message-ID, from the headers that identify a message, so two copies of
    the same Message-ID-less mail get the same one."""
    canonical = "\n".join(" ".join(_header_values(msg, h)).strip().lower() for h in ("from", "to", "cc", "date", "subject"))
    return f"<{hashlib.sha256(canonical.encode()).hexdigest()[:32]}@auditor.invalid>"


def mail_key(message_id: str, from_addr: str | None, sent_at: datetime | None) -> str:
    """One mail found in several folders or mailboxes (Sent and All Mail, two team members' copies) gets one
    key; two different mails that reuse a Message-ID do not, because From and Date take part."""
    stamp = sent_at.isoformat() if sent_at else ""
    return hashlib.sha256(f"{message_id}\n{from_addr or ''}\n{stamp}".encode()).hexdigest()[:32]


# Over this size a message is parsed as its header and text parts only; its bytes are still stored whole.
# mail-parser holds about eight times what it is given (a 50 MB attachment took 600 MB), and the audit reads no
# attachment. The harvester's size limit is the same, so a large message reads alike from IMAP and from a file.
LARGE_MESSAGE = 1_000_000
_TEXT_LIKE = {"message/delivery-status", "message/disposition-notification", "message/feedback-report",
              "text/rfc822-headers"}
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")
_MAX_NESTING = 20


def _cut(body: memoryview, limit: int = LARGE_MESSAGE) -> bytes:
    """At most `limit` bytes, cut at a line end so that an encoded text part still decodes."""
    if len(body) <= limit:
        return bytes(body)
    cut = bytes(body[:limit])
    return cut[:cut.rfind(b"\n") + 1]


def text_parts_only(raw: bytes | memoryview, depth: int = 0) -> bytes:
    """A large message as its header and its text parts (each cut at LARGE_MESSAGE bytes); every other part
    keeps its MIME header and loses its body. Parts are found by their boundaries in a memoryview, so nothing
    large is copied, and the result is what the parser sees instead of the whole message."""
    view = memoryview(raw)
    if view[:1] == b"\n" or view[:2] == b"\r\n":
        split = 1 if view[:1] == b"\n" else 2           # a part with no header of its own: text/plain
    else:
        found = _BLANK_LINE.search(view)
        if found is None:
            return _cut(view)
        split = found.end()
    head, body = bytes(view[:split]), view[split:]
    part = BytesHeaderParser(policy=compat32).parsebytes(head)
    ctype, maintype = part.get_content_type(), part.get_content_maintype()
    if depth >= _MAX_NESTING:
        return head
    if maintype == "multipart" and part.get_boundary():
        try:
            boundary = part.get_boundary().encode("ascii", "surrogateescape")
        except UnicodeEncodeError:
            return head + _cut(body)
        newline = b"\r\n" if head.endswith(b"\r\n") else b"\n"
        delimiter = re.compile(rb"(?m)^--" + re.escape(boundary) + rb"(--)?[ \t]*\r?$")
        pieces, start = [], None
        for found in delimiter.finditer(body):
            if start is not None:
                stop = found.start() - (body[found.start() - 2:found.start()] == b"\r\n" and 2 or 1)
                pieces.append(text_parts_only(body[start:max(start, stop)], depth + 1))
            start = found.end() + 1
            if found.group(1):
                start = None
                break
        if start is not None and start < len(body):       # no closing delimiter: the last part runs to the end
            pieces.append(text_parts_only(body[start:], depth + 1))
        if not pieces:
            return head + _cut(body)
        marker = b"--" + boundary
        return head + b"".join(marker + newline + piece + newline for piece in pieces) + marker + b"--" + newline
    if ctype in ("message/rfc822", "message/global"):
        return head + text_parts_only(body, depth + 1)
    if maintype == "text" or ctype in _TEXT_LIKE:
        return head + _cut(body)
    return head


_LIST_MARKER = re.compile(rb"(?im)^(list-id|list-unsubscribe|precedence)[ \t]*:")
_AUTO_HEADERS = ("auto-submitted", "x-autoreply", "x-autorespond")
_FROM_FIELD = re.compile(rb"(?im)^from[ \t]*:(.*(?:\r?\n[ \t].*)*)")
_FOLD = re.compile(r"\r?\n[ \t]")
# How a body that can wait was told apart, in the record's flags.
DEFERRED_LIST, DEFERRED_STRANGER = "body_deferred", "body_deferred: from a stranger"


def sender_address(raw: bytes) -> str | None:
    """The lower-case address in the From field of the raw bytes, read without parsing the message (the ingest
    asks it of every inbound message to tell a stranger from a correspondent); None unless there is exactly one."""
    found = _FROM_FIELD.search(_header_block(_without_preamble(raw)))
    if found is None:
        return None
    value = found.group(1).decode("ascii", "surrogateescape")
    if "\n" in value:
        value = _FOLD.sub(" ", value)
    addresses = {addr for _, addr in _addresses([value])}
    return addresses.pop() if len(addresses) == 1 else None


def body_can_wait(msg: email.message.Message, *, from_stranger: bool = False) -> str | None:
    """Whether only the header of this mail need be parsed, at a tenth of the cost: the flag that says why
    (DEFERRED_LIST, DEFERRED_STRANGER), or None when the audit reads its body.

    List or bulk mail that answers nothing (a newsletter, a notification) is list traffic, neither an answer nor a
    human contact, whoever sent it. Mail `from_stranger` (someone the team never wrote to, at no organisation it
    wrote to) that names no earlier message cannot answer an ask, and no ask's warmth counts it. A reply, an
    auto-reply and a bounce are read whole either way."""
    if msg.get("In-Reply-To") or msg.get("References"):
        return None
    if any(msg.get(h) and str(msg.get(h)).strip().lower() != "no" for h in _AUTO_HEADERS):
        return None
    precedence = str(msg.get("Precedence") or "").strip().lower()
    listed = bool(msg.get("List-Id") or msg.get("List-Unsubscribe") or precedence in ("bulk", "list", "junk"))
    if not (listed or from_stranger):
        return None
    senders = _addresses(_header_values(msg, "from"))
    if _looks_like_bounce(msg, senders[0][1] if senders else None, _decode(msg.get("Subject") or "")):
        return None
    return DEFERRED_LIST if listed else DEFERRED_STRANGER


def parse_raw(raw: bytes, envelope_date: datetime | None = None, *, may_defer_body: bool = False,
              from_stranger: bool = False) -> dict[str, Any]:
    """Bytes to one normalised record. Raises `Unparseable` with the quarantine reason.

    With `may_defer_body` (mail found outside a Sent folder), mail whose body can wait (`body_can_wait`: list
    and bulk mail, and with `from_stranger` anything that answers nothing) is parsed as its header only:
    body_kind 'deferred', flagged DEFERRED_LIST or DEFERRED_STRANGER. Our own mass mail can look like list mail,
    and a stranger may be written to later: the tag stage parses a deferred message whole once it turns out to
    be ours or from someone we wrote to (ingest.ensure_bodies)."""
    _check_bytes(raw)
    raw = _without_preamble(raw)
    size, large = len(raw), len(raw) > LARGE_MESSAGE
    msg = parsed = deferred_as = None
    if may_defer_body:
        # Decided on the header block alone (not the whole message, which the header parser would read in too).
        head = _header_block(raw)
        if len(head) < _HEADER_BLOCK_MAX and (from_stranger or _LIST_MARKER.search(head)):
            header = BytesHeaderParser(policy=compat32).parsebytes(head)
            deferred_as = body_can_wait(header, from_stranger=from_stranger)
            if deferred_as:
                msg = header
    if msg is None:
        if large:
            raw = text_parts_only(raw)
        # Headers are read from the standard-library message (compat32, parsed from the bytes), not from
        # mail-parser's decoded header values: raw 8-bit text survives there as surrogate escapes that _decode
        # reads, where mail-parser's text has already replaced it. mail-parser reads the body.
        msg = email.message_from_bytes(raw, policy=compat32)
        try:
            parsed = _BodyParser(message=_body_view(msg))
        except RecursionError:
            raise                           # parse_or_reason names it: a structure nested too deeply
        except Exception as exc:  # noqa: BLE001 - a parser crash on hostile input is a quarantine reason
            raise Unparseable(f"parser failed: {type(exc).__name__}: {exc}"[:500]) from None
    names = {k.lower() for k in msg.keys()}
    if not names & set(_MAIL_HEADERS):
        raise Unparseable("not an email: no mail header fields (From, To, Date, Message-ID, Subject, Received)")

    flags: list[str] = []
    sent_at, date_source = _to_utc(msg.get("Date")), "header"
    if sent_at is None:
        flags.append("date_missing" if msg.get("Date") is None else "date_unparseable")
        sent_at, date_source = _received_date(msg), "received"
        if sent_at is None and envelope_date is not None:
            sent_at, date_source = envelope_date, "envelope"
        if sent_at is None:
            date_source = None
            flags.append("no_usable_date")

    ids = _msgids(msg.get("Message-ID"))
    message_id = ids[0] if ids else synthetic_message_id(msg)
    if not ids:
        flags.append("message_id_synthesised")
    senders = _addresses(_header_values(msg, "from"))
    from_name, from_addr = senders[0] if senders else ("", None)
    if not senders:
        flags.append("no_from")

    recipients = []
    for field in ("to", "cc", "bcc"):
        for name, addr in _addresses(_header_values(msg, field)):
            recipients.append({"addr": addr, "name": _decode(name), "field": field})
    undisclosed = any("undisclosed" in v.lower() for v in _header_values(msg, "to"))

    plain = "\n".join(parsed.text_plain).strip() if parsed else ""
    if "\x1b" in plain:
        plain = _stdlib_text(msg) or plain      # an escape-sequence charset (ISO-2022-JP) left undecoded
    if parsed is None:
        body, body_kind = "", "deferred"
        flags.append(deferred_as)
    elif plain:
        body, body_kind = plain, "plain"
    elif parsed.text_html:
        body, body_kind = _html_to_text("\n".join(parsed.text_html)).strip(), "html"
    else:
        body, body_kind = "", "none"

    headers = {}
    for name, value in msg.items():
        key = name.lower()
        if key not in headers and (key in KEPT_HEADERS or key.startswith(KEPT_HEADER_PREFIXES)):
            headers[key] = _decode(str(value))[:MAX_HEADER_VALUE]

    content_type = msg.get_content_type()
    subject = _decode(msg.get("Subject") or "")
    dsn_recipients, dsn_soft, dsn_status, dsn_original = (
        _bounce(msg) if _looks_like_bounce(msg, from_addr, subject) else ([], [], None, None))
    if large and parsed:
        flags.append("large_text_parts_only")  # parsed without its attachments; the stored bytes are whole
    if "x-auditor-partial" in headers:
        flags.append("partial_fetch")       # the harvester fetched only the header and text parts
    if parsed and parsed.defects_categories:
        flags.append("defects:" + ",".join(sorted(parsed.defects_categories)))

    irt = _msgids(msg.get("In-Reply-To"))
    return {
        "message_id": message_id,
        "mail_key": mail_key(message_id, from_addr, sent_at),
        "in_reply_to": irt[0] if irt else None,
        "reference_ids": _msgids(" ".join(_header_values(msg, "references"))),
        "from_addr": from_addr,
        "from_name": _decode(from_name) or None,
        "recipients": recipients,
        "undisclosed": undisclosed,
        "sent_at": sent_at,
        "date_source": date_source,
        "subject": subject,
        "body_text": body,
        "body_kind": body_kind,
        "headers": headers,
        "content_type": content_type,
        "dsn_recipients": dsn_recipients,
        "dsn_soft_recipients": dsn_soft,
        "dsn_status": dsn_status,
        "dsn_original_id": dsn_original,
        "size": size,
        "flags": flags,
    }


def parse_or_reason(item: tuple[bytes, datetime | None, bool, bool]) -> tuple[dict[str, Any] | None, str | None]:
    """(record, None) or (None, quarantine reason) for (raw, envelope_date, may_defer_body, from_stranger):
    whatever the bytes, never an exception, because hostile input must not stop a run. Runs in the parser's
    worker processes."""
    raw, envelope_date, may_defer_body, from_stranger = item
    try:
        return parse_raw(raw, envelope_date, may_defer_body=may_defer_body, from_stranger=from_stranger), None
    except Unparseable as exc:
        return None, str(exc)
    except RecursionError:
        return None, "parser failed: structure nested too deeply"
    except Exception as exc:  # noqa: BLE001 - keep the bytes and the reason, go on
        return None, f"parser failed: {type(exc).__name__}: {exc}"[:500]
