"""Refit and measure the sentence models: `python -m train` (needs the `train` extra: scikit-learn).

    python -m train                 grouped cross-validation figures, then refit on all the data and write
                                    auditor/tag/sentence_model.json and train/results.json
    python -m train --evaluate      the figures only
    python -m train --data PATH     labelled real mail elsewhere than ../shared/realmail

The figures are held-out: each message is predicted by models that never saw its source (see fit.folds), and are
printed beside counting pronouns and the hand rules the tagger used before, on the same folds.
"""
from __future__ import annotations

import argparse
import email
import email.policy
import json
import subprocess
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np
import polars as pl

from auditor.config import load_rules
from auditor.parse import Unparseable, parse_raw
from auditor.tag.audience import tag_audience
from auditor.tag.sentence_model import MODEL_PATH, LinearModel, cues_digest, featurize, message_features
from auditor.tag.text import clean_with, split_sentences

from . import baselines, data as realmail, fit

RESULTS = Path(__file__).with_name("results.json")


def pipeline_sentences(mail: realmail.RealMail) -> pl.DataFrame:
    """item, text: each message's sentences as the auditor itself finds them (parsed, quotes and signature
    removed, split), so the message figures also measure the cleaning and splitting the readers did by hand."""
    rows = [{"item": item, "text": s} for item in mail.items["item"].to_list() for s in realmail.list_sentences(mail.eml(item))]
    return pl.DataFrame(rows, schema={"item": pl.String, "text": pl.String})


def pipeline_asks(mail: realmail.RealMail, items: list[str]) -> pl.DataFrame:
    """What the tag stage reads of each message when it decides mass or personal, as `realmail-score` runs it:
    every item re-sent from one address to its real recipients, ingested and tagged by the auditor's own CLI into
    a scratch database. Returns item plus the asks columns tag_audience reads (mass_p as the shipped model said)."""
    import duckdb

    from auditor.parse import normalise_line_ends
    with tempfile.TemporaryDirectory(prefix="train-") as tmp:
        folder = Path(tmp) / "mail"
        folder.mkdir()
        for item in items:
            message = email.message_from_bytes(mail.eml(item), policy=email.policy.compat32)
            del message["From"], message["Message-ID"]
            message["From"] = "Realmail Sender <me@realmail.example>"
            message["Message-ID"] = f"<train-{item}@realmail.example>"
            if not message["To"] and not message["Cc"]:
                message["To"] = "reader@elsewhere.example"
            if not message["Date"]:
                message["Date"] = "Mon, 02 Nov 2026 09:00:00 +0000"
            (folder / f"{item}.eml").write_bytes(normalise_line_ends(message.as_bytes()))
        db = str(Path(tmp) / "r.duckdb")
        for command in ("ingest", "tag"):
            args = [sys.executable, "-m", "auditor", command, *([str(folder)] if command == "ingest" else []),
                    "--me", "me@realmail.example", "--db", db]
            subprocess.run(args, check=True, capture_output=True)
        with duckdb.connect(db, read_only=True) as con:
            asks = con.sql("select a.*, mm.clean, mm.sentences, mm.mass_p, coalesce(t.template_recipients, 1) as "
                           "template_recipients from asks a left join message_measures mm using (raw_sha256) "
                           "left join templates t using (message_id)").pl()
    return asks.with_columns(
        item=pl.col("message_id").str.extract(r"<train-(.+)@realmail\.example>"),
        clean=pl.col("clean").fill_null(""),
        first_sentence=pl.col("sentences").list.first().fill_null(""))


def _request_training(sentences: pl.DataFrame, items: pl.DataFrame) -> tuple[pl.DataFrame, list[str]]:
    """Sentences of messages whose ask the readers agreed on; a sentence either reader named as the ask is a
    request."""
    rows = sentences.join(items.filter(pl.col("ask").is_not_null()).select("item", "ask_sentences"), on="item")
    labels = ["yes" if n in marked else "no" for n, marked in zip(rows["n"], rows["ask_sentences"])]
    return rows, labels


def invented_rows(mail: realmail.RealMail) -> pl.DataFrame:
    """The invented nonprofit sentences as training rows: item (one per sentence, so the vocabulary's message count
    treats each as its own), colour, request, and the features."""
    return pl.concat([mail.invented.select(pl.format("V{}", pl.int_range(pl.len())).alias("item"), "colour", "request"),
                      featurize(mail.invented["text"])], how="horizontal")


