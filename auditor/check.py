"""Check a draft before it is sent: its sentences coloured, mass or personal, warm, lapsed or cold per recipient,
the craft checks, and its chance of an answer from a model fit on the user's own asks and what became of them.

The draft is never written to the user's database. It is parsed as an ingest parses mail and labelled by the label
pass's own functions, so its labels mean what the report's do, and then set beside the stored history: the
templates already sent, each recipient's mail, the earlier asks and their outcomes. The model is the report's
adjusted model (`stats.fit_answers`), fit once and kept in `answer_model` until the tags, outcomes or rules change:
a check is then a look-up and a dot product.
"""
from __future__ import annotations

import email
import email.policy
import json
import math
import re
import unicodedata
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses
from pathlib import Path
from typing import Any, Callable

import numpy as np
import polars as pl

from .config import Identity, Settings, digest
from .errors import UsageError
from .ingest import Parser, ingest_messages
from .report import label_name, style_name
from .report.analysis import PRIOR_MEASURES, _priors
from .report.stats import FACTORS, FLAGS, Z95, _levels, fit_answers
from .sources import RawMessage
from .store import Store, now
from .tag import label_asks, mail_rows
from .tag.audience import tag_audience
from .tag.measures import measure_frame
from .tag.sentence_model import why
from .tag.text import GREETING
from .tag.warmth import tag_warmth

DRAFT_ID = "<draft@auditor.invalid>"
HISTORY_VERSION = 2     # bump when what stored_history keeps changes: a kept one of another version is made again
HEADER_NAMES = {"from", "to", "cc", "bcc", "subject", "date", "message-id", "in-reply-to", "references",
                "mime-version", "content-type", "reply-to"}
AXES = ("audience", "focus", "warmth")
# The one change per axis the essays advise, and so the only one "what would change it most" names: lapsed or
# "about neither side" may score higher in a mailbox, but no one can write a draft into them.
ADVISED = {"audience": "personal", "focus": "other", "warmth": "warm"}
FLAG_WORDS = {
    "open_question": ("an open question", "with an open question (how, what, why)"),
    "chunked": ("a smaller first step", "broken into a smaller first step"),
    "opt_out": ("an easy no", "with an easy no (\"no worries if not\")"),
    "commitment_stated": ("what it takes", "saying what exactly it takes (how much, how long, by when)"),
    "offers_first": ("something offered first", "offering something before the ask"),
    "gratitude": ("thanks", "thanking them"),
}
MEASURE_WORDS = {"word_count": "words", "question_count": "questions", "reading_grade": "reading grade",
                 "subject_words": "subject words"}


# --- the draft ------------------------------------------------------------------------------------------------

def _is_message(data: bytes) -> bool:
    """A header block of known fields before the first blank line: an .eml, not a letter that starts "Dear Ana:"."""
    head = data.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].decode("utf-8", "replace")
    names = [line.split(":", 1)[0].strip().lower() for line in head.split("\n")
             if line and not line[0].isspace() and ":" in line]
    return bool(names) and any(n in HEADER_NAMES for n in names)


def draft_message(data: bytes, identity: Identity, as_of: datetime, *, to: tuple[str, ...] = (),
                  subject: str | None = None, sender: str | None = None) -> bytes:
    """The draft as a message from the user, dated now: an .eml keeps its headers; plain text becomes the body of
    one. `to` replaces its To/Cc/Bcc, `subject` its subject; a draft not from the team is from `sender` (else the
    team's first address). Raises UsageError when nobody would receive it."""
    if _is_message(data):
        message = email.message_from_bytes(data, policy=email.policy.compat32)
    else:
        message = EmailMessage()
        message.set_content(data.decode("utf-8", "replace"))
    if to:
        for field in ("To", "Cc", "Bcc"):
            del message[field]
        message["To"] = ", ".join(to)
    if subject is not None:
        del message["Subject"]
        message["Subject"] = " ".join(subject.split())     # a line break in a header would end it
    given = [a.lower() for _, a in getaddresses([str(message.get("From", ""))]) if "@" in a]
    if not given or not any(a in identity.addresses or a.split("@")[1] in identity.domains for a in given):
        del message["From"]
        message["From"] = sender or (sorted(identity.addresses)[0] if identity.addresses
                                     else f"me@{sorted(identity.domains)[0]}")
    for field, value in (("Date", format_datetime(as_of)), ("Message-ID", DRAFT_ID)):
        del message[field]
        message[field] = value
    people = [a for _, a in getaddresses([str(v) for f in ("To", "Cc", "Bcc") for v in message.get_all(f, [])]) if "@" in a]
    if not people:
        raise UsageError("the draft has no recipient: give one with --to ADDRESS (repeatable).")
    return message.as_bytes()


