"""Craft features, the reply-study measures and personalization, on hand-written examples (traps included), and
compute once / label often: a word-list change re-labels from stored measures without measuring again."""
from __future__ import annotations

import polars as pl
import pytest

from auditor.config import load_rules
from auditor.store import Store
from auditor.tag import run_tag
from auditor.tag.templates import lsh_bands, personalization
from auditor.tag.craft import craft_features, sentence_craft
from auditor.tag.measures import measure_frame, reading_grade, sentiment, syllables

from conftest import make_settings

RULES = load_rules()


def marks(*sentences: str) -> list[dict]:
    frame = pl.DataFrame({"message_id": ["m"] * len(sentences), "idx": list(range(len(sentences))),
                          "text": list(sentences)})
    return sentence_craft(frame.lazy(), RULES).collect().to_dicts()


def features(*sentences: str, ask_idx: int | None = None) -> dict:
    frame = pl.DataFrame({"message_id": ["m"] * len(sentences), "idx": list(range(len(sentences))),
                          "text": list(sentences)})
    asks = pl.DataFrame({"message_id": ["m"], "ask_idx": [ask_idx]}, schema={"message_id": pl.String, "ask_idx": pl.Int32})
    return craft_features(frame.lazy(), asks.lazy(), RULES).collect().to_dicts()[0]


@pytest.mark.parametrize("sentence, kind", [
    ("How did the first reading circle go?", "open"),
    ("What would make this worth your time?", "open"),
    ("So, why did you pick literacy over the other causes?", "open"),
    ("Which of the two dates suits your class better?", "open"),
    ("Would you give $50 this spring?", "closed"),
    ("Are you free on Tuesday or Wednesday?", "closed"),
    ("Could you introduce me to Ms Park?", "closed"),
    # Rhetorical: no answer is wanted, so neither open nor closed.
    ("Who doesn't love a good book?", None),
    ("What could be better than a child reading?", None),
    ("How great would it be to see every kid reading?", None),
    ("It's a big year for us, isn't it?", None),
    ("Why not make this the year you give?", None),
    # Not a question at all.
    ("How we started is a long story.", None),
])
def test_open_closed_and_rhetorical_questions(sentence, kind):
    row = marks(sentence)[0]
    assert (row["open_question"], row["closed_question"]) == (kind == "open", kind == "closed")


@pytest.mark.parametrize("sentence, expected", [
    ("No worries if not.", True),
    ("Totally fine if the timing doesn't work.", True),
    ("Feel free to say no, of course.", True),
    ("If now isn't a good time, I'll completely understand.", True),
    # Pressing in the same breath undoes the easy no.
    ("No pressure, but I need this by Friday.", False),
    ("No worries, but we have to have an answer by tomorrow.", False),
    ("No pressure - it's urgent though.", False),
    ("We need volunteers for Saturday.", False),
])
def test_an_opt_out_is_an_easy_no_not_a_softened_demand(sentence, expected):
    assert marks(sentence)[0]["opt_out"] is expected


def test_chunking_a_small_first_step_or_a_list_of_steps():
    assert features("Could we start with just one 15-minute call?")["chunked"] is True
    assert features("A small first step: would you forward our flyer?")["chunked"] is True
    assert features("Here is how you could help:", "1. Read our one-page plan.", "2. Tell us what is missing.")["chunked"] is True
    assert features("Would you fund the whole reading programme for the year?")["chunked"] is False


def test_the_commitment_stated_how_much_how_long_by_when():
    for sentence in ("Would you give $50?", "It takes about 20 minutes.", "Could you reply by Friday?",
                     "We need 2 hours a week for six weeks.", "Would you read to 12 children once a month?"):
        assert marks(sentence)[0]["commitment"] is True, sentence
    for sentence in ("Would you help us?", "Could you support the cause sometime?"):
        assert marks(sentence)[0]["commitment"] is False, sentence


def test_giving_counts_only_before_the_ask():
    before = features("I've attached the reading list you asked about.", "Would you join our board?", ask_idx=1)
    assert before["offers_first"] is True
    assert any(r.startswith("gives before asking") for r in before["craft_reasons"])
    after = features("Would you join our board?", "I'd be happy to introduce you to the team.", ask_idx=0)
    assert after["offers_first"] is False
    assert features("Happy to help with your fair, too.", "Thought you might enjoy this article.")["offers_first"] is True


