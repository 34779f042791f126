"""`auditor check`: a draft scored against the mailbox's own history, on the sample mailbox's database (its
generator draws who answers from style-dependent odds) and on the small fixture mailbox."""
import json
from datetime import datetime, timedelta, timezone

import click
import duckdb
import pytest
from click.testing import CliRunner

from auditor import check
from auditor.cli import main

AS_OF = "2026-11-01"
DRAFT = """Hi Dana,

I read your piece on summer reading loss in rural districts, and your numbers on library hours stayed with me.

We are starting a pilot at two branch libraries this spring, and we need a partner who knows the ground.
Would you be open to a 20-minute call next week to tell us where you think it could go wrong?
If the timing is bad, no worries at all.

Thanks,
Maya
"""
ABOUT_US = """Hello,

We are the region's leading literacy charity and we have grown every year since 2015.
Our programs are award-winning and our team is proud of what we have built.
We need $5,000 by Friday to close our budget gap.
Will you donate $50 today so we can reach our goal?

Best,
Maya
"""


def run(args, *, input=None, env=None, color=False):
    """The CLI as the entry point runs it (errors mapped to exit codes and one sentence): (exit code, output)."""
    code = {}

    @click.command()
    def entry():
        code["rc"] = main(list(args))

    result = CliRunner().invoke(entry, [], input=input, env=env, color=color, catch_exceptions=False)
    return code["rc"], result.output


def checked(db, text: str, *to: str, as_of: str = AS_OF, extra=()) -> dict:
    code, out = run(["check", "-", *[a for t in to for a in ("--to", t)], "--json", "--db", str(db), "--as-of", as_of,
                     *extra], input=text.encode())
    assert code == 0, out
    return json.loads(out[out.index("{"):])


def one(db, sql: str, params=None):
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params).fetchall()


def test_a_draft_gets_the_report_s_colours_labels_and_a_chance_with_its_interval(demo_db):
    (person,) = one(demo_db, "select recipient from tags where warmth = 'warm' order by recipient limit 1")[0]
    result = checked(demo_db, DRAFT, person)
    colours = {s["text"]: s["colour"] for s in result["sentences"]}
    assert colours["Hi Dana,"] == "neutral"
    assert colours["We are starting a pilot at two branch libraries this spring, and we need a partner who knows the ground."] == "self"
    assert result["focus"]["rewrite_first"][0].startswith("We are starting a pilot")
    assert [s["is_ask"] for s in result["sentences"]].count(True) == 1
    assert result["ask"]["kind"] == "meeting" and result["ask"]["size"]
    assert result["audience"]["label"] == "personal"
    # The base rate is the closed request sequences' own, counted here independently of the model.
    closed, answered = one(demo_db, "select count(*), count(*) filter (answered) from ask_outcomes where is_request "
                                      "and outcome in ('human', 'auto', 'none') and first_sent_at <= $a",
                           {"a": AS_OF})[0]
    prediction = result["prediction"]
    assert prediction["closed"] == closed and prediction["base_rate"]["p"] == pytest.approx(answered / closed)
    assert prediction["shown"], prediction["reason"]
    (chance,) = prediction["by_warmth"]
    assert chance["warmth"] == "warm" and 0 < chance["low"] < chance["p"] < chance["high"] < 1


def test_a_recipient_s_warmth_is_the_tag_stage_s_at_the_same_moment(demo_db):
    """Checked at the very moment a stored ask went out, each recipient's warmth is what the tag stage gave it."""
    rows = one(demo_db, "select recipient, sent_at, warmth from tags where ask_kind <> 'none' "
                          "order by hash(message_id || recipient) limit 12")
    assert {w for _, _, w in rows} >= {"warm", "cold"}
    for recipient, sent_at, warmth in rows:
        result = checked(demo_db, DRAFT, recipient, as_of=sent_at.astimezone(timezone.utc).isoformat())
        assert result["recipients"][0]["warmth"] == warmth, recipient


