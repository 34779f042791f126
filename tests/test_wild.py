"""Wild mail: a corpus of broken and unusual files (tests/fixtures/wild/), ingested, tagged and matched whole, plus a
hypothesis property test that does the same with generated and mutated messages.

The corpus is written by `build_corpus` below (deterministic; every message is made up here, none is real mail).
Regenerate it with `python tests/test_wild.py`; `test_corpus_is_what_the_generator_writes` keeps the committed
files and the generator in step.
"""
from __future__ import annotations

import base64
import os
import random
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from conftest import make_settings  # noqa: E402

WILD = Path(__file__).parent / "fixtures" / "wild"
ME = "@ourteam.example"

# Expected Unicode text of the charset cases.
JA_SUBJECT, JA_NAME, JA_BODY = "会議の日程について", "山田太郎", "来週の会議にご参加いただけますか。"
RU_SUBJECT, RU_NAME, RU_BODY = "Привет, мир", "Иван Петров", "Не могли бы вы помочь нам?"
W1252_SUBJECT, W1252_NAME, W1252_BODY = "Café – “naïve” idea €5", "José Núñez", "Voilà: “smart quotes” — €10 please."
REUSED_ID = "<reused-0001@shared.example>"
NON_MAIL = ("Other/doc.pdf", "Other/archive.zip", "Other/random.bin", "Other/image.png")


# ---------------------------------------------------------------------------------------------------------------
# The corpus generator
# ---------------------------------------------------------------------------------------------------------------

def _b(s: str, cs: str) -> str:
    return f"=?{cs}?B?{base64.b64encode(s.encode(cs)).decode()}?="


def _q(s: str, cs: str) -> str:
    out = []
    for byte in s.encode(cs):
        ch = chr(byte)
        if ch.isalnum() and byte < 128:
            out.append(ch)
        elif ch == " ":
            out.append("_")
        else:
            out.append(f"={byte:02X}")
    return f"=?{cs}?Q?{''.join(out)}?="


def _msg(headers: list[tuple[str, str]] | str, body: bytes | str = b"Hello.\n", nl: bytes = b"\n") -> bytes:
    if isinstance(headers, str):
        head = headers.encode("utf-8", "surrogateescape")
    else:
        head = b"".join(f"{k}: {v}".encode("utf-8", "surrogateescape") + b"\n" for k, v in headers)
    if isinstance(body, str):
        body = body.encode()
    raw = head + b"\n" + body
    return raw.replace(b"\n", nl) if nl != b"\n" else raw


def _std(n: int, **over) -> list[tuple[str, str]]:
    base = {"From": f"Pat Lee <pat{n}@elsewhere.example>", "To": "sam@ourteam.example",
            "Subject": f"Wild message {n}", "Date": f"Tue, 3 Mar 2026 10:{n % 60:02d}:00 +0000",
            "Message-ID": f"<wild-{n}@elsewhere.example>"}
    base.update(over)
    return [(k, v) for k, v in base.items() if v is not None]


