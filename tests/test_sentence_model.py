"""The sentence models as shipped: the weights file, inference, and the explanations a person reads."""
from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from auditor.tag import sentence_model
from auditor.tag.measures import measure_frame
from auditor.config import load_rules


def test_the_shipped_models_load_with_the_cues_they_were_fit_on():
    models = sentence_model.load()
    assert models.colour.classes == ("self", "other", "neutral")
    assert models.request.classes == ("no", "yes") and models.mass.classes == ("personal", "mass")
    assert 0.0 < models.request.threshold < 1.0
    for model in (models.colour, models.request, models.mass):
        assert model.cue_names == tuple(sentence_model.cue_patterns())
        assert model.cue_weights.shape == (len(model.cue_names), len(model.classes))
        assert model.vocab.height > 100 and model.vocab["token"].is_unique().all()


def test_a_model_fit_on_other_cues_is_refused(tmp_path):
    data = json.loads(sentence_model.MODEL_PATH.read_text())
    data["cues_digest"] = "0" * 16
    other = tmp_path / "model.json"
    other.write_text(json.dumps(data))
    with pytest.raises(RuntimeError, match="refit"):
        sentence_model.load(other)


def test_inference_is_the_linear_model_written_out():
    """logits = cues @ weights + the sentence's word weights + intercept, then softmax: checked against a plain
    re-computation from the JSON for a few sentences."""
    data = json.loads(sentence_model.MODEL_PATH.read_text())["colour"]
    texts = ["If you are a member, you can get the report free.", "We need your help to reach our goal.",
             "Maya Okafor", "I talked to the board today."]
    features = sentence_model.featurize(texts)
    got = sentence_model.load().colour.probabilities(features)
    for i, row in enumerate(features.iter_rows(named=True)):
        z = np.array(data["intercept"], dtype=float)
        for name, w in data["cues"].items():
            z += row[name] * np.array(w)
        for token in row["tokens"]:
            z += np.array(data["vocab"].get(token, [0.0, 0.0, 0.0]))
        p = np.exp(z - z.max())
        assert got[i] == pytest.approx(p / p.sum(), abs=1e-9)


def test_messages_are_scored_sentence_by_sentence_in_order():
    repeated = "Would you be willing to join our board this spring?"
    messages = pl.Series([[repeated, "Thanks, Maya"], [], None, [repeated], ["", "🙂" * 3, "x" * 20_000]],
                         dtype=pl.List(pl.String))
    scored = sentence_model.score_messages(messages)
    assert scored.height == 5
    assert scored["colours"].list.len().to_list() == [2, 0, 0, 1, 3]
    assert scored["colours"][0][0] == scored["colours"][3][0]              # one sentence, one verdict
    assert scored["request_p"][0][0] == scored["request_p"][3][0] > scored["request_p"][0][1]
    assert scored["mass_p"][1] is None and scored["mass_p"][2] is None     # no text, no evidence
    assert all(0 <= c <= 1 for cs in scored["colour_confidence"].to_list() for c in cs)
    single = sentence_model.score_messages(pl.Series([[repeated]]))
    assert single["colours"][0].to_list() == [scored["colours"][0][0]]


def test_each_distinct_sentence_is_featurized_once(monkeypatch):
    seen = []
    real = sentence_model.featurize

    def counting(texts):
        seen.append(len(texts))
        return real(texts)

    monkeypatch.setattr(sentence_model, "featurize", counting)
    blast = ["Dear friend,", "Every gift counts.", "Give today."]
    sentence_model.score_messages(pl.Series([blast] * 500))
    assert seen == [3]


def test_measures_carry_the_models_verdicts():
    body = "Hi Ana,\n\nWould you give $25 to help us reach our goal?\n\nThanks,\nMaya"
    row = measure_frame(pl.DataFrame({"raw_sha256": ["h"], "subject": ["Spring"], "body_text": [body]}),
                        load_rules()).to_dicts()[0]
    assert len(row["colours"]) == len(row["sentences"]) == len(row["request_p"]) == len(row["colour_confidence"])
    ask = row["sentences"].index("Would you give $25 to help us reach our goal?")
    assert row["request_p"][ask] == max(row["request_p"])
    assert row["request_p"][ask] >= sentence_model.load().request.threshold
    assert 0.0 <= row["mass_p"] <= 1.0


def test_explanations_name_the_cues_in_words():
    texts = ["We need your help to reach our goal by Friday.", "If you are a member, you get the report free.",
             "Best regards,"]
    features = sentence_model.featurize(texts)
    colours = np.asarray(sentence_model.load().colour.classes)[
        sentence_model.load().colour.probabilities(features).argmax(axis=1)]
    reasons = sentence_model.explain(texts)
    words = set(sentence_model.cue_file()["words"].values())
    for colour, cues in zip(colours, reasons):
        assert 1 <= len(cues) <= 3
        assert all(c in words or c.startswith("'") for c in cues)
        assert "its length" not in cues
    assert list(colours) == ["self", "other", "neutral"]
    assert "a phrase of the writer's need" in reasons[0]
    why = sentence_model.why(texts, list(colours), [0.9, 0.8, 0.7])
    assert why[0].startswith("about us (90%): ") and why[1].startswith("about the reader (80%): ")
    assert why[2].startswith("about neither side (70%)")
