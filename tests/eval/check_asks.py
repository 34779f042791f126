"""Validate tests/eval/asks.jsonl and print its label counts (standard library only).

    python tests/eval/check_asks.py [path]        exit 0 when every case is valid, 1 otherwise

Checks: every line parses; required keys and types; labels in the allowed sets; warmth keys are exactly the
message's recipients outside the team; each warmth label agrees with the definition applied to `history`;
ask_size appears verbatim in the body; ask_kind none has no size; template groups have >= 2 members whose
bodies are near-identical; ids are unique.
"""
import collections
import difflib
import json
import re
import sys
from email.utils import getaddresses
from pathlib import Path

AUDIENCE = {"mass", "personal"}
FOCUS = {"self", "other", "neutral"}
WARMTH = {"warm", "lapsed", "cold"}
KINDS = {"none", "donation", "meeting", "introduction", "interview", "volunteering", "endorsement", "purchase", "other"}
CASE_KEYS = {"id", "why", "team", "history", "message", "template_group", "expected"}
MSG_KEYS = {"from", "to", "subject", "body", "html"}
HIST_KEYS = {"direction", "days_before", "from", "to", "subject", "body", "asks_for_nothing"}
EXP_KEYS = {"audience", "focus", "warmth", "ask_kind", "ask_size"}
WINDOW = 365


def addrs(values):
    if isinstance(values, str):
        values = [values]
    return [a.lower() for _, a in getaddresses(list(values)) if "@" in a]


def is_team(a, team):
    return any(a.endswith(t.lower()) if t.startswith("@") else a == t.lower() for t in team)


def warmth_from_history(rcpt, history, team):
    """The definition: warm = two-way within 365 days; lapsed = two-way only earlier; cold otherwise."""
    ins, outs = [], []
    for e in history:
        if e.get("auto"):
            continue
        if e["direction"] == "in" and rcpt in addrs(e["from"]):
            ins.append(e["days_before"])
        elif e["direction"] == "out" and rcpt in addrs(e["to"]) and is_team(addrs(e["from"])[0], team):
            outs.append(e["days_before"])
    if not ins or not outs:
        return "cold"
    if min(ins) <= WINDOW and min(outs) <= WINDOW:
        return "warm"
    return "lapsed"


def check(case, errors):
    cid = case.get("id", "?")

    def err(msg):
        errors.append(f"{cid}: {msg}")

    missing = CASE_KEYS - case.keys()
    if missing:
        return err(f"missing keys {sorted(missing)}")
    team = case["team"]
    if not team or not all(isinstance(t, str) for t in team):
        err("team must be a non-empty list of addresses/domains")
    m, e = case["message"], case["expected"]
    if MSG_KEYS - m.keys():
        err(f"message missing {sorted(MSG_KEYS - m.keys())}")
    if EXP_KEYS - e.keys():
        return err(f"expected missing {sorted(EXP_KEYS - e.keys())}")
    if not isinstance(m.get("html"), bool):
        err("message.html must be true/false")
    if not addrs(m["from"]) or not is_team(addrs(m["from"])[0], team):
        err("message.from is not a team address")
    for i, h in enumerate(case["history"]):
        if HIST_KEYS - h.keys():
            err(f"history[{i}] missing {sorted(HIST_KEYS - h.keys())}")
            continue
        if h["direction"] not in ("in", "out"):
            err(f"history[{i}] direction {h['direction']!r}")
        if not isinstance(h["days_before"], int) or h["days_before"] < 0:
            err(f"history[{i}] days_before must be a non-negative int")
        sender_is_team = bool(addrs(h["from"])) and is_team(addrs(h["from"])[0], team)
        if (h["direction"] == "out") != sender_is_team:
            err(f"history[{i}] direction {h['direction']} does not match sender {h['from']}")
    if e["audience"] not in AUDIENCE:
        err(f"audience {e['audience']!r}")
    if e["focus"] not in FOCUS:
        err(f"focus {e['focus']!r}")
    if e["ask_kind"] not in KINDS:
        err(f"ask_kind {e['ask_kind']!r}")
    size = e["ask_size"]
    if size is not None:
        if e["ask_kind"] == "none":
            err("ask_kind none with an ask_size")
        if " ".join(size.lower().split()) not in " ".join(m["body"].lower().split()):
            err(f"ask_size {size!r} not found verbatim in the body")
    rcpts = []
    for field in ("to", "cc", "bcc"):
        for a in addrs(m.get(field, [])):
            if not is_team(a, team) and a not in rcpts:
                rcpts.append(a)
    w = e["warmth"]
    if set(w) != set(rcpts):
        err(f"warmth keys {sorted(w)} != external recipients {sorted(rcpts)}")
    for a, label in w.items():
        if label not in WARMTH:
            err(f"warmth {a}: {label!r}")
        elif a in rcpts:
            computed = warmth_from_history(a, case["history"], team)
            if computed != label:
                err(f"warmth {a}: labelled {label}, history says {computed}")


