"""Fitting the sentence models, and measuring them so they cannot flatter: grouped cross-validation.

A model is a regularised logistic regression over the cues of `auditor/tag/cues.toml` and the words and word pairs
that occur in at least MIN_ITEMS messages of its training data (a phrase of one message is never a feature). Its
predictions are made by the package's own inference code (`LinearModel`), so what is measured is what ships.
"""
from __future__ import annotations

import numpy as np
import polars as pl
from scipy import sparse
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold

from auditor.tag.sentence_model import LinearModel, cue_patterns, featurize

MIN_ITEMS = 3           # a word or word pair becomes a feature only when this many training messages hold it
C_COLOUR = 0.2          # inverse regularisation strength (smaller: weights nearer zero)
C_REQUEST = 0.5
C_MASS = 0.5
LIST_WEIGHT = 0.5       # a sentence of our list labels (labels/uvc_*.tsv) counts this much beside one of the shared set
INVENTED_WEIGHT = 0.3   # an invented sentence (labels/sample_voice.tsv) counts this much beside a real one
FOLDS = 5
SEED = 20261207
COLOURS = ("self", "other", "neutral")


def vocabulary(features: pl.DataFrame, items: pl.Series) -> list[str]:
    counts = (pl.DataFrame({"item": items, "token": features["tokens"]}).explode("token").unique()
              .group_by("token").len().filter(pl.col("len") >= MIN_ITEMS))
    return sorted(counts["token"].to_list())


def design(features: pl.DataFrame, vocab: list[str]) -> sparse.csr_matrix:
    """[cues | word features]: the matrix the weights multiply, in the column order LinearModel uses."""
    cues = sparse.csr_matrix(features.select(list(cue_patterns())).to_numpy().astype(np.float64))
    index = {t: j for j, t in enumerate(vocab)}
    rows, cols = [], []
    for i, toks in enumerate(features["tokens"].to_list()):
        for t in toks:
            j = index.get(t)
            if j is not None:
                rows.append(i)
                cols.append(j)
    words = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(features.height, len(vocab)))
    return sparse.hstack([cues, words], format="csr")


def fit(features: pl.DataFrame, items: pl.Series, labels: list[str], classes: tuple[str, ...], C: float,
        threshold: float | None = None, weights: np.ndarray | None = None) -> LinearModel:
    """A multinomial (or, for two classes, binary) logistic regression, classes weighted to balance, returned as the
    package's LinearModel. Deterministic: lbfgs from zero."""
    vocab = vocabulary(features, items)
    X = design(features, vocab)
    y = np.array([classes.index(label) for label in labels])
    model = LogisticRegression(C=C, class_weight="balanced", max_iter=5000, tol=1e-8).fit(X, y, sample_weight=weights)
    coef, intercept = model.coef_, model.intercept_
    if len(classes) == 2:       # sklearn keeps one row for the second class; softmax over (0, z) is sigmoid(z)
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.array([0.0, intercept[0]])
    weights = coef.T            # (features, classes)
    n_cues = len(cue_patterns())
    return LinearModel(classes, intercept, tuple(cue_patterns()), weights[:n_cues], pl.DataFrame(
        {"token": vocab, **{f"w{j}": weights[n_cues:, j] for j in range(len(classes))}},
        schema={"token": pl.String, **{f"w{j}": pl.Float64 for j in range(len(classes))}}), threshold)


def to_json(model: LinearModel, decimals: int = 5) -> dict:
    """Weights rounded (the file stays small and diffs readable); words whose weights all round to zero dropped."""
    vocab = {}
    for row in model.vocab.iter_rows():
        w = [round(float(x), decimals) for x in row[1:]]
        if any(w):
            vocab[row[0]] = w
    data = {"classes": list(model.classes), "intercept": [round(float(x), decimals) for x in model.intercept],
            "cues": {n: [round(float(x), decimals) for x in w] for n, w in zip(model.cue_names, model.cue_weights)},
            "vocab": vocab}
    if model.threshold is not None:
        data["threshold"] = round(model.threshold, 4)
    return data


def folds(items: pl.DataFrame, n_splits: int = FOLDS) -> list[np.ndarray]:
    """Fold number per item: grouped by source (no source on both sides), stratified by stratum (every fold holds
    business, mass and cold mail)."""
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=SEED)
    fold = np.zeros(items.height, dtype=np.int64)
    for k, (_, test) in enumerate(splitter.split(np.zeros(items.height), items["stratum"], items["group"])):
        fold[test] = k
    return fold


# --- message labels from sentence predictions, as the readers derived theirs ---------------------------------

def message_focus(colours: pl.DataFrame) -> pl.DataFrame:
    """item, colour -> item, focus: other when about-them sentences are at least as many as about-us ones (and
    there is one of either), self when fewer, neutral when there is neither."""
    return colours.group_by("item").agg(
        n_self=(pl.col("colour") == "self").sum(), n_other=(pl.col("colour") == "other").sum()
    ).select("item", focus=pl.when(pl.col("n_self") + pl.col("n_other") == 0).then(pl.lit("neutral"))
             .when(pl.col("n_other") >= pl.col("n_self")).then(pl.lit("other")).otherwise(pl.lit("self")))


def best_threshold(max_p: np.ndarray, truth: np.ndarray) -> float:
    """The P(request) cut with the best balanced accuracy (the mean of the shares of asks and of non-asks told
    right) on these out-of-fold scores: it does not lean on how many messages ask something. Four real messages
    in five here do, so F1 of asks would pick a cut that calls nearly everything an ask (calling all of them asks
    already scores 0.90), and so, less, would macro-F1; a team's own Sent mail holds more thank-yous and news."""
    best, best_score = 0.5, -1.0
    for t in np.unique(np.round(max_p, 3)):
        said = max_p >= t
        score = (np.mean(said[truth]) if truth.any() else 0.0) + (np.mean(~said[~truth]) if (~truth).any() else 0.0)
        if score > best_score:
            best, best_score = float(t), score
    return best


# --- scores with intervals --------------------------------------------------------------------------------------

def f1s(truth: np.ndarray, pred: np.ndarray, classes) -> list[float]:
    out = []
    for c in classes:
        tp = np.sum((truth == c) & (pred == c))
        denom = np.sum(truth == c) + np.sum(pred == c)
        out.append(2 * tp / denom if denom else 0.0)
    return out


def macro_f1(truth, pred, classes) -> float:
    return float(np.mean(f1s(np.asarray(truth), np.asarray(pred), classes)))


def binary_f1(truth, pred, positive="yes") -> float:
    return f1s(np.asarray(truth), np.asarray(pred), [positive])[0]


def with_interval(score, truth, pred, groups, n_boot: int = 1000, seed: int = SEED) -> tuple[float, float, float]:
    """The score and a 95% percentile interval from resampling whole sources (a writer's messages go together)."""
    truth, pred, groups = np.asarray(truth), np.asarray(pred), np.asarray(groups)
    names, inverse = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inverse == g) for g in range(len(names))]
    rng = np.random.default_rng(seed)
    boots = []
    for _ in range(n_boot):
        pick = np.concatenate([members[g] for g in rng.integers(0, len(names), len(names))])
        boots.append(score(truth[pick], pred[pick]))
    lo, hi = np.percentile(boots, [2.5, 97.5])
    return float(score(truth, pred)), float(lo), float(hi)
