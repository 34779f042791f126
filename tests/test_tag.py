import polars as pl
import pytest

from auditor.config import Identity
from auditor.tag import run_tag, tag_frames
from auditor.tag.text import split_sentences

from conftest import make_settings


def tags_of(store):
    return {(r["message_id"], r["recipient"]): r for r in store.frame("SELECT * FROM tags").to_dicts()}


@pytest.fixture
def tagged(ingested, settings):
    store, run_id, _ = ingested
    result = run_tag(store, settings, run_id)
    return store, result, tags_of(store)


def test_every_outbound_message_to_someone_outside_the_team_is_an_ask(tagged):
    store, result, tags = tagged
    asks = {m for m, _ in tags}
    assert asks == {"<bp-0112-sam@brightpath.org>", "<bp-0303-sam-lena@brightpath.org>",
                    "<bp-0310-appeal@brightpath.org>", "<bp-0316-omar@brightpath.org>"}
    assert "<bp-0313-team@brightpath.org>" not in asks                      # team-only mail
    directions = dict(store.run("SELECT message_id, direction FROM mails"))
    assert directions["<bp-0313-team@brightpath.org>"] == "team"
    assert directions["<CAL1-lena-0304@hillside-school.org>"] == "in"
    assert all(t["is_ask"] for t in tags.values())
    assert len([k for k in tags if k[0] == "<bp-0310-appeal@brightpath.org>"]) == 6   # one row per recipient
    assert result.asks == 4 and result.rows == 9


def test_the_three_axes_and_kind_match_a_careful_reader(tagged):
    _, _, tags = tagged
    podcast = tags["<bp-0303-sam-lena@brightpath.org>", "lena.vogt@hillside-school.org"]
    assert (podcast["audience"], podcast["focus"], podcast["warmth"], podcast["ask_kind"]) == ("personal", "other", "warm", "interview")
    assert podcast["ask_size"] == "30-minute" and "interview" in podcast["ask_sentence"]
    assert podcast["gave_first"] is True                                       # the January note asked for nothing
    assert any(r.startswith("two-way contact") for r in podcast["warmth_reasons"])

    appeal = tags["<bp-0310-appeal@brightpath.org>", "ada@mailbox.example"]
    assert (appeal["audience"], appeal["focus"], appeal["warmth"], appeal["ask_kind"]) == ("mass", "self", "cold", "donation")
    assert appeal["audience_score"] >= 2 and any("List-Unsubscribe" in r for r in appeal["audience_reasons"])
    assert tags["<bp-0310-appeal@brightpath.org>", "lena.vogt@hillside-school.org"]["warmth"] == "warm"

    intro = tags["<bp-0316-omar@brightpath.org>", "omar@cedar-fund.example"]
    assert (intro["audience"], intro["focus"], intro["warmth"], intro["ask_kind"]) == ("personal", "self", "cold", "introduction")
    assert intro["warmth_reasons"][0] == "no earlier mail with them"

    note = tags["<bp-0112-sam@brightpath.org>", "lena.vogt@hillside-school.org"]
    assert note["ask_kind"] == "none" and note["warmth"] == "cold"
    assert note["warmth_reasons"][0] == "one-way: they wrote to us before, we never wrote back"


def test_sentences_are_coloured_and_the_ask_sentence_marked(tagged):
    store, _, _ = tagged
    rows = store.frame("SELECT text, colour, is_ask FROM tag_sentences WHERE message_id = '<bp-0310-appeal@brightpath.org>' ORDER BY idx")
    ask = rows.filter(pl.col("is_ask"))
    assert ask["text"].to_list() == ["Will you chip in $25 to help us hit our goal?"]
    assert ask["colour"].to_list() == ["self"]                  # says "you", serves our need
    assert rows["colour"][0] == "neutral"                       # "Dear Friend,"


def test_tagging_again_with_nothing_new_does_nothing_and_identity_change_retags(ingested, settings, tmp_path):
    store, run_id, _ = ingested
    assert run_tag(store, settings, run_id).skipped is False
    assert run_tag(store, settings, run_id).skipped is True
    narrower = make_settings(tmp_path, me=("rita@brightpath.org",))
    retagged = run_tag(store, narrower, run_id)
    assert retagged.skipped is False
    # Now Sam is someone else: his mail is inbound, and Rita's note from Sam is not an ask.
    assert store.scalar("SELECT count(*) FROM tags") == 0