def build_corpus(dest: Path) -> dict[str, bytes]:
    """Every file of the corpus, relative path -> bytes; written under `dest` when it is not None."""
    rng = random.Random(20260301)
    f: dict[str, bytes] = {}
    inbox, sent, other = "Inbox/", "Sent/", "Other/"

    # -- charsets ------------------------------------------------------------------------------------------
    f[inbox + "charset_iso2022jp.eml"] = _msg(
        [("From", f"{_b(JA_NAME, 'iso-2022-jp')} <yamada@jp.example>"), ("To", "sam@ourteam.example"),
         ("Subject", _b(JA_SUBJECT, "iso-2022-jp")), ("Date", "Wed, 4 Mar 2026 09:00:00 +0900"),
         ("Message-ID", "<ja-1@jp.example>"), ("MIME-Version", "1.0"),
         ("Content-Type", 'text/plain; charset="ISO-2022-JP"'), ("Content-Transfer-Encoding", "7bit")],
        JA_BODY.encode("iso-2022-jp") + b"\n")
    f[inbox + "charset_koi8r.eml"] = _msg(
        [("From", f"{_q(RU_NAME, 'koi8-r')} <ivan@ru.example>"), ("To", "sam@ourteam.example"),
         ("Subject", _q(RU_SUBJECT, "koi8-r")), ("Date", "Wed, 4 Mar 2026 10:00:00 +0300"),
         ("Message-ID", "<ru-1@ru.example>"), ("MIME-Version", "1.0"),
         ("Content-Type", "text/plain; charset=koi8-r"), ("Content-Transfer-Encoding", "8bit")],
        RU_BODY.encode("koi8-r") + b"\n")
    f[inbox + "charset_windows1252.eml"] = _msg(
        [("From", f"{_q(W1252_NAME, 'windows-1252')} <jose@es.example>"), ("To", "sam@ourteam.example"),
         ("Subject", _b(W1252_SUBJECT, "windows-1252")), ("Date", "Wed, 4 Mar 2026 11:00:00 +0100"),
         ("Message-ID", "<cp-1@es.example>"), ("MIME-Version", "1.0"),
         ("Content-Type", "text/plain; charset=windows-1252"), ("Content-Transfer-Encoding", "8bit")],
        W1252_BODY.encode("windows-1252") + b"\n")
    f[inbox + "charset_unknown.eml"] = _msg(
        _std(1, Subject="=?x-unknown-42?Q?caf=E9_ol=E9?=", From="=?x-bogus?B?SGVsbG8=?= <u@unk.example>")
        + [("Content-Type", "text/plain; charset=x-no-such-charset")], "caf\xe9".encode("latin-1") + b"\n")
    f[inbox + "charset_mislabelled_utf8.eml"] = _msg(
        _std(2) + [("Content-Type", "text/plain; charset=utf-8"), ("Content-Transfer-Encoding", "8bit")],
        "Gr\xfc\xdfe aus K\xf6ln\n".encode("latin-1"))
    f[inbox + "charset_empty.eml"] = _msg(_std(3) + [("Content-Type", 'text/plain; charset=""')], "plain\n")
    f[inbox + "charset_raw_utf8_header.eml"] = _msg(
        _std(4, Subject="Grüße – 日本語 raw", From="Zoë Ünal <zoe@tr.example>"), "raw utf-8 headers\n")
    f[inbox + "charset_raw_latin1_header.eml"] = (
        b"From: Ren\xe9 <rene@fr.example>\nTo: sam@ourteam.example\nSubject: D\xe9j\xe0 vu\n"
        b"Date: Thu, 5 Mar 2026 08:00:00 +0000\nMessage-ID: <l1@fr.example>\n\nlatin-1 header bytes\n")
    f[inbox + "charset_broken_encoded_word.eml"] = _msg(
        _std(5, Subject="=?utf-8?B?!!!not base64***?= and =?utf-8?Q?=ZZ=?= =?utf-8?X?what?=",
             From="=?utf-8?B?????=?= <bw@x.example>"), "x\n")
    f[inbox + "charset_utf7.eml"] = _msg(
        _std(6, Subject="=?utf-7?Q?Hi_+AOk-t+AOk-?=") + [("Content-Type", "text/plain; charset=utf-7")],
        "+AOk-t+AOk- +ZeVnLIqe-\n")
    f[inbox + "charset_iso2022jp_as_ascii.eml"] = _msg(
        _std(7) + [("Content-Type", "text/plain; charset=us-ascii")], JA_BODY.encode("iso-2022-jp") + b"\n")
    f[inbox + "charset_nul_encoded_word.eml"] = _msg(_std(8, Subject="=?utf-8?Q?a=00b=07c?="), "x\n")

    # -- transfer encodings ----------------------------------------------------------------------------------
    f[inbox + "b64_broken.eml"] = _msg(
        _std(10) + [("Content-Type", "text/plain; charset=utf-8"), ("Content-Transfer-Encoding", "base64")],
        "SGVsbG8g!!d29y*bGQ\n@@@\nAAA=BBB==\n")
    f[inbox + "b64_truncated.eml"] = _msg(
        _std(11) + [("Content-Type", "text/plain; charset=utf-8"), ("Content-Transfer-Encoding", "base64")],
        base64.b64encode("Could you help us?".encode())[:-3] + b"\n")
    f[inbox + "qp_broken.eml"] = _msg(
        _std(12) + [("Content-Type", "text/plain; charset=utf-8"), ("Content-Transfer-Encoding", "quoted-printable")],
        "Caf=C3=A9 =ZZ =4 soft break at end=\nline=\n=\n=E2=80\n")
    f[inbox + "cte_unknown.eml"] = _msg(
        _std(13) + [("Content-Type", "text/plain"), ("Content-Transfer-Encoding", "x-rot13-bogus")], "Uryyb\n")
    f[inbox + "b64_attachment_broken.eml"] = _msg(
        _std(14) + [("MIME-Version", "1.0"), ("Content-Type", 'multipart/mixed; boundary="BB"')],
        "--BB\nContent-Type: text/plain\n\nSee attached.\n--BB\nContent-Type: application/pdf; name=x.pdf\n"
        "Content-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=x.pdf\n\nJVBERi0x=LjQK%%%\n--BB--\n")

    # -- missing headers --------------------------------------------------------------------------------------
    f[inbox + "missing_from.eml"] = _msg(_std(20, From=None))
    f[inbox + "missing_date.eml"] = _msg(_std(21, Date=None))
    f[inbox + "missing_message_id.eml"] = _msg(_std(22, **{"Message-ID": None}))
    f[inbox + "missing_all_three.eml"] = _msg(_std(23, From=None, Date=None, **{"Message-ID": None}))
    f[inbox + "only_to.eml"] = _msg([("To", "sam@ourteam.example")], "Only a To header.\n")
    f[inbox + "missing_date_received_only.eml"] = _msg(
        _std(24, Date=None) + [("Received", "from a by b; Fri, 6 Mar 2026 12:00:00 +0000")])

    # -- duplicated headers -----------------------------------------------------------------------------------
    f[inbox + "dup_from.eml"] = _msg(_std(30) + [("From", "Second Sender <second@other.example>")])
    f[inbox + "dup_date.eml"] = _msg(_std(31) + [("Date", "not a date at all")])
    f[inbox + "dup_message_id.eml"] = _msg(_std(32) + [("Message-ID", "<second-id@elsewhere.example>")])
    f[inbox + "dup_subject.eml"] = _msg(_std(33) + [("Subject", "Another subject")])

    # -- a References loop: A (ours, an ask) refs B, B (their reply) refs A; and a self reference -------------
    f[sent + "loop_a.eml"] = _msg(
        [("From", "Sam Ortiz <sam@ourteam.example>"), ("To", "Nia Park <nia@park.example>"),
         ("Subject", "Could we meet?"), ("Date", "Mon, 2 Mar 2026 09:00:00 +0000"),
         ("Message-ID", "<loop-a@ourteam.example>"), ("In-Reply-To", "<loop-b@park.example>"),
         ("References", "<loop-b@park.example>")],
        "Hi Nia,\nCould we meet for 30 minutes next week?\nSam\n")
    f[inbox + "loop_b.eml"] = _msg(
        [("From", "Nia Park <nia@park.example>"), ("To", "sam@ourteam.example"),
         ("Subject", "Re: Could we meet?"), ("Date", "Tue, 3 Mar 2026 09:00:00 +0000"),
         ("Message-ID", "<loop-b@park.example>"), ("In-Reply-To", "<loop-a@ourteam.example>"),
         ("References", "<loop-a@ourteam.example>")], "Yes, Tuesday works.\n")
    f[sent + "loop_self.eml"] = _msg(
        [("From", "sam@ourteam.example"), ("To", "kim@kim.example"), ("Subject", "Self loop"),
         ("Date", "Mon, 2 Mar 2026 10:00:00 +0000"), ("Message-ID", "<self@ourteam.example>"),
         ("In-Reply-To", "<self@ourteam.example>"), ("References", "<self@ourteam.example> <self@ourteam.example>")],
        "Would you join our board?\n")

    # -- one Message-ID reused by two different messages ------------------------------------------------------
    f[sent + "reused_1.eml"] = _msg(
        [("From", "Sam Ortiz <sam@ourteam.example>"), ("To", "ola@ola.example"), ("Subject", "Donation?"),
         ("Date", "Mon, 9 Mar 2026 09:00:00 +0000"), ("Message-ID", REUSED_ID)],
        "Hi Ola,\nWould you donate $50 to our reading programme?\n")
    f[inbox + "reused_2.eml"] = _msg(
        [("From", "Newsletter <news@shared.example>"), ("To", "sam@ourteam.example"), ("Subject", "Weekly news"),
         ("Date", "Tue, 10 Mar 2026 09:00:00 +0000"), ("Message-ID", REUSED_ID)], "This week: nothing.\n")

    # -- dates ------------------------------------------------------------------------------------------------
    f[inbox + "date_1970.eml"] = _msg(_std(40, Date="Thu, 1 Jan 1970 00:00:00 +0000"))
    f[inbox + "date_2099.eml"] = _msg(_std(41, Date="Thu, 31 Dec 2099 23:59:59 +0000"))
    f[inbox + "date_unparseable.eml"] = _msg(_std(42, Date="sometime last tuesday-ish"))
    f[inbox + "date_impossible.eml"] = _msg(_std(43, Date="Thu, 31 Feb 2026 25:61:61 +9999"))
    f[inbox + "date_year_huge.eml"] = _msg(_std(44, Date="Mon, 1 Jan 99999 00:00:00 +0000"))
    f[inbox + "date_year_zero.eml"] = _msg(_std(45, Date="Mon, 1 Jan 0000 00:00:00 -2359"))
    f[sent + "date_1970_out.eml"] = _msg(
        [("From", "sam@ourteam.example"), ("To", "old@old.example"), ("Subject", "Ancient ask"),
         ("Date", "Thu, 1 Jan 1970 00:00:01 +0000"), ("Message-ID", "<ancient@ourteam.example>")],
        "Could you introduce me to your director?\n")
    f[sent + "date_2099_out.eml"] = _msg(
        [("From", "sam@ourteam.example"), ("To", "future@future.example"), ("Subject", "Future ask"),
         ("Date", "Thu, 31 Dec 2099 23:59:59 +0000"), ("Message-ID", "<future@ourteam.example>")],
        "Could you volunteer for an hour?\n")

    # -- sizes and structure ----------------------------------------------------------------------------------
    big = "".join(f"X-Filler-{i}: value {i}\n" for i in range(5000))
    f[inbox + "header_5000_lines.eml"] = _msg("".join(f"{k}: {v}\n" for k, v in _std(50)) + big)
    f[inbox + "header_folded_long.eml"] = _msg(_std(51, Subject="start" + "\n continued" * 500))
    f[inbox + "header_line_20k.eml"] = _msg(_std(52, Subject="x" * 20000))
    depth = 200
    nested = "".join(f"--b{i}\nContent-Type: multipart/mixed; boundary=\"b{i + 1}\"\n\n" for i in range(depth))
    nested += f"--b{depth}\nContent-Type: text/plain\n\nDeep inside.\n--b{depth}--\n"
    nested += "".join(f"--b{i}--\n" for i in reversed(range(depth)))
    f[inbox + "nested_200_multipart.eml"] = _msg(
        _std(53) + [("MIME-Version", "1.0"), ("Content-Type", 'multipart/mixed; boundary="b0"')], nested)
    rfc = "Inner body.\n"
    for i in range(60):
        rfc = f"From: n{i}@n.example\nSubject: layer {i}\nContent-Type: message/rfc822\n\n" + rfc
    f[inbox + "nested_60_rfc822.eml"] = _msg(_std(54) + [("Content-Type", "message/rfc822")], rfc)
    f[inbox + "multipart_no_boundary.eml"] = _msg(_std(55) + [("Content-Type", "multipart/mixed")], "no boundary\n")
    f[inbox + "multipart_unclosed.eml"] = _msg(
        _std(56) + [("Content-Type", 'multipart/alternative; boundary="U"')],
        "--U\nContent-Type: text/plain\n\nnever closed\n--U\nContent-Type: text/html\n\n<p>still open")
    f[inbox + "many_recipients.eml"] = _msg(_std(57, To=", ".join(f"r{i}@r.example" for i in range(1000))))

    # -- NUL bytes, control characters, line ends -------------------------------------------------------------
    f[inbox + "nul_in_body.eml"] = _msg(_std(60), b"before\x00after\x00\x00end\n")
    f[inbox + "nul_in_header.eml"] = _msg(_std(61, Subject="nul\x00inside"))
    f[inbox + "control_chars_header.eml"] = _msg(_std(62, Subject="ctl \x01\x02\x1b[31m\x7f\x08 end",
                                                      From="Bad\x0bName <ctl@ctl.example>"))
    f[inbox + "cr_only.eml"] = _msg(_std(63), "line one\nline two\n", nl=b"\r")
    f[inbox + "lf_only.eml"] = _msg(_std(64), "line one\nline two\n", nl=b"\n")
    f[inbox + "crlf.eml"] = _msg(_std(65), "line one\nline two\n", nl=b"\r\n")
    f[inbox + "mixed_line_ends.eml"] = (
        b"From: m@m.example\r\nTo: sam@ourteam.example\rSubject: mixed\nDate: Tue, 3 Mar 2026 10:00:00 +0000\r\n"
        b"Message-ID: <mixed@m.example>\r\r\nbody\rmore\n")
    f[inbox + "bom_start.eml"] = b"\xef\xbb\xbf" + _msg(_std(66))
    f[inbox + "leading_blank_lines.eml"] = b"\n\n\n" + _msg(_std(67))
    f[inbox + "garbage_header_line.eml"] = _msg(
        "From: g@g.example\nthis line is not a header\nSubject: after garbage\n: empty name\nDate: Tue, 3 Mar 2026 10:00:00 +0000\n")
    f[inbox + "weird_addresses.eml"] = _msg(
        _std(68, From="<<<@@@>>> \"unclosed <x@", To="undisclosed-recipients:;, \"a@b\" <>, @, c@d@e"))

    # -- mbox with unescaped From lines in bodies ------------------------------------------------------------
    f[other + "unescaped.mbox"] = (
        b"From pat@elsewhere.example Tue Mar  3 10:00:00 2026\n"
        + _msg(_std(70), "First message.\nFrom the desk of Pat: hello.\n\nFrom here on, things get odd.\n") + b"\n"
        + b"From sam@ourteam.example Wed Mar  4 10:00:00 2026\n"
        + _msg([("From", "sam@ourteam.example"), ("To", "lee@lee.example"), ("Subject", "mbox ask"),
                ("Message-ID", "<mbox-ask@ourteam.example>")],
               "Could you sponsor our fair?\n\nFrom bob Tue Mar  3 10:00:00 2026\nlooks like a separator\n") + b"\n"
        + b"From nobody Thu Mar  5 10:00:00 2026\n" + _msg(_std(71), ">From escaped line\nFrom unescaped\n"))

    # -- not mail at all --------------------------------------------------------------------------------------
    f[other + "doc.pdf"] = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\nFrom: not@mail.example\n%%EOF\n"
    f[other + "archive.zip"] = b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(rng.randrange(256) for _ in range(200))
    f[other + "random.bin"] = bytes(rng.randrange(256) for _ in range(512))
    f[other + "image.png"] = b"\x89PNG\r\n\x1a\n" + bytes(rng.randrange(256) for _ in range(100))
    f[other + "notes.txt"] = b"Shopping list\nmilk\neggs\n"
    f[other + "data.json"] = b'{"from": "x@y.example", "subject": "json not mail"}\n'

    # -- HTML, empty ------------------------------------------------------------------------------------------
    f[inbox + "html_only_script.eml"] = _msg(
        _std(80) + [("Content-Type", "text/html; charset=utf-8")],
        "<html><head><script>alert(1);document.cookie</script><style>p{}</style></head>"
        "<body onload=\"x()\"><p>Would you <b>donate</b>?</p><img src=x onerror=alert(2)>"
        "<iframe srcdoc='<script>1</script>'></iframe></body></html>\n")
    f[inbox + "html_malformed.eml"] = _msg(
        _std(81) + [("Content-Type", "text/html")], "<div><p>unclosed <b>tags <table><tr><td>cell<script>while(1){}")
    f[inbox + "zero_body.eml"] = _msg(_std(82), b"")
    f[inbox + "empty_file.eml"] = b""
    f[inbox + "headers_no_separator.eml"] = "".join(f"{k}: {v}\n" for k, v in _std(83)).encode()
    f[inbox + "whitespace_only.eml"] = b"  \n\t\n \r\n"

    # -- a fake bounce with a broken delivery-status ---------------------------------------------------------
    f[inbox + "bounce_broken.eml"] = _msg(
        [("From", "MAILER-DAEMON@mx.example"), ("To", "sam@ourteam.example"), ("Subject", "Undeliverable: Donation?"),
         ("Date", "Mon, 9 Mar 2026 09:05:00 +0000"), ("Message-ID", "<bounce-1@mx.example>"),
         ("Content-Type", 'multipart/report; report-type=delivery-status; boundary="R"')],
        "--R\nContent-Type: text/plain\n\nFailed.\n--R\nContent-Type: message/delivery-status\n\n"
        "Final-Recipient: rfc822;\nAction: \x00failed\nStatus: 5.\n\nFinal-Recipient\n--R\n"
        "Content-Type: text/rfc822-headers\n\nMessage-ID: " + REUSED_ID + "\n--R--\n")

    # -- outbound asks and a reply, so tagging and matching have work ---------------------------------------
    f[sent + "out_ask_cp1252.eml"] = _msg(
        [("From", f"{_q('Sam Ortíz', 'windows-1252')} <sam@ourteam.example>"), ("To", "Lena <lena@hill.example>"),
         ("Subject", _q("Café chat?", "windows-1252")), ("Date", "Mon, 2 Mar 2026 15:00:00 +0000"),
         ("Message-ID", "<ask-cp@ourteam.example>"), ("Content-Type", "text/plain; charset=windows-1252")],
        "Hi Lena,\nCould we meet for a caf\xe9 next week? I\x92d love to hear about your work.\n".encode("latin-1"))
    f[inbox + "reply_to_cp1252.eml"] = _msg(
        [("From", "Lena <lena@hill.example>"), ("To", "sam@ourteam.example"), ("Subject", "Re: Café chat?"),
         ("Date", "Tue, 3 Mar 2026 07:00:00 +0000"), ("Message-ID", "<lena-1@hill.example>"),
         ("In-Reply-To", "<ask-cp@ourteam.example>"), ("References", "<ask-cp@ourteam.example>")], "Sure!\n")
    f[sent + "out_ask_nul_body.eml"] = _msg(
        [("From", "sam@ourteam.example"), ("To", "pat0@elsewhere.example"), ("Subject", "Help?"),
         ("Date", "Mon, 2 Mar 2026 16:00:00 +0000"), ("Message-ID", "<ask-nul@ourteam.example>")],
        b"Could you\x00 donate\x00 $20?\n")
    f[sent + "out_ask_no_date.eml"] = _msg(
        [("From", "sam@ourteam.example"), ("To", "nodate@x.example"), ("Subject", "Undated ask"),
         ("Message-ID", "<ask-nodate@ourteam.example>")], "Would you endorse our project?\n")
    f[sent + "out_ask_html.eml"] = _msg(
        [("From", "sam@ourteam.example"), ("To", "h@html.example"), ("Subject", "HTML ask"),
         ("Date", "Mon, 2 Mar 2026 17:00:00 +0000"), ("Message-ID", "<ask-html@ourteam.example>"),
         ("Content-Type", "text/html")], "<script>x()</script><p>Could you donate $100?</p>")

    if dest is not None:
        for rel, data in f.items():
            path = dest / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    return f


