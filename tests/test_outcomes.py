"""The reply matcher against a hand-written corpus (tests/fixtures/replies/): two team senders at ourteam.org,
the headers each mail client really writes (Gmail, Outlook/Exchange, Apple Mail, Thunderbird, Zimbra, GroupWise,
Yahoo), out-of-office replies, bounces of several kinds, a mass send, follow-ups and a mailing list.

expected.toml says, for every (first-touch Message-ID, recipient) of the corpus, what a careful reader decides;
these tests compare the matcher with it. The corpus is ingested, tagged and matched once for the module.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from auditor.config import Identity, Settings, load_rules, parse_as_of
from auditor.ingest import ingest_paths
from auditor.match import run_match
from auditor.store import Store
from auditor.tag import run_tag

CORPUS = Path(__file__).parent / "fixtures" / "replies"
FOLDERS = [CORPUS / "Sent", CORPUS / "Inbox"]
EXPECTED = tomllib.loads((CORPUS / "expected.toml").read_text(encoding="utf-8"))
MIN_PRECISION = MIN_RECALL = 0.98
SOFT_BOUNCE, LIST_ANSWER, PENDING, ANSWERED_WHILE_OPEN = "14", "20", "21", "22"   # scenarios in expected.toml


def _expected_pairs() -> dict[tuple[str, str], dict]:
    mass = EXPECTED["mass"]
    pairs = {(mass["ask"], r): {"scenario": "15", "ask": mass["ask"], "recipient": r, "outcome": mass["default"],
                                "answer": "none", "answer_by_colleague": False, "files": [mass["file"]]}
             for r in mass["recipients"]}
    named = set()
    for row in EXPECTED["pair"]:
        key = (row["ask"], row["recipient"])
        assert key not in named, f"expected.toml lists {key} twice"
        assert row["ask"] != mass["ask"] or key in pairs, f"{key}: not among the [mass] recipients"
        named.add(key)
        pairs[key] = row
    return pairs


PAIRS = _expected_pairs()


def answer_of(row: dict) -> str | None:
    return None if row.get("answer", "none") == "none" else row["answer"]


def where(row: dict) -> str:
    """Where to look when a pair is wrong: scenario, files, recipient."""
    return f"[{row['scenario']}] {row['recipient']} ({', '.join(row['files'])})"


def scenario(number: str) -> list[dict]:
    return [row for row in PAIRS.values() if row["scenario"] == number]


def report(problems: list[str]) -> str:
    return f"{len(problems)} mismatch(es):\n  " + "\n  ".join(problems)


@dataclass
class Matched:
    outcomes: dict[tuple[str, str], dict]
    touches: dict[tuple[str, str], dict]
    asks: set[str]
    read: int
    quarantined: int


@pytest.fixture(scope="module")
def matched(tmp_path_factory) -> Matched:
    tmp = tmp_path_factory.mktemp("replies")
    settings = Settings(db_path=tmp / "outcomes.duckdb", config_path=None, identity=Identity.parse(EXPECTED["team"]),
                        as_of=parse_as_of(EXPECTED["as_of"]), rules=load_rules())
    with Store.open(settings.db_path) as store:
        run_id = store.begin_run("test", [str(f) for f in FOLDERS])
        counts = ingest_paths(store, run_id, FOLDERS)
        run_tag(store, settings, run_id)
        run_match(store, settings, run_id)
        outcomes = {(r["message_id"], r["recipient"]): r for r in store.frame("SELECT * FROM outcomes").to_dicts()}
        touches = {(r["message_id"], r["recipient"]): r for r in store.frame("SELECT * FROM touches").to_dicts()}
        asks = {m for (m,) in store.run("SELECT DISTINCT message_id FROM tags")}
    return Matched(outcomes, touches, asks, counts.read, counts.quarantined)


def got_answer(row: dict | None) -> str | None:
    """The answer the matcher counts: only a human outcome has one."""
    if row is None or row["outcome"] != "human":
        return None
    return row["answer_message_id"]


# ---------------------------------------------------------------------------------------------------------------
# The corpus itself
# ---------------------------------------------------------------------------------------------------------------


def test_the_corpus_is_read_whole_and_every_pair_is_listed(matched):
    files = sorted(p for f in FOLDERS for p in f.glob("*.eml"))
    assert matched.read == len(files) and matched.quarantined == 0
    listed = {rel for row in PAIRS.values() for rel in row["files"]}
    assert not listed - {str(p.relative_to(CORPUS)) for p in files}, "expected.toml names files that do not exist"
    assert not set(EXPECTED["team_only"]) & matched.asks, "team-only mail must not be an ask"
    assert len({ask for ask, _ in PAIRS}) >= 25 and len(EXPECTED["mass"]["recipients"]) == 40


# ---------------------------------------------------------------------------------------------------------------
# The two headline tests
# ---------------------------------------------------------------------------------------------------------------


def test_answer_matching_precision_and_recall(matched):
    """Over (sequence, recipient, answer message): a predicted answer (a human outcome) is a true positive when
    expected. precision = TP / predicted answers, recall = TP / expected answers."""
    expected = {(ask, rcpt, answer_of(row)) for (ask, rcpt), row in PAIRS.items() if answer_of(row)}
    predicted = {(ask, rcpt, got_answer(row)) for (ask, rcpt), row in matched.outcomes.items() if got_answer(row)}
    tp = expected & predicted
    precision = len(tp) / len(predicted) if predicted else 0.0
    recall = len(tp) / len(expected) if expected else 0.0
    summary = (f"answer matching: precision {precision:.3f} ({len(tp)}/{len(predicted)}), "
               f"recall {recall:.3f} ({len(tp)}/{len(expected)})")
    print("\n" + summary)
    problems = []
    for ask, rcpt, answer in sorted(predicted - tp):
        row = PAIRS.get((ask, rcpt))
        place = where(row) if row else f"{rcpt} (pair not in expected.toml, ask {ask})"
        problems.append(f"false positive {place}: expected answer {answer_of(row) if row else None}, got {answer}")
    for ask, rcpt, answer in sorted(expected - tp):
        row, got = PAIRS[ask, rcpt], matched.outcomes.get((ask, rcpt))
        problems.append(f"false negative {where(row)}: expected answer {answer}, got "
                        f"{got_answer(got)} (outcome {got['outcome'] if got else 'no row'})")
    for line in problems:
        print("  " + line)
    assert precision >= MIN_PRECISION and recall >= MIN_RECALL, summary + "\n  " + "\n  ".join(problems)


def test_every_outcome_is_the_expected_one(matched):
    problems = []
    for key, row in sorted(PAIRS.items(), key=lambda kv: (kv[1]["scenario"], kv[0][1])):
        got = matched.outcomes.get(key)
        if got is None:
            problems.append(f"{where(row)}: expected {row['outcome']}, got no outcome row")
        elif got["outcome"] != row["outcome"]:
            problems.append(f"{where(row)}: expected {row['outcome']} (answer {answer_of(row)}), got {got['outcome']} "
                            f"(answer {got['answer_message_id']} from {got['answer_from']}, auto "
                            f"{got['auto_message_id']}, bounce {got['bounce_message_id']})")
    for key in sorted(set(matched.outcomes) - set(PAIRS)):
        problems.append(f"unexpected outcome row {key}: {matched.outcomes[key]['outcome']}")
    assert not problems, report(problems)


# ---------------------------------------------------------------------------------------------------------------
# Focused tests
# ---------------------------------------------------------------------------------------------------------------


def _answered_as_expected(matched, row) -> dict | None:
    """The outcome row when the matcher found the expected answer; else None (the matching tests report it)."""
    got = matched.outcomes.get((row["ask"], row["recipient"]))
    return got if got is not None and got_answer(got) == answer_of(row) else None


def test_what_each_answer_says(matched):
    kinds = {row["answer_kind"] for row in PAIRS.values() if "answer_kind" in row}
    assert kinds == {"positive", "objection", "referral", "unsubscribe", "neutral"}
    problems = []
    for row in PAIRS.values():
        got = _answered_as_expected(matched, row) if "answer_kind" in row else None
        if got is not None and got["answer_kind"] != row["answer_kind"]:
            problems.append(f"{where(row)}: expected {row['answer_kind']}, got {got['answer_kind']} "
                            f"(decided by {got['answer_phrase']!r})")
    assert not problems, report(problems)


def test_colleague_answers_are_flagged_and_free_mail_never_makes_a_colleague(matched):
    problems = []
    for row in PAIRS.values():
        got = _answered_as_expected(matched, row) if answer_of(row) else None
        if got is not None and bool(got["answer_by_colleague"]) != row["answer_by_colleague"]:
            problems.append(f"{where(row)}: expected answer_by_colleague {row['answer_by_colleague']}, "
                            f"got {got['answer_by_colleague']}")
    for row in PAIRS.values():   # a human outcome from someone else at a free-mail domain
        got = matched.outcomes.get((row["ask"], row["recipient"]))
        domain = row["recipient"].split("@")[1]
        if (got and got["outcome"] == "human" and got["answer_from"] != row["recipient"]
                and domain in load_rules()["match"]["free_mail_domains"]):
            problems.append(f"{where(row)}: answered for by {got['answer_from']} at a free-mail domain")
    assert any(row["answer_by_colleague"] for row in PAIRS.values())
    assert not problems, report(problems)


def test_follow_ups_join_the_first_touch_and_the_answered_touch_is_kept(matched):
    problems = []
    for row in PAIRS.values():
        key = (row["ask"], row["recipient"])
        got = matched.outcomes.get(key)
        if got is None:
            continue
        for field in ("touches", "answer_touch"):
            if field in row and got[field] != row[field]:
                problems.append(f"{where(row)}: expected {field} {row[field]}, got {got[field]}")
        chain = [row["ask"], *row.get("follow_ups", [])]
        for number, message_id in enumerate(chain, 1):
            touch = matched.touches.get((message_id, row["recipient"]))
            seen = (touch["sequence_message_id"], touch["touch"]) if touch else None
            if seen != (row["ask"], number):
                problems.append(f"{where(row)}: {message_id} expected touch {number} of {row['ask']}, got {seen}")
    assert not problems, report(problems)


def test_out_of_office_replies_keep_their_return_date(matched):
    problems = []
    rows = [row for row in PAIRS.values() if "auto_return_date" in row]
    assert len(rows) >= 3
    for row in rows:
        got = matched.outcomes.get((row["ask"], row["recipient"]))
        stated = row["auto_return_date"]
        stated = stated if isinstance(stated, date) else date.fromisoformat(stated)
        if got is None or got["auto_message_id"] is None:
            problems.append(f"{where(row)}: expected an auto-reply returning {stated}, got none")
        elif got["auto_return_date"] != stated:
            problems.append(f"{where(row)}: expected auto_return_date {stated}, got {got['auto_return_date']}")
    for row in PAIRS.values():   # an out-of-office is never the answer
        got = matched.outcomes.get((row["ask"], row["recipient"]))
        if got and got["outcome"] == "human" and got["answer_message_id"] == got["auto_message_id"]:
            problems.append(f"{where(row)}: the auto-reply {got['auto_message_id']} was taken for the answer")
    assert not problems, report(problems)


def test_hard_bounces_take_the_address_out_and_a_delay_notice_does_not(matched):
    problems = []
    for row in PAIRS.values():
        got = matched.outcomes.get((row["ask"], row["recipient"]))
        if got is None:
            continue
        want = row.get("bounce")
        if want and (got["outcome"], got["bounce_message_id"]) != ("bounce", want):
            problems.append(f"{where(row)}: expected bounce {want}, got {got['outcome']} "
                            f"(bounce {got['bounce_message_id']})")
        if want and "bounce_status" in row and got["bounce_status"] != row["bounce_status"]:
            problems.append(f"{where(row)}: expected bounce_status {row['bounce_status']}, got {got['bounce_status']}")
        if not want and (got["outcome"] == "bounce" or got["bounce_message_id"] is not None):
            problems.append(f"{where(row)}: expected no bounce, got {got['outcome']} "
                            f"(bounce {got['bounce_message_id']}, status {got['bounce_status']})")
    soft = scenario(SOFT_BOUNCE)
    assert soft and all(matched.outcomes[r["ask"], r["recipient"]]["outcome"] == r["outcome"] == "none" for r in soft), \
        report(problems + ["the soft bounce changed the outcome"])
    assert not problems, report(problems)


def test_an_answer_posted_through_a_mailing_list_counts(matched):
    """List-Id and Precedence: list on a person's reply do not make it a robot; the list address itself (Cc'd on
    the ask) is answered by nobody."""
    rows = scenario(LIST_ANSWER)
    assert {row["outcome"] for row in rows} == {"human", "none"}
    for row in rows:
        got = matched.outcomes.get((row["ask"], row["recipient"]))
        assert got is not None, where(row)
        want = (row["outcome"], answer_of(row), row.get("matched_by"))
        seen = (got["outcome"], got_answer(got), got["matched_by"] if got["outcome"] == "human" else None)
        assert seen == want, f"{where(row)}: expected {want}, got {seen}"


def test_how_each_answer_was_found(matched):
    """In-Reply-To, References, the thread, or the subject alone (headers dropped, or a forward we never saw)."""
    problems = []
    for row in PAIRS.values():
        got = _answered_as_expected(matched, row) if "matched_by" in row else None
        if got is not None and got["matched_by"] != row["matched_by"]:
            problems.append(f"{where(row)}: expected matched_by {row['matched_by']}, got {got['matched_by']}")
    assert not problems, report(problems)


def test_open_windows_are_pending_unless_answered(matched):
    rows = scenario(PENDING) + scenario(ANSWERED_WHILE_OPEN)
    assert {row["outcome"] for row in rows} == {"pending", "human"}
    for row in rows:
        got = matched.outcomes.get((row["ask"], row["recipient"]))
        assert got is not None and got["outcome"] == row["outcome"], \
            f"{where(row)}: expected {row['outcome']}, got {got and got['outcome']}"
