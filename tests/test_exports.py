"""The exports people already have (issue 23): Google Takeout's one mbox, Apple Mail's export bundles and library,
Thunderbird's profile folders, Outlook's .pst and .msg. Each shape is built here from one generated sample mailbox
and must audit exactly as that Maildir does, with nobody saying who the team is: the Sent mail says it.

The Outlook files are real ones from the test data of packages on the registries (fetched at test time, checked by
their sha256, never copied into the project): an Enron .pst in the MIT-licensed npm package pst-extractor, and
.msg files in the BSD-licensed PyPI package msg-parser."""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from auditor import samplegen
from auditor.config import Identity, Settings, load_rules, parse_as_of
from auditor.ingest import ingest_paths
from auditor.match import run_match
from auditor.sources import iter_source
from auditor.store import Store
from auditor.tag import run_tag

from conftest import require_or_skip

ROOT = Path(__file__).resolve().parent.parent
AS_OF = samplegen.SAMPLE_AS_OF.date().isoformat()
N_MESSAGES = 700
RULES = load_rules()
SKIP = RULES["sources"]["skip_folders"]
# What each shape must not audit: a spam, a draft, a chat and a deleted message, each naming a person of its own.
NOT_CORRESPONDENCE = {
    "spam": b"From: Prize Desk <win@prize.example>\nTo: info@riverbend-literacy.org\nSubject: You won\n"
            b"Date: Mon, 2 Mar 2026 09:00:00 +0000\nMessage-ID: <spam-1@prize.example>\n\nClaim now.\n",
    "draft": b"From: Ana <ana@riverbend-literacy.org>\nTo: someone@nowhere.example\nSubject: Draft ask\n"
             b"Date: Mon, 2 Mar 2026 09:00:00 +0000\nMessage-ID: <draft-1@riverbend-literacy.org>\n\n"
             b"Would you give $100?\n",
    "chat": b"From: Ana <ana@riverbend-literacy.org>\nTo: chatter@chat.example\nSubject: Chat\n"
            b"Date: Mon, 2 Mar 2026 09:00:00 +0000\nMessage-ID: <chat-1@riverbend-literacy.org>\n\nhi\n",
    "trash": b"From: Old Friend <old@trash.example>\nTo: ana@riverbend-literacy.org\nSubject: Old\n"
             b"Date: Mon, 2 Mar 2026 09:00:00 +0000\nMessage-ID: <trash-1@trash.example>\n\nbye\n",
}


# ---------------------------------------------------------------------------------------------------------------
# The mail, once as a Maildir and as (folder, bytes)
# ---------------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def maildir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("exports") / "Maildir"
    samplegen.write_maildir(root, samplegen.iter_messages(n_messages=N_MESSAGES), malformed=False)
    return root


def mail_of(maildir: Path) -> list[tuple[str, bytes]]:
    """("Sent" or "Inbox", raw bytes) of every message, in file-name order."""
    found = []
    for folder, path in (("Inbox", maildir), ("Sent", maildir / ".Sent")):
        for sub in ("cur", "new"):
            found += [(folder, f.read_bytes()) for f in sorted((path / sub).iterdir()) if not f.name.startswith(".")]
    return found


def envelope(raw: bytes) -> bytes:
    """An mbox From_ line from the message's own Date, as Takeout and Thunderbird write it."""
    head = raw.split(b"\n\n", 1)[0].decode("utf-8", "replace")
    date = next((line[5:].strip() for line in head.splitlines() if line.lower().startswith("date:")), None)
    when = parsedate_to_datetime(date) if date else parsedate_to_datetime("Mon, 2 Mar 2026 09:00:00 +0000")
    return b"From 1234567890123456789@xxx " + when.strftime("%a %b %d %H:%M:%S %z %Y").encode() + b"\n"