# ---------------------------------------------------------------------------------------------------------------
# The pipeline on the corpus
# ---------------------------------------------------------------------------------------------------------------

def _pipeline(folder: Path, db_dir: Path):
    from auditor.ingest import ingest_paths
    from auditor.match import run_match
    from auditor.store import Store
    from auditor.tag import run_tag

    settings = make_settings(db_dir, me=(ME,), as_of="2026-06-01")
    store = Store.open(settings.db_path)
    run_id = store.begin_run("ingest", [str(folder)])
    counts = ingest_paths(store, run_id, [folder])
    run_tag(store, settings, run_id)
    run_match(store, settings, run_id)
    return store, run_id, counts


@pytest.fixture(scope="module")
def wild(tmp_path_factory):
    db_dir = tmp_path_factory.mktemp("wild-db")
    store, run_id, counts = _pipeline(WILD, db_dir)
    try:
        yield store, run_id, counts
    finally:
        store.close()


def test_corpus_is_what_the_generator_writes():
    files = build_corpus(None)
    assert len(files) >= 60
    on_disk = {p.relative_to(WILD).as_posix() for p in WILD.rglob("*") if p.is_file()}
    assert on_disk == set(files)
    for rel, data in files.items():
        assert (WILD / rel).read_bytes() == data, rel
    assert max(len(d) for d in files.values()) == len(files["Inbox/header_5000_lines.eml"])


