import pytest
from hypothesis import given, settings, strategies as st

from auditor.parse import Unparseable, content_sha256, mail_key, parse_raw

from conftest import MAILBOX


def read(folder, name):
    return (MAILBOX / folder / name).read_bytes()


def test_a_plain_ask_becomes_one_normalised_record():
    rec = parse_raw(read("Sent", "03-ask-lena-podcast.eml"))
    assert rec["message_id"] == "<bp-0303-sam-lena@brightpath.org>"
    assert rec["from_addr"] == "sam@brightpath.org" and rec["from_name"] == "Sam Ortiz"
    assert rec["recipients"] == [{"addr": "lena.vogt@hillside-school.org", "name": "Lena Vogt", "field": "to"}]
    assert rec["sent_at"].isoformat() == "2026-03-03T15:05:00+00:00" and rec["date_source"] == "header"
    assert rec["subject"] == "Your reading circles on our podcast?"
    assert "30-minute interview" in rec["body_text"] and rec["body_kind"] == "plain"
    assert rec["flags"] == []


def test_threading_headers_and_bulk_headers_are_kept():
    reply = parse_raw(read("Inbox", "04-lena-yes.eml"))
    assert reply["in_reply_to"] == "<bp-0303-sam-lena@brightpath.org>"
    assert reply["reference_ids"] == ["<bp-0303-sam-lena@brightpath.org>"]
    blast = parse_raw(read("Sent", "05-spring-appeal.eml"))
    assert blast["undisclosed"] is True
    assert len([r for r in blast["recipients"] if r["field"] == "bcc"]) == 6
    assert blast["headers"]["list-unsubscribe"] == "<mailto:leave@brightpath.org>"
    assert blast["headers"]["precedence"] == "bulk"


def test_html_only_body_is_converted_to_text():
    rec = parse_raw(read("Sent", "10-cold-intro.eml"))
    assert rec["body_kind"] == "html"
    assert "Could you introduce me" in rec["body_text"] and "<p>" not in rec["body_text"]


def test_missing_date_falls_back_to_received_and_is_flagged():
    rec = parse_raw(read("Inbox", "11-no-date.eml"))
    assert rec["sent_at"].isoformat() == "2026-03-19T10:00:00+00:00"
    assert rec["date_source"] == "received" and "date_missing" in rec["flags"]


def test_envelope_date_is_the_last_fallback_and_no_date_at_all_is_kept_flagged():
    from datetime import datetime, timezone

    raw = b"From: a@x.org\nDate: someday soon\nSubject: s\n\nhi\n"
    env = datetime(2026, 1, 2, tzinfo=timezone.utc)
    rec = parse_raw(raw, env)
    assert rec["sent_at"] == env and rec["date_source"] == "envelope" and "date_unparseable" in rec["flags"]
    bare = parse_raw(raw)
    assert bare["sent_at"] is None and bare["date_source"] is None and "no_usable_date" in bare["flags"]


def test_delivery_status_report_names_the_failed_recipient_and_original():
    rec = parse_raw(read("Inbox", "07-bounce-eli.eml"))
    assert rec["content_type"] == "multipart/report"
    assert rec["dsn_recipients"] == ["eli@mailbox.example"]
    assert rec["dsn_status"] == "5.1.1"
    assert rec["dsn_original_id"] == "<bp-0310-appeal@brightpath.org>"


def test_synthesised_message_id_is_stable_across_copies_and_line_ends():
    raw = b"From: a@x.org\nTo: b@y.org\nDate: Tue, 3 Mar 2026 10:00:00 +0000\nSubject: s\n\nhi\n"
    one, two = parse_raw(raw), parse_raw(raw.replace(b"\n", b"\r\n"))
    assert one["message_id"] == two["message_id"] and one["message_id"].endswith("@auditor.invalid>")
    assert "message_id_synthesised" in one["flags"]
    assert content_sha256(raw) == content_sha256(raw.replace(b"\n", b"\r\n"))


def test_mail_key_separates_a_reused_message_id():
    rec = parse_raw(read("Sent", "03-ask-lena-podcast.eml"))
    assert rec["mail_key"] == mail_key(rec["message_id"], "sam@brightpath.org", rec["sent_at"])
    assert rec["mail_key"] != mail_key(rec["message_id"], "someone@else.org", rec["sent_at"])