def mbox(messages: list[bytes], headers: list[bytes] | None = None) -> bytes:
    """mboxrd: each message after its From_ line, with its body's "From " lines quoted."""
    out = []
    for n, raw in enumerate(messages):
        raw = raw.replace(b"\r\n", b"\n")
        lines = [b">" + line if line.lstrip(b">").startswith(b"From ") else line for line in raw.split(b"\n")]
        out += [envelope(raw), (headers[n] if headers else b""), b"\n".join(lines).rstrip(b"\n"), b"\n\n"]
    return b"".join(out)


def audited(path: Path, db: Path) -> dict[str, list[tuple]]:
    """Ingest, tag and match `path` with no identity given; the asks, tags and outcomes it gives."""
    settings = Settings(db_path=db, config_path=None, identity=Identity(), as_of=parse_as_of(AS_OF), rules=RULES)
    with Store.open(db) as store:
        run_id = store.begin_run("test", [str(path)])
        ingest_paths(store, run_id, [path], skip_folders=SKIP)
        tag = run_tag(store, settings, run_id)
        run_match(store, settings, run_id)
        return {
            "identity": [(tag.identity.describe(), tag.identity_source)],
            "tags": store.run("SELECT message_id, recipient, audience, focus, warmth, ask_kind FROM tags ORDER BY ALL"),
            "outcomes": store.run("SELECT message_id, recipient, outcome, answer_message_id FROM outcomes ORDER BY ALL"),
        }


@pytest.fixture(scope="module")
def from_maildir(maildir, tmp_path_factory) -> dict[str, list[tuple]]:
    got = audited(maildir, tmp_path_factory.mktemp("maildir-db") / "m.duckdb")
    assert len(got["tags"]) > 50 and any(o[2] == "human" for o in got["outcomes"])
    return got


# ---------------------------------------------------------------------------------------------------------------
# Google Takeout
# ---------------------------------------------------------------------------------------------------------------
TAKEOUT_LANGUAGES = {
    # the account's language: its Sent, Spam and Trash labels as Takeout writes them
    "en": ("Sent", "Spam", "Trash", "Drafts", "Chat"),
    "de": ("Gesendet", "Spam", "Papierkorb", "Entwürfe", "Chats"),
    "fr": ("=?UTF-8?Q?Envoy=C3=A9s?=", "Spam", "Corbeille", "Brouillons", "Chats"),
}


def takeout(maildir: Path, target: Path, language: str) -> Path:
    sent, spam, trash, drafts, chat = TAKEOUT_LANGUAGES[language]
    messages, labels = [], []
    for n, (folder, raw) in enumerate(mail_of(maildir)):
        messages.append(raw)
        # A user label holding a comma is quoted; "Opened" and categories ride along.
        own = f'{sent},Opened' if folder == "Sent" else f'Inbox,Opened,"Partners, 2026",Category Personal'
        labels.append(f"X-GM-THRID: {1600000000000000000 + n}\nX-Gmail-Labels: {own}\n".encode())
    for label, raw in ((spam, NOT_CORRESPONDENCE["spam"]), (drafts, NOT_CORRESPONDENCE["draft"]),
                       (chat, NOT_CORRESPONDENCE["chat"]), (trash, NOT_CORRESPONDENCE["trash"])):
        messages.append(raw)
        labels.append(f"X-GM-THRID: 1\nX-Gmail-Labels: {label},Opened\n".encode())
    path = target / "All mail Including Spam and Trash.mbox"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(mbox(messages, labels))
    return path


@pytest.mark.parametrize("language", sorted(TAKEOUT_LANGUAGES))
def test_a_takeout_mbox_audits_as_its_maildir_with_labels_deciding_sent_and_skipped(
        language, maildir, from_maildir, tmp_path):
    path = takeout(maildir, tmp_path / "Takeout" / "Mail", language)
    skipped = []
    read = list(iter_source(path, skip_folders=SKIP, on_skip=skipped.append))
    assert len(read) == len(mail_of(maildir))                     # spam, draft, chat and trash left out
    assert len(skipped) == 4 and all("1 message labelled" in s for s in skipped)
    assert sum(m.in_sent for m in read) == sum(folder == "Sent" for folder, _ in mail_of(maildir))
    assert audited(path, tmp_path / "t.duckdb") == from_maildir


