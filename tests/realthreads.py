"""A test mailbox built from a real mailing-list archive (`../shared/realmail/threads/`, Mailman's pipermail mbox),
with the archive's own threading headers as the truth about who answered whom.

The team is the list's most active posters. Each of their posts is an ask sent to the people whose messages reply
to it directly (the archive's In-Reply-To) plus one person who did not: the author of the post it replied to when
that person did not reply, else another poster of those weeks. Everything else arrives through the list (List-Id,
Precedence: list). A third of the replies lose In-Reply-To and References, as some clients send them. A few
non-repliers send an out-of-office reply or their address bounces (our own making: the archive has neither).

Nothing of the archive is copied into the project: the mailbox is written to a temporary folder by the tests.
"""
from __future__ import annotations

import hashlib
import mailbox
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

ARCHIVE = Path(__file__).resolve().parent.parent.parent / "shared" / "realmail" / "threads" / \
    "linux-uvc-devel-2008-01_02.mbox"
LIST_ID = "Linux UVC development <linux-uvc-devel.lists.berlios.de>"
LIST_ADDR = "linux-uvc-devel@lists.berlios.de"
TEAM_SIZE = 2               # the most active posters
STRIPPED_SHARE = 3          # one reply in this many loses its threading headers
AUTO_EVERY = 9              # every ninth ask's non-replier sends an out-of-office reply ...
BOUNCE_EVERY = 11           # ... and every eleventh one's address bounces
# Pipermail writes "name at domain (Real Name)" for "Real Name <name@domain>".
_PIPERMAIL_FROM = re.compile(r"^\s*(\S+) at (\S+)\s*(?:\((.*)\))?\s*$")


@dataclass
class Post:
    message_id: str
    sender: str
    name: str
    sent_at: datetime
    subject: str
    in_reply_to: str | None
    references: list[str]
    body: str

    @property
    def parent(self) -> str | None:
        """The message this one replies to by its own headers: In-Reply-To, else the last link of References."""
        return self.in_reply_to or (self.references[-1] if self.references else None)


@dataclass
class Built:
    """What the builder wrote and the truth it knows: for each ask, its recipients, and for each recipient the
    messages of theirs that reply to it directly (by the archive's In-Reply-To), with when they were sent."""
    root: Path
    team: list[str]
    asks: dict[str, Post] = field(default_factory=dict)
    recipients: dict[str, list[str]] = field(default_factory=dict)
    direct_replies: dict[tuple[str, str], list[Post]] = field(default_factory=dict)
    stripped: set[str] = field(default_factory=set)
    # Posts the archive itself has without threading headers: whom they answer, its headers cannot say.
    unthreaded: dict[str, list[Post]] = field(default_factory=dict)
    autos: dict[str, tuple[str, str]] = field(default_factory=dict)     # message id -> (ask, recipient)
    bounces: dict[str, tuple[str, str]] = field(default_factory=dict)
    as_of: datetime | None = None


def address(raw: str) -> tuple[str, str]:
    """(bare lower-case address, display name) from pipermail's "name at domain (Name)"."""
    m = _PIPERMAIL_FROM.match(raw.replace("\n", " "))
    if not m:
        return raw.strip().lower(), ""
    return f"{m[1]}@{m[2]}".lower(), (m[3] or "").strip()


def _ids(value: str | None) -> list[str]:
    return re.findall(r"<[^<>\s]+>", value or "")


def read_archive(path: Path = ARCHIVE) -> list[Post]:
    posts = []
    for msg in mailbox.mbox(path):
        mid = (_ids(msg["Message-ID"]) or [None])[0]
        if mid is None or msg["Date"] is None:
            continue
        sender, name = address(str(msg["From"]))
        parents = _ids(msg["In-Reply-To"])
        payload = msg.get_payload(decode=True) or b""
        sent_at = parsedate_to_datetime(msg["Date"])
        if sent_at.tzinfo is None:                  # "-0000": the zone unknown, taken as UTC
            sent_at = sent_at.replace(tzinfo=timezone.utc)
        posts.append(Post(mid, sender, name, sent_at,
                          re.sub(r"\s+", " ", str(msg["Subject"] or "")).strip(),
                          parents[0] if parents else None, _ids(msg["References"]),
                          payload.decode(msg.get_content_charset() or "latin-1", "replace")))
    return sorted(posts, key=lambda p: (p.sent_at, p.message_id))


def _stable(text: str) -> int:
    return int(hashlib.sha1(text.encode()).hexdigest()[:8], 16)


def _message(post: Post, to: list[str], *, from_list: bool, threaded: bool) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"{post.name} <{post.sender}>" if post.name else post.sender
    msg["To"] = ", ".join(to)
    msg["Subject"] = post.subject
    msg["Date"] = format_datetime(post.sent_at)
    msg["Message-ID"] = post.message_id
    if threaded and post.in_reply_to:
        msg["In-Reply-To"] = post.in_reply_to
    if threaded and (post.references or post.in_reply_to):
        msg["References"] = " ".join(post.references or [post.in_reply_to])
    if from_list:
        msg["List-Id"] = LIST_ID
        msg["Precedence"] = "list"
    msg.set_content(post.body or "(no text)\n")
    return msg