def test_a_rule_change_changes_the_digest_and_the_labels(ingested, tmp_path):
    store, run_id, _ = ingested
    first = run_tag(store, make_settings(tmp_path), run_id)
    strict = run_tag(store, make_settings(tmp_path, rules={"audience": {"mass_threshold": 100.0}}), run_id)
    assert first.ruleset_digest != strict.ruleset_digest and strict.skipped is False
    assert set(store.frame("SELECT audience FROM tags")["audience"]) == {"personal"}
    assert set(store.frame("SELECT ruleset_digest FROM tags")["ruleset_digest"]) == {strict.ruleset_digest}


def test_identity_is_inferred_from_the_sent_folder_when_not_given(ingested, tmp_path):
    store, run_id, _ = ingested
    result = run_tag(store, make_settings(tmp_path, me=()), run_id)
    assert result.inferred_identity and result.identity == Identity.parse(["sam@brightpath.org"])


def test_a_lone_message_gets_every_label():
    from datetime import datetime, timezone

    row = {"raw_sha256": "h", "mail_key": "k", "message_id": "<1@us.org>", "in_reply_to": None, "reference_ids": [],
           "from_addr": "me@us.org", "from_name": "Me", "recipients": [{"addr": "x@them.org", "name": "Xu Li", "field": "to"}],
           "undisclosed": False, "sent_at": datetime(2026, 5, 1, tzinfo=timezone.utc), "subject": "Hello",
           "body_text": "Hi Xu,\n\nWe need volunteers for our gala. Could you give us 2 hours a week?\n\nThanks",
           "content_type": "text/plain", "dsn_recipients": [], "dsn_status": None, "dsn_original_id": None,
           "h_list_unsubscribe": None, "h_list_id": None, "h_precedence": None, "h_auto_submitted": None,
           "h_x_autoreply": None, "h_x_autorespond": None, "h_x_auto_response_suppress": None, "h_mailer": "",
           "h_merge_header": False, "h_exchange_auto": False, "folders": ["Sent"]}
    from auditor.config import load_rules

    frames = tag_frames(pl.DataFrame([row]).lazy(), Identity.parse(["@us.org"]), load_rules(), "d")
    tag = frames["tags"].to_dicts()[0]
    assert (tag["audience"], tag["focus"], tag["warmth"], tag["ask_kind"]) == ("personal", "self", "cold", "volunteering")
    assert tag["ask_size"] == "2 hours a week" and tag["history_incomplete"] is True


def test_clean_text_drops_quotes_signatures_and_forwarded_blocks():
    from auditor.config import load_rules
    from auditor.tag.text import clean_with

    clean = clean_with(load_rules())
    assert clean("Thanks, that works.\n\n> earlier line\nOne more thing.\n\n-- \nSam\n") == "Thanks, that works.\n\nOne more thing."
    assert clean("Sounds good.\n\n-----Original Message-----\nFrom: X\nSent: Monday\n\nold text") == "Sounds good."
    assert clean("Gerne!\n\nAm 3. März 2026 um 10:00 schrieb Sam Ortiz <sam@brightpath.org>:\n> Hallo") == "Gerne!"
    bottom = "On Tue, Mar 3, 2026 at 4:05 PM Sam <sam@x.org> wrote:\n> Would you join?\n>\n> Sam\n\nYes, count me in.\n"
    assert clean(bottom) == "Yes, count me in."
    apple = "Sure thing.\n\nOn 3 Mar 2026, at 16:05, Sam <sam@x.org> wrote:\n\nWould you join? (unmarked quote)"
    assert clean(apple) == "Sure thing."


def test_split_sentences_joins_wrapped_lines_and_keeps_the_greeting_apart():
    text = "Hi Lena,\nYour circles are\nwonderful. Would you join us? Thanks!\n\n- first item\n- second item"
    assert split_sentences(text) == ["Hi Lena,", "Your circles are wonderful.", "Would you join us?", "Thanks!",
                                     "- first item", "- second item"]