def test_gratitude():
    assert features("Thanks so much for hosting us last week.")["gratitude"] is True
    assert features("We really appreciate it.")["gratitude"] is True
    assert features("Would you give $50?")["gratitude"] is False


def test_counts_reason_with_their_sentences():
    row = features("How did the fair go?", "No worries if not.", "Would you give $50 by Friday?", ask_idx=2)
    assert (row["open_questions"], row["closed_questions"], row["opt_out"], row["commitment_stated"]) == (1, 1, True, True)
    assert 'open question: "How did the fair go?"' in row["craft_reasons"]
    assert 'an easy no: "No worries if not."' in row["craft_reasons"]


# -- measures -----------------------------------------------------------------------------------------------------

def test_syllables_and_reading_grade_by_hand():
    assert [syllables(w) for w in ("cat", "reading", "make", "little", "library", "education")] == [1, 2, 1, 2, 3, 4]
    # "The cat sat." "The dog ran far." : 7 words, 2 sentences, 7 syllables.
    assert reading_grade(7, 2, 7) == round(0.39 * 7 / 2 + 11.8 * 7 / 7 - 15.59, 2)
    assert reading_grade(0, 0, 0) is None


def test_sentiment_is_the_mean_over_sentences_with_words():
    warm = ["Your talk was wonderful and I loved it.", "Thanks,", "Ana"]
    cold = ["This delay is terrible and awful.", "I am disappointed."]
    assert sentiment(warm) > 0.3 and sentiment(cold) < -0.3
    assert sentiment(["--", "...", ""]) == 0.0 and sentiment([]) == 0.0
    # A long message is not more positive for repeating itself (a whole-text score climbs toward 1 with length).
    assert sentiment(warm * 40) == pytest.approx(sentiment(warm))


def test_measures_of_one_message():
    body = ("Hi Dana,\n\nYour library talk was wonderful and I loved it. How did the students like it? "
            "Would you give $50 this spring?\n\nThanks,\nAna\n\n-- \nAna Ruiz | Riverbend\n\n> old quoted text")
    row = measure_frame(pl.DataFrame({"raw_sha256": ["h"], "subject": ["A spring ask for you"], "body_text": [body]}),
                        RULES).to_dicts()[0]
    assert "old quoted text" not in row["clean"] and "Ana Ruiz" not in row["clean"]
    assert row["sentences"][0] == "Hi Dana,"
    assert row["question_count"] == 2 and row["subject_words"] == 5
    assert row["word_count"] == len(row["clean"].split())
    assert row["sentiment"] == pytest.approx(sentiment(row["sentences"])) and row["sentiment"] > 0.2
    assert row["reading_grade"] is not None and len(row["signature"]) == RULES["audience"]["template_num_perm"]
    hostile = measure_frame(pl.DataFrame({"raw_sha256": ["h"], "subject": [None], "body_text": [""]}), RULES).to_dicts()[0]
    assert (hostile["word_count"], hostile["reading_grade"], hostile["signature"], hostile["sentiment"]) == (0, None, None, 0.0)


def test_lsh_bands_turn_near_the_threshold():
    bands, rows = lsh_bands(128, 0.7)
    assert bands * rows <= 128 and abs((1 / bands) ** (1 / rows) - 0.7) < 0.03


def test_personalization_is_the_word_edit_share_from_the_medoid():
    template = "we are raising funds for our spring reading drive and would love your support this year friend"
    texts = [template,
             template.replace("friend", "neighbour"),                                    # 1 of 16 words changed
             template + " your daughter Mia loved the book fair so this one is for her"]  # 12 words added
    # Asks 0-2 are one template's members, split over two batches as the database hands them out; ask 3 is alone.
    members = [pl.DataFrame({"node": [0, 1], "template": [7, 7], "clean": texts[:2]}),
               pl.DataFrame({"node": [2], "template": [7], "clean": texts[2:]})]
    scores = personalization(iter(members), 4, candidates=10)
    assert scores[0] == 0.0                             # the medoid itself
    words = len(template.split())
    assert scores[1] == round(1 / words, 4)
    assert scores[2] == round(13 / (words + 13), 4)
    assert scores[3] == 1.0