def test_a_copy_of_a_sent_template_is_mass_and_named_with_its_campaign(demo_db):
    template, campaign, recipients, text = one(demo_db, """
        select t.template_id, any_value(t.campaign), max(p.template_recipients), arg_min(mm.clean, p.personalization)
        from tags t join templates p using (message_id) join asks a using (message_id)
        join message_measures mm using (raw_sha256)
        where t.template_id is not null group by t.template_id order by max(p.template_recipients) desc limit 1""")[0]
    result = checked(demo_db, text, "someone.new@example.net")
    audience = result["audience"]
    assert audience["label"] == "mass"
    assert audience["template"]["campaign"] == campaign and audience["template"]["recipients"] == recipients
    assert audience["template"]["similarity"] >= 0.9
    assert f"the same as '{campaign}', sent to {recipients:,} people" in audience["reasons"][0]
    # A new text is close to nothing sent before.
    fresh = checked(demo_db, DRAFT, "someone.new@example.net")["audience"]
    assert fresh["label"] == "personal" and (fresh["template"] is None or fresh["template"]["similarity"] < 0.7)


def test_what_would_change_it_most_is_the_stored_model_s_own_prediction(demo_db):
    (person,) = one(demo_db, "select recipient from tags where warmth = 'cold' order by recipient limit 1")[0]
    result = checked(demo_db, ABOUT_US, person)
    assert result["focus"]["label"] == "self"
    changes = result["prediction"]["what_if"]
    assert changes, result["prediction"]
    assert all(c["to"] > c["from"] for c in changes)
    assert [c["to"] for c in changes] == sorted((c["to"] for c in changes), reverse=True)
    model = json.loads(one(demo_db, "select model from answer_model")[0][0])["model"]
    about_them = [c for c in changes if c["change"] == "about them instead of about us"]
    assert about_them
    row = {"audience": result["audience"]["label"], "focus": "other", "warmth": "cold", "ask_kind": result["ask"]["kind"]}
    row |= {f["check"]: f["draft"] for f in result["craft"]["flags"]}
    assert about_them[0]["to"] == pytest.approx(check.predict(model, row)["p"])


def test_the_model_is_kept_and_refit_only_when_its_inputs_change(demo_db):
    checked(demo_db, DRAFT, "a@example.net")
    first = one(demo_db, "select fingerprint, fitted_at from answer_model")
    checked(demo_db, DRAFT, "b@example.net")
    assert one(demo_db, "select fingerprint, fitted_at from answer_model") == first
    checked(demo_db, DRAFT, "b@example.net", as_of="2026-11-02")
    assert one(demo_db, "select fingerprint from answer_model")[0][0] != first[0][0]
    assert len(one(demo_db, "select * from answer_model")) == 1


def test_the_draft_is_never_stored(demo_db):
    before = one(demo_db, "select count(*), (select count(*) from tags), (select count(*) from quarantine) from messages")
    checked(demo_db, DRAFT, "a@example.net")
    assert one(demo_db, "select count(*), (select count(*) from tags), (select count(*) from quarantine) from messages") == before
    assert one(demo_db, "select count(*) from messages where message_id = $m", {"m": check.DRAFT_ID})[0][0] == 0


def test_an_eml_a_text_file_and_standard_input_read_alike(demo_db, tmp_path):
    text = tmp_path / "draft.txt"
    text.write_text(DRAFT)
    eml = tmp_path / "draft.eml"
    eml.write_text("From: maya@riverbend-literacy.org\nTo: Dana Ruiz <dana@example.net>\nSubject: Reading pilot\n"
                   "Content-Type: text/plain; charset=utf-8\n\n" + DRAFT)
    results = []
    for args, given in ((["check", str(text), "--to", "dana@example.net", "--subject", "Reading pilot"], None),
                        (["check", str(eml)], None),
                        (["check", "-", "--to", "dana@example.net", "--subject", "Reading pilot"], DRAFT.encode())):
        code, out = run([*args, "--json", "--db", str(demo_db), "--as-of", AS_OF], input=given)
        assert code == 0, out
        results.append(json.loads(out[out.index("{"):]))
    for r in results:
        assert r["draft"]["recipients"] == ["dana@example.net"] and r["draft"]["subject"] == "Reading pilot"
        assert r["sentences"] == results[0]["sentences"]


def test_colour_in_a_terminal_none_when_piped_or_no_color(demo_db):
    args = ["check", "-", "--to", "dana@example.net", "--db", str(demo_db), "--as-of", AS_OF]
    _, coloured = run(args, input=DRAFT.encode(), color=True)
    assert "\x1b[" in coloured and "About them or about us:" in coloured
    _, piped = run(args, input=DRAFT.encode())
    _, no_color = run(args, input=DRAFT.encode(), color=True, env={"NO_COLOR": "1"})
    for out in (piped, no_color):
        assert "\x1b[" not in out and "About them or about us:" in out
        assert "rewrite first: We are starting a pilot" in out