def test_counts_add_up(wild):
    store, run_id, counts = wild
    assert counts.read > 0
    assert counts.new + counts.duplicate + counts.quarantined == counts.read
    read, new, dup, quar = store.run('SELECT "read", new, duplicate, quarantined FROM runs WHERE run_id = ?', [run_id])[0]
    assert (read, new, dup, quar) == (counts.read, counts.new, counts.duplicate, counts.quarantined)
    assert new + dup + quar == read


def test_every_file_is_stored_or_quarantined(wild):
    store, _, _ = wild
    stored = {r[0] for r in store.run("SELECT raw_sha256 FROM messages")}
    quarantined = {r[0]: r[1] for r in store.run("SELECT raw_sha256, reason FROM quarantine")}
    locs = store.run("SELECT kind, source, location, raw_sha256 FROM locations")
    missing = []
    for path in sorted(p for p in WILD.rglob("*") if p.is_file()):
        rows = [r for r in locs if (r[0] == "eml" and r[1] == str(path.parent.resolve()) and r[2] == path.name)
                or (r[0] == "mbox" and r[1] == str(path.resolve()))]
        if not rows:
            missing.append(f"{path.relative_to(WILD)}: no location")
        for _, _, location, digest in rows:
            if digest not in stored and not (quarantined.get(digest) or "").strip():
                missing.append(f"{path.relative_to(WILD)}@{location}: neither stored nor quarantined with a reason")
    assert not missing, missing