@pytest.mark.parametrize("raw, reason", [
    (b"", "empty file"),
    (b"  \r\n\r\n", "empty file"),
    (b"%PDF-1.7\n\x00\x01", "PDF"),
    (b"PK\x03\x04\x14\x00", "zip"),
    (b"\x00\x01\x02garbage: yes\n\nbody", "NUL bytes"),
    (b"just some words\nwithout any headers at all\n", "no mail header fields"),
])
def test_what_is_not_mail_is_refused_with_a_reason(raw, reason):
    with pytest.raises(Unparseable, match=reason):
        parse_raw(raw)


def test_undecodable_charsets_do_not_raise():
    raw = (b"From: =?x-unknown?q?J=E9r=F4me?= <j@x.org>\nSubject: =?bogus?b?!!!?=\n"
           b"Content-Type: text/plain; charset=x-bogus\n\nh\xe9llo \xff\xfe\n")
    rec = parse_raw(raw)
    assert rec["from_addr"] == "j@x.org" and "llo" in rec["body_text"]


@pytest.mark.parametrize("date, expected", [
    ("Tue, 3 Mar 2026 10:00:00 +0100", "2026-03-03T09:00:00+00:00"),
    ("Tue, 3 Mar 26 10:00:00 +0100", "2026-03-03T09:00:00+00:00"),      # two-digit year, zone not a year
    ("Mon, 1 Jan 0000 00:00:00 -2359", None),                          # not silently the year 2000
])
def test_dates_keep_their_written_year(date, expected):
    rec = parse_raw(f"From: a@x.org\nDate: {date}\nSubject: s\n\nhi\n".encode())
    assert (rec["sent_at"].isoformat() if rec["sent_at"] else None) == expected


def test_header_text_is_read_whatever_its_encoding():
    raw = ("From: =?iso-8859-1?q?Ren=E9?= <r@x.org>\nSubject: D\xe9j\xe0 vu\n\tand more\x07\n\nhi\n").encode("latin-1")
    rec = parse_raw(b"\xef\xbb\xbf\r\n" + raw)       # a BOM and a blank line before the headers
    assert rec["subject"] == "Déjà vu and more" and rec["from_name"] == "René"


# -- large messages: parsed as their header and text parts, hashed a chunk at a time -------------------------------

def test_the_chunked_hash_equals_the_hash_of_the_whole_normalised_bytes():
    import hashlib
    import random
    import re

    rng = random.Random(3)
    for _ in range(400):
        raw = bytes(rng.choice(b"\r\nab") for _ in range(rng.randrange(0, 40)))
        whole = hashlib.sha256(re.sub(rb"\r?\n|\r", b"\r\n", raw)).hexdigest()
        for chunk in (1, 2, 3, 7, 1 << 20):               # chunk ends that fall between a CR and its LF
            assert content_sha256(raw, chunk) == whole, (raw, chunk)


def mime_message(attachment: bytes, *, newline: str = "\r\n", text_lines: int = 3) -> bytes:
    """An ask with plain and HTML text, a PDF attached, and a forwarded mail carrying its own attachment."""
    import base64

    encoded = base64.encodebytes(attachment).decode().replace("\n", "\r\n")
    text = "".join(f"Line {i} of the note.\r\n" for i in range(text_lines))
    lines = f"""From: Sam Ortiz <sam@brightpath.org>
To: Lena Vogt <lena.vogt@hillside-school.org>
Subject: The report, and Ada's note
Date: Tue, 3 Mar 2026 10:00:00 +0000
Message-ID: <large-1@brightpath.org>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"

This is a multi-part message in MIME format.
--outer
Content-Type: multipart/alternative; boundary="alt"

--alt
Content-Type: text/plain; charset=utf-8

Could you read the attached report by Friday?
{text}
--alt
Content-Type: text/html; charset=utf-8

<p>Could you read the attached report by Friday?</p>
--alt--
--outer
Content-Type: application/pdf; name="report.pdf"
Content-Transfer-Encoding: base64

{encoded}
--outer
Content-Type: message/rfc822

From: Ada <ada@cedar-fund.example>
Subject: Fwd: figures
Message-ID: <inner-1@cedar-fund.example>
Content-Type: multipart/mixed; boundary="inner"

--inner
Content-Type: text/plain

The inner note.
--inner
Content-Type: image/png
Content-Transfer-Encoding: base64

{encoded}
--inner--
--outer--
"""
    return lines.replace("\r\n", "\n").replace("\n", newline).encode()


