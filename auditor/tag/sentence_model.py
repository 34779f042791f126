"""Sentence colours and requests as a careful reader sees them, from a linear model fit on real sentences.

Word lists written by hand coloured every ask sentence yellow and every "I" sentence yellow; on real mail they did
worse than counting pronouns. Here the lists are inputs: the cues in `cues.toml` (who is the grammatical subject,
whose things are named, "for you" / "for us", a condition on the reader's situation, an imperative, a question, an
offer) and the sentence's words and word pairs are features, and weights fit on sentences two readers labelled
(`python -m train`, from `../shared/realmail`) decide. The weights ship in `sentence_model.json`; inference is a
sparse matrix product, run once per message when its measures are taken, and stored.

Three models share the features: `colour` (self = about us, yellow; other = about them, green; neutral) and
`request` (does this sentence ask the reader for something) read one sentence; `mass` reads a whole message (its
sentences' cues averaged, and the words of all of them) and says whether the text is written for everyone, the
way a newsletter or a notice is, whoever it was sent to.
"""
from __future__ import annotations

import functools
import json
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import polars as pl

from ..config import digest

_HERE = Path(__file__).resolve().parent
MODEL_PATH = _HERE / "sentence_model.json"
CUES_PATH = _HERE / "cues.toml"
START = "<s>"
_URL = r"(?i)(?:https?://|www\.)\S+"
_EMAIL = r"\S+@\S+\.\w+"
_TOKEN = r"<s>|[a-z_]+(?:'[a-z]+)?"


@cache
def cue_file() -> dict:
    return tomllib.loads(CUES_PATH.read_text(encoding="utf-8"))


@cache
def cue_patterns() -> dict[str, str]:
    """Cue name -> pattern: `flag.<name>` is 1 where it matches (a [lists] entry where any of its patterns does),
    `count.<name>` is log(1 + matches)."""
    cues = cue_file()
    lists = {f"flag.{k}": "|".join(f"(?:{p})" for p in v) for k, v in cues["lists"].items()}
    return {**{f"flag.{k}": v for k, v in cues["flag"].items()}, **lists,
            **{f"count.{k}": v for k, v in cues["count"].items()}}


def cues_digest() -> str:
    """What the features are: the cue patterns and the tokenizer. A model fit on other features is refused."""
    return digest([cue_patterns(), _URL, _EMAIL, _TOKEN, START])


def tokens(text: pl.Expr) -> pl.Expr:
    """Words and word pairs of a sentence, lower-cased, with links, addresses and numbers masked and a start marker,
    so "you can" at the start of a sentence ("<s> you") differs from "you" inside one."""
    words = (
        pl.lit(START + " ")
        + text.str.to_lowercase().str.replace_all(_URL, " _url_ ").str.replace_all(_EMAIL, " _email_ ")
        .str.replace_all(r"\d+", " _num_ ").str.replace_all("’", "'")
    ).str.extract_all(_TOKEN)
    pairs = words.list.eval(pl.element() + " " + pl.element().shift(-1)).list.drop_nulls()
    return pl.concat_list(words.list.slice(1), pairs).list.unique()


def featurize(texts: pl.Series | list[str]) -> pl.DataFrame:
    """One row per text: each cue as a float column (named as in cue_patterns) and `tokens`."""
    frame = pl.DataFrame({"text": pl.Series(texts, dtype=pl.String)}).with_columns(pl.col("text").fill_null(""))
    cues = {}
    for name, pattern in cue_patterns().items():
        regex = "(?i)" + pattern
        if name.startswith("flag."):
            cues[name] = pl.col("text").str.contains(regex).cast(pl.Float32)
        else:
            cues[name] = pl.col("text").str.count_matches(regex).cast(pl.Float32).log1p()
    return frame.with_columns(tokens=tokens(pl.col("text")), **cues)