def _weights(items: pl.Series) -> np.ndarray:
    return np.select([items.str.starts_with("V").to_numpy(), items.str.starts_with("L").to_numpy()],
                     [fit.INVENTED_WEIGHT, fit.LIST_WEIGHT], 1.0)


def _fit_colour(sentences: pl.DataFrame, invented: pl.DataFrame) -> LinearModel:
    invented = invented.drop("request")
    agreed = pl.concat([sentences.select(invented.columns), invented]).filter(pl.col("colour").is_not_null())
    return fit.fit(agreed, agreed["item"], agreed["colour"].to_list(), fit.COLOURS, fit.C_COLOUR,
                   weights=_weights(agreed["item"]))


def _max_request(model: LinearModel, sentences: pl.DataFrame) -> pl.DataFrame:
    p = model.probabilities(sentences)[:, model.classes.index("yes")] if sentences.height else np.zeros(0)
    return sentences.select("item").with_columns(p=pl.Series(p)).group_by("item").agg(pl.col("p").max())


def _fit_request(sentences: pl.DataFrame, items: pl.DataFrame, invented: pl.DataFrame, inner: bool = True) -> LinearModel:
    """The request model, its message-level cut chosen on predictions its fit did not see (an inner grouped
    cross-validation over the training messages: real mail only)."""
    rows, labels = _request_training(sentences, items)
    extra = invented.filter(pl.col("request").is_not_null())
    columns = extra.drop("request", "colour").columns
    rows = pl.concat([rows.select(columns), extra.select(columns)])
    labels = labels + extra["request"].to_list()
    model = fit.fit(rows, rows["item"], labels, ("no", "yes"), fit.C_REQUEST, weights=_weights(rows["item"]))
    if not inner:
        return model
    known = items.filter(pl.col("ask").is_not_null())
    inner_fold = fit.folds(known, n_splits=3)
    scored = []
    for k in range(3):
        train_items = known.filter(pl.Series(inner_fold != k))
        test_items = known.filter(pl.Series(inner_fold == k))
        m = _fit_request(sentences.filter(pl.col("item").is_in(train_items["item"].to_list())), train_items, invented,
                         inner=False)
        scored.append(_max_request(m, sentences.filter(pl.col("item").is_in(test_items["item"].to_list()))))
    oof = pl.concat(scored).join(known.select("item", "ask"), on="item")
    cut = fit.best_threshold(oof["p"].to_numpy(), (oof["ask"] == "yes").to_numpy())
    return LinearModel(model.classes, model.intercept, model.cue_names, model.cue_weights, model.vocab, cut)


def message_rows(piped: pl.DataFrame) -> pl.DataFrame:
    """item + the mass model's message features, from the auditor's own sentences (rows of featurize with item)."""
    return message_features(piped["item"], piped.drop("item")).rename({"owner": "item"})


def _fit_mass(rows: pl.DataFrame, items: pl.DataFrame) -> LinearModel:
    """Fit on the shared set only: the list's discussion is nearly all personal (453 of 455), and with it the model
    read less of what makes a newsletter or a notice."""
    labelled = rows.join(items.filter(pl.col("audience").is_not_null() & (pl.col("stratum") != "L"))
                         .select("item", "audience"), on="item")
    return fit.fit(labelled, labelled["item"], labelled["audience"].to_list(), ("personal", "mass"), fit.C_MASS,
                   weights=_weights(labelled["item"]))