def test_takeout_labels_are_kept_as_written_with_gmails_sent_beside_them(maildir, tmp_path):
    path = takeout(maildir, tmp_path, "fr")
    with Store.open(tmp_path / "l.duckdb") as store:
        ingest_paths(store, store.begin_run("test"), [path], skip_folders=SKIP)
        labels = {tuple(r[0]) for r in store.run("SELECT DISTINCT labels FROM locations")}
    assert labels == {("Envoyés", "Opened", "\\Sent"), ("Inbox", "Opened", "Partners, 2026", "Category Personal")}


def test_auditor_audit_runs_on_a_takeout_file_with_no_other_option(maildir, tmp_path):
    path = takeout(maildir, tmp_path, "en")
    done = subprocess.run([sys.executable, "-m", "auditor", "audit", str(path), "--as-of", AS_OF],
                          cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert "identity inferred from the Sent folder" in done.stderr
    assert "1 message labelled Spam" in done.stderr
    report = next(line.split(": ", 1)[1] for line in done.stdout.splitlines() if line.startswith("report: "))
    assert (tmp_path / report).is_file()


# ---------------------------------------------------------------------------------------------------------------
# Apple Mail and Thunderbird
# ---------------------------------------------------------------------------------------------------------------
def apple_export(maildir: Path, target: Path) -> Path:
    """Mailbox > Export Mailbox: a folder `<name>.mbox` holding the mbox as a file named `mbox` and a property list."""
    for name, folder in (("Sent Messages", "Sent"), ("INBOX", "Inbox")):
        bundle = target / f"{name}.mbox"
        bundle.mkdir(parents=True)
        (bundle / "mbox").write_bytes(mbox([raw for f, raw in mail_of(maildir) if f == folder]))
        (bundle / "Info.plist").write_text("<?xml version=\"1.0\"?><plist><dict/></plist>\n")
    trash = target / "Deleted Messages.mbox"
    trash.mkdir()
    (trash / "mbox").write_bytes(mbox([NOT_CORRESPONDENCE["trash"]]))
    return target


def apple_library(maildir: Path, target: Path) -> Path:
    """Apple Mail's own library: one .emlx per message (its length, the message, a property list) deep inside
    `<mailbox>.mbox`."""
    for name, folder in (("Sent Messages", "Sent"), ("INBOX", "Inbox")):
        messages = target / "V10" / "ACCOUNT-1" / f"{name}.mbox" / "UUID-1" / "Data" / "1" / "Messages"
        messages.mkdir(parents=True)
        for n, (_, raw) in enumerate(m for m in mail_of(maildir) if m[0] == folder):
            (messages / f"{n + 1}.emlx").write_bytes(b"%d\n" % len(raw) + raw + b"<?xml version=\"1.0\"?><plist/>\n")
    junk = target / "V10" / "ACCOUNT-1" / "Junk.mbox" / "Messages"
    junk.mkdir(parents=True)
    raw = NOT_CORRESPONDENCE["spam"]
    (junk / "1.emlx").write_bytes(b"%d\n" % len(raw) + raw + b"<plist/>\n")
    return target


def thunderbird(maildir: Path, target: Path) -> Path:
    """A profile's `Mail/Local Folders`: mbox files without extension beside their .msf index, an `Inbox.sbd`
    folder of subfolders, an empty Drafts, a Trash, and the settings files Thunderbird keeps there."""
    local = target / "Mail" / "Local Folders"
    (local / "Inbox.sbd").mkdir(parents=True)
    inbox = [raw for f, raw in mail_of(maildir) if f == "Inbox"]
    half = len(inbox) // 2
    for path, messages in ((local / "Sent", [raw for f, raw in mail_of(maildir) if f == "Sent"]),
                           (local / "Inbox", inbox[:half]), (local / "Inbox.sbd" / "Partners", inbox[half:]),
                           (local / "Drafts", []), (local / "Trash", [NOT_CORRESPONDENCE["trash"]])):
        path.write_bytes(mbox(messages))
        path.with_name(path.name + ".msf").write_text("// <!-- <mdb:mork:z v=\"1.4\"/> -->\n")
    (local / "msgFilterRules.dat").write_text('version="9"\nlogging="no"\n')
    (local / "popstate.dat").write_text("# POP3 State File\n")
    return target


@pytest.mark.parametrize("shape", [apple_export, apple_library, thunderbird])
def test_apple_mail_and_thunderbird_folders_audit_as_their_maildir(shape, maildir, from_maildir, tmp_path):
    root = shape(maildir, tmp_path / shape.__name__)
    skipped = []
    read = list(iter_source(root, skip_folders=SKIP, on_skip=skipped.append))
    assert len(read) == len(mail_of(maildir))              # no index, property list or settings file is read
    assert any("Deleted Messages" in s or "Junk" in s or "Trash" in s for s in skipped), skipped
    sidecars = {"apple_export": "2 index and settings files", "apple_library": None,
                "thunderbird": "7 index and settings files"}[shape.__name__]
    assert (sidecars is None) == (not any("index and settings" in s for s in skipped)), skipped
    assert sidecars is None or any(sidecars in s for s in skipped), skipped
    assert {m.folder for m in read if m.in_sent} == {"Sent Messages" if "apple" in shape.__name__ else "Sent"}
    assert audited(root, tmp_path / "a.duckdb") == from_maildir


# ---------------------------------------------------------------------------------------------------------------
# Outlook: real files from the registries
# ---------------------------------------------------------------------------------------------------------------
def _cache(tmp_path_factory) -> Path:
    return tmp_path_factory.getbasetemp().parent / "registry-cache"


def _fetched(tmp_path_factory, name: str, sha256: str, fetch) -> Path:
    cache = _cache(tmp_path_factory)
    cache.mkdir(exist_ok=True)
    path = cache / name
    if not path.is_file():
        try:
            fetch(cache)
        except (OSError, subprocess.SubprocessError):
            pass
    require_or_skip(path.is_file(), f"{name} from the package registry")
    assert hashlib.sha256(path.read_bytes()).hexdigest() == sha256, f"{name} is not the file this test was written for"
    return path


@pytest.fixture(scope="session")
def enron_pst(tmp_path_factory) -> Path:
    def fetch(cache: Path) -> None:
        if shutil.which("npm"):
            subprocess.run(["npm", "pack", "pst-extractor@1.12.0", "--silent"], cwd=cache, check=True,
                           capture_output=True, timeout=300)
        else:                       # the registry's own address for the tarball, as npm would fetch it
            from urllib.request import urlopen

            with urlopen("https://registry.npmjs.org/pst-extractor/-/pst-extractor-1.12.0.tgz", timeout=300) as r:
                (cache / "pst-extractor-1.12.0.tgz").write_bytes(r.read())

    tgz = _fetched(tmp_path_factory, "pst-extractor-1.12.0.tgz",
                   "c4c9eb9e75d09171452a4706df7d0e0e49606c1ca04aa81f30417dd385ad0e30", fetch)
    target = tgz.with_name("enron.pst")
    if not target.is_file():
        with tarfile.open(tgz) as archive:
            member = archive.extractfile("package/example/testdata/enron.pst")
            target.write_bytes(member.read())
    return target


@pytest.fixture(scope="session")
def msg_files(tmp_path_factory) -> Path:
    sdist = _fetched(tmp_path_factory, "msg_parser-1.2.0.tar.gz",
                     "0de858d4fcebb6c8f6f028da83a17a20fe01cdce67c490779cf43b3b0162aa66",
                     lambda cache: subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                                                   "--no-binary", ":all:", "-d", str(cache), "msg-parser==1.2.0"],
                                                  check=True, capture_output=True, timeout=300))
    folder = sdist.with_name("msg") / "Inbox"
    if not folder.is_dir():
        folder.mkdir(parents=True)
        with tarfile.open(sdist) as archive:
            for name in ("other.msg", "outer.msg"):
                (folder / name).write_bytes(archive.extractfile(f"msg_parser-1.2.0/tests/files/{name}").read())
    return folder