def tag_draft(raw: bytes, identity: Identity, rules: dict) -> dict[str, pl.DataFrame]:
    """The draft labelled by the tag stage's own functions: its labels (`tags`: one row, the tags table's columns
    but warmth), coloured sentences, ask row (recipients outside the team) and text measures. Parsed through a
    scratch database in memory, as an ingest stores it; labelled in memory, as a batch of the label pass is (the
    stage's threads, spools and writes cost 0.4 s and say nothing about one draft)."""
    with Store.open(Path(":memory:")) as scratch:
        run = scratch.begin_run("check")
        ingest_messages(scratch, run, [RawMessage("eml", "draft", "Sent", "draft", raw)], parser=Parser(workers=1))
        reason = scratch.scalar("SELECT reason FROM quarantine")
        if reason:
            raise UsageError(f"the draft cannot be read as mail ({reason}): save it as .eml or plain text.")
        messages = scratch.query("load_messages", parts=1, part=0)
        inputs = scratch.query("measure_inputs", hashes=messages["raw_sha256"].to_list())
    _, asks = mail_rows(messages, identity, rules)
    asks = asks.filter(pl.col("recipients_ext").list.len() > 0)
    if asks.is_empty():
        raise UsageError("every recipient of the draft is on your own team: check a draft to someone outside it "
                         "(--to ADDRESS).")
    measures = measure_frame(inputs, rules)
    # Alone, the draft is no template: what the templates already sent say is added by draft_audience.
    batch = asks.join(measures, on="raw_sha256", how="left").with_columns(
        template_recipients=pl.lit(0, pl.Int32), template_id=pl.lit(None, pl.Int64), personalization=pl.lit(1.0))
    labels, sentences = label_asks(batch, rules)
    return {"tags": labels.rename({"from_addr": "sender"}), "asks": asks, "message_measures": measures,
            "sentences": sentences.sort("idx").select("idx", "text", "colour", "confidence", "is_ask")}


# --- what the mailbox already knows --------------------------------------------------------------------------

def nearest_template(store: Store, signature: list[int] | None) -> dict | None:
    """The template already sent whose text is closest to the draft's (estimated Jaccard similarity of word
    3-grams, the measure the template clusters use), or None without one."""
    if signature is None:
        return None
    templates = store.query("check_templates")
    if templates.is_empty():
        return None
    signatures = templates["signature"].to_list()
    sizes = {len(s) for s in signatures}
    if sizes != {len(signature)}:
        return None
    similarity = (np.asarray(signatures, dtype=np.uint64) == np.asarray(signature, dtype=np.uint64)).mean(axis=1)
    best = int(similarity.argmax())
    row = templates.row(best, named=True)
    return {"similarity": round(float(similarity[best]), 3), "campaign": row["campaign"],
            "recipients": row["recipients"], "first_sent": row["first_sent"].date().isoformat()}


def draft_audience(frames: dict[str, pl.DataFrame], template: dict | None, rules: dict) -> dict:
    """Mass or personal as the tag stage decides it, with a template already sent counted as the stored asks'
    templates are: the draft joins it when it is as close as template copies are to each other."""
    cfg = rules["audience"]
    recipients = frames["asks"]["recipients_ext"].list.len()[0]
    same = template is not None and template["similarity"] >= cfg["template_similarity"]
    asks = frames["asks"].join(frames["message_measures"].select("raw_sha256", "clean", "sentences", "mass_p"),
                               on="raw_sha256", how="left").with_columns(
        pl.col("clean").fill_null(""),
        first_sentence=pl.col("sentences").list.first().fill_null(""),
        template_recipients=pl.lit(template["recipients"] + recipients if same else 0))
    row = tag_audience(asks.lazy(), rules).collect().row(0, named=True)
    reasons = list(row["audience_reasons"])
    if same:
        reasons = [r for r in reasons if not r.startswith("the same text went to")]
        reasons.insert(0, f"{template['similarity']:.0%} the same as '{template['campaign']}', sent to "
                          f"{template['recipients']:,} people from {template['first_sent']}")
    return {"label": row["audience"], "score": round(row["audience_score"], 2), "reasons": reasons,
            "template": template if template and template["similarity"] >= rules["check"]["near_template"] else None}