def _digest_of(store, rel: str) -> str:
    path = WILD / rel
    rows = store.run("SELECT raw_sha256 FROM locations WHERE kind = 'eml' AND source = ? AND location = ?",
                     [str(path.parent.resolve()), path.name])
    assert len(rows) == 1, rel
    return rows[0][0]


@pytest.mark.parametrize("rel", NON_MAIL)
def test_non_mail_files_are_quarantined(wild, rel):
    store, _, _ = wild
    digest = _digest_of(store, rel)
    assert store.run("SELECT count(*) FROM messages WHERE raw_sha256 = ?", [digest])[0][0] == 0
    reason = store.run("SELECT reason FROM quarantine WHERE raw_sha256 = ?", [digest])
    assert reason and reason[0][0].strip()


@pytest.mark.parametrize("rel,name,subject,body", [
    ("Inbox/charset_iso2022jp.eml", JA_NAME, JA_SUBJECT, JA_BODY),
    ("Inbox/charset_koi8r.eml", RU_NAME, RU_SUBJECT, RU_BODY),
    ("Inbox/charset_windows1252.eml", W1252_NAME, W1252_SUBJECT, W1252_BODY),
])
def test_charset_cases_decode_without_mojibake(wild, rel, name, subject, body):
    store, _, _ = wild
    digest = _digest_of(store, rel)
    rows = store.run("SELECT from_name, subject, body_text FROM messages WHERE raw_sha256 = ?", [digest])
    assert rows, f"{rel} was not stored"
    got_name, got_subject, got_body = rows[0]
    assert (got_name, got_subject) == (name, subject)
    assert got_body.strip() == body