@dataclass(frozen=True)
class LinearModel:
    """A softmax over classes: logits = cues @ cue_weights + sum of the sentence's token weights + intercept."""
    classes: tuple[str, ...]
    intercept: np.ndarray           # (k,)
    cue_names: tuple[str, ...]
    cue_weights: np.ndarray         # (n_cues, k)
    vocab: pl.DataFrame             # token, w0..w{k-1}
    threshold: float | None = None  # for a yes/no model: P(yes) at or above which it says yes

    @classmethod
    def from_json(cls, data: dict) -> "LinearModel":
        k = len(data["classes"])
        vocab = pl.DataFrame(
            {"token": list(data["vocab"]), **{f"w{j}": [w[j] for w in data["vocab"].values()] for j in range(k)}},
            schema={"token": pl.String, **{f"w{j}": pl.Float64 for j in range(k)}},
        )
        return cls(tuple(data["classes"]), np.asarray(data["intercept"], dtype=np.float64), tuple(data["cues"]),
                   np.asarray(list(data["cues"].values()), dtype=np.float64).reshape(-1, k), vocab,
                   data.get("threshold"))

    @functools.cached_property
    def _token_index(self) -> tuple[pl.DataFrame, np.ndarray]:
        k = len(self.classes)
        return (self.vocab.select("token", col=pl.int_range(pl.len(), dtype=pl.UInt32)),
                self.vocab.select(f"w{j}" for j in range(k)).to_numpy().astype(np.float64))

    def logits(self, features: pl.DataFrame) -> np.ndarray:
        """A sparse product: the same sentence gets the same numbers in any batch (a parallel group-by sum would
        add its words in an order that changes the last bits)."""
        from scipy import sparse

        index, token_weights = self._token_index
        cues = features.select(self.cue_names).to_numpy().astype(np.float64)
        hits = (features.select(row=pl.int_range(pl.len(), dtype=pl.UInt32), token="tokens").explode("token")
                .join(index, on="token", how="inner"))
        words = sparse.csr_matrix((np.ones(hits.height), (hits["row"].to_numpy(), hits["col"].to_numpy())),
                                  shape=(features.height, len(token_weights)))
        return cues @ self.cue_weights + words @ token_weights + self.intercept

    def probabilities(self, features: pl.DataFrame) -> np.ndarray:
        z = self.logits(features)
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class SentenceModels:
    colour: LinearModel
    request: LinearModel
    mass: LinearModel
    digest: str
    cue_words: dict[str, str]


@cache
def load(path: Path = MODEL_PATH) -> SentenceModels:
    data = json.loads(path.read_text(encoding="utf-8"))
    if data["cues_digest"] != cues_digest():
        raise RuntimeError(f"{path.name} was fit on other cues than auditor/tag/cues.toml: refit with `python -m train`")
    return SentenceModels(LinearModel.from_json(data["colour"]), LinearModel.from_json(data["request"]),
                          LinearModel.from_json(data["mass"]), digest(data), cue_file()["words"])


def message_features(owner: pl.Series, features: pl.DataFrame) -> pl.DataFrame:
    """Sentence features (rows of featurize) of messages numbered by `owner` -> one row per message, in owner
    order: each cue averaged over the message's sentences, and every word and word pair it holds."""
    cues = [c for c in features.columns if c.startswith(("flag.", "count."))]
    return (features.with_columns(owner=owner).group_by("owner")
            .agg(*(pl.col(c).mean() for c in cues), tokens=pl.col("tokens").list.explode(keep_nulls=False, empty_as_null=False).unique())
            .sort("owner"))


