"""The real labelled mail the models are fit and measured on: `../shared/realmail` (its README says what it is),
and our own labels of its list archive (`train/labels/`, README there: the text stays in ../shared, the labels
name each message by Message-ID and each sentence by its number and a hash of its text).

Only what the two readers agreed on is a label. Each item's `group` is where it came from, so that grouped
cross-validation never scores a model on a source it was fit on: the writer for mail from a mailbox or a list (one
person's habits are one source), the web page for mail quoted on the web, all within its stratum (A business, B
mass, C cold, L a mailing list's discussion).
"""
from __future__ import annotations

import csv
import email
import email.policy
import email.utils
import hashlib
import mailbox
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

DEFAULT_ROOT = Path(__file__).resolve().parent.parent.parent / "shared" / "realmail"
OWN_LABELS = Path(__file__).resolve().parent / "labels"
LIST_ARCHIVE = "threads/linux-uvc-devel-2008-01_02.mbox"
COLOURS = {"Y": "self", "G": "other", "N": "neutral"}
ITEM_SCHEMA = {"item": pl.String, "stratum": pl.String, "group": pl.String, "ask": pl.String,
               "ask_sentences": pl.List(pl.Int64), "audience": pl.String, "focus": pl.String}
SENTENCE_SCHEMA = {"item": pl.String, "n": pl.Int32, "text": pl.String, "colour": pl.String}


@dataclass
class RealMail:
    root: Path
    items: pl.DataFrame        # item, stratum, group, ask, ask_sentences (list[int]), audience, focus
    sentences: pl.DataFrame    # item, n, text, colour (agreed: self|other|neutral, or null)
    raws: dict[str, bytes] = field(default_factory=dict)    # item -> the message as found
    stale: int = 0             # labelled sentences of ours whose text the auditor no longer splits the same way
    invented: pl.DataFrame = field(default_factory=lambda: load_invented())   # text, colour, request (agreed)

    def digest(self) -> str:
        """A fingerprint of the label and item files, so a model file says which data it was fit on."""
        h = hashlib.sha256()
        for path in sorted([*self.root.glob("labels/*.tsv"), *self.root.glob("items/*.txt"), self.root / "sources.tsv",
                            *OWN_LABELS.glob("*.tsv")]):
            h.update(path.name.encode())
            h.update(path.read_bytes())
        return h.hexdigest()[:16]

    def eml(self, item: str) -> bytes:
        return self.raws[item]


def _tsv(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def _sender(raw: bytes) -> str:
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    return email.utils.parseaddr(str(message.get("From", "")))[1].lower() or "unknown"


def _agreed(value: str, allowed: tuple[str, ...]) -> str | None:
    return value if value in allowed else None


def _marked(row: dict) -> list[int]:
    """The sentences either reader named as the ask, where that reader said there is one."""
    return sorted({int(s) for s, said in ((row["ask_sentence_a"], row["ask_a"]), (row["ask_sentence_b"], row["ask_b"]))
                   if said == "yes" and s.isdigit()})


def load_items(root: Path) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, bytes]]:
    """The 173 labelled items of ../shared/realmail."""
    sources = {r["item"]: r for r in _tsv(root / "sources.tsv")}
    texts = {}
    for path in sorted((root / "items").glob("*.txt")):
        for line in path.read_text(encoding="utf-8").split("\n"):
            n, tab, text = line.partition("\t")
            if tab and n.isdigit():
                texts[(path.stem, int(n))] = text
    sentences = pl.DataFrame([
        {"item": r["item"], "n": int(r["n"]), "text": texts.get((r["item"], int(r["n"])), ""),
         "colour": COLOURS.get(r["colour"])}
        for r in _tsv(root / "labels" / "sentences.tsv")
    ], schema=SENTENCE_SCHEMA)
    raws = {path.stem: path.read_bytes() for path in sorted((root / "items").glob("*.eml"))}
    rows = []
    for r in _tsv(root / "labels" / "messages.tsv"):
        source = sources[r["item"]]
        origin = source["repo"] if source["repo"].startswith("web:") else _sender(raws[r["item"]])
        rows.append({
            "item": r["item"], "stratum": source["stratum"], "group": f"{source['stratum']}:{origin}",
            "ask": _agreed(r["ask"], ("yes", "no")), "ask_sentences": _marked(r),
            "audience": _agreed(r["audience"], ("mass", "personal")),
            "focus": _agreed(r["focus"], ("self", "other", "neutral")),
        })
    return pl.DataFrame(rows, schema=ITEM_SCHEMA), sentences, raws