def test_cp1252_outbound_name_and_subject(wild):
    store, _, _ = wild
    digest = _digest_of(store, "Sent/out_ask_cp1252.eml")
    assert store.run("SELECT from_name, subject FROM messages WHERE raw_sha256 = ?", [digest])[0] == ("Sam Ortíz",
                                                                                                       "Café chat?")


@pytest.mark.parametrize("rel,message_id,from_addr", [
    ("Inbox/dup_from.eml", "<wild-30@elsewhere.example>", "pat30@elsewhere.example"),
    ("Inbox/dup_date.eml", "<wild-31@elsewhere.example>", "pat31@elsewhere.example"),
    ("Inbox/dup_message_id.eml", "<wild-32@elsewhere.example>", "pat32@elsewhere.example"),
    ("Inbox/dup_subject.eml", "<wild-33@elsewhere.example>", "pat33@elsewhere.example"),
])
def test_duplicated_headers_are_stored_not_quarantined(wild, rel, message_id, from_addr):
    """A second From, Date, Message-ID or Subject is a defect, not a reason to lose the mail: the first one wins."""
    store, _, _ = wild
    digest = _digest_of(store, rel)
    quarantined = store.run("SELECT reason FROM quarantine WHERE raw_sha256 = ?", [digest])
    assert not quarantined, f"{rel} was quarantined: {quarantined[0][0]}"
    assert store.run("SELECT message_id, from_addr FROM messages WHERE raw_sha256 = ?", [digest]) == [
        (message_id, from_addr)]


