from auditor.ingest import ingest_paths
from auditor.match import reply_rate, run_match
from auditor.tag import run_tag

from conftest import make_settings, write_eml


def outcomes_of(store):
    return {(r["message_id"], r["recipient"]): r for r in store.frame("SELECT * FROM outcomes").to_dicts()}


def matched(ingested, settings):
    store, run_id, _ = ingested
    run_tag(store, settings, run_id)
    run_match(store, settings, run_id)
    return outcomes_of(store)


def test_each_recipient_of_each_sequence_gets_one_outcome(ingested, settings):
    out = matched(ingested, settings)
    appeal = {r: o["outcome"] for (m, r), o in out.items() if m == "<bp-0310-appeal@brightpath.org>"}
    assert appeal == {"ada@mailbox.example": "human",           # "RE:" reply without threading headers
                      "ben@mailbox.example": "auto",            # out-of-office only
                      "eli@mailbox.example": "bounce",          # DSN names her address
                      "cleo@mailbox.example": "none", "dev@mailbox.example": "none",
                      "lena.vogt@hillside-school.org": "none"}
    podcast = out["<bp-0303-sam-lena@brightpath.org>", "lena.vogt@hillside-school.org"]
    assert podcast["outcome"] == "human" and podcast["matched_by"] == "in_reply_to"
    assert podcast["answer_message_id"] == "<CAL1-lena-0304@hillside-school.org>"
    assert round(podcast["hours_to_answer"], 2) == round((15 * 60 + 50) / 60, 2)   # 15:05 UTC -> 06:55 UTC next day
    assert out["<bp-0303-sam-lena@brightpath.org>", "lena.vogt@hillside-school.org"]["answer_touch"] == 1
    assert out["<bp-0310-appeal@brightpath.org>", "ada@mailbox.example"]["matched_by"] == "subject"
    omar = out["<bp-0316-omar@brightpath.org>", "omar@cedar-fund.example"]
    assert omar["outcome"] == "human"                             # its date came from Received
    assert out["<bp-0112-sam@brightpath.org>", "lena.vogt@hillside-school.org"]["outcome"] == "none"


def test_sequences_still_inside_their_window_are_pending(ingested, tmp_path):
    out = matched(ingested, make_settings(tmp_path, as_of="2026-03-20"))
    assert out["<bp-0310-appeal@brightpath.org>", "cleo@mailbox.example"]["outcome"] == "pending"
    assert out["<bp-0310-appeal@brightpath.org>", "ada@mailbox.example"]["outcome"] == "human"
    assert out["<bp-0310-appeal@brightpath.org>", "eli@mailbox.example"]["outcome"] == "bounce"


def test_follow_ups_before_an_answer_join_the_first_touch_sequence(tmp_path, store, settings):
    base = "From: Sam Ortiz <sam@brightpath.org>\nTo: Nia Park <nia@park.example>\nContent-Type: text/plain\n"
    write_eml(tmp_path / "m" / "Sent", "1.eml", base + "Subject: Coffee next week?\nDate: Mon, 2 Mar 2026 09:00:00 +0000\n"
              "Message-ID: <t1@brightpath.org>\n\nHi Nia,\nWould you have time for coffee next week?\n")
    write_eml(tmp_path / "m" / "Sent", "2.eml", base + "Subject: Re: Coffee next week?\nDate: Fri, 6 Mar 2026 09:00:00 +0000\n"
              "Message-ID: <t2@brightpath.org>\nIn-Reply-To: <t1@brightpath.org>\nReferences: <t1@brightpath.org>\n\nHi Nia, any chance this week works?\n")
    write_eml(tmp_path / "m" / "Inbox", "3.eml", "From: Nia Park <nia@park.example>\nTo: sam@brightpath.org\n"
              "Subject: Re: Coffee next week?\nDate: Sat, 7 Mar 2026 09:00:00 +0000\nMessage-ID: <n1@park.example>\n"
              "In-Reply-To: <t2@brightpath.org>\nReferences: <t1@brightpath.org> <t2@brightpath.org>\n\nYes! Tuesday?\n")
    run_id = store.begin_run("ingest")
    ingest_paths(store, run_id, [tmp_path / "m"])
    run_tag(store, settings, run_id)
    run_match(store, settings, run_id)
    out = outcomes_of(store)
    assert list(out) == [("<t1@brightpath.org>", "nia@park.example")]
    seq = out["<t1@brightpath.org>", "nia@park.example"]
    assert (seq["outcome"], seq["touches"], seq["answer_touch"]) == ("human", 2, 2)
    touches = store.run("SELECT message_id, sequence_message_id, touch FROM touches ORDER BY touch")
    assert touches == [("<t1@brightpath.org>", "<t1@brightpath.org>", 1), ("<t2@brightpath.org>", "<t1@brightpath.org>", 2)]


