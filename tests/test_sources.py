from pathlib import Path

import pytest

from auditor.errors import UsageError
from auditor.sources import iter_source, parse_envelope_date

from conftest import MAILBOX

MSG = b"From: a@x.org\nTo: b@y.org\nSubject: s\nMessage-ID: <%d@x.org>\n\nbody %d\n"


def maildir(root: Path, folder: str | None = None) -> Path:
    base = root if folder is None else root / f".{folder}"
    for sub in ("cur", "new", "tmp"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    return base


def test_folder_of_eml_keeps_subfolder_names_and_reads_every_file():
    found = list(iter_source(MAILBOX))
    assert len(found) == 14
    assert {m.folder for m in found} == {"Inbox", "Sent"}
    assert all(m.kind == "eml" and m.raw is not None for m in found)


def test_single_eml_and_folder_walk_give_the_same_location():
    one = next(iter(iter_source(MAILBOX / "Sent" / "03-ask-lena-podcast.eml")))
    walked = [m for m in iter_source(MAILBOX) if m.location == "03-ask-lena-podcast.eml"]
    assert (one.kind, one.source, one.folder, one.location) == (walked[0].kind, walked[0].source, walked[0].folder, walked[0].location)


def test_maildir_with_maildirpp_subfolders_skips_drafts_and_strips_flags(tmp_path):
    root = maildir(tmp_path / "mail")
    (root / "cur" / "1.host:2,S").write_bytes(MSG % (1, 1))
    (maildir(root, "Sent") / "new" / "2.host").write_bytes(MSG % (2, 2))
    (maildir(root, "Archive.2025") / "cur" / "3.host:2,RS").write_bytes(MSG % (3, 3))
    (maildir(root, "Drafts") / "cur" / "4.host:2,D").write_bytes(MSG % (4, 4))
    skipped = []
    found = list(iter_source(root, skip_folders=["drafts"], on_skip=skipped.append))
    assert sorted((m.folder, m.location) for m in found) == [("Archive/2025", "3.host"), ("INBOX", "1.host"), ("Sent", "2.host")]
    assert {m.kind for m in found} == {"maildir"}
    assert len(skipped) == 1 and "Drafts" in skipped[0]


def test_known_maildir_files_are_not_read_again(tmp_path):
    root = maildir(tmp_path / "mail")
    (root / "cur" / "1.host:2,S").write_bytes(MSG % (1, 1))
    found = list(iter_source(root, known=lambda kind, source, folder, location: location == "1.host"))
    assert len(found) == 1 and found[0].raw is None


def test_mbox_splits_on_from_lines_unescapes_and_keeps_envelope_dates(tmp_path):
    box = tmp_path / "Sent.mbox"
    box.write_bytes(
        b"From alice@x.org Tue Mar  3 10:00:00 2026\n" + MSG % (1, 1) + b"\n"
        b"From bob@y.org Wed Mar  4 11:30:00 +0000 2026\n"
        b"From: b@y.org\nSubject: two\n\nline one\n>From the archive, a quoted line\nFrom here on, not a separator\n\n"
    )
    found = list(iter_source(box))
    assert len(found) == 2
    assert found[0].folder == "Sent" and found[0].kind == "mbox"
    assert found[0].envelope_date.isoformat() == "2026-03-03T10:00:00+00:00"
    assert found[1].envelope_date.isoformat() == "2026-03-04T11:30:00+00:00"
    assert b"\nFrom the archive" in found[1].raw            # mboxrd escaping undone
    assert b"From here on, not a separator" in found[1].raw  # a body line without a date does not split
    assert found[0].raw.endswith(b"body 1\n")               # the separator's blank line is not the message's


def test_envelope_date_that_cannot_be_read_is_none():
    assert parse_envelope_date(b"From someone sometime 2026\n") is None


def test_missing_path_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        list(iter_source(tmp_path / "nope"))


def test_excluded_files_are_not_read(tmp_path):
    (tmp_path / "a.eml").write_bytes(MSG % (1, 1))
    (tmp_path / "audit.duckdb").write_bytes(b"\x00binary")
    found = list(iter_source(tmp_path, exclude=[tmp_path / "audit.duckdb"]))
    assert [m.location for m in found] == ["a.eml"]


def test_gmail_labels_read_quotes_encodings_and_folded_lines_and_add_gmails_sent():
    from auditor.sources import gmail_labels

    assert gmail_labels(b"From: a@x.org\n\nX-Gmail-Labels: Sent\n") is None          # in the body: not a label
    assert gmail_labels(b"X-Gmail-Labels: Inbox, \"Clients, 2026\",\n Category Updates\nFrom: a@x.org\n\nhi\n") == (
        "Inbox", "Clients, 2026", "Category Updates")
    assert gmail_labels(b"X-Gmail-Labels: =?UTF-8?Q?Gesendet?=,Ge\xc3\xb6ffnet\r\nFrom: a@x.org\r\n\r\nhi\r\n") == (
        "Gesendet", "Geöffnet", "\\Sent")
