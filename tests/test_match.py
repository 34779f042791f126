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