@pytest.mark.parametrize("newline", ["\r\n", "\n"])
def test_a_large_message_reads_like_the_same_message_with_a_small_attachment(newline):
    import os

    from auditor.parse import LARGE_MESSAGE, text_parts_only

    small = mime_message(b"%PDF tiny", newline=newline)
    large = mime_message(os.urandom(LARGE_MESSAGE), newline=newline)
    assert len(small) < LARGE_MESSAGE < len(large) // 2
    a, b = parse_raw(small), parse_raw(large)
    assert "large_text_parts_only" in b["flags"] and "large_text_parts_only" not in a["flags"]
    assert b["size"] == len(large)
    for field in ("message_id", "mail_key", "subject", "recipients", "sent_at", "body_text", "body_kind",
                  "content_type", "dsn_original_id"):
        assert a[field] == b[field], field
    assert b["body_text"].startswith("Could you read the attached report by Friday?")
    slim = text_parts_only(large)
    assert len(slim) < 2000 and b"The inner note." in slim and b"<p>Could you" in slim


def test_a_large_bounce_still_names_its_failed_recipient_and_original():
    import os

    from auditor.parse import LARGE_MESSAGE

    report = (b"From: MAILER-DAEMON@mx.example\r\nTo: sam@brightpath.org\r\n"
              b"Subject: Undelivered Mail Returned to Sender\r\nDate: Tue, 3 Mar 2026 10:05:00 +0000\r\nMessage-ID: <dsn-1@mx.example>\r\nMIME-Version: 1.0\r\n"
              b"Content-Type: multipart/report; report-type=delivery-status; boundary=\"r\"\r\n\r\n"
              b"--r\r\nContent-Type: text/plain\r\n\r\nThe mail could not be delivered.\r\n"
              b"--r\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example\r\n\r\n"
              b"Final-Recipient: rfc822; eli@mailbox.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
              b"--r\r\nContent-Type: message/rfc822\r\n\r\n") + mime_message(os.urandom(LARGE_MESSAGE)) + b"\r\n--r--\r\n"
    rec = parse_raw(report)
    assert rec["dsn_recipients"] == ["eli@mailbox.example"] and rec["dsn_status"] == "5.1.1"
    assert rec["dsn_original_id"] == "<large-1@brightpath.org>"