def test_reused_message_id_gives_two_mails(wild):
    store, _, _ = wild
    rows = store.run("SELECT m.message_id, m.message_id_reused, m.from_addr FROM mails m "
                     "JOIN messages s ON s.raw_sha256 = m.raw_sha256 WHERE s.message_id = ? ORDER BY m.sent_at",
                     [REUSED_ID])
    assert len(rows) == 2
    assert rows[0][0] != rows[1][0]
    assert sorted(r[1] for r in rows) == [False, True]
    assert store.run("SELECT count(*) FROM mails GROUP BY message_id HAVING count(*) > 1") == []


def test_reference_loop_finishes_and_is_matched(wild):
    store, _, _ = wild
    # Getting here means tag and match finished on the loop; the reply still answers the ask.
    out = store.run("SELECT outcome FROM outcomes WHERE message_id = '<loop-a@ourteam.example>' "
                    "AND recipient = 'nia@park.example'")
    assert out == [("human",)]


def test_tagging_found_the_outbound_asks(wild):
    store, _, _ = wild
    asks = {r[0] for r in store.run("SELECT DISTINCT message_id FROM tags")}
    assert {"<loop-a@ourteam.example>", "<ask-cp@ourteam.example>"} <= asks


# ---------------------------------------------------------------------------------------------------------------
# Property test: generated and mutated messages
# ---------------------------------------------------------------------------------------------------------------

