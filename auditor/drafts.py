"""Drafts: the messages waiting in an IMAP account's Drafts folder, listed and fetched for `auditor check --drafts`.

A draft is the user's unsent work, so this keeps harvest's promises and adds one: the folder is opened with
EXAMINE and read with ENVELOPE and BODY.PEEK only, so no flag changes (a draft marked \\Seen, or its \\Draft flag
lost, would show up in the user's mail program); nothing is stored. The connection, its reconnects and its
errors are harvest's own (`Harvester`), so a refused login reads the same here as in `auditor harvest`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from email.header import decode_header, make_header

from .accounts import Account
from .errors import UsageError
from .harvest import Folder, Harvester

SHOWN_RECIPIENTS = 3


@dataclass(frozen=True)
class Draft:
    number: int                     # 1 is the newest: what the user types after --drafts
    uid: int
    subject: str
    date: datetime | None           # the Date header, else when the server received it
    to: tuple[str, ...]             # addresses only, as the check takes them
    folder: str = ""
    uidvalidity: int = 0            # with uid, names the message; a server that renumbers changes it


def find_drafts_folder(folders: list[Folder], names: list[str]) -> Folder | None:
    """The \\Drafts folder, else one named as mail programs name it (`names`: rules.toml's [sources]
    drafts_folders); the name's last part counts, since servers nest it (INBOX.Drafts, [Gmail]/Entwürfe)."""
    selectable = [f for f in folders if "\\noselect" not in f.flags and "\\nonexistent" not in f.flags]
    flagged = [f for f in selectable if f.special == "\\drafts"]
    if flagged:
        return flagged[0]
    return next((f for f in selectable if re.split(r"[/.]", f.name)[-1].lower() in names), None)


def _open_drafts(harvester: Harvester, names: list[str]) -> tuple[str, int]:
    folder = find_drafts_folder(harvester.folders(), names)
    if folder is None:
        raise UsageError(f"{harvester.account.name} has no Drafts folder (none flagged \\Drafts or named Drafts): "
                         f"check the draft from a file instead (auditor check draft.eml).")
    uidvalidity, _exists = harvester.examine(folder.name)
    return folder.name, uidvalidity


def _text(value: bytes | str | None) -> str:
    """A header as the user wrote it: RFC 2047 words decoded, raw 8-bit UTF-8 (which some servers pass on) too."""
    if value is None:
        return ""
    text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    if "=?" in text:
        try:
            text = str(make_header(decode_header(text)))
        except (ValueError, LookupError):
            pass                    # a malformed encoded word is still better shown raw than not at all
    return " ".join(text.split())


def _addresses(found) -> tuple[str, ...]:
    # Group syntax ("undisclosed-recipients:;") comes as addresses without a host: they name nobody.
    return tuple(f"{_text(a.mailbox)}@{_text(a.host)}".lower() for a in found or () if a.mailbox and a.host)


def list_drafts(account: Account, names: list[str]) -> list[Draft]:
    """Every draft in the account's Drafts folder, numbered 1.. newest first. One FETCH of envelopes for them all."""
    with Harvester(account) as harvester:
        folder, uidvalidity = _open_drafts(harvester, names)
        uids = harvester.new_uids(folder, uidvalidity, 0)
        if not uids:
            return []
        fetched = harvester.envelopes(folder, uidvalidity, uids)
    found = []
    for uid, data in fetched.items():
        envelope = data.get(b"ENVELOPE")
        date = (envelope.date if envelope else None) or data.get(b"INTERNALDATE")
        found.append((uid, _text(envelope.subject if envelope else None), date,
                      _addresses(envelope.to if envelope else None)))
    # Dates from the two sources may differ in awareness; compare them as timestamps.
    found.sort(key=lambda d: (d[2].timestamp() if d[2] else 0.0, d[0]), reverse=True)
    return [Draft(n, uid, subject, date, to, folder, uidvalidity)
            for n, (uid, subject, date, to) in enumerate(found, start=1)]


def describe(draft: Draft) -> str:
    when = f"{draft.date:%Y-%m-%d}" if draft.date else "–" * 10
    people = ", ".join(draft.to[:SHOWN_RECIPIENTS]) or "(no recipient)"
    if len(draft.to) > SHOWN_RECIPIENTS:
        people += f" +{len(draft.to) - SHOWN_RECIPIENTS} more"
    return f"{draft.number:>3}  {when}  {draft.subject or '(no subject)'}  → {people}"


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())


def choose(drafts: list[Draft], choice: str) -> Draft:
    """The draft the user meant: its number in the listing, else the one whose subject holds every word given
    (the whole subject, typed out, wins over subjects that merely contain it)."""
    if not drafts:
        raise UsageError("the Drafts folder is empty: save the draft in your mail program first, or check it from "
                         "a file.")
    choice = choice.strip()
    if choice.isdigit():
        by_number = [d for d in drafts if d.number == int(choice)]
        if by_number:
            return by_number[0]
    wanted = _words(choice)
    matches = [d for d in drafts if wanted and set(wanted) <= set(_words(d.subject))]
    exact = [d for d in matches if _words(d.subject) == wanted]
    if len(exact) == 1 or len(matches) == 1:
        return (exact or matches)[0]
    if not matches:
        if choice.isdigit():
            raise UsageError(f"there is no draft {choice} (the Drafts folder holds {len(drafts)}): run "
                             f"`auditor check --drafts` to list them.")
        raise UsageError(f"no draft's subject has the words \"{choice}\": run `auditor check --drafts` to list them, "
                         f"then give the number of the one to check.")
    shown = "; ".join(f"{d.number} \"{d.subject or '(no subject)'}\"" for d in matches)
    raise UsageError(f"\"{choice}\" matches {len(matches)} drafts ({shown}): give the number of the one to check.")


def fetch(account: Account, draft: Draft, names: list[str]) -> bytes:
    """The draft's raw message, as the mail program saved it (BODY.PEEK[]; a large one as its header and text
    parts, as harvest fetches it)."""
    with Harvester(account) as harvester:
        folder, uidvalidity = _open_drafts(harvester, names)
        if (folder, uidvalidity) != (draft.folder, draft.uidvalidity):
            raise UsageError("the Drafts folder changed since it was listed: run `auditor check --drafts` again.")
        large = harvester.large_uids(folder, uidvalidity, draft.uid - 1) & {draft.uid}
        batch = harvester.fetch(folder, uidvalidity, [draft.uid], large)
    if not batch.messages:
        # Mail programs save a draft by replacing it, under a new UID.
        raise UsageError(f"draft {draft.number} is no longer in the Drafts folder (saved again or sent): run "
                         f"`auditor check --drafts` to list them again.")
    return batch.messages[0].raw