def test_a_text_part_over_the_limit_is_cut_at_a_line_end():
    import re

    from auditor.parse import LARGE_MESSAGE

    rec = parse_raw(mime_message(b"x", text_lines=LARGE_MESSAGE // 20))
    assert "large_text_parts_only" in rec["flags"]
    plain, inner = rec["body_text"].split("The inner note.")     # the forwarded mail's text part still follows
    assert LARGE_MESSAGE // 2 < len(plain) <= LARGE_MESSAGE
    assert re.fullmatch(r"Line \d+ of the note\.", plain.rstrip().splitlines()[-1])     # whole lines only


# -- list and bulk mail: header only, until it turns out to be ours --------------------------------------------------

NEWSLETTER = b"""From: Reading Weekly <news@readingweekly.example>\r
To: sam@brightpath.org\r
Subject: This week in reading\r
Date: Tue, 3 Mar 2026 09:00:00 +0000\r
Message-ID: <rw-0303@readingweekly.example>\r
List-Unsubscribe: <mailto:leave@readingweekly.example>\r
Precedence: bulk\r
Content-Type: text/plain; charset=utf-8\r
\r
Five stories about reading this week.\r
"""


@pytest.mark.parametrize("extra, deferred", [
    (b"", True),
    (b"In-Reply-To: <ask-1@brightpath.org>\r\n", False),          # an answer posted through a list
    (b"References: <ask-1@brightpath.org>\r\n", False),
    (b"Auto-Submitted: auto-replied\r\n", False),                 # an auto-reply: its return date is in the body
    (b"Auto-Submitted: no\r\n", True),
    (b"X-Failed-Recipients: eli@hillside.example\r\n", False),    # a bounce
])
def test_list_mail_that_answers_nothing_is_parsed_as_its_header_only(extra, deferred):
    raw = NEWSLETTER.replace(b"Precedence: bulk\r\n", b"Precedence: bulk\r\n" + extra)
    whole = parse_raw(raw)
    rec = parse_raw(raw, may_defer_body=True)
    assert (rec["body_kind"] == "deferred") is deferred
    assert whole["body_kind"] == "plain" and "Five stories" in whole["body_text"]
    if deferred:
        assert rec["body_text"] == "" and rec["flags"] == ["body_deferred"]
        # Everything but the body is what the whole parse gives.
        assert {k: v for k, v in rec.items() if k not in ("body_text", "body_kind", "flags")} == \
               {k: v for k, v in whole.items() if k not in ("body_text", "body_kind", "flags")}
    else:
        assert rec == whole


def test_mail_without_list_headers_is_always_read_whole():
    raw = NEWSLETTER.replace(b"List-Unsubscribe: <mailto:leave@readingweekly.example>\r\n", b"").replace(
        b"Precedence: bulk\r\n", b"")
    assert parse_raw(raw, may_defer_body=True) == parse_raw(raw)



# -- a stranger's mail: header only, unless it answers, is a robot's report, or turns out to matter --------------

PITCH = b"""From: Eve Marsh <eve@growthhackers.example>\r
To: Sam <sam@brightpath.org>\r
Subject: Quick question about your donor list\r
Date: Tue, 3 Mar 2026 09:00:00 +0000\r
Message-ID: <pitch-1@growthhackers.example>\r
Content-Type: text/plain; charset=utf-8\r
\r
We help nonprofits triple their donors. Do you have ten minutes this week?\r
"""


@pytest.mark.parametrize("extra, deferred", [
    (b"", True),
    (b"In-Reply-To: <ask-1@brightpath.org>\r\n", False),          # it answers something: read whole
    (b"References: <ask-1@brightpath.org>\r\n", False),
    (b"Auto-Submitted: auto-replied\r\n", False),
    (b"X-Failed-Recipients: eli@hillside.example\r\n", False),    # a bounce
])
def test_mail_from_a_stranger_that_answers_nothing_is_parsed_as_its_header_only(extra, deferred):
    from auditor.parse import DEFERRED_STRANGER

    raw = PITCH.replace(b"Content-Type:", extra + b"Content-Type:")
    whole = parse_raw(raw)
    rec = parse_raw(raw, may_defer_body=True, from_stranger=True)
    assert whole["body_kind"] == "plain" and "triple their donors" in whole["body_text"]
    assert (rec["body_kind"] == "deferred") is deferred
    if deferred:
        assert rec["body_text"] == "" and rec["flags"] == [DEFERRED_STRANGER]
        assert {k: v for k, v in rec.items() if k not in ("body_text", "body_kind", "flags")} == \
               {k: v for k, v in whole.items() if k not in ("body_text", "body_kind", "flags")}
    else:
        assert rec == whole
    # Found in a Sent folder, or from someone the team wrote to: always whole.
    assert parse_raw(raw, may_defer_body=False, from_stranger=True) == whole
    assert parse_raw(raw, may_defer_body=True, from_stranger=False) == whole


def test_a_header_too_long_to_decide_on_is_parsed_whole():
    raw = PITCH.replace(b"Content-Type:", b"".join(b"X-Trace-%d: %s\r\n" % (i, b"x" * 70) for i in range(1000))
                        + b"Content-Type:")
    rec = parse_raw(raw, may_defer_body=True, from_stranger=True)
    assert rec["body_kind"] == "plain" and "triple their donors" in rec["body_text"]


@pytest.mark.parametrize("field, address", [
    (b"From: Eve Marsh <Eve@GrowthHackers.example>", "eve@growthhackers.example"),
    (b"From: eve@growthhackers.example", "eve@growthhackers.example"),
    (b"from:\r\n  \"Marsh, Eve\" <eve@growthhackers.example>", "eve@growthhackers.example"),   # folded, quoted
    (b"From: =?utf-8?q?=C3=89ve?= <eve@growthhackers.example>", "eve@growthhackers.example"),
    (b"From: Eve <eve@growthhackers.example> (sales)", "eve@growthhackers.example"),
    (b"From: eve@growthhackers.example, tom@growthhackers.example", None),     # two senders: no telling
    (b"From: Eve Marsh", None),
    (b"Sender: eve@growthhackers.example", None),
])
def test_the_sender_is_read_from_the_raw_header_as_the_parser_reads_it(field, address):
    from auditor.parse import sender_address

    raw = b"\xef\xbb\xbf" + PITCH.replace(b"From: Eve Marsh <eve@growthhackers.example>", field)
    assert sender_address(raw) == address
    if address is not None:
        assert parse_raw(raw)["from_addr"] == address


def test_mail_parser_reads_the_body_and_its_defects_while_headers_are_read_here():
    """mail-parser is handed the MIME headers and the parts only (parse._body_view); what it finds wrong in the
    body is still flagged, and the headers it never saw are still read."""
    received = b"".join(b"Received: from relay%d.example by mx.example; Tue, 3 Mar 2026 10:0%d:00 +0000\r\n" % (i, i % 10)
                        for i in range(50))
    raw = (received + b"From: Pat Lee <pat@elsewhere.example>\r\nTo: Sam <sam@ourteam.example>, "
           b"Kim <kim@ourteam.example>\r\nSubject: Gr\xc3\xbc\xc3\x9fe\r\nMessage-ID: <d1@elsewhere.example>\r\n"
           b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
           b"Gr\xfc\xdfe aus K\xf6ln\r\n")     # latin-1 bytes labelled utf-8
    rec = parse_raw(raw)
    assert "defects:CharsetDecodeDefect" in rec["flags"]
    assert rec["body_text"].startswith("Gr") and "aus K" in rec["body_text"] and rec["body_kind"] == "plain"
    assert rec["subject"] == "Grüße" and rec["from_addr"] == "pat@elsewhere.example"
    assert [r["addr"] for r in rec["recipients"]] == ["sam@ourteam.example", "kim@ourteam.example"]
    # No Date header: the newest Received stamp stands in, which mail-parser was not given.
    assert rec["date_source"] == "received" and rec["sent_at"].isoformat() == "2026-03-03T10:00:00+00:00"


# Mailboxes built from plain atoms, odd characters slipped in (quotes, commas, comments, groups, escapes, folding):
# every form the fast path reads must read as getaddresses reads it, and every other form must reach getaddresses.
_ATOM_CHARS = list("abZ.-_'=?+!#$%&*/^`{|}~1éü") + ["\udce9"]
_ODD = [",", "<", ">", "@", '"', "(", ")", ";", ":", "\\", "[", "]", "\r\n ", " ", "\t", "  "]
_atom = st.lists(st.sampled_from(_ATOM_CHARS), min_size=1, max_size=8).map("".join)
_phrase = st.lists(st.one_of(_atom, st.sampled_from([" ", "  ", "\t", "\r\n "])), max_size=6).map("".join)
_odd = st.sampled_from(_ODD + [""] * len(_ODD))
_addr = st.tuples(_atom, _atom).map("@".join)
_mailbox = st.one_of(
    st.tuples(_phrase, _odd, _addr, _odd).map(lambda t: f"{t[0]}{t[1]} <{t[2]}>{t[3]}"),
    st.tuples(_odd, _addr, _odd).map("".join),
    st.tuples(_phrase, _addr).map(lambda t: f'"{t[0]}" <{t[1]}>'),
    st.lists(st.sampled_from(_ATOM_CHARS + _ODD), max_size=30).map("".join),
)
_header_value = st.lists(_mailbox, min_size=1, max_size=3).map(", ".join)


@settings(max_examples=1000, deadline=None)
@given(st.lists(_header_value, max_size=3))
def test_plain_addresses_read_alike_with_and_without_getaddresses(values):
    from auditor.parse import _addresses, _addresses_of_any_form

    assert _addresses(values) == _addresses_of_any_form(values)


def test_the_body_parser_reads_the_parts_as_mail_parser_does():
    """_BodyParser skips mail-parser's header dictionaries and nothing else: the same text parts and defects on
    every fixture (the demo mailbox, the reply cases, mail from the wild) and on generated sample mail."""
    import email
    from email.policy import compat32

    import mailparser

    from auditor import samplegen
    from auditor.parse import _BodyParser, _body_view

    fixtures = [p.read_bytes() for p in sorted((MAILBOX.parent).rglob("*")) if p.is_file() and p.suffix != ".toml"]
    raws = fixtures + [m.raw for m in samplegen.iter_messages(n_messages=300)]

    def read(cls, raw):
        parsed = cls(message=_body_view(email.message_from_bytes(raw, policy=compat32)))
        return parsed.text_plain, parsed.text_html, parsed.text_not_managed, sorted(parsed.defects_categories)

    assert len(fixtures) > 150
    assert [read(_BodyParser, raw) for raw in raws] == [read(mailparser.MailParser, raw) for raw in raws]
