"""Reply matching on a real mailing list's threads (tests/realthreads.py builds the mailbox): the people asked are
the people who really replied, plus one who did not; a third of the replies have lost their threading headers;
truth is the archive's own In-Reply-To. Per (sequence, recipient): a human answer is a direct reply from that
person to one of the sequence's touches, inside the reply window."""
from __future__ import annotations

import pytest

from auditor.config import Identity, Settings, load_rules
from auditor.ingest import ingest_paths
from auditor.match import run_match
from auditor.store import Store
from auditor.tag import run_tag

import realthreads
from conftest import require_or_skip

MIN_PRECISION = MIN_RECALL = 0.95


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    require_or_skip(realthreads.ARCHIVE.is_file(), f"the real list archive at {realthreads.ARCHIVE}")
    tmp = tmp_path_factory.mktemp("realthreads")
    built = realthreads.build(tmp / "mail")
    rules = load_rules()
    settings = Settings(db_path=tmp / "threads.duckdb", config_path=None, identity=Identity.parse(built.team),
                        as_of=built.as_of, rules=rules)
    with Store.open(settings.db_path) as store:
        run_id = store.begin_run("test", [str(built.root)])
        ingest_paths(store, run_id, [built.root])
        run_tag(store, settings, run_id)
        run_match(store, settings, run_id)
        outcomes = store.frame("SELECT * FROM outcomes").to_dicts()
        touches = store.frame("SELECT * FROM touches").to_dicts()
    return built, outcomes, touches


def within(outcome: dict, post: realthreads.Post) -> bool:
    return outcome["first_sent_at"] <= post.sent_at <= outcome["window_closes_at"]


def truth(built: realthreads.Built, outcome: dict, touches: list[str]) -> str | None:
    """The archive's answer for one (sequence, recipient): the earliest direct reply from the recipient to one of
    its touches, sent after the first touch and before the window closed."""
    replies = [r for t in touches for r in built.direct_replies.get((t, outcome["recipient"]), []) if within(outcome, r)]
    return min(replies, key=lambda r: r.sent_at).message_id if replies else None


def undecidable(built: realthreads.Built, outcome: dict, subject: str) -> bool:
    """The recipient posted under the ask's subject inside the window, and the archive has that post without any
    threading header: whether it answers the ask, the archive's headers cannot say."""
    return any(p.subject == subject and within(outcome, p) for p in built.unthreaded.get(outcome["recipient"], []))


def test_every_ask_and_recipient_is_matched(audited):
    built, outcomes, touches = audited
    pairs = {(t["message_id"], t["recipient"]) for t in touches}
    assert pairs == {(ask, r) for ask, rs in built.recipients.items() for r in rs}


def test_human_answers_are_found_with_precision_and_recall_of_095(audited):
    built, outcomes, touches = audited
    of_sequence: dict[tuple[str, str], list[str]] = {}
    for t in touches:
        of_sequence.setdefault((t["sequence_message_id"], t["recipient"]), []).append(t["message_id"])
    expected = {(o["message_id"], o["recipient"]): truth(built, o, of_sequence[o["message_id"], o["recipient"]])
                for o in outcomes}
    unknown = {k for k, o in zip(expected, outcomes)
               if not expected[k] and undecidable(built, o, built.asks[o["message_id"]].subject)}
    expected = {k: v for k, v in expected.items() if k not in unknown}
    found = {(o["message_id"], o["recipient"]): o for o in outcomes if o["outcome"] == "human"
             and (o["message_id"], o["recipient"]) not in unknown}
    hits = [k for k in found if expected[k]]
    precision = len(hits) / len(found) if found else 0.0
    answered = [k for k, v in expected.items() if v]
    recall = len(hits) / len(answered) if answered else 0.0
    misses = [f"missed {k[1]} answering {k[0]} ({'headers stripped' if expected[k] in built.stripped else 'threaded'})"
              for k in answered if k not in found]
    false = [f"false answer {k[1]} to {k[0]}: {o['answer_from']} by {o['matched_by']}" for k, o in found.items()
             if not expected[k]]
    summary = (f"real list threads: precision {precision:.3f} ({len(hits)}/{len(found)}), recall {recall:.3f} "
               f"({len(hits)}/{len(answered)}) over {len(outcomes)} (sequence, recipient) pairs, "
               f"{sum(1 for k in answered if expected[k] in built.stripped)} answers without threading headers; "
               f"{len(unknown)} pairs left out: a post the archive has without headers may answer them")
    print(summary)
    assert len(answered) >= 40, summary                 # enough real answers to measure on
    assert precision >= MIN_PRECISION and recall >= MIN_RECALL, "\n  ".join([summary, *misses, *false])


def test_no_auto_reply_or_bounce_counts_as_an_answer(audited):
    built, outcomes, touches = audited
    by_answer = {o["answer_message_id"]: o for o in outcomes if o["outcome"] == "human"}
    assert not set(built.autos) & set(by_answer)
    assert not set(built.bounces) & set(by_answer)
    sequence = {(t["message_id"], t["recipient"]): t["sequence_message_id"] for t in touches}
    seen = {(o["message_id"], o["recipient"]): o["outcome"] for o in outcomes}
    assert built.autos and built.bounces
    for ask, who in built.bounces.values():
        assert seen[sequence[ask, who], who] == "bounce", (ask, who)
    answered = {(o["message_id"], o["recipient"]) for o in outcomes
                if truth(built, o, [t["message_id"] for t in touches if t["sequence_message_id"] == o["message_id"]
                                    and t["recipient"] == o["recipient"]])}
    for ask, who in built.autos.values():
        # "auto", unless the person answered a later touch of the same sequence after their robot did
        key = sequence[ask, who], who
        assert seen[key] == ("human" if key in answered else "auto"), (ask, who)