def test_a_late_answer_is_not_counted_and_matching_again_does_nothing(ingested, tmp_path):
    store, run_id, _ = ingested
    strict = make_settings(tmp_path, rules={"match": {"reply_window_days": 0}})
    run_tag(store, strict, run_id)
    assert run_match(store, strict, run_id).skipped is False
    assert outcomes_of(store)["<bp-0303-sam-lena@brightpath.org>", "lena.vogt@hillside-school.org"]["outcome"] == "none"
    assert run_match(store, strict, run_id).skipped is True


def test_reply_rate_is_answered_over_delivered():
    assert reply_rate(3, 12) == 0.25 and reply_rate(0, 0) is None


def test_subject_key_takes_off_reply_and_forward_prefixes_in_several_languages(store):
    keys = store.run("SELECT subject_key(s) FROM (VALUES ('AW: RE[2]: Re: Hello'), ('[board] Fwd: SV: Hello'), "
                     "('Antw: Odp: hello'), ('Re:Hello'), ('Hello: again'), (NULL)) v(s)")
    assert [k for (k,) in keys] == ["hello", "hello", "hello", "hello", "hello: again", ""]


def test_subject_key_takes_off_list_tags_and_folds_whitespace_but_the_campaign_name_keeps_its_tag(store):
    """The team's copy of a list post has no tag and the list's copy has; a long subject comes back folded."""
    keys = store.run("SELECT subject_key(s), subject_base(s) FROM (VALUES ('Re: [grants] Grant  draft'), "
                     "('[grants] Grant draft'), ('Grant\tdraft'), ('[grants] [urgent] Re: Grant draft ')) v(s)")
    assert [k for k, _ in keys] == ["grant draft"] * 4
    assert keys[1][1] == "[grants] Grant draft"


def test_two_colleagues_answering_in_the_same_second_give_one_answer_whatever_the_order(tmp_path, settings):
    """Ties on time, sender kind and match kind are broken by Message-ID: the same answer on every run and in
    every order of the mail, and all its columns from that one message."""
    from auditor.store import Store

    ask = ("From: Sam Ortiz <sam@brightpath.org>\nTo: Nia Park <nia@park.example>\nContent-Type: text/plain\n"
           "Subject: Could you host a reading hour?\nDate: Mon, 2 Mar 2026 09:00:00 +0000\n"
           "Message-ID: <ask@brightpath.org>\n\nHi Nia,\nCould you host a reading hour for our class in May?\n")

    def answer(who: str, mid: str) -> str:
        return (f"From: {who.title()} <{who}@park.example>\nTo: sam@brightpath.org\nSubject: Re: Could you host a "
                f"reading hour?\nDate: Tue, 3 Mar 2026 10:00:00 +0000\nMessage-ID: <{mid}@park.example>\n\n"
                "Happy to help, Nia is away this week.\n")

    picked = []
    for order, files in enumerate([("a.eml", "b.eml"), ("b.eml", "a.eml")]):
        box = tmp_path / f"m{order}"
        write_eml(box / "Sent", "ask.eml", ask)
        write_eml(box / "Inbox", files[0], answer("omar", "zz-later-id"))
        write_eml(box / "Inbox", files[1], answer("lena", "aa-first-id"))
        with Store.open(tmp_path / f"db{order}.duckdb") as store:
            run_id = store.begin_run("ingest")
            ingest_paths(store, run_id, [box])
            run_tag(store, settings, run_id)
            run_match(store, settings, run_id)
            row = outcomes_of(store)["<ask@brightpath.org>", "nia@park.example"]
        picked.append((row["outcome"], row["answer_message_id"], row["answer_from"], row["answer_by_colleague"]))
    assert picked == [("human", "<aa-first-id@park.example>", "lena@park.example", True)] * 2