def evaluate(mail: realmail.RealMail) -> dict:
    """Held-out figures for the model and the two baselines: sentence colours, message focus (from the readers'
    sentences and from the auditor's own), and whether a message asks anything."""
    sentences = pl.concat([mail.sentences.select("item", "n", "colour"), featurize(mail.sentences["text"])],
                          how="horizontal")
    piped = pl.concat([(p := pipeline_sentences(mail)).select("item"), featurize(p["text"])], how="horizontal")
    messages = message_rows(piped)
    invented = invented_rows(mail)
    # Folds are drawn over the shared set alone (its figures do not move when other labels are added); a list
    # message is scored by the fold its writer's hash falls in, by models that never saw list mail.
    shared_items = mail.items.filter(pl.col("stratum") != "L")
    fold_of = dict(zip(shared_items["item"], fit.folds(shared_items)))
    fold = np.array([fold_of[i] if i in fold_of else zlib.crc32(g.encode()) % fit.FOLDS
                     for i, g in zip(mail.items["item"], mail.items["group"])])
    colour_parts, piped_parts, mass_parts = [], [], []
    for k in range(fit.FOLDS):
        train_items = mail.items.filter(pl.Series(fold != k) & ((pl.col("stratum") != "L") | (fit.LIST_WEIGHT > 0)))
        test = mail.items.filter(pl.Series(fold == k))["item"].to_list()
        train_sentences = sentences.filter(pl.col("item").is_in(train_items["item"].to_list()))
        colour_model = _fit_colour(train_sentences, invented)
        request_model = _fit_request(train_sentences, train_items, invented)
        mass_model = _fit_mass(messages.filter(pl.col("item").is_in(train_items["item"].to_list())), train_items)
        for frame, parts in ((sentences, colour_parts), (piped, piped_parts)):
            held = frame.filter(pl.col("item").is_in(test))
            p = colour_model.probabilities(held)
            parts.append(held.select("item", *(["n", "colour"] if "n" in held.columns else [])).with_columns(
                model=pl.Series(np.asarray(fit.COLOURS)[p.argmax(axis=1)]),
                request=pl.Series(request_model.probabilities(held)[:, 1] >= request_model.threshold)))
        held = messages.filter(pl.col("item").is_in(test))
        mass_parts.append(held.select("item", mass_p=pl.Series(mass_model.probabilities(held)[:, 1])))
    # The baselines need no fitting: the same held-out sentences, scored by each.
    held_out = pl.concat(colour_parts).join(mail.sentences.select("item", "n", "text"), on=["item", "n"])
    held_out = held_out.with_columns(pronouns=baselines.pronoun_colours(held_out["text"]),
                                     rules=baselines.rule_colours(held_out["text"]),
                                     rule_request=baselines.rule_requests(held_out["text"]) > 0)
    piped_out = pl.concat(piped_parts)
    shared = mail.items.filter(pl.col("stratum") != "L")
    # Mass or personal through the pipeline: the tag stage's own evidence, with each text read by a held-out model.
    asks = pipeline_asks(mail, shared["item"].to_list()).drop("mass_p").join(pl.concat(mass_parts), on="item", how="left")
    audience = {"model": tag_audience(asks.lazy(), load_rules()).select("item", "audience").collect(),
                "rules": tag_audience(asks.lazy(), baselines.old_audience_rules()).select("item", "audience").collect()}
    figures = {"shared": score(mail, shared, held_out, piped_out, audience)}
    listed = mail.items.filter(pl.col("stratum") == "L")
    if listed.height:
        figures["list"] = score(mail, listed, held_out, piped_out, None)
    return figures