def _utc(frame: pl.DataFrame, *columns: str) -> pl.DataFrame:
    return frame.with_columns(pl.col(c).cast(pl.Datetime("us", "UTC")) for c in columns)


def recipient_history(store: Store, people: list[str], as_of: datetime, rules: dict) -> list[dict]:
    """Each recipient's warmth from the mailbox at this moment (the tag stage's rule, as of now), their earlier
    asks (how many, how many answered, and the three newest with what became of them), and an out-of-office
    return date still ahead."""
    events = _utc(store.query("check_contacts", people=people, as_of=as_of), "at")
    pairs = pl.DataFrame({"message_id": DRAFT_ID, "recipient": people}).with_columns(
        sent_at=pl.lit(as_of).cast(pl.Datetime("us", "UTC")))
    start = store.scalar("SELECT min(sent_at) FROM mails")
    start = start.astimezone(timezone.utc) if start else None
    of = lambda *kinds: events.lazy().filter(pl.col("kind").is_in(kinds)).select("person", "at")
    warmth = tag_warmth(pairs.lazy(), of("in"), of("out", "gift"), of("gift"), start, rules).collect()
    earlier = store.query("check_earlier_asks", people=people, as_of=as_of)
    away = {r["person"]: r["return_date"] for r in store.query("check_away", people=people, as_of=as_of).to_dicts()}
    out = []
    for row in warmth.to_dicts():
        asks = earlier.filter(pl.col("recipient") == row["recipient"])
        out.append({
            "address": row["recipient"], "warmth": row["warmth"], "reasons": row["warmth_reasons"],
            "days_since_contact": row["days_since_contact"], "gave_first": row["gave_first"],
            "asked": asks.height, "answered": int((asks["outcome"] == "human").sum()),
            "earlier_asks": [{"sent": a["first_sent_at"].date().isoformat(), "campaign": a["campaign"],
                              "kind": a["ask_kind"], "outcome": a["outcome"], "answer_kind": a["answer_kind"]}
                             for a in asks.head(3).to_dicts()],
            "away_until": away[row["recipient"]].isoformat() if row["recipient"] in away else None,
        })
    order = {p: i for i, p in enumerate(people)}
    return sorted(out, key=lambda r: order[r["address"]])


def _folded(name: str) -> str:
    """Lower case without accents: "Renée" is greeted as "Renee" too."""
    return "".join(c for c in unicodedata.normalize("NFKD", name.lower()) if not unicodedata.combining(c))


def greeting_mismatch(first_sentence: str, names: dict[str, list[str]], not_names: list[str]) -> dict | None:
    """A greeting by a first name that is none of the (single) recipient's names in the mailbox: the mail-merge
    slip of "Hi Dana" to Nadia. Only said when the recipient's name is known and the greeting names someone."""
    match = re.search(GREETING, first_sentence or "")
    if not match or len(names) != 1:
        return None
    (person, known), = names.items()
    greeted = _folded(match.group(1))
    words = {_folded(w.strip(".,'’")) for name in known for w in name.replace(",", " ").split()}
    if not known or greeted in words or greeted in not_names:
        return None
    return {"kind": "greeting", "greeted": match.group(1), "recipient": person, "known_as": known[0]}


def warning_text(warning: dict, *, with_name: bool = True) -> str:
    """A warning in words; without the recipient's name where recipients are pseudonymous (the HTML page)."""
    known = f"goes by {warning['known_as']}" if with_name else "goes by another name"
    return f"the greeting says '{warning['greeted']}', but {warning['recipient']} {known} in your mail"


# --- the model ------------------------------------------------------------------------------------------------

def _row_value(row: dict, factor: str) -> Any:
    if factor == "open_question":
        return (row.get("open_questions") or 0) > 0 if "open_question" not in row else bool(row["open_question"])
    return row.get(factor)


def design_row(model: dict, row: dict) -> np.ndarray:
    """The draft's row of the model matrix: the intercept, then each kept effect (a factor's level, or a craft
    feature present)."""
    values = [1.0]
    for factor, level in model["terms"]:
        value = _row_value(row, factor)
        values.append(float(bool(value)) if factor in FLAGS else float(value == level))
    return np.asarray(values)


