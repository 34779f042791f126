"""Real mail is the gate: the sentence models measured on ../shared/realmail by grouped cross-validation (no model
is scored on a source it was fit on), beside counting pronouns and the old hand rules on the same folds, and the
shipped weights refit from the data files. The figures are printed (pytest -s, or the summary of a failure)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import require_or_skip

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))        # the training package sits beside the auditor, not inside it

SHARED = ROOT.parent / "shared" / "realmail"

# Regression floors, each a little under what the models reach here (README, "Accuracy on real mail"): a change
# that loses ground on real mail fails. The goals (sentences 0.75, focus 0.85, requests F1 0.90, mass or
# personal 0.90) are not all reached; the README says which.
FLOORS = {
    "sentence colour (Y/G/N macro-F1)": 0.67,
    "message focus, readers' sentences (self/other macro-F1)": 0.70,
    "message focus, the auditor's own sentences": 0.70,
    "request found, the auditor's own sentences (asks/non-asks macro-F1)": 0.60,
    "mass or personal, through the pipeline (macro-F1)": 0.85,
}


@pytest.fixture(scope="module")
def mail():
    require_or_skip((SHARED / "labels" / "sentences.tsv").is_file(), f"the labelled real mail at {SHARED}")
    from train import data

    return data.load(SHARED)


@pytest.fixture(scope="module")
def figures(mail):
    import train

    figures = train.evaluate(mail)
    print("\n" + train.table(figures))
    return figures


def test_our_list_labels_still_match_the_sentences_the_auditor_finds(mail):
    """Our labels name sentences by number and a hash of their text: a change to cleaning or splitting that moves
    them shows here, before the list figures silently shrink."""
    listed = mail.sentences.filter(mail.sentences["item"].str.starts_with("L"))
    assert listed.height >= 3400 and mail.stale == 0


def test_the_models_beat_pronoun_counting_and_the_old_rules_on_held_out_sources(figures):
    shared = figures["shared"]
    for measure in ("sentence colour (Y/G/N macro-F1)", "message focus, readers' sentences (self/other macro-F1)"):
        model, pronouns, rules = (shared[measure][m][0] for m in ("model", "pronouns", "rules"))
        assert model >= max(pronouns, rules) + 0.05, (measure, model, pronouns, rules)
    requests = shared["request found, readers' sentences (asks/non-asks macro-F1)"]
    assert requests["model"][0] >= requests["rules"][0] + 0.03
    audience = shared["mass or personal, through the pipeline (macro-F1)"]
    assert audience["model"][0] >= audience["rules"][0] + 0.25


def test_the_held_out_figures_stay_above_their_floors(figures):
    shared = figures["shared"]
    low = {name: shared[name]["model"][0] for name, floor in FLOORS.items() if shared[name]["model"][0] < floor}
    assert not low, f"below the floor on real mail: {low}"
    for row in shared.values():
        for score, lo, hi in row.values():
            assert 0.0 <= lo <= score <= hi <= 1.0


def test_the_shipped_weights_are_what_the_data_files_refit(mail):
    """`python -m train` rebuilds sentence_model.json from the labelled data: a refit here gives the same
    vocabulary and weights (to solver precision), so the file in the package is the one the recipe makes."""
    import train
    from auditor.tag.sentence_model import MODEL_PATH

    shipped = json.loads(MODEL_PATH.read_text())
    refit = json.loads(json.dumps(train.refit(mail)))
    assert refit["cues_digest"] == shipped["cues_digest"] and refit["data_digest"] == shipped["data_digest"]
    for name in ("colour", "request", "mass"):
        a, b = shipped[name], refit[name]
        assert a["classes"] == b["classes"]
        assert set(a["vocab"]) ^ set(b["vocab"]) <= {t for t, w in {**a["vocab"], **b["vocab"]}.items()
                                                    if max(map(abs, w)) < 1e-3}
        for t in set(a["vocab"]) & set(b["vocab"]):
            assert np.allclose(a["vocab"][t], b["vocab"][t], atol=1e-3), (name, t)
        for cue in a["cues"]:
            assert np.allclose(a["cues"][cue], b["cues"][cue], atol=1e-3), (name, cue)
        assert np.allclose(a["intercept"], b["intercept"], atol=1e-3)
        assert a.get("threshold") == pytest.approx(b.get("threshold"), abs=0.02)


def test_no_phrase_of_a_single_message_is_a_feature(mail):
    """A word or word pair carries a weight only when at least MIN_ITEMS messages of the training data hold it
    (each invented sentence counting as a message of its own)."""
    import polars as pl

    from auditor.tag.sentence_model import featurize, load
    from train import fit

    items = pl.concat([mail.sentences["item"], pl.Series([f"V{i}" for i in range(mail.invented.height)])])
    texts = pl.concat([mail.sentences["text"], mail.invented["text"]])
    held = pl.DataFrame({"item": items, "token": featurize(texts)["tokens"]}).explode("token").unique()
    counts = dict(held.group_by("token").len().iter_rows())
    vocab = load().colour.vocab["token"].to_list()
    assert min(counts.get(t, 0) for t in vocab) >= fit.MIN_ITEMS