# ---------------------------------------------------------------------------------------------------------------
# Real-shaped cases from list threads (issue 22): who answers for whom when a thread is everyone's conversation.
# ---------------------------------------------------------------------------------------------------------------
ASK = ("From: Sam Ortiz <sam@brightpath.org>\nTo: {to}\nContent-Type: text/plain\nSubject: Could you review the "
       "grant draft?\nDate: Mon, 2 Mar 2026 09:00:00 +0000\nMessage-ID: <ask@brightpath.org>\n\nHi,\nCould you "
       "review the grant draft by Friday? It is the one for the reading hours.\n")
LIST = "List-Id: Grants circle <grants.lists.example>\nPrecedence: list\n"


def inbound(sender: str, mid: str, day: int, body: str, *, headers: str = "", to: str = "grants@lists.example",
            subject: str = "Re: [grants] Could you review the grant draft?") -> str:
    return (f"From: {sender}\nTo: {to}\nSubject: {subject}\nDate: {day} Mar 2026 10:00:00 +0000\n"
            f"Message-ID: <{mid}>\n{headers}Content-Type: text/plain\n\n{body}\n")


def match_box(tmp_path, settings, inbox: dict[str, str], to: str = "Nia Park <nia@park.example>") -> dict:
    from auditor.store import Store

    box = tmp_path / "m"
    write_eml(box / "Sent", "ask.eml", ASK.format(to=to))
    for name, text in inbox.items():
        write_eml(box / "Inbox", name, text)
    with Store.open(tmp_path / "box.duckdb") as store:
        run_id = store.begin_run("ingest")
        ingest_paths(store, run_id, [box])
        run_tag(store, settings, run_id)
        run_match(store, settings, run_id)
        return {r: o for (m, r), o in outcomes_of(store).items() if m == "<ask@brightpath.org>"}


def test_the_asked_persons_list_post_without_threading_headers_is_their_answer(tmp_path, settings):
    out = match_box(tmp_path, settings, {"1.eml": inbound(
        "Nia Park <nia@park.example>", "n1@park.example", 3, "On Mon, Sam Ortiz wrote:\n> Could you review the "
        "grant draft by Friday?\n\nYes, I will send notes on Thursday.", headers=LIST)})
    assert out["nia@park.example"]["outcome"] == "human"
    assert out["nia@park.example"]["matched_by"] == "subject"


def test_a_list_post_without_headers_that_quotes_someone_else_answers_them_not_the_asker(tmp_path, settings):
    out = match_box(tmp_path, settings, {"1.eml": inbound(
        "Nia Park <nia@park.example>", "n1@park.example", 3, "On Mon, Omar Diaz wrote:\n> Is the budget final?\n\n"
        "Not yet, the board meets next week.", headers=LIST)})
    assert out["nia@park.example"]["outcome"] == "none"


def test_the_asked_persons_list_post_that_replies_to_someone_else_in_the_thread_is_not_their_answer(tmp_path, settings):
    other = inbound("Omar Diaz <omar@cedar.example>", "o1@cedar.example", 3, "I can look at the budget part.",
                    headers=LIST + "In-Reply-To: <ask@brightpath.org>\nReferences: <ask@brightpath.org>\n")
    nia = inbound("Nia Park <nia@park.example>", "n1@park.example", 4, "Omar, the budget is in the appendix.",
                  headers=LIST + "In-Reply-To: <o1@cedar.example>\nReferences: <ask@brightpath.org> <o1@cedar.example>\n")
    out = match_box(tmp_path, settings, {"1.eml": other, "2.eml": nia})
    assert out["nia@park.example"]["outcome"] == "none"