try:
    import hypothesis
    from hypothesis import HealthCheck, given, settings as hsettings, strategies as st
except ImportError:  # pragma: no cover - exercised only where hypothesis is missing
    hypothesis = None

if hypothesis is None:
    def test_property_wild_messages():
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("hypothesis is required in CI but is not installed", pytrace=False)
        pytest.skip("hypothesis is not installed")
else:
    VALID = _msg([("From", "Sam <sam@ourteam.example>"), ("To", "Ann <ann@ann.example>"), ("Subject", "Could you help?"),
                  ("Date", "Mon, 2 Mar 2026 09:00:00 +0000"), ("Message-ID", "<valid@ourteam.example>"),
                  ("References", "<x@y.example> <valid@ourteam.example>"),
                  ("Content-Type", "text/plain; charset=utf-8")],
                 "Hi Ann,\nCould you donate $50 to our programme?\nFrom here on.\nSam\n")
    _text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=60)
    _name = st.one_of(st.sampled_from(["From", "To", "Cc", "Date", "Subject", "Message-ID", "In-Reply-To", "References",
                                       "Content-Type", "Content-Transfer-Encoding", "MIME-Version", "Received",
                                       "X-Failed-Recipients", "Auto-Submitted", "List-Id", "Precedence"]),
                      st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters=":\r\n"),
                              min_size=1, max_size=20))

    @st.composite
    def built(draw):
        headers = draw(st.lists(st.tuples(_name, _text), max_size=10))
        body = draw(st.one_of(st.binary(max_size=300), _text.map(lambda s: s.encode("utf-8"))))
        nl = draw(st.sampled_from([b"\n", b"\r\n", b"\r"]))
        head = b"".join(k.encode("utf-8") + b": " + v.encode("utf-8") + b"\n" for k, v in headers)
        return (head + b"\n" + body).replace(b"\n", nl) if nl != b"\n" else head + b"\n" + body

    @st.composite
    def mutated(draw):
        raw = bytearray(VALID)
        for _ in range(draw(st.integers(0, 5))):
            op = draw(st.sampled_from(["truncate", "flip", "dup_line", "drop_line", "insert"]))
            if not raw:
                break
            i = draw(st.integers(0, len(raw) - 1))
            if op == "truncate":
                raw = raw[:i]
            elif op == "flip":
                raw[i] = draw(st.integers(0, 255))
            elif op == "insert":
                raw[i:i] = draw(st.binary(min_size=1, max_size=20))
            else:
                lines = bytes(raw).split(b"\n")
                j = draw(st.integers(0, len(lines) - 1))
                if op == "dup_line":
                    lines.insert(j, lines[j])
                else:
                    del lines[j]
                raw = bytearray(b"\n".join(lines))
        return bytes(raw)

    @hsettings(deadline=None, derandomize=True, max_examples=200,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(st.lists(st.one_of(built(), mutated()), min_size=1, max_size=4))
    def test_property_wild_messages(raws):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "mail" / "Inbox"
            folder.mkdir(parents=True)
            for i, raw in enumerate(raws):
                (folder / f"{i}.eml").write_bytes(raw)
            store, run_id, counts = _pipeline(folder.parent, Path(tmp))
            try:
                assert counts.read >= len(raws)
                assert counts.new + counts.duplicate + counts.quarantined == counts.read
                read, new, dup, quar = store.run('SELECT "read", new, duplicate, quarantined FROM runs '
                                                 'WHERE run_id = ?', [run_id])[0]
                assert new + dup + quar == read == counts.read
            finally:
                store.close()


if __name__ == "__main__":
    if WILD.exists():
        shutil.rmtree(WILD)
    files = build_corpus(WILD)
    print(f"wrote {len(files)} files to {WILD}")