def score_messages(sentences: pl.Series, models: SentenceModels | None = None) -> pl.DataFrame:
    """Each message's sentences (a list column) -> per message, as lists in sentence order: `colours`, their
    `colour_confidence` (the chosen colour's probability) and `request_p`; and `mass_p`, the chance that the text
    is written for everyone. Each distinct sentence is featurized and scored once: a mass mailing repeats its
    sentences by the thousand."""
    models = models or load()
    messages = pl.DataFrame({"owner": pl.int_range(len(sentences), eager=True, dtype=pl.UInt32), "text": sentences})
    flat = messages.explode("text").drop_nulls("text")
    distinct = flat.select("text").unique(maintain_order=True)
    features = featurize(distinct["text"])
    colour_p = models.colour.probabilities(features)
    best = colour_p.argmax(axis=1)
    scored = distinct.with_columns(
        colour=pl.Series(np.asarray(models.colour.classes)[best]),
        confidence=pl.Series(colour_p[np.arange(len(best)), best].astype(np.float32)),
        request_p=pl.Series(models.request.probabilities(features)[:, models.request.classes.index("yes")]
                            .astype(np.float32)))
    per_sentence = flat.join(scored, on="text", how="left", maintain_order="left")
    # group_by keeps each message's sentences in their order
    per_message = messages.select("owner").join(
        per_sentence.group_by("owner").agg("colour", "confidence", "request_p"), on="owner", how="left")
    with_text = flat.join(features, on="text", how="left", maintain_order="left")
    mass_rows = message_features(with_text["owner"], with_text.drop("owner", "text"))
    mass_p = np.full(len(sentences), np.nan, dtype=np.float32)
    if mass_rows.height:
        mass_p[mass_rows["owner"].to_numpy()] = models.mass.probabilities(mass_rows)[:, models.mass.classes.index("mass")]
    return pl.DataFrame({
        "colours": per_message["colour"].fill_null([]),
        "colour_confidence": per_message["confidence"].fill_null([]),
        "request_p": per_message["request_p"].fill_null([]),
        "mass_p": pl.Series(mass_p).fill_nan(None),
    })


def _quoted(token: str) -> str:
    return "'" + token.replace(START + " ", "").replace(START, "").replace("_num_", "9").replace("_url_", "a link") + "'"


EXPLAIN_MIN = 0.2      # a cue is named only when it moves the chosen colour this far (in log-odds) above the next
NOT_A_REASON = {"count.words"}      # length shifts every colour a little; no reader would call it the reason


def explain(texts: list[str], models: SentenceModels | None = None, top: int = 3) -> list[list[str]]:
    """The cues that decided each sentence's colour, strongest first, in words a fundraiser reads ("a condition on
    the reader's situation", "'if you'"): the features that pushed the chosen colour above the runner-up most.
    For the few sentences a person looks at (explain, the report's examples), not for every sentence stored."""
    models = models or load()
    model = models.colour
    features = featurize(texts)
    p = model.probabilities(features)
    order = np.argsort(-p, axis=1)
    cues = features.select(model.cue_names).to_numpy().astype(np.float64)
    out = []
    token_rows = features["tokens"].to_list()
    vocab = dict(zip(model.vocab["token"].to_list(),
                     model.vocab.select(f"w{j}" for j in range(len(model.classes))).to_numpy()))
    for i in range(len(texts)):
        chosen, runner = order[i, 0], order[i, 1]
        diff = model.cue_weights[:, chosen] - model.cue_weights[:, runner]
        candidates = [(cues[i, j] * diff[j], models.cue_words.get(name, name))
                      for j, name in enumerate(model.cue_names) if cues[i, j] and name not in NOT_A_REASON]
        # Short single words (a, the, you, our) say nothing a named cue does not say better.
        candidates += [(w[chosen] - w[runner], _quoted(t)) for t in token_rows[i]
                       if (" " in t or len(t) > 3) and (w := vocab.get(t)) is not None]
        candidates = sorted((c for c in candidates if c[0] >= EXPLAIN_MIN), key=lambda c: -c[0])
        seen, words = set(), []
        for _, word in candidates:
            if word not in seen:
                seen.add(word)
                words.append(word)
            if len(words) == top:
                break
        out.append(words)
    return out


COLOUR_WORDS = {"self": "about us", "other": "about the reader", "neutral": "about neither side"}


def why(texts: list[str], colours: list[str], confidences: list[float | None]) -> list[str]:
    """Each sentence's colour in a fundraiser's words, with the model's confidence and the cues that decided it:
    "about the reader (86%): a condition on the reader's situation, 'if you'"."""
    out = []
    for colour, confidence, cues in zip(colours, confidences, explain(texts)):
        sure = "" if confidence is None else f" ({100 * confidence:.0f}%)"
        out.append(f"{COLOUR_WORDS.get(colour, colour)}{sure}" + (": " + ", ".join(cues) if cues else ""))
    return out