def test_a_colleagues_list_post_in_a_long_thread_is_not_an_answer(tmp_path, settings):
    thread = "In-Reply-To: <o1@cedar.example>\nReferences: <ask@brightpath.org> <o1@cedar.example>\n"
    out = match_box(tmp_path, settings, {
        "1.eml": inbound("Omar Diaz <omar@cedar.example>", "o1@cedar.example", 3, "I can look at the budget part.",
                         headers=LIST + "In-Reply-To: <ask@brightpath.org>\nReferences: <ask@brightpath.org>\n"),
        "2.eml": inbound("Lena Park <lena@park.example>", "l1@park.example", 4, "Omar, see page 3.",
                         headers=LIST + thread)})
    assert out["nia@park.example"]["outcome"] == "none"


def test_a_colleagues_direct_reply_at_a_small_organisation_is_an_answer_flagged(tmp_path, settings):
    out = match_box(tmp_path, settings, {"1.eml": inbound(
        "Lena Park <lena@park.example>", "l1@park.example", 3, "Nia is away; I will review it by Friday.",
        to="sam@brightpath.org", headers="In-Reply-To: <ask@brightpath.org>\nReferences: <ask@brightpath.org>\n")})
    row = out["nia@park.example"]
    assert (row["outcome"], row["answer_from"], row["answer_by_colleague"]) == ("human", "lena@park.example", True)


def test_a_colleague_at_a_large_organisation_answers_for_nobody(tmp_path, settings):
    """Eleven people at bigcorp.example write to the team (more than colleague_org_max_people): they are
    strangers to each other, and one answering the ask does not answer for the person asked."""
    inbox = {f"p{n}.eml": inbound(f"Person {n} <p{n}@bigcorp.example>", f"p{n}@bigcorp.example", 1,
                                  "A question about the fair.", to="sam@brightpath.org", subject=f"Fair question {n}")
             for n in range(10)}
    inbox["c.eml"] = inbound("Kai Lund <kai@bigcorp.example>", "c1@bigcorp.example", 3, "Happy to review it.",
                             to="sam@brightpath.org",
                             headers="In-Reply-To: <ask@brightpath.org>\nReferences: <ask@brightpath.org>\n")
    assert settings.rules["match"]["colleague_org_max_people"] < 11
    out = match_box(tmp_path, settings, inbox, to="Nia Park <nia@bigcorp.example>")
    assert out["nia@bigcorp.example"]["outcome"] == "none"


def test_a_reply_all_by_someone_not_asked_is_no_ones_answer(tmp_path, settings):
    out = match_box(tmp_path, settings, {"1.eml": inbound(
        "Kai Lund <kai@elm.example>", "k1@elm.example", 3, "Nia forwarded this; I can help too.",
        to="sam@brightpath.org, nia@park.example, omar@cedar.example",
        headers="In-Reply-To: <ask@brightpath.org>\nReferences: <ask@brightpath.org>\n")},
        to="Nia Park <nia@park.example>, Omar Diaz <omar@cedar.example>")
    assert {r: o["outcome"] for r, o in out.items()} == {"nia@park.example": "none", "omar@cedar.example": "none"}


def test_a_colleagues_answer_does_not_count_for_an_address_that_bounced(tmp_path, settings):
    """The bounce comes from the team's own mail server (MAILER-DAEMON@brightpath.org): a robot, not the team."""
    bounce = ("From: Mail Delivery System <MAILER-DAEMON@brightpath.org>\nTo: sam@brightpath.org\nSubject: "
              "Undelivered Mail Returned to Sender\nDate: 2 Mar 2026 09:01:00 +0000\nMessage-ID: <b1@brightpath.org>\n"
              "MIME-Version: 1.0\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n"
              "--b\nContent-Type: text/plain\n\nYour message could not be delivered.\n\n--b\nContent-Type: "
              "message/delivery-status\n\nReporting-MTA: dns; brightpath.org\n\nFinal-Recipient: rfc822; "
              "nia@park.example\nAction: failed\nStatus: 5.1.1\n\n--b\nContent-Type: text/rfc822-headers\n\n"
              "Message-ID: <ask@brightpath.org>\n\n--b--\n")
    out = match_box(tmp_path, settings, {"b.eml": bounce, "1.eml": inbound(
        "Lena Park <lena@park.example>", "l1@park.example", 3, "Nia has left us; I can review it.",
        to="sam@brightpath.org", headers="In-Reply-To: <ask@brightpath.org>\nReferences: <ask@brightpath.org>\n")})
    assert out["nia@park.example"]["outcome"] == "bounce"