def test_a_template_of_many_members_is_scored_against_the_medoid_of_its_first_ones():
    """Only a template's first MEDOID_SAMPLE members are held to find its medoid; the rest are scored as they
    stream by, in batches that cut through templates. The scores are those of holding every member."""
    import random

    from rapidfuzz.distance import Levenshtein

    from auditor.tag.templates import MEDOID_SAMPLE

    rng = random.Random(7)
    base = "thank you for reading with our volunteers this spring would you give an hour next month".split()
    sizes = {3: 2 * MEDOID_SAMPLE + 57, 5: MEDOID_SAMPLE, 9: 3}
    rows = [(template, " ".join(w if rng.random() > 0.2 else rng.choice(["you", "Ana", "Sam", "our"]) for w in base))
            for template, size in sizes.items() for _ in range(size)]
    frame = pl.DataFrame({"node": range(len(rows)), "template": [t for t, _ in rows], "clean": [c for _, c in rows]})
    batches = [frame.slice(start, 97) for start in range(0, frame.height, 97)]
    scores = personalization(iter(batches), frame.height + 1, candidates=10)

    expected = []
    for template in sizes:
        words = [c.split() for t, c in rows if t == template]
        sample = words[:MEDOID_SAMPLE]
        medoid = min(words[:10], key=lambda w: sum(Levenshtein.distance(w, other) for other in sample))
        expected += [round(Levenshtein.distance(w, medoid) / (max(len(w), len(medoid)) or 1), 4) for w in words]
    assert scores[:-1].tolist() == expected and scores[-1] == 1.0
    assert len(set(expected[MEDOID_SAMPLE:sizes[3]])) > 3         # the streamed members differ from each other

# -- stored and reused ----------------------------------------------------------------------------------------------

def test_measures_are_computed_once_and_a_word_list_change_only_relabels(ingested, tmp_path):
    store, run_id, _ = ingested
    settings = make_settings(tmp_path)
    run_tag(store, settings, run_id)
    first = store.frame("SELECT raw_sha256, measured_at FROM message_measures ORDER BY 1")
    asks = store.scalar("SELECT count(DISTINCT message_id) FROM tags")
    assert first.height == asks > 0

    rules = load_rules({"craft": {"gratitude": [r"\bcheers\b"]}})
    changed = make_settings(tmp_path, rules={"craft": {"gratitude": [r"\bcheers\b"]}})
    assert changed.rules["craft"]["gratitude"] == rules["craft"]["gratitude"]
    before = store.scalar("SELECT count(*) FROM tags WHERE gratitude")
    result = run_tag(store, changed, run_id)
    assert not result.skipped
    assert store.frame("SELECT raw_sha256, measured_at FROM message_measures ORDER BY 1").equals(first)
    assert store.scalar("SELECT count(*) FROM tags WHERE gratitude") != before

    # A cleaning rule does change what is measured: those rows are measured again.
    cleaned = make_settings(tmp_path, rules={"clean": {"signature_openers": ["^--\\s?$", "^Cheers"]}})
    run_tag(store, cleaned, run_id)
    again = store.frame("SELECT raw_sha256, measured_at FROM message_measures ORDER BY 1")
    assert again["raw_sha256"].to_list() == first["raw_sha256"].to_list()
    assert (again["measured_at"] > first["measured_at"]).all()


def test_template_clusters_are_reused_until_the_asks_or_the_template_rules_change(demo, tmp_path):
    import shutil

    from auditor.samplegen import TEAM_DOMAIN

    shutil.copy(demo[0] / "demo.duckdb", tmp_path / "audit.duckdb")

    def settings(rules=None):
        return make_settings(tmp_path, me=(f"@{TEAM_DOMAIN}",), as_of="2026-11-01", rules=rules)

    columns = "message_id, recipient, template_id, personalization, audience, audience_reasons, campaign"
    with Store.open(tmp_path / "audit.duckdb") as store:
        run_id = store.begin_run("tag")
        store.run("DELETE FROM stage_state WHERE stage = 'templates'")
        run_tag(store, settings(), run_id, force=True)              # clustered afresh
        fresh = store.frame(f"SELECT {columns} FROM tags ORDER BY message_id, recipient")
        assert store.scalar("SELECT count(*) FROM templates") == fresh["message_id"].n_unique()
        assert fresh["template_id"].drop_nulls().len() > 100         # the sample's mail-merges are templates

        # A re-tag with the same asks and template rules reads the stored clusters back and labels alike...
        run_tag(store, settings(), run_id, force=True)
        assert store.frame(f"SELECT {columns} FROM tags ORDER BY message_id, recipient").equals(fresh)
        # ...and it does read them rather than cluster again: a marked stored row comes through to the tags.
        store.run("UPDATE templates SET personalization = 0.123")
        run_tag(store, settings({"craft": {"gratitude": [r"\bcheers\b"]}}), run_id)
        assert store.frame("SELECT DISTINCT personalization FROM tags")["personalization"].to_list() == [0.123]

        # A template rule changes the clusters: computed again.
        run_tag(store, settings({"audience": {"template_similarity": 0.75}}), run_id)
        assert 0.123 not in store.frame("SELECT DISTINCT personalization FROM tags")["personalization"].to_list()