def test_a_small_mailbox_says_too_few_and_shows_no_number(ingested, settings):
    store, run_id, _ = ingested
    from auditor import pipeline

    pipeline.up_to_match(store, run_id, settings)
    closed = store.scalar("select count(*) from ask_outcomes where is_request and outcome in ('human', 'auto', 'none')")
    assert 0 < closed < 100
    result = check.check_draft(store, settings, settings.identity, DRAFT.encode(), to=("dana@example.net",))
    prediction = result["prediction"]
    assert not prediction["shown"] and not prediction["by_warmth"] and not prediction["what_if"]
    assert prediction["reason"] == (f"Too few to predict: {closed} closed ask sequences in this mailbox; a chance "
                                    "worth reading needs about 100.")
    text = "\n".join(check.render(result))
    assert "Too few to predict" in text and "95% interval" not in text


def test_calibration_on_the_sample_beats_the_base_rate_with_a_sound_slope(demo_db):
    code, out = run(["check", "--calibration", "--json", "--db", str(demo_db), "--as-of", AS_OF])
    assert code == 0, out
    result = json.loads(out[out.index("{"):])
    assert result["train"] >= 100 and result["test"] >= 100
    assert result["brier"] < result["brier_base"]
    assert 0.7 <= result["slope"] <= 1.3
    assert sum(r["n"] for r in result["table"]) == result["test"] and len(result["table"]) == 10
    predicted = [r["predicted"] for r in result["table"]]
    assert predicted == sorted(predicted)
    # In words too, with a cut the user names.
    code, out = run(["check", "--calibration", "--cut", "2026-07-01", "--db", str(demo_db), "--as-of", AS_OF])
    assert code == 0 and "sent before 2026-07-01" in out and "Brier score" in out


def test_calibration_of_a_small_mailbox_says_too_few(ingested, settings):
    store, run_id, _ = ingested
    from auditor import pipeline

    pipeline.up_to_match(store, run_id, settings)
    result = check.calibration(store, settings)
    assert "brier" not in result and result["reason"].startswith("Too few")


@pytest.mark.parametrize("args, given, says", [
    (["check", "-"], DRAFT.encode(), "the draft has no recipient: give one with --to ADDRESS (repeatable)."),
    (["check", "nowhere.eml"], None, "nowhere.eml: no such file; give a .eml or text file, or - for standard input."),
    (["check"], None, "give the draft to check: a .eml or text file, - for standard input, or --drafts."),
    (["check", "-", "--to", "maya@riverbend-literacy.org"], DRAFT.encode(),
     "every recipient of the draft is on your own team"),
])
def test_bad_input_is_one_sentence(demo_db, args, given, says):
    code, out = run([*args, "--db", str(demo_db), "--as-of", AS_OF], input=given)
    assert code == 2 and says in out and "Traceback" not in out


@pytest.mark.parametrize("data", [b"\xff\xfe\x00garbage\x00" * 50, b"", b"Subject: =?utf-8?B?////?=\n\n\x80\x81",
                                  ("<script>alert(1)</script> " * 200).encode()])
def test_hostile_drafts_never_crash(demo_db, data):
    code, out = run(["check", "-", "--to", "dana@example.net", "--db", str(demo_db), "--as-of", AS_OF], input=data)
    assert code in (0, 2) and "Traceback" not in out and "unexpected" not in out


def test_an_out_of_office_return_date_still_ahead_is_shown(demo_db):
    person, said, back = one(demo_db, "select from_addr, sent_at, return_date from mails where automated = 'auto' "
                                        "and return_date > cast(sent_at as date) + 2 order by sent_at limit 1")[0]
    during = (said.astimezone(timezone.utc) + timedelta(days=1)).isoformat()
    result = checked(demo_db, DRAFT, person, as_of=during)
    assert result["recipients"][0]["away_until"] == back.isoformat()
    after = datetime.combine(back + timedelta(days=1), datetime.min.time(), timezone.utc).isoformat()
    assert checked(demo_db, DRAFT, person, as_of=after)["recipients"][0]["away_until"] is None