def _auto_reply(ask: Post, who: str, n: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = who
    msg["To"] = ask.sender
    msg["Subject"] = f"Out of office: {ask.subject}"
    msg["Date"] = format_datetime(ask.sent_at + timedelta(minutes=3))
    msg["Message-ID"] = f"<auto-{n}@{who.split('@')[1]}>"
    msg["In-Reply-To"] = ask.message_id
    msg["Auto-Submitted"] = "auto-replied"
    back = (ask.sent_at + timedelta(days=10)).strftime("%d %B %Y")
    msg.set_content(f"I am out of the office until {back} with limited access to email.\n")
    return msg


def _bounce(ask: Post, who: str, n: int) -> bytes:
    """A DSN (RFC 3464) as a Postfix writes it: text, delivery-status naming the failed address, original headers."""
    host = ask.sender.split("@")[1]
    b = f"bounce-{n}"
    return "\r\n".join([
        f"From: Mail Delivery System <MAILER-DAEMON@{host}>", f"To: {ask.sender}",
        "Subject: Undelivered Mail Returned to Sender", f"Date: {format_datetime(ask.sent_at + timedelta(minutes=1))}",
        f"Message-ID: <bounce-{n}@{host}>", "Auto-Submitted: auto-replied", "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{b}"', "",
        f"--{b}", "Content-Type: text/plain; charset=us-ascii", "",
        f"This is the mail system at host {host}.", "",
        "I'm sorry to have to inform you that your message could not be delivered to one or more recipients.", "",
        f"<{who}>: host said: 550 5.1.1 user unknown", "",
        f"--{b}", "Content-Type: message/delivery-status", "",
        f"Reporting-MTA: dns; {host}", "", f"Final-Recipient: rfc822; {who}", "Action: failed", "Status: 5.1.1",
        "Diagnostic-Code: smtp; 550 5.1.1 user unknown", "",
        f"--{b}", "Content-Type: text/rfc822-headers", "",
        f"From: {ask.sender}", f"To: {who}", f"Subject: {ask.subject}", f"Message-ID: {ask.message_id}", "",
        f"--{b}--", ""]).encode()


def build(root: Path, *, window_days: int = 14, posts: list[Post] | None = None) -> Built:
    """Write the test mailbox under `root` (Sent/ and INBOX/, one .eml per message) and return its truth."""
    posts = posts if posts is not None else read_archive()
    team = [s for s, _ in Counter(p.sender for p in posts).most_common(TEAM_SIZE)]
    by_id = {p.message_id: p for p in posts}
    replies: dict[str, list[Post]] = {}
    for p in posts:
        if p.parent in by_id:
            replies.setdefault(p.parent, []).append(p)
    built = Built(root, team, as_of=posts[-1].sent_at + timedelta(days=window_days + 30))
    sent, inbox = root / "Sent", root / "INBOX"
    sent.mkdir(parents=True)
    inbox.mkdir(parents=True)
    for n, ask in enumerate(p for p in posts if p.sender in team):
        direct = [r for r in replies.get(ask.message_id, []) if r.sender not in team]
        repliers = list(dict.fromkeys(r.sender for r in direct))
        parent = by_id.get(ask.parent) if ask.parent else None
        if parent and parent.sender not in team and parent.sender not in repliers:
            other = parent.sender
        else:
            # Another poster of those weeks, chosen by a hash: stable from run to run.
            near = sorted({p.sender for p in posts if abs((p.sent_at - ask.sent_at).days) <= window_days
                           and p.sender not in team and p.sender not in repliers})
            other = near[_stable(ask.message_id) % len(near)] if near else None
        to = repliers + ([other] if other else [])
        if not to:
            continue
        built.asks[ask.message_id] = ask
        built.recipients[ask.message_id] = to
        for r in direct:
            built.direct_replies.setdefault((ask.message_id, r.sender), []).append(r)
        (sent / f"{n:04d}.eml").write_bytes(bytes(_message(ask, to, from_list=False, threaded=True)))
        if other and n % AUTO_EVERY == 0:
            auto = _auto_reply(ask, other, n)
            built.autos[auto["Message-ID"]] = (ask.message_id, other)
            (inbox / f"auto-{n:04d}.eml").write_bytes(bytes(auto))
        elif other and n % BOUNCE_EVERY == 0:
            built.bounces[f"<bounce-{n}@{ask.sender.split('@')[1]}>"] = (ask.message_id, other)
            (inbox / f"bounce-{n:04d}.eml").write_bytes(_bounce(ask, other, n))
    for n, post in enumerate(p for p in posts if p.sender not in team):
        threaded = not (post.parent and _stable(post.message_id) % STRIPPED_SHARE == 0)
        if not threaded:
            built.stripped.add(post.message_id)
        if not post.parent:
            built.unthreaded.setdefault(post.sender, []).append(post)
        (inbox / f"{n:04d}.eml").write_bytes(bytes(_message(post, [LIST_ADDR], from_list=True, threaded=threaded)))
    return built