def predict(model: dict, row: dict) -> dict:
    """The predicted chance of an answer with its 95% interval (on the log-odds scale, from the clustered
    covariance, then back): how sure the user's own history is about an ask like this one."""
    x = design_row(model, row)
    params, cov = np.asarray(model["params"]), np.asarray(model["cov"])
    eta = float(x @ params)
    se = math.sqrt(max(float(x @ cov @ x), 0.0))
    expit = lambda v: 1.0 / (1.0 + math.exp(-v))
    return {"p": expit(eta), "low": expit(eta - Z95 * se), "high": expit(eta + Z95 * se)}


def fit_model(asks: pl.DataFrame, rules: dict) -> dict:
    """The report's adjusted model over the closed asks (rows of analysis_asks), as plain data: terms, their
    coefficients and covariance, each factor's levels it can tell apart, the base rate and the count of each
    style. `verdict` says why there is no model when there is none."""
    closed = asks.filter(~pl.col("pending"))
    n, answered = closed.height, int(closed["answered"].sum() or 0)
    styles = closed.group_by(*AXES).agg(n=pl.len(), answered=pl.col("answered").sum())
    model: dict[str, Any] = {
        "closed": n, "answered": answered,
        "styles": [[r["audience"], r["focus"], r["warmth"], r["n"], int(r["answered"])] for r in styles.to_dicts()],
        "verdict": None, "terms": [], "params": [], "cov": [], "levels": {}}
    if n == 0:
        model["verdict"] = "no closed ask sequence in this mailbox yet"
        return model
    fitted, effects = fit_answers(closed, rules)
    if fitted is None:
        model["verdict"] = effects.verdict
        return model
    model["terms"] = [[e.factor, e.level] for e in fitted.effects]
    model["params"] = fitted.params.tolist()
    model["cov"] = fitted.cov.tolist()
    min_sends = int(rules["analysis"]["min_level_sends"])
    for column, reference, _ in FACTORS:
        reference, _ = _levels(closed, column, reference, min_sends)
        model["levels"][column] = [reference] + [level for factor, level in model["terms"] if factor == column]
    return model


def model_fingerprint(store: Store, settings: Settings) -> str:
    return digest([HISTORY_VERSION, store.stage_fingerprint("tag"), store.stage_fingerprint("match"),
                   settings.rules["analysis"], settings.as_of.date().isoformat()])


def stored_history(store: Store, settings: Settings) -> dict:
    """What a check needs of the user's history that does not depend on the draft: the fitted model ("model") and
    the craft checks' rates and medians ("craft"). Kept in `answer_model` and made again only when the tags,
    outcomes, rules or day changed: at 100k messages making it takes seconds, reading it milliseconds."""
    fingerprint = model_fingerprint(store, settings)
    kept = store.run("SELECT fingerprint, model FROM answer_model")
    if kept and kept[0][0] == fingerprint:
        return json.loads(kept[0][1])
    asks = store.query("analysis_asks", since=None, until=None, sender=None, campaign=None, as_of=settings.as_of)
    history = {"model": fit_model(asks, settings.rules),
               "craft": craft_history(store.query("check_craft"), store.query("check_measures"))}
    with store.transaction():
        store.run("DELETE FROM answer_model")
        store.run("INSERT INTO answer_model VALUES ($f, $at, $m)",
                  {"f": fingerprint, "at": now(), "m": json.dumps(history)})
    return history