def test_a_subject_with_line_breaks_is_one_line(demo_db):
    result = checked(demo_db, DRAFT, "dana@example.net", extra=["--subject", "Reading\npilot\u2028now\r\nBcc: x@evil.example"])
    assert result["draft"]["subject"] == "Reading pilot now Bcc: x@evil.example"
    assert result["draft"]["recipients"] == ["dana@example.net"]


def test_a_greeting_by_the_wrong_name_is_said(demo_db, tmp_path):
    person, name = one(demo_db, "select from_addr, any_value(from_name) from messages m join tags t on "
                                  "t.recipient = m.from_addr where from_name like '% %' group by 1 order by 1 limit 1")[0]
    first = name.split()[0]
    other = "Quentin" if first != "Quentin" else "Rosalind"
    wrong = checked(demo_db, DRAFT.replace("Hi Dana,", f"Hi {other},"), person)
    assert wrong["warnings"] == [{"kind": "greeting", "greeted": other, "recipient": person, "known_as": name}]
    assert not checked(demo_db, DRAFT.replace("Hi Dana,", f"Hi {first},"), person)["warnings"]
    assert not checked(demo_db, DRAFT.replace("Hi Dana,", "Hi all,"), person)["warnings"]
    # The page that names no one says the greeting differs without saying the name.
    page = tmp_path / "check.html"
    code, out = run(["check", "-", "--to", person, "--db", str(demo_db), "--as-of", AS_OF, "--html", str(page)],
                    input=DRAFT.replace("Hi Dana,", f"Hi {other},").encode())
    assert code == 0, out
    text = page.read_text()
    assert f"the greeting says &#39;{other}&#39;" in text and name not in text and "goes by another name" in text


def test_a_stored_ask_checked_again_gets_its_stored_labels(demo_db, tmp_path):
    """The draft is labelled by the tag stage's own functions: a personal ask already sent, checked as a draft at the
    moment it went out, gets the labels, colours and warmth the tag stage gave it."""
    rows = one(demo_db, """
        select t.message_id, t.recipient, t.sent_at, m.raw from tags t join messages m using (message_id)
        where t.ask_kind <> 'none' and t.template_id is null and t.audience = 'personal'
        order by hash(t.message_id) limit 6""")
    assert len(rows) == 6
    for message_id, recipient, sent_at, raw in rows:
        stored = one(demo_db, "select focus, other_share, ask_kind, ask_size, audience, warmth, open_questions, "
                                "opt_out, commitment_stated from tags where message_id = $m and recipient = $r",
                     {"m": message_id, "r": recipient})[0]
        colours = one(demo_db, "select list(colour order by idx) from tag_sentences where message_id = $m",
                      {"m": message_id})[0][0]
        draft = tmp_path / "sent.eml"
        draft.write_bytes(raw)
        code, out = run(["check", str(draft), "--to", recipient, "--json", "--db", str(demo_db), "--as-of",
                         sent_at.astimezone(timezone.utc).isoformat()])
        assert code == 0, out
        result = json.loads(out[out.index("{"):])
        flags = {f["check"]: f["draft"] for f in result["craft"]["flags"]}
        again = (result["focus"]["label"], result["focus"]["other_share"], result["ask"]["kind"], result["ask"]["size"],
                 result["audience"]["label"], result["recipients"][0]["warmth"], int(flags["open_question"]),
                 flags["opt_out"], flags["commitment_stated"])
        assert again[0] == stored[0] and again[1] == pytest.approx(stored[1]), message_id
        assert again[2:] == (*stored[2:6], int(stored[6] > 0), *stored[7:]), message_id
        assert [s["colour"] for s in result["sentences"]] == colours, message_id


@pytest.mark.parametrize("first, wrong", [("Hi Renee,", False), ("Dear Dr. Lavoie,", False), ("Hello Lavoie,", False),
                                          ("Hi all,", False), ("Hi Dana,", True), ("Thanks for Tuesday.", False)])
def test_greeting_names_are_compared_without_case_or_accents(first, wrong):
    from auditor.config import load_rules

    said = check.greeting_mismatch(first, {"r@x.org": ["Renée Lavoie"]}, load_rules()["check"]["greeting_not_names"])
    assert (said is not None) == wrong
    assert check.greeting_mismatch(first, {"r@x.org": []}, []) is None