def test_every_ask_row_carries_the_new_columns(ingested, tmp_path):
    store, run_id, _ = ingested
    run_tag(store, make_settings(tmp_path), run_id)
    tags = store.frame("SELECT * FROM tags")
    for column in ("open_questions", "closed_questions", "chunked", "opt_out", "commitment_stated", "offers_first",
                   "gratitude", "word_count", "question_count", "subject_words", "sentiment", "personalization",
                   "co_recipients"):
        assert tags[column].null_count() == 0, column
    # Visible co-recipients: the others in To and Cc. The appeal went Bcc, so no one saw anyone else.
    visible = dict(store.run("SELECT message_id, len(list_filter(recipients, lambda r: r.field IN ('to', 'cc'))) FROM messages"))
    for message_id, co in tags.select("message_id", "co_recipients").unique().iter_rows():
        assert co == max(visible[message_id] - 1, 0), message_id
    assert tags.filter(pl.col("message_id") == "<bp-0310-appeal@brightpath.org>")["co_recipients"].max() == 0


def test_co_recipients_count_the_others_in_to_and_cc_not_bcc():
    from datetime import datetime, timezone

    from auditor.config import Identity
    from auditor.tag import tag_frames

    people = [("a@x.org", "to"), ("b@x.org", "to"), ("c@y.org", "cc"), ("d@z.org", "bcc"), ("me2@us.org", "cc")]
    row = {"raw_sha256": "h", "mail_key": "k", "message_id": "<1@us.org>", "in_reply_to": None, "reference_ids": [],
           "from_addr": "me@us.org", "from_name": "Me",
           "recipients": [{"addr": a, "name": a.split("@")[0].upper(), "field": f} for a, f in people],
           "undisclosed": False, "sent_at": datetime(2026, 5, 1, tzinfo=timezone.utc), "subject": "Board seats",
           "body_text": "Hi all,\n\nWould you each join our board for one year?\n\nThanks, Me",
           "content_type": "text/plain", "dsn_recipients": [], "dsn_status": None, "dsn_original_id": None,
           "h_list_unsubscribe": None, "h_list_id": None, "h_precedence": None, "h_auto_submitted": None,
           "h_x_autoreply": None, "h_x_autorespond": None, "h_x_auto_response_suppress": None, "h_mailer": "",
           "h_merge_header": False, "h_exchange_auto": False, "folders": ["Sent"]}
    tags = tag_frames(pl.DataFrame([row]).lazy(), Identity.parse(["@us.org"]), RULES, "d")["tags"]
    # Four people in To/Cc (a teammate among them) see three others; the Bcc'd one is not visible to anyone.
    assert sorted(tags["recipient"].to_list()) == ["a@x.org", "b@x.org", "c@y.org", "d@z.org"]
    assert tags["co_recipients"].unique().to_list() == [3]
    assert tags["gratitude"].all() and tags["commitment_stated"].all() and tags["closed_questions"].to_list()[0] == 1


def test_tagging_the_same_mail_twice_gives_the_same_reasons(ingested):
    """Joins may reorder rows between runs (polars runs them in parallel); every "first sentence that decided it"
    must still be the first in the message, so repeated runs agree to the letter."""
    from auditor.config import Identity
    from auditor.tag import tag_frames

    store, _, _ = ingested
    messages = store.query("load_messages", parts=1, part=0)
    seen = set()
    for _ in range(20):
        tags = tag_frames(messages.lazy(), Identity.parse(["@brightpath.org"]), RULES, "d")["tags"]
        seen.add(tuple(tags.sort("message_id", "recipient").select(
            pl.col("craft_reasons").list.join("|"), pl.col("focus_reasons").list.join("|"),
            pl.col("audience_reasons").list.join("|")).rows()))
    assert len(seen) == 1
