"""Local mail sources: a single .eml, a folder of .eml files, an mbox file, or a Maildir with its Maildir++
subfolders, and the exports people already have of them: Google Takeout's one big mbox (where each message's
X-Gmail-Labels say whether it was sent, or is spam, trash, a draft or a chat), Apple Mail's export bundles
(`Sent Messages.mbox/mbox`) and library (`*.emlx`), Thunderbird's profile folders (mbox files such as `Sent`
beside their `.msf` index, `*.sbd` subfolders) and Outlook's `.msg` and `.pst` files (auditor/outlook.py). Each
is detected from what is on disk, never from a flag.

Every source yields the same `RawMessage` shape the IMAP harvester yields, so the stages after it cannot tell
where mail came from. Nothing here parses mail or touches the database; files are opened read-only.
"""
from __future__ import annotations

import csv
import fnmatch
import os
import re
from dataclasses import dataclass
from functools import cached_property
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Iterator

from .errors import UsageError

MAILDIR_ROOT_FOLDER = "INBOX"
# A From_ line that opens an mbox message: "From sender date...". Requiring the year at its end keeps a body line
# that merely starts with "From " (unescaped, as mboxo writers leave it) from splitting a message in two.
_FROM_LINE = re.compile(rb"^From \S*\s.*\b\d{4}\s*$")
_ESCAPED_FROM = re.compile(rb"^>(>*From )")


# A folder (or Gmail label) of the user's own sent mail, by its name's last part, in the languages mail clients
# name it in (the same pattern finds "me" in infer_identity.sql).
SENT_FOLDER = (r"(^|[/.])(sent|sent items|sent mail|sent messages|sent-mail|gesendet|gesendete elemente|"
               r"gesendete objekte|envoyés|éléments envoyés|messages envoyés|enviados|elementos enviados|"
               r"correo enviado|enviadas|itens enviados|posta inviata|inviata|inviati|elementi inviati|verzonden|"
               r"verzonden items|skickat|skickade objekt|sendt|sendte elementer|sendte|lähetetyt|wysłane|"
               r"elementy wysłane|odeslané|отправленные)$")
