"""The tagger against tests/eval/asks.jsonl: asks written and labelled by hand for this project, never tuned
against. Each case (with its history) becomes real .eml files, is ingested and tagged like any mailbox, and the
labels are scored per axis: precision, recall and macro-F1, printed, with the floors the project holds itself to."""
import json
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from pathlib import Path

import pytest

from auditor.config import Identity, Settings, load_rules, parse_as_of
from auditor.ingest import ingest_paths
from auditor.store import Store
from auditor.tag import run_tag

CASES = [json.loads(line) for line in (Path(__file__).parent / "eval" / "asks.jsonl").read_text().splitlines() if line.strip()]
SEND = datetime(2026, 6, 1, 10, 0, tzinfo=timezone.utc)
FLOORS = {"audience": 0.90, "focus": 0.85, "warmth": 0.85}


def eml(folder: Path, name: str, *, sender, to, cc=(), bcc=(), subject, body, when, html=False, headers=None,
        message_id, auto=False) -> None:
    msg = EmailMessage()
    msg["From"], msg["To"] = sender, ", ".join(to) if to else "undisclosed-recipients:;"
    if cc:
        msg["Cc"] = ", ".join(cc)
    if bcc:
        msg["Bcc"] = ", ".join(bcc)
    msg["Subject"], msg["Date"], msg["Message-ID"] = subject, format_datetime(when), message_id
    if auto:
        msg["Auto-Submitted"] = "auto-replied"
    for key, value in (headers or {}).items():
        msg[key] = value
    msg.set_content(body, subtype="html" if html else "plain")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(bytes(msg))


def write_case(root: Path, case: dict, offset: int) -> None:
    """History as earlier mail in Inbox/Sent, the ask in Sent, all at fixed times before the send."""
    send = SEND + timedelta(minutes=offset)
    for i, h in enumerate(case["history"]):
        when = send - timedelta(days=h["days_before"])
        folder = root / ("Sent" if h["direction"] == "out" else "Inbox")
        eml(folder, f"{case['id']}-h{i}.eml", sender=h["from"], to=h["to"], subject=h["subject"], body=h["body"],
            when=when, message_id=f"<{case['id']}-h{i}@eval.example>", auto=h.get("auto", False))
    m = case["message"]
    eml(root / "Sent", f"{case['id']}.eml", sender=m["from"], to=m["to"], cc=m.get("cc", ()), bcc=m.get("bcc", ()),
        subject=m["subject"], body=m["body"], when=send, html=m.get("html", False), headers=m.get("headers"),
        message_id=f"<{case['id']}@eval.example>")


@pytest.fixture(scope="module")
def predictions(tmp_path_factory):
    """Cases that share a template group share a mailbox (the template is seen across them); others stand alone."""
    groups = defaultdict(list)
    for case in CASES:
        groups[case.get("template_group") or case["id"]].append(case)
    out = {}
    root = tmp_path_factory.mktemp("eval")
    for key, cases in groups.items():
        box = root / key
        for offset, case in enumerate(cases):
            write_case(box, case, offset)
        settings = Settings(db_path=Path(":memory:"), config_path=None, identity=Identity.parse(cases[0]["team"]),
                            as_of=parse_as_of("2026-07-01"), rules=load_rules())
        store = Store.open(Path(":memory:"))
        try:
            run_id = store.begin_run("eval")
            ingest_paths(store, run_id, [box])
            run_tag(store, settings, run_id)
            rows = store.frame("SELECT message_id, recipient, audience, focus, warmth, ask_kind, ask_size FROM tags").to_dicts()
        finally:
            store.close()
        for case in cases:
            mine = [r for r in rows if r["message_id"] == f"<{case['id']}@eval.example>"]
            out[case["id"]] = mine
    return out


def scores(pairs: list[tuple[str, str]]) -> dict:
    labels = sorted({e for e, _ in pairs} | {p for _, p in pairs})
    per = {}
    for label in labels:
        tp = sum(1 for e, p in pairs if e == label and p == label)
        fp = sum(1 for e, p in pairs if e != label and p == label)
        fn = sum(1 for e, p in pairs if e == label and p != label)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per[label] = (precision, recall, f1, tp + fn)
    macro = sum(v[2] for v in per.values()) / len(per)
    return {"per_label": per, "macro_f1": macro, "n": len(pairs)}


def axis_pairs(predictions, axis: str) -> list[tuple[str, str]]:
    pairs = []
    for case in CASES:
        rows = predictions[case["id"]]
        if axis == "warmth":
            got = {r["recipient"]: r["warmth"] for r in rows}
            for address, expected in case["expected"]["warmth"].items():
                pairs.append((expected, got.get(parseaddr(address)[1].lower(), "missing")))
        else:
            pairs.append((case["expected"][axis], rows[0][axis] if rows else "missing"))
    return pairs


def report(axis: str, result: dict) -> str:
    lines = [f"{axis}: macro-F1 {result['macro_f1']:.3f} over {result['n']}"]
    for label, (p, r, f1, n) in result["per_label"].items():
        lines.append(f"  {label:12} precision {p:.3f} recall {r:.3f} F1 {f1:.3f} (n={n})")
    return "\n".join(lines)


@pytest.mark.parametrize("axis", ["audience", "focus", "warmth"])
def test_each_axis_agrees_with_a_careful_reader(predictions, axis, capsys):
    result = scores(axis_pairs(predictions, axis))
    text = report(axis, result)
    with capsys.disabled():
        print("\n" + text)
    assert result["macro_f1"] >= FLOORS[axis], text


def test_every_case_is_tagged(predictions):
    assert [c["id"] for c in CASES if not predictions[c["id"]]] == []


def test_ask_kind_and_size_are_reported(predictions, capsys):
    kinds = scores(axis_pairs(predictions, "ask_kind"))
    sizes = [(c["expected"]["ask_size"], (predictions[c["id"]] or [{}])[0].get("ask_size")) for c in CASES]
    size_hits = sum(1 for e, p in sizes if (e or None) == (p or None))
    with capsys.disabled():
        print("\n" + report("ask_kind", kinds) + f"\nask_size exact: {size_hits}/{len(sizes)}")
    assert kinds["n"] == len(CASES)