def prediction(model: dict, base_rate: dict, row: dict, warmths: list[str], rules: dict) -> dict:
    """The chance of an answer for the draft (per warmth among its recipients), the base rate beside it, and the
    changes that would move it most; or, below the data the model needs, the plain reason and no number."""
    cfg = rules["check"]
    out: dict[str, Any] = {"shown": False, "reason": None, "base_rate": base_rate, "closed": model["closed"],
                           "by_warmth": [], "what_if": [], "style": []}
    if model["closed"] < cfg["min_closed_asks"]:
        out["reason"] = (f"Too few to predict: {model['closed']:,} closed ask sequences in this mailbox; a chance "
                         f"worth reading needs about {cfg['min_closed_asks']}.")
        return out
    if model["verdict"]:
        out["reason"] = f"No prediction: {model['verdict'][0].lower()}{model['verdict'][1:]}"
        return out
    styles = {(a, f, w): (n, k) for a, f, w, n, k in model["styles"]}
    thin = []
    for warmth in sorted(set(warmths), key=warmths.index):
        n, k = styles.get((row["audience"], row["focus"], warmth), (0, 0))
        out["style"].append({"style": style_name({**row, "warmth": warmth}), "n": n, "answered": k})
        known = all(_row_value({**row, "warmth": warmth}, axis) in model["levels"].get(axis, []) for axis in AXES)
        if n < cfg["min_style_asks"] or not known:
            thin.append(f"{style_name({**row, 'warmth': warmth})}: {n}")
    if thin:
        out["reason"] = (f"Too few past asks like this one to predict its chance ({'; '.join(thin)} closed; "
                         f"{cfg['min_style_asks']} needed).")
        return out
    out["shown"] = True
    for warmth in sorted(set(warmths), key=warmths.index):
        out["by_warmth"].append({"warmth": warmth, "recipients": warmths.count(warmth),
                                 **predict(model, {**row, "warmth": warmth})})
    # What would change it most, from the warmth most recipients have.
    base_row = {**row, "warmth": max(set(warmths), key=warmths.count)}
    now_p = predict(model, base_row)["p"]
    changes = []
    for axis in AXES:
        current = _row_value(base_row, axis)
        for level in model["levels"].get(axis, []):
            if level != current and level == ADVISED[axis]:
                hint = " (write with them before you ask)" if axis == "warmth" else ""
                changes.append((f"{label_name(axis, level)} instead of {label_name(axis, current)}{hint}",
                                predict(model, {**base_row, axis: level})["p"]))
    for flag, (_, phrase) in FLAG_WORDS.items():
        if not _row_value(base_row, flag) and any(factor == flag for factor, _ in model["terms"]):
            changes.append((phrase, predict(model, {**base_row, flag: True})["p"]))
    changes = sorted((c for c in changes if c[1] - now_p >= cfg["what_if_min_gain"]), key=lambda c: -c[1])
    out["what_if"] = [{"change": c, "from": now_p, "to": p} for c, p in changes[: int(cfg["what_if_rows"])]]
    return out


# --- craft -----------------------------------------------------------------------------------------------------

def _median(values: pl.Series) -> float | None:
    values = values.drop_nulls()
    return float(values.median()) if values.len() else None


def _rate(row: dict | None) -> dict:
    keys = ("p", "low", "high", "n", "answered")
    return {k: (row or {}).get(k, 0 if k in ("n", "answered") else None) for k in keys}


def craft_history(rates: pl.DataFrame, past: pl.DataFrame) -> dict:
    """What the user's own asks say about each craft check: answer rates of closed asks with and without it and
    overall (rows of check_craft, intervals by the database's Wilson macros, as the report's), and the medians of
    each measure among answered and unanswered asks (rows of check_measures)."""
    by = {(r["flag"], r["has"]): r for r in rates.to_dicts()}
    medians = {m: {"answered_median": _median(past.filter(pl.col("answered"))[m]) if past.height else None,
                   "unanswered_median": _median(past.filter(~pl.col("answered"))[m]) if past.height else None}
               for m in PRIOR_MEASURES}
    return {"flags": {flag: {"with": _rate(by.get((flag, True))), "without": _rate(by.get((flag, False)))}
                      for flag in FLAG_WORDS},
            "measures": medians, "base_rate": _rate(by.get(("all", True)))}


def craft_checks(history: dict, tag: dict) -> dict:
    """The craft checks the report names, for the draft, beside the user's own asks (craft_history) and the
    published figures the report cites."""
    flags = [{"check": flag, "name": name, "draft": bool(_row_value(tag, flag)), **history["flags"][flag]}
             for flag, (name, _) in FLAG_WORDS.items()]
    priors = _priors()
    measures = []
    for m in PRIOR_MEASURES:
        value = tag.get(m)
        low, high = priors[m]["range"]
        measures.append({"measure": m, "name": MEASURE_WORDS[m], "draft": None if value is None else round(float(value), 1),
                         **history["measures"][m], "published": [low, high],
                         "in_published": value is not None and low <= value < high, "finding": priors[m]["finding"]})
    return {"flags": flags, "measures": measures, "source": priors["source"]["name"]}


# --- the whole check ------------------------------------------------------------------------------------------