def test_our_mass_appeal_found_outside_sent_is_read_whole_before_tagging(tmp_path):
    """Ingest parses list mail outside a Sent folder as its header only; a mass appeal the team sent through a
    mailing tool looks just like that, and the tag stage reads it whole once it knows whose it is."""
    from auditor.ingest import ingest_paths
    from auditor.store import Store
    from auditor.tag import run_tag

    from conftest import write_eml

    appeal = """
From: Sam Ortiz <sam@brightpath.org>
To: friends@lists.brightpath.org
Subject: Our spring reading drive
Date: Tue, 3 Mar 2026 09:00:00 +0000
Message-ID: <appeal-0303@brightpath.org>
List-Unsubscribe: <mailto:leave@brightpath.org>
Precedence: bulk

Dear friends,

Would you give $50 to our spring reading drive this week?

Sam
"""
    newsletter = (appeal.replace("<appeal-0303@brightpath.org>", "<rw-0303@readingweekly.example>")
                  .replace("To: friends@lists.brightpath.org", "To: sam@brightpath.org")
                  .replace("From: Sam Ortiz <sam@brightpath.org>", "From: Reading Weekly <news@readingweekly.example>"))
    write_eml(tmp_path / "mail" / "Inbox", "appeal.eml", appeal)
    write_eml(tmp_path / "mail" / "Inbox", "newsletter.eml", newsletter)
    write_eml(tmp_path / "mail" / "Sent", "appeal-copy.eml", appeal.replace("appeal-0303", "appeal-0304")
              .replace("Tue, 3 Mar", "Wed, 4 Mar"))
    settings = make_settings(tmp_path)
    with Store.open(settings.db_path) as store:
        run_id = store.begin_run("audit")
        ingest_paths(store, run_id, [tmp_path / "mail"])
        kinds = dict(store.run("SELECT message_id, body_kind FROM messages"))
        assert kinds == {"<appeal-0303@brightpath.org>": "deferred", "<rw-0303@readingweekly.example>": "deferred",
                         "<appeal-0304@brightpath.org>": "plain"}     # in Sent: always read whole

        assert not run_tag(store, settings, run_id).skipped
        kinds = dict(store.run("SELECT message_id, body_kind FROM messages"))
        assert kinds["<appeal-0303@brightpath.org>"] == "plain" and kinds["<rw-0303@readingweekly.example>"] == "deferred"
        asks = dict(store.run("SELECT message_id, ask_sentence FROM tags"))
        assert asks == {f"<appeal-030{d}@brightpath.org>": "Would you give $50 to our spring reading drive this week?"
                        for d in (3, 4)}
        assert store.run("SELECT flags FROM messages WHERE message_id = '<appeal-0303@brightpath.org>'") == [([],)]
        assert run_tag(store, settings, run_id).skipped          # nothing left to read: the next run does nothing


def test_tagging_in_small_batches_gives_the_same_tables_as_in_one(demo, tmp_path, monkeypatch):
    """The stage cuts messages, asks and (ask, recipient) pairs into batches so its memory stays flat; where the
    cuts fall must change nothing: threads, template clusters and warmth all reach across them."""
    import shutil

    import auditor.tag as tag
    from auditor.samplegen import TEAM_DOMAIN
    from auditor.store import Store

    shutil.copy(demo[0] / "demo.duckdb", tmp_path / "audit.duckdb")
    settings = make_settings(tmp_path, me=(f"@{TEAM_DOMAIN}",), as_of="2026-11-01")
    tables = {"mails": "mail_key", "asks": "message_id", "tags": "message_id, recipient",
              "tag_sentences": "message_id, idx", "templates": "message_id"}

    def tag_with(batch: int) -> dict[str, pl.DataFrame]:
        monkeypatch.setattr(tag, "TAG_BATCH", batch)
        with Store.open(tmp_path / "audit.duckdb") as store:
            store.run("DELETE FROM stage_state WHERE stage IN ('mails', 'templates')")   # afresh each time
            run_tag(store, settings, store.begin_run("tag"), force=True)
            return {t: store.frame(f"SELECT * {'EXCLUDE (run_id, tagged_at)' if t == 'tags' else ''} FROM {t} "
                                   f"ORDER BY {key}") for t, key in tables.items()}

    whole, cut = tag_with(1_000_000), tag_with(97)
    with Store.open(tmp_path / "audit.duckdb") as store:
        messages, asks = store.run("SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM templates)")[0]
    assert messages > 10 * 97 and asks > 10 * 97           # many batches of each kind
    assert whole["tags"]["template_id"].drop_nulls().n_unique() > 10
    for table in tables:
        assert cut[table].equals(whole[table]), table
    assert not (tmp_path / "audit.duckdb.work").exists()      # the batches' working files are gone