def main(path):
    errors, cases = [], []
    for n, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            cases.append(json.loads(line))
        except json.JSONDecodeError as exc:
            errors.append(f"line {n}: {exc}")
    ids = collections.Counter(c.get("id") for c in cases)
    errors += [f"{i}: duplicate id" for i, k in ids.items() if k > 1]
    for c in cases:
        check(c, errors)
    groups = collections.defaultdict(list)
    for c in cases:
        if c.get("template_group"):
            groups[c["template_group"]].append(c)
    for g, members in groups.items():
        if len(members) < 2:
            errors.append(f"template_group {g}: only one member")
        for other in members[1:]:
            words = lambda s: re.sub(r"[\d$€£.,]+", "#", s).split()
            ratio = difflib.SequenceMatcher(None, words(members[0]["message"]["body"]),
                                            words(other["message"]["body"]), autojunk=False).ratio()
            if ratio < 0.8:
                errors.append(f"template_group {g}: {other['id']} differs from {members[0]['id']} (ratio {ratio:.2f})")
        if len({c["expected"]["audience"] for c in members}) != 1 or members[0]["expected"]["audience"] != "mass":
            errors.append(f"template_group {g}: members must all be mass")

    print(f"{len(cases)} cases, {len(groups)} template groups")
    for key in ("audience", "focus", "ask_kind"):
        counts = collections.Counter(c["expected"][key] for c in cases)
        print(f"{key}: " + ", ".join(f"{k} {v}" for k, v in counts.most_common()))
    per_rcpt = collections.Counter(v for c in cases for v in c["expected"]["warmth"].values())
    print("warmth (per recipient): " + ", ".join(f"{k} {v}" for k, v in per_rcpt.most_common()))
    per_case = collections.Counter(
        next(iter(set(c["expected"]["warmth"].values()))) if len(set(c["expected"]["warmth"].values())) == 1 else "mixed"
        for c in cases)
    print("warmth (per case): " + ", ".join(f"{k} {v}" for k, v in per_case.most_common()))
    sizes = [c["expected"]["ask_size"] for c in cases if c["expected"]["ask_size"]]
    money = [s for s in sizes if re.search(r"[$€£]|euro", s)]
    print(f"ask_size: {len(sizes)} stated ({len(money)} money, {len(sizes) - len(money)} time), "
          f"{len(cases) - len(sizes)} null")
    cov = collections.Counter(t for c in cases for t in c.get("covers", []))
    if cov:
        print("covers: " + ", ".join(f"{k} {v}" for k, v in sorted(cov.items())))
    combos = collections.Counter((c["expected"]["audience"], c["expected"]["focus"]) for c in cases)
    print("audience x focus: " + ", ".join(f"{a}/{f} {v}" for (a, f), v in sorted(combos.items())))
    if errors:
        print(f"\n{len(errors)} problem(s):")
        for e in errors:
            print("  " + e)
        return 1
    print("valid")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).with_name("asks.jsonl")))