def check_draft(store: Store, settings: Settings, identity: Identity, data: bytes, *, to: tuple[str, ...] = (),
                subject: str | None = None) -> dict:
    """Everything `auditor check` shows about one draft, as plain data (what --json prints)."""
    rules, as_of = settings.rules, settings.as_of
    usual = store.scalar("SELECT from_addr FROM mails WHERE direction = 'out' AND from_addr IS NOT NULL "
                         "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
    raw = draft_message(data, identity, as_of, to=to, subject=subject, sender=usual)
    frames = tag_draft(raw, identity, rules)
    tags = frames["tags"]
    tag = tags.row(0, named=True)
    measures = frames["message_measures"].row(0, named=True) if frames["message_measures"].height else {}
    people = [r["addr"] for r in frames["asks"]["recipients_ext"][0]]
    history = recipient_history(store, people, as_of, rules)
    template = nearest_template(store, measures.get("signature"))
    audience = draft_audience(frames, template, rules)
    sentences = frames["sentences"]
    reasons = why(sentences["text"].to_list(), sentences["colour"].to_list(), sentences["confidence"].to_list())
    names: dict[str, list[str]] = {p: [] for p in people}
    for person, name, _ in store.query("check_names", people=people).iter_rows():
        names[person].append(name)
    for r in frames["asks"]["recipients_ext"][0]:
        if r["name"] and r["addr"] in names and r["name"] not in names[r["addr"]]:
            names[r["addr"]].insert(0, r["name"])
    warnings = [w for w in [greeting_mismatch(sentences["text"][0] if sentences.height else "", names,
                                                rules["check"]["greeting_not_names"])] if w]
    rows = [{"text": t, "colour": c, "confidence": None if p is None else round(float(p), 3), "is_ask": a, "why": w}
            for (t, c, p, a), w in zip(sentences.select("text", "colour", "confidence", "is_ask").iter_rows(), reasons)]
    yellow = sorted((r for r in rows if r["colour"] == "self"), key=lambda r: (not r["is_ask"], -(r["confidence"] or 0)))
    row = {**tag, "audience": audience["label"]}
    kept = stored_history(store, settings)
    model = kept["model"]
    is_request = tag["ask_kind"] != "none"
    base_rate = kept["craft"]["base_rate"]
    predicted = prediction(model, base_rate, row, [h["warmth"] for h in history], rules) if is_request else {
        "shown": False, "reason": "No prediction: no request found in the draft (the model scores asks).",
        "base_rate": base_rate, "closed": model["closed"], "by_warmth": [], "what_if": [], "style": []}
    return {
        "draft": {"subject": tag["subject"] or "", "from": tag["sender"], "as_of": as_of.isoformat(),
                  "recipients": people},
        "sentences": rows,
        "focus": {"label": tag["focus"], "other_share": tag["other_share"], "target": rules["check"]["target_other_share"],
                  "reasons": tag["focus_reasons"],
                  "rewrite_first": [r["text"] for r in yellow[: int(rules["check"]["rewrite_first"])]]},
        "audience": audience,
        "recipients": history,
        "warnings": warnings,
        "ask": {"kind": tag["ask_kind"], "size": tag["ask_size"], "sentence": tag["ask_sentence"]},
        "craft": craft_checks(kept["craft"], tag),
        "prediction": predicted,
    }


# --- calibration ----------------------------------------------------------------------------------------------

def calibration(store: Store, settings: Settings, cut: datetime | None = None) -> dict:
    """Fit on the asks sent before `cut` (default: the first calibration_train_share of them by date), predict
    those sent after, and measure: Brier score against the training base rate's, a calibration table by decile
    of the predicted chance, and the calibration slope (1: the spread of the predictions is right; below 1: too
    sure)."""
    cfg = settings.rules["check"]
    asks = store.query("analysis_asks", since=None, until=None, sender=None, campaign=None,
                       as_of=settings.as_of).filter(~pl.col("pending"))
    asks = _utc(asks, "first_sent_at").sort("first_sent_at")
    if asks.is_empty():
        raise UsageError("no closed ask sequence in this database yet: run `auditor audit` on your mail first.")
    if cut is None:
        sends = asks.group_by("send").agg(pl.col("first_sent_at").min()).sort("first_sent_at")
        cut = sends["first_sent_at"][min(int(sends.height * cfg["calibration_train_share"]), sends.height - 1)]
    train = asks.filter(pl.col("first_sent_at") < cut)
    test = asks.filter(pl.col("first_sent_at") >= cut)
    out: dict[str, Any] = {"cut": cut.isoformat(), "train": train.height, "test": test.height}
    model = fit_model(train, settings.rules)
    if train.height < cfg["min_closed_asks"] or model["verdict"] or test.is_empty():
        out["reason"] = (model["verdict"] or "") if model["verdict"] else (
            f"Too few to calibrate: {train.height:,} closed asks before the cut and {test.height:,} after.")
        return out
    p = np.asarray([predict(model, r)["p"] for r in test.to_dicts()])
    y = test["answered"].to_numpy().astype(float)
    base = model["answered"] / model["closed"]
    out["brier"] = float(np.mean((p - y) ** 2))
    out["brier_base"] = float(np.mean((base - y) ** 2))
    out["base_rate"] = base
    bins = max(1, min(int(cfg["calibration_bins"]), len(p) // 10))
    order = np.argsort(p, kind="stable")
    out["table"] = [{"n": len(idx), "predicted": float(p[idx].mean()), "observed": float(y[idx].mean()),
                     "low": float(p[idx].min()), "high": float(p[idx].max())}
                    for idx in np.array_split(order, bins) if len(idx)]
    out["slope"] = calibration_slope(p, y)
    return out


def calibration_slope(p: np.ndarray, y: np.ndarray) -> float | None:
    """The slope of a logistic regression of the outcomes on the predictions' log-odds."""
    from statsmodels.discrete.discrete_model import Logit

    logit = np.log(np.clip(p, 1e-6, 1 - 1e-6) / (1 - np.clip(p, 1e-6, 1 - 1e-6)))
    if np.ptp(logit) == 0 or y.min() == y.max():
        return None
    try:
        fit = Logit(y, np.column_stack([np.ones(len(y)), logit])).fit(disp=0)
    except Exception:      # separation or no convergence: no slope to say
        return None
    return float(fit.params[1])


# --- in words ---------------------------------------------------------------------------------------------------

def _pct(p: float | None) -> str:
    return "–" if p is None else f"{100 * p:.0f}%"


def render(result: dict, style: Callable[..., str] = lambda text, **_: text) -> list[str]:
    """The check in the report's words, one line per item; `style` colours (click.style, or nothing)."""
    out: list[str] = []
    draft, focus, audience, ask = result["draft"], result["focus"], result["audience"], result["ask"]
    people = draft["recipients"]
    out.append(style(f"Draft: {draft['subject'] or '(no subject)'}", bold=True)
               + f" to {', '.join(people[:3])}" + (f" and {len(people) - 3:,} more" if len(people) > 3 else ""))
    out.append("")
    marks = {"self": {"bg": "yellow", "fg": "black"}, "other": {"bg": "green", "fg": "black"}, "neutral": {}}
    for s in result["sentences"]:
        out.append(("→ " if s["is_ask"] else "  ") + style(s["text"], **marks.get(s["colour"], {}))
                   + style(f"  [{s['why']}]", dim=True))
    out.append("")
    for warning in result.get("warnings", []):
        out.append(style(f"Check: {warning_text(warning)}.", bold=True, fg="red"))
    share = focus["other_share"]
    verdict = ("on target" if share is not None and share >= focus["target"] else "below the essays' goal")
    out.append(style("About them or about us: ", bold=True) + label_name("focus", focus["label"])
               + (f", {_pct(share)} about them of the sentences about either side, against the essays' {_pct(focus['target'])} "
                  f"({verdict})" if share is not None else ""))
    for i, text in enumerate(focus["rewrite_first"], 1):
        out.append(f"  rewrite {'first' if i == 1 else 'next'}: " + style(text, **marks["self"]))
    out.append(style("Mass or personal: ", bold=True) + audience["label"] + ": " + "; ".join(audience["reasons"]))
    if audience["template"] and not any(r.endswith(audience["template"]["first_sent"]) for r in audience["reasons"]):
        t = audience["template"]
        out.append(f"  closest text already sent: {t['similarity']:.0%} the same as '{t['campaign']}', sent to "
                   f"{t['recipients']:,} people from {t['first_sent']}")
    out.append(style("Warm or cold:", bold=True))
    for r in result["recipients"][:10]:
        line = f"  {r['address']}: {r['warmth']} ({'; '.join(r['reasons'])})"
        if r["asked"]:
            line += f"; asked {r['asked']} time{'s' if r['asked'] != 1 else ''} before, answered {r['answered']}"
            last = r["earlier_asks"][0]
            line += f" (last: '{last['campaign']}' on {last['sent']}, {last['outcome']})"
        if r["away_until"]:
            line += style(f"; out of office until {r['away_until']}: send after that", bold=True)
        out.append(line)
    if len(result["recipients"]) > 10:
        rest = result["recipients"][10:]
        counts = {w: sum(r["warmth"] == w for r in rest) for w in ("warm", "lapsed", "cold")}
        out.append(f"  and {len(rest):,} more: " + ", ".join(f"{n:,} {w}" for w, n in counts.items() if n))
    kind = ask["kind"] if ask["kind"] != "none" else "no request found"
    out.append(style("The ask: ", bold=True) + kind + (f" ({ask['size']})" if ask["size"] else "")
               + (f": \"{ask['sentence']}\"" if ask["sentence"] else ""))
    craft = result["craft"]
    for f in craft["flags"]:
        if f["with"]["n"] and f["without"]["n"]:
            yours = (f"your asks with it {_pct(f['with']['p'])} answered (n={f['with']['n']:,}), "
                     f"without {_pct(f['without']['p'])} (n={f['without']['n']:,})")
        else:
            yours = f"{'all' if f['with']['n'] else 'none'} of your past asks had it"
        out.append(f"  {'yes' if f['draft'] else 'no ':3} {f['name']}: {yours}")
    for m in craft["measures"]:
        value = "–" if m["draft"] is None else f"{m['draft']:g}"
        mine = (f"your answered asks' median {m['answered_median']:g}, unanswered {m['unanswered_median']:g}"
                if m["answered_median"] is not None and m["unanswered_median"] is not None else "no past asks to compare")
        lo, hi = m["published"]
        out.append(f"  {m['name']}: {value} ({mine}; {craft['source']}: {lo:g} to below {hi:g} answered most)")
    pred = result["prediction"]
    base = pred["base_rate"]
    single = pred["shown"] and len(pred["by_warmth"]) == 1
    head = pred["reason"] if not pred["shown"] else ""
    if single:
        w = pred["by_warmth"][0]
        head = style(_pct(w["p"]), bold=True) + f" (95% interval {_pct(w['low'])}–{_pct(w['high'])})"
    out.append(style("Chance of an answer: ", bold=True) + head)
    if base["p"] is not None:
        base_line = (f"  your base rate: {_pct(base['p'])} ({_pct(base['low'])}–{_pct(base['high'])}) of "
                     f"{pred['closed']:,} closed ask sequences")
    else:
        base_line = "  your base rate: no closed ask sequence yet"
    if pred["shown"]:
        for w in pred["by_warmth"] if not single else []:
            out.append(f"  {style(_pct(w['p']), bold=True)} (95% interval {_pct(w['low'])}–{_pct(w['high'])}) for "
                       f"the {w['recipients']:,} {w['warmth']}")
        out.append(base_line)
        for s in pred["style"]:
            out.append(f"  your past {s['style']} asks: {s['answered']:,} of {s['n']:,} answered")
        for w in pred["what_if"]:
            out.append(f"  {w['change']}: {_pct(w['from'])} → {_pct(w['to'])}")
    else:
        out.append(base_line)
    return out


def render_calibration(result: dict) -> list[str]:
    """--calibration in words: the cut, the two Brier scores, the slope and the table by decile."""
    out = [f"fit on {result['train']:,} closed asks sent before {result['cut'][:10]}, "
           f"scored on the {result['test']:,} sent after"]
    if "reason" in result:
        return out + [result["reason"]]
    better = "better than" if result["brier"] < result["brier_base"] else "no better than"
    out.append(f"Brier score {result['brier']:.4f} against {result['brier_base']:.4f} for the base rate "
               f"({_pct(result['base_rate'])} for everyone): {better} knowing the base rate alone (lower is better)")
    slope = result["slope"]
    out.append("calibration slope: " + ("– (too few to fit)" if slope is None else
                                        f"{slope:.2f} (1 is right; below 1 the predictions are too sure, above 1 too timid)"))
    out.append(f"{'predicted':>12} {'answered':>9} {'asks':>6}   range")
    for row in result["table"]:
        out.append(f"{_pct(row['predicted']):>12} {_pct(row['observed']):>9} {row['n']:>6,}   "
                   f"{_pct(row['low'])}–{_pct(row['high'])}")
    return out