# Why a skipped folder or labelled message is not read: said with each one the ingest reports.
NOT_CORRESPONDENCE = "drafts, trash, junk and chats are not correspondence"
_GMAIL_LABELS = re.compile(rb"^X-Gmail-Labels:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.I | re.M)


@dataclass(frozen=True)
class RawMessage:
    kind: str                     # "eml" | "mbox" | "maildir" | "imap"
    source: str                   # the path (or account) the user named
    folder: str                   # "INBOX", "Sent", the mbox file's name, ...
    location: str                 # stable place inside the source: file name, byte offset, UID
    raw: bytes | None             # None when the location is already known and was not read again
    envelope_date: datetime | None = None   # the mbox From_ line's date, a fallback for a missing Date
    labels: tuple[str, ...] | None = None   # Gmail's X-GM-LABELS, where the server has them

    @cached_property
    def in_sent(self) -> bool:
        """Found in a Sent folder (or labelled \\Sent): the user's own mail, whose body the audit always reads."""
        return bool(re.search(SENT_FOLDER, self.folder.lower())) or "\\Sent" in (self.labels or ())


def gmail_labels(raw: bytes) -> tuple[str, ...] | None:
    """The labels Google Takeout writes on each message (X-Gmail-Labels: comma-separated, quoted where a label
    holds a comma, RFC 2047-encoded where it is not ASCII, in the account's language), with Gmail's own "\\Sent"
    beside the one that names the Sent folder, as the IMAP harvester records it. None without the header."""
    from email.header import decode_header, make_header

    end = raw.find(b"\n\n")
    found = _GMAIL_LABELS.search(raw[:end if end >= 0 else 65536].replace(b"\r\n", b"\n"))
    if not found:
        return None
    text = re.sub(r"\s*\n\s*", " ", found.group(1).decode("utf-8", "replace"))

    def decoded(label: str) -> str:
        try:
            return str(make_header(decode_header(label))) if "=?" in label else label
        except (ValueError, LookupError):
            return label

    labels = [decoded(label.strip()) for row in csv.reader([text], skipinitialspace=True) for label in row
              if label.strip()]
    if any(re.search(SENT_FOLDER, label.lower()) for label in labels):
        labels.append("\\Sent")
    return tuple(labels)


def folder_name(path: Path) -> str:
    """The mail folder an mbox or .emlx file stands for: an Apple Mail bundle's name for the `mbox` inside it
    (`Sent Messages.mbox/mbox`) or for an `.emlx` file deep inside it, else the file's own name without its
    extension (Thunderbird's `Sent`, Takeout's `All mail Including Spam and Trash`)."""
    if path.name == "mbox" and path.parent.suffix == ".mbox":
        return path.parent.stem
    if path.suffix == ".emlx":
        bundle = next((p for p in path.parents if p.suffix == ".mbox"), None)
        return bundle.stem if bundle else path.parent.name
    return path.stem


def is_skipped(folder: str, skip: set[str]) -> bool:
    """A folder (or Gmail label) left out by [sources] skip_folders: its name's last part, in any case, with the
    suffix Apple Mail (".mbox") or Thunderbird (".sbd") gives its directory taken off."""
    return _plain_name(folder.split("/")[-1]).lower() in skip


def _plain_name(directory: str) -> str:
    """A folder's name without the suffix Apple Mail (".mbox") or Thunderbird (".sbd") gives its directory."""
    return re.sub(r"\.(mbox|sbd)$", "", directory, flags=re.I)


def is_maildir(path: Path) -> bool:
    return (path / "cur").is_dir() and (path / "new").is_dir()


def looks_like_mbox(path: Path) -> bool:
    try:
        with path.open("rb") as fh:
            head = fh.read(4096).lstrip(b"\r\n")
    except OSError as exc:
        raise UsageError(f"cannot read {path} ({exc.strerror}): check its permissions.") from None
    first_line = head.split(b"\n", 1)[0].rstrip(b"\r")
    return bool(_FROM_LINE.match(first_line))


def _maildir_folders(root: Path) -> Iterator[tuple[str, Path]]:
    """The root is INBOX; Maildir++ subfolders are dot-directories whose dots separate levels (.Sent.2025).
    Sent folders come first, so that the ingest knows whom the team wrote to before it reads the inbox
    (ingest.Correspondents)."""
    folders = [(MAILDIR_ROOT_FOLDER, root)] + [
        (child.name[1:].replace(".", "/"), child) for child in sorted(root.iterdir())
        if child.name.startswith(".") and child.name not in (".", "..") and is_maildir(child)]
    yield from sorted(folders, key=lambda folder: not re.search(SENT_FOLDER, folder[0].lower()))


def _maildir_messages(root: Path, skip_folders: set[str], known: Callable[[str, str, str, str], bool],
                      on_skip: Callable[[str], None]) -> Iterator[RawMessage]:
    source = str(root)
    for folder, path in _maildir_folders(root):
        if is_skipped(folder, skip_folders):
            on_skip(f"{root}: folder {folder} ({NOT_CORRESPONDENCE})")
            continue
        for sub in ("cur", "new"):
            # Names only, sorted: 681k directory entries of one folder held 204 MiB, their names 55 MiB. Paths are
            # joined as strings: a Path per file cost 40 µs, a tenth of parsing the message.
            directory = os.path.join(path, sub)
            with os.scandir(directory) as entries:
                names = sorted(e.name for e in entries if e.is_file() and not e.name.startswith("."))
            for name in names:
                # Maildir file names change when flags change (the ":2,FLAGS" suffix); the part before it does not.
                location = name.split(":", 1)[0]
                if known("maildir", source, folder, location):
                    yield RawMessage("maildir", source, folder, location, None)
                    continue
                yield RawMessage("maildir", source, folder, location, _read(os.path.join(directory, name)))


def _read(path: Path | str) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as exc:
        raise UsageError(f"cannot read {path} ({exc.strerror}): check its permissions.") from None


def parse_envelope_date(from_line: bytes) -> datetime | None:
    """The date on an mbox From_ line ("From addr Tue Mar  3 10:00:00 2026", sometimes with a zone before the
    year). Returns None when it cannot be read; it is only a fallback."""
    tokens = from_line.decode("ascii", "replace").split()[2:]
    tokens = [t for t in tokens if not re.fullmatch(r"[+-]\d{4}|[A-Z]{3,4}", t)]
    for fmt in ("%a %b %d %H:%M:%S %Y", "%a %b %d %H:%M %Y"):
        try:
            return datetime.strptime(" ".join(tokens), fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            continue
    return None


def _mbox_messages(path: Path, folder: str, skip: set[str] = frozenset(),
                   on_skip: Callable[[str], None] = lambda what: None) -> Iterator[RawMessage]:
    """Stream an mbox without loading it. The stdlib's `mailbox.mbox` opens the file for writing and indexes it
    whole first; we only ever read, one message at a time. A message labelled (Google Takeout) with a skipped
    folder's name (Spam, Trash, Drafts, Chats) is left out, as that folder would be, and counted."""
    skipped: dict[str, int] = {}

    def emit(offset: int, from_line: bytes, lines: list[bytes]) -> RawMessage | None:
        # The blank line before the next From_ belongs to the separator, not to the message.
        if lines and lines[-1] in (b"\n", b"\r\n"):
            lines.pop()
        body = b"".join(_ESCAPED_FROM.sub(rb"\1", line) if line.startswith(b">") else line for line in lines)
        labels = gmail_labels(body)
        left_out = next((label for label in labels or () if is_skipped(label, skip)), None)
        if left_out:
            skipped[left_out] = skipped.get(left_out, 0) + 1
            return None
        return RawMessage("mbox", str(path), folder, str(offset), body, parse_envelope_date(from_line), labels)

    offset, start, from_line, lines, prev_blank = 0, 0, b"", [], True
    with path.open("rb") as fh:
        for line in fh:
            if prev_blank and line.startswith(b"From ") and _FROM_LINE.match(line.rstrip(b"\r\n")):
                if from_line and (message := emit(start, from_line, lines)):
                    yield message
                start, from_line, lines = offset, line, []
            else:
                lines.append(line)
            prev_blank = line in (b"\n", b"\r\n")
            offset += len(line)
    if from_line and (message := emit(start, from_line, lines)):
        yield message
    for label, n in sorted(skipped.items()):
        on_skip(f"{path}: {n:,} message{'s' if n != 1 else ''} labelled {label} ({NOT_CORRESPONDENCE})")


def _emlx(file: Path) -> bytes:
    """Apple Mail's .emlx: the message's length in bytes on the first line, the message, then a property list."""
    data = _read(file)
    first, _, rest = data.partition(b"\n")
    try:
        return rest[:int(first.strip())]
    except ValueError:
        return data                 # not the shape it should have: the whole file, for the parser to judge


def _file_messages(file: Path, skip: set[str] = frozenset(),
                   on_skip: Callable[[str], None] = lambda what: None) -> Iterator[RawMessage]:
    """A file is an mbox when it opens with a From_ line (or is Thunderbird's, beside its .msf index: an empty
    folder is an empty file), else one message. Its folder is the directory it sits in, so a tree of exported .eml
    files keeps its Sent/Inbox split; the same file named alone or found by walking its folder gets the same
    location."""
    from . import outlook

    if file.suffix.lower() in outlook.SUFFIXES:
        yield from outlook.messages(file, skip, on_skip)
    elif file.suffix.lower() == ".emlx":
        yield RawMessage("eml", str(file.parent), folder_name(file), file.name, _emlx(file))
    elif looks_like_mbox(file) or file.with_name(file.name + ".msf").is_file():
        yield from _mbox_messages(file, folder_name(file), skip, on_skip)
    else:
        yield RawMessage("eml", str(file.parent), file.parent.name, file.name, _read(file))


def require_exists(path: Path) -> None:
    if not Path(path).expanduser().exists():
        raise UsageError(f"{path} does not exist: give a .eml file, a folder, an mbox file or a Maildir.")


def iter_source(path: Path, *, skip_folders: Iterable[str] = (), known: Callable[[str, str, str, str], bool] | None = None,
                on_skip: Callable[[str], None] | None = None, exclude: Iterable[Path] = (),
                ignore_files: Iterable[str] | None = None) -> Iterator[RawMessage]:
    """Yield every message under `path`. `known(kind, source, folder, location)` lets a re-run skip re-reading Maildir files
    it has stored before (their content never changes); `on_skip` hears of folders left out (Trash, Junk...);
    `exclude` names files never to read (the database itself, when it sits inside the folder being ingested);
    `ignore_files` are name patterns of the indexes and settings mail clients keep beside the mail (default:
    [sources] ignore_files in rules.toml)."""
    path = Path(path).expanduser()
    skip = {s.lower() for s in skip_folders}
    known = known or (lambda kind, source, folder, location: False)
    on_skip = on_skip or (lambda what: None)
    if ignore_files is None:
        from .config import load_rules

        ignore_files = load_rules()["sources"]["ignore_files"]
    ignored = [p.lower() for p in ignore_files]
    require_exists(path)
    path = path.resolve()
    excluded = {Path(p).resolve() for p in exclude}
    if path.is_file():
        yield from _file_messages(path, skip, on_skip)
        return
    if is_maildir(path):
        yield from _maildir_messages(path, skip, known, on_skip)
        return
    sidecars = 0
    for dirpath, dirnames, filenames in os.walk(path):
        here = Path(dirpath)
        maildirs = [d for d in dirnames if is_maildir(here / d)]
        for name in sorted(maildirs):
            yield from _maildir_messages(here / name, skip, known, on_skip)
        folders = [d for d in dirnames if d not in maildirs and not d.startswith(".")]
        for d in folders:
            if is_skipped(d, skip):
                on_skip(f"{here / d}: folder {_plain_name(d)} ({NOT_CORRESPONDENCE})")
        dirnames[:] = sorted(d for d in folders if not is_skipped(d, skip))
        for name in sorted(filenames):
            file = here / name
            if name.startswith(".") or file in excluded:
                continue
            if any(fnmatch.fnmatch(name.lower(), p) for p in ignored):
                sidecars += 1
                continue
            if "." not in name and is_skipped(name, skip):      # Thunderbird's Trash, Drafts, Junk mbox files
                on_skip(f"{file}: folder {name} ({NOT_CORRESPONDENCE})")
                continue
            yield from _file_messages(file, skip, on_skip)
    if sidecars:
        on_skip(f"{path}: {sidecars:,} index and settings file{'s' if sidecars != 1 else ''} of mail clients "
                "([sources] ignore_files), not mail")