def test_a_pst_is_read_folder_by_folder_with_sent_items_as_sent_and_deleted_items_skipped(enron_pst):
    skipped = []
    read = list(iter_source(enron_pst, skip_folders=SKIP, on_skip=skipped.append))
    folders = {}
    for m in read:
        folders[m.folder.rsplit("/", 1)[-1]] = folders.get(m.folder.rsplit("/", 1)[-1], 0) + 1
    assert folders == {"Personal": 47, "TW-Commercial Group": 14, "Systems": 7, "Sent Items": 2,
                       "MLOKAY (Non-Privileged)": 1}
    assert skipped == [f"{enron_pst}: folder Top of Personal Folders/Deleted Items (drafts, trash, junk and chats "
                       "are not correspondence)"]
    assert {m.folder.rsplit("/", 1)[-1] for m in read if m.in_sent} == {"Sent Items"}
    assert len({m.location for m in read}) == len(read) and all(m.kind == "pst" for m in read)


def test_a_pst_audits_through_the_cli(enron_pst, tmp_path):
    done = subprocess.run([sys.executable, "-m", "auditor", "audit", str(enron_pst), "--me", "@enron.com",
                           "--as-of", "2002-01-01", "-o", str(tmp_path / "r.html"), "--db", str(tmp_path / "p.duckdb")],
                          capture_output=True, text=True, timeout=600, env={"PATH": "/usr/bin:/bin",
                                                                            "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert "read 71: 71 new, 0 duplicate, 0 quarantined" in done.stdout.splitlines()
    assert (tmp_path / "r.html").is_file()
    with Store.open(tmp_path / "p.duckdb") as store:
        subjects = {r[0] for r in store.run("SELECT subject FROM messages")}
        (dated,), = store.run("SELECT count(*) FROM messages WHERE sent_at IS NOT NULL")
    assert "Cirque du Soleil - Dralion" in subjects and dated == 71


def test_msg_files_are_read_as_messages_with_their_headers(msg_files, tmp_path):
    read = sorted(iter_source(msg_files), key=lambda m: m.location)
    assert [(m.kind, m.folder, m.location) for m in read] == [("msg", "Inbox", "other.msg"),
                                                              ("msg", "Inbox", "outer.msg")]
    with Store.open(tmp_path / "m.duckdb") as store:
        counts = ingest_paths(store, store.begin_run("test"), [msg_files])
        rows = dict(store.run("SELECT subject, from_addr FROM messages"))
    assert counts.quarantined == 0
    assert rows["投递状态通知 (Failure Notice)"] == "mailer-daemon@tjdpf.org.cn"
    assert "outer subject" in rows


def test_without_the_outlook_extra_a_pst_is_one_sentence_and_exit_2(enron_pst, tmp_path):
    """The extra is simulated missing: a module that fails to import, as it does where it is not installed."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "pypff.py").write_text("raise ImportError('not installed')\n")
    done = subprocess.run([sys.executable, "-m", "auditor", "ingest", str(enron_pst), "--db", str(tmp_path / "x.duckdb")],
                          capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{blocker}:{ROOT}"})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "error: reading enron.pst needs the Outlook extra, which is not installed: "
        "pip install 'outreach-auditor[outlook]'")
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("name", ["broken.pst", "broken.msg"])
def test_a_file_that_is_no_outlook_file_is_one_sentence_and_exit_2(name, tmp_path):
    (tmp_path / name).write_bytes(b"this is not what its name says\n" * 40)
    done = subprocess.run([sys.executable, "-m", "auditor", "ingest", str(tmp_path / name), "--db",
                           str(tmp_path / "x.duckdb")], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert f"cannot read {tmp_path / name} as an Outlook" in done.stderr.strip().splitlines()[-1]