def score(mail: realmail.RealMail, items: pl.DataFrame, held_out: pl.DataFrame, piped_out: pl.DataFrame,
          audience: dict[str, pl.DataFrame] | None) -> dict:
    """The figures over `items`, each with a 95% interval from resampling their sources."""
    groups = dict(zip(items["item"], items["group"]))
    held_out = held_out.filter(pl.col("item").is_in(items["item"].to_list()))
    piped_out = piped_out.filter(pl.col("item").is_in(items["item"].to_list()))
    out: dict[str, dict] = {}

    agreed = held_out.filter(pl.col("colour").is_not_null())
    g = [groups[i] for i in agreed["item"]]
    colour_score = lambda t, p: fit.macro_f1(t, p, fit.COLOURS)
    out["sentence colour (Y/G/N macro-F1)"] = {
        m: fit.with_interval(colour_score, agreed["colour"], agreed[m], g) for m in ("model", "pronouns", "rules")}

    focus_truth = items.filter(pl.col("focus").is_in(["self", "other"])).select("item", truth="focus")
    focus_score = lambda t, p: fit.macro_f1(t, p, ("self", "other"))
    for name, frame, methods in (("message focus, readers' sentences (self/other macro-F1)", held_out,
                                  ("model", "pronouns", "rules")),
                                 ("message focus, the auditor's own sentences", piped_out, ("model",))):
        row = {}
        for m in methods:
            pred = focus_truth.join(fit.message_focus(frame.select("item", colour=m)), on="item", how="left").with_columns(
                pl.col("focus").fill_null("neutral"))
            row[m] = fit.with_interval(focus_score, pred["truth"], pred["focus"], [groups[i] for i in pred["item"]])
        out[name] = row

    ask_truth = items.filter(pl.col("ask").is_not_null()).select("item", truth="ask")
    for name, frame, methods in (("request found, readers' sentences", held_out, (("model", "request"), ("rules", "rule_request"))),
                                 ("request found, the auditor's own sentences", piped_out, (("model", "request"),))):
        found = {}
        for m, column in methods:
            said = frame.group_by("item").agg(pl.col(column).any())
            found[m] = ask_truth.join(said, on="item", how="left").with_columns(
                pred=pl.when(pl.col(column)).then(pl.lit("yes")).otherwise(pl.lit("no")))
        for measure, fn in (("F1 of asks", fit.binary_f1),
                            ("asks/non-asks macro-F1", lambda t, p: fit.macro_f1(t, p, ("yes", "no")))):
            out[f"{name} ({measure})"] = {m: fit.with_interval(fn, pred["truth"], pred["pred"], [groups[i] for i in pred["item"]])
                                          for m, pred in found.items()}
    always = ask_truth.with_columns(pred=pl.lit("yes"))
    out["request found: calling every message an ask (F1 of asks)"] = {
        "model": fit.with_interval(fit.binary_f1, always["truth"], always["pred"], [groups[i] for i in always["item"]])}
    if audience is not None:
        truth = items.filter(pl.col("audience").is_not_null()).select("item", truth="audience")
        row = {}
        for m, said in audience.items():
            pred = truth.join(said, on="item", how="left").with_columns(pl.col("audience").fill_null("personal"))
            row[m] = fit.with_interval(lambda t, p: fit.macro_f1(t, p, ("mass", "personal")), pred["truth"],
                                       pred["audience"], [groups[i] for i in pred["item"]])
        out["mass or personal, through the pipeline (macro-F1)"] = row
    return out


def table(figures: dict) -> str:
    lines = []
    for part, title in (("shared", "../shared/realmail (173 messages)"), ("list", "our labels of its list archive")):
        if part not in figures:
            continue
        lines += [f"| {title}, held out by source | model | counting pronouns | the old rules |", "|---|---:|---:|---:|"]
        for name, row in figures[part].items():
            cells = [f"{row[m][0]:.2f} ({row[m][1]:.2f}-{row[m][2]:.2f})" if m in row else "" for m in ("model", "pronouns", "rules")]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def refit(mail: realmail.RealMail) -> dict:
    """The shipped models: fit on every labelled message (the list's at LIST_WEIGHT, the invented sentences at
    INVENTED_WEIGHT)."""
    sentences = pl.concat([mail.sentences.select("item", "n", "colour"), featurize(mail.sentences["text"])],
                          how="horizontal")
    piped = pl.concat([(p := pipeline_sentences(mail)).select("item"), featurize(p["text"])], how="horizontal")
    invented = invented_rows(mail)
    return {
        "about": "Sentence colour, request and mass models fit by `python -m train` on the agreed labels of "
                 "../shared/realmail and train/labels; see train/README.md. Features: auditor/tag/cues.toml, words "
                 "and word pairs.",
        "cues_digest": cues_digest(), "data_digest": mail.digest(),
        "colour": fit.to_json(_fit_colour(sentences, invented)),
        "request": fit.to_json(_fit_request(sentences, mail.items, invented)),
        "mass": fit.to_json(_fit_mass(message_rows(piped), mail.items)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train", description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=realmail.DEFAULT_ROOT)
    parser.add_argument("--evaluate", action="store_true", help="print the held-out figures only")
    args = parser.parse_args(argv)
    mail = realmail.load(args.data)
    if mail.stale:
        print(f"note: {mail.stale} of our labelled list sentences no longer match the auditor's split; left out")
    if not args.evaluate:
        # First, as the pipeline figures run the auditor's CLI, which reads the model file.
        model = refit(mail)
        MODEL_PATH.write_text(json.dumps(model, separators=(",", ":")) + "\n", encoding="utf-8")
        print(f"wrote {MODEL_PATH} ({MODEL_PATH.stat().st_size:,} bytes)")
    figures = evaluate(mail)
    print(table(figures))
    if not args.evaluate:
        RESULTS.write_text(json.dumps({"data_digest": mail.digest(), "figures": figures}, indent=2) + "\n")
        print(f"wrote {RESULTS}")
    return 0