def list_sentences(raw: bytes) -> list[str]:
    """A list message's sentences as the auditor finds them (what our readers labelled)."""
    from auditor.config import load_rules
    from auditor.parse import Unparseable, parse_raw
    from auditor.tag.text import clean_with, split_sentences

    try:
        body = parse_raw(raw).get("body_text") or ""
    except Unparseable:
        return []
    return split_sentences(clean_with(load_rules())(body))


def load_list(root: Path, labels: Path = OWN_LABELS) -> tuple[pl.DataFrame, pl.DataFrame, dict[str, bytes], int]:
    """Our own labels of the list archive in ../shared/realmail/threads: each labelled sentence is found again by
    splitting its message as the auditor does and checking the hash of its text; one that no longer matches (the
    cleaning or the split changed) is counted in `stale` and left out."""
    by_id: dict[str, bytes] = {}
    for message in mailbox.mbox(root / LIST_ARCHIVE):
        raw = message.as_bytes()
        key = str(message.get("Message-ID", "")).strip()
        by_id.setdefault(key, raw)
    messages = _tsv(labels / "uvc_messages.tsv")
    names = {r["message_id"]: f"L{i:03d}" for i, r in enumerate(messages, 1)}
    raws = {names[m]: by_id[m] for m in names if m in by_id}
    split = {item: list_sentences(raw) for item, raw in raws.items()}
    rows, stale = [], 0
    for r in _tsv(labels / "uvc_sentences.tsv"):
        item, n = names[r["message_id"]], int(r["n"])
        found = split.get(item, [])
        text = found[n - 1] if n <= len(found) else None
        if text is None or hashlib.sha1(text.encode()).hexdigest()[:12] != r["sha1"]:
            stale += 1
            continue
        rows.append({"item": item, "n": n, "text": text, "colour": COLOURS.get(r["colour"])})
    items = []
    for r in messages:
        item = names[r["message_id"]]
        if item not in raws:
            continue
        sender = email.utils.parseaddr(str(email.message_from_bytes(raws[item], policy=email.policy.compat32)
                                           .get("From", "")).replace(" at ", "@"))[1].lower() or "unknown"
        items.append({"item": item, "stratum": "L", "group": f"L:{sender}", "ask": _agreed(r["ask"], ("yes", "no")),
                      "ask_sentences": _marked(r), "audience": _agreed(r["audience"], ("mass", "personal")),
                      "focus": _agreed(r["focus"], ("self", "other", "neutral"))})
    return pl.DataFrame(items, schema=ITEM_SCHEMA), pl.DataFrame(rows, schema=SENTENCE_SCHEMA), raws, stale


def load_invented(labels: Path = OWN_LABELS) -> pl.DataFrame:
    """The sample mailbox's sentences our two readers labelled (labels/README.md): the nonprofit voice the real
    set lacks. Text, agreed colour and agreed request (null where the readers differed)."""
    rows = _tsv(labels / "sample_voice.tsv")
    return pl.DataFrame({
        "text": [r["text"] for r in rows],
        "colour": [COLOURS.get(r["colour"]) for r in rows],
        "request": [_agreed(r["request"], ("yes", "no")) for r in rows],
    }, schema={"text": pl.String, "colour": pl.String, "request": pl.String})


def load(root: Path = DEFAULT_ROOT, *, with_list: bool = True) -> RealMail:
    root = Path(root)
    if not (root / "labels" / "sentences.tsv").is_file():
        raise FileNotFoundError(f"no labelled real mail at {root} (expected labels/sentences.tsv)")
    items, sentences, raws = load_items(root)
    stale = 0
    if with_list and (root / LIST_ARCHIVE).is_file():
        list_items, list_sentences_, list_raws, stale = load_list(root)
        items, sentences = pl.concat([items, list_items]), pl.concat([sentences, list_sentences_])
        raws |= list_raws
    return RealMail(root, items, sentences, raws, stale)