DERIVED = {"mails": "mail_key", "asks": "message_id", "tags": "message_id, recipient",
           "tag_sentences": "message_id, idx", "templates": "message_id"}


def derived_tables(store) -> dict[str, pl.DataFrame]:
    return {t: store.frame(f"SELECT * {'EXCLUDE (run_id, tagged_at)' if t == 'tags' else ''} FROM {t} ORDER BY {key}")
            for t, key in DERIVED.items()}


@pytest.fixture
def demo_copy(demo, tmp_path):
    import shutil

    from auditor.samplegen import TEAM_DOMAIN
    from auditor.store import Store

    shutil.copy(demo[0] / "demo.duckdb", tmp_path / "audit.duckdb")

    def settings(rules=None, me=(f"@{TEAM_DOMAIN}",)):
        return make_settings(tmp_path, me=me, as_of="2026-11-01", rules=rules)

    with Store.open(tmp_path / "audit.duckdb") as store:
        yield store, settings


def test_a_retag_after_a_word_list_change_labels_the_stored_asks_as_a_tag_from_scratch_would(demo_copy, monkeypatch):
    """Editing a word list or threshold changes no mail, thread or ask: the re-tag labels the stored `asks` rows
    again without reading a message, and its tables equal those of a tag that starts from the messages."""
    import auditor.tag as tag

    store, settings = demo_copy
    changed = settings({"focus": {"other_threshold": 0.75}, "craft": {"gratitude": [r"\bcheers\b"]}})
    before = store.frame("SELECT message_id, recipient, focus, gratitude FROM tags ORDER BY ALL")
    run_id = store.begin_run("tag")

    def no_reading(*args, **kwargs):
        raise AssertionError("the messages were read again")

    with monkeypatch.context() as patched:
        patched.setattr(tag, "mail_rows", no_reading)
        patched.setattr(tag, "thread_mails", no_reading)
        result = run_tag(store, changed, run_id)
    relabelled = derived_tables(store)
    after = relabelled["tags"].select("message_id", "recipient", "focus", "gratitude").sort(pl.all())
    assert not after.equals(before)                           # the new rules did label differently
    assert (after["focus"] != before["focus"]).sum() > 20 and (after["gratitude"] != before["gratitude"]).sum() > 20
    assert result.asks == relabelled["asks"].height > 1000

    store.run("DELETE FROM stage_state WHERE stage IN ('mails', 'templates')")
    run_tag(store, changed, run_id, force=True)               # from the messages, clustering afresh
    scratch = derived_tables(store)
    for table in DERIVED:
        assert relabelled[table].equals(scratch[table]), table


def test_the_mails_and_asks_are_found_again_when_the_match_rules_or_the_identity_change(demo_copy):
    """What is a robot's mail depends on the match rules, and what is an ask on who the team is: a change of
    either reads the messages again."""
    store, settings = demo_copy
    run_id = store.begin_run("tag")
    robots = "SELECT count(*) FROM mails WHERE automated = 'auto'"
    shipped = store.scalar(robots)
    run_tag(store, settings({"match": {"auto_subjects": ["."]}}), run_id)     # every subject says out of office
    assert store.scalar(robots) > 3 * shipped > 0

    from auditor.samplegen import TEAM_DOMAIN

    senders = store.frame("SELECT from_addr, count(*) AS n FROM asks GROUP BY ALL ORDER BY n DESC, from_addr")
    assert senders.height > 1 and senders["from_addr"][0].endswith(TEAM_DOMAIN)
    one = senders["from_addr"][0]
    run_tag(store, settings(me=(one,)), run_id)              # only one of the team is "me" now
    asks = store.frame("SELECT from_addr, count(*) AS n FROM asks GROUP BY ALL")
    # Theirs only, and more than before: mail to a colleague is now mail to someone outside "the team".
    assert asks["from_addr"].to_list() == [one] and asks["n"][0] > senders["n"][0]
    assert store.scalar("SELECT count(*) FROM asks") == store.scalar("SELECT count(*) FROM mails WHERE direction = 'out'")
