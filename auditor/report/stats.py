"""The report's statistics, as plain functions over the rows of `queries/analysis_asks.sql`.

Raw reply rates by style mislead: warm asks are also more often personal, a mass send is forty correlated rows, and
an unanswered ask is not "answered later on average". So:

* `adjusted_effects` fits one logistic regression of "answered" on the three axes, the ask kind and the craft
  features, with standard errors clustered by send (the forty rows of a mass send are one decision of ours), and
  says per effect either what it is, in odds ratios and in plain words, or why the data cannot tell;
* `answer_curve` is the Kaplan-Meier estimate of the share answered by each day after the ask, where asks not (yet)
  answered count as censored at the end of their watch, so a median comes from everyone asked, not from the
  answered alone.

statsmodels (and the pandas it loads) are imported inside the functions: only a report pays for them.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import polars as pl

# Each factor of the model: its column, the reference level (None: the most common level), and how to name a level
# and the reference in a sentence.
FACTORS = [
    ("audience", "mass", {"personal": "personal asks", "mass": "mass asks"}),
    ("focus", "self", {"other": "asks about them", "neutral": "asks about neither side", "self": "asks about us"}),
    ("warmth", "cold", {"warm": "warm asks", "lapsed": "lapsed asks", "cold": "cold asks"}),
    ("ask_kind", None, {"donation": "asks for a donation", "purchase": "asks to buy", "meeting": "asks for a meeting",
                        "interview": "asks for an interview", "introduction": "asks for an introduction",
                        "volunteering": "asks to volunteer", "endorsement": "asks for an endorsement",
                        "other": "other asks"}),
]
ADJUSTED_FOR = {"audience": "focus, warmth, kind and craft", "focus": "audience, warmth, kind and craft",
                "warmth": "audience, focus, kind and craft", "ask_kind": "audience, focus, warmth and craft"}
CRAFT_ADJUSTED_FOR = "audience, focus, warmth, kind and other craft"
FLAGS = {
    "open_question": ("asks with an open question", "asks without one"),
    "chunked": ("asks broken into smaller steps", "asks in one piece"),
    "opt_out": ("asks that offered a way out", "asks that did not"),
    "commitment_stated": ("asks that said what exactly it takes", "asks that did not"),
    "offers_first": ("asks that offered something first", "asks that did not"),
    "gratitude": ("asks that thanked the reader", "asks that did not"),
}
Z95 = 1.959963984540054


@dataclass
class Effect:
    """One comparison of the model: a level against its factor's reference, or a craft feature against its absence."""

    factor: str
    level: str
    label: str                     # "personal asks"
    reference: str                 # "mass asks"
    n: int                         # asks with this level or feature
    odds_ratio: float | None = None
    low: float | None = None
    high: float | None = None
    rate: float | None = None      # the predicted rate if every ask had this level, everything else as it was
    reference_rate: float | None = None
    sentence: str = ""

    @property
    def told(self) -> bool:
        return self.odds_ratio is not None


@dataclass
class Effects:
    asks: int
    answered: int
    sends: int
    effects: list[Effect] = field(default_factory=list)
    verdict: str | None = None     # set when the data as a whole are too few or too tangled to tell


def _levels(frame: pl.DataFrame, column: str, reference: str | None, min_sends: int) -> tuple[str | None, list[str]]:
    """The factor's reference level (the preferred one when enough sends carry it, else the most common) and the
    other levels, most common first."""
    counts = (frame.group_by(column).agg(n=pl.len(), sends=pl.col("send").n_unique())
              .sort(["n", column], descending=[True, False]).drop_nulls(column))
    levels, sends = counts[column].to_list(), dict(zip(counts[column], counts["sends"]))
    if reference not in levels or sends[reference] < min_sends:
        reference = levels[0] if levels else None
    return reference, [v for v in levels if v != reference]


def _describe(level: str, names: dict) -> str:
    return names.get(level, f"{level!r} asks")


def _sentence(effect: Effect, adjusted_for: str) -> str:
    label, reference = effect.label[:1].upper() + effect.label[1:], effect.reference
    numbers = f"odds ratio {effect.odds_ratio:.2f}, 95% interval {effect.low:.2f}–{effect.high:.2f}"
    if effect.low <= 1 <= effect.high:
        return (f"No clear difference between {effect.label} and {reference} with the same {adjusted_for} "
                f"({numbers}: the interval includes 1).")
    ratio = effect.rate / effect.reference_rate if effect.reference_rate else float("inf")
    how = f"about {ratio:.1f}x as often as" if ratio >= 1 else f"about {1 / ratio:.1f}x less often than"
    if 0.95 <= ratio < 1.05:
        how = "about as often as"
    return (f"{label} were answered {how} {reference} with the same {adjusted_for} (about "
            f"{effect.rate:.0%} against {effect.reference_rate:.0%} if every ask had been one or the other; {numbers}).")


def _design(frame: pl.DataFrame, sends: np.ndarray, min_level_n: int,
            min_level_sends: int) -> tuple[list[np.ndarray], list[Effect], list[Effect], list[list[int]]]:
    """Columns of the model matrix (after the intercept), the effect each stands for, the effects left out because
    too few asks carry them (or all or none of those were answered), and each factor's column indices. `sends`
    holds each row's send as a code."""
    columns, effects, untold, groups = [], [], [], []
    answered = frame["answered"].to_numpy()

    def keep(mask: np.ndarray, effect: Effect) -> bool:
        hits = answered[mask]
        level_sends = len(np.unique(sends[mask]))
        if not mask.any():
            effect.sentence = f"Too few to tell for {effect.label}: no ask was one."
        elif level_sends < min_level_sends:
            effect.sentence = (f"Too few to tell for {effect.label}: they went out in {level_sends} "
                               f"send{'s' if level_sends != 1 else ''}, and one send is one decision.")
        elif mask.sum() < min_level_n or mask.sum() > len(mask) - min_level_n:
            effect.sentence = (f"Too few to tell for {effect.label}: {int(mask.sum()):,} of {len(mask):,} asks"
                               + (" (almost all)" if mask.sum() > len(mask) / 2 else "") + ".")
        elif hits.all() or not hits.any():
            effect.sentence = (f"Too few to tell for {effect.label}: {'all' if hits.all() else 'none'} of its "
                               f"{int(mask.sum()):,} asks were answered.")
        else:
            return True
        untold.append(effect)
        return False

    for column, reference, names in FACTORS:
        reference, levels = _levels(frame, column, reference, min_level_sends)
        if not levels and reference is not None:
            effect = Effect(column, reference, _describe(reference, names), "any other", frame.height,
                            sentence=f"Too few to tell for {_describe(reference, names)}: every ask was one.")
            untold.append(effect)
        values = frame[column].to_numpy()
        group = []
        for level in levels:
            mask = values == level
            effect = Effect(column, level, _describe(level, names), _describe(reference, names),
                            int(mask.sum()))
            if keep(mask, effect):
                group.append(len(columns))
                columns.append(mask.astype(float))
                effects.append(effect)
        groups.append(group)
    for column, (label, reference) in FLAGS.items():
        mask = frame[column].fill_null(False).to_numpy().astype(bool)
        effect = Effect(column, "yes", label, reference, int(mask.sum()))
        if keep(mask, effect):
            groups.append([len(columns)])
            columns.append(mask.astype(float))
            effects.append(effect)
    return columns, effects, untold, groups


def _tangled(columns: list[np.ndarray], max_vif: float) -> list[int]:
    """Columns that move with the others too closely to be told apart: a variance inflation factor above max_vif,
    or a column that is (almost) a combination of the ones before it."""
    if not columns:
        return []
    x = np.column_stack(columns)
    x = x - x.mean(axis=0)
    kept, dropped = [], []
    for i in range(x.shape[1]):
        trial = x[:, kept + [i]]
        if np.linalg.matrix_rank(trial, tol=1e-8 * max(1.0, np.abs(trial).max()) * len(trial)) < len(kept) + 1:
            dropped.append(i)
        else:
            kept.append(i)
    if len(kept) > 1:
        corr = np.corrcoef(x[:, kept], rowvar=False)
        try:
            vif = np.diag(np.linalg.inv(corr))
        except np.linalg.LinAlgError:
            vif = np.full(len(kept), np.inf)
        dropped += [kept[j] for j in np.flatnonzero(vif > max_vif)]
    return sorted(dropped)


@dataclass
class Fitted:
    """The logistic regression behind the adjusted effects, as `check` stores and applies it: the intercept's
    and each kept effect's coefficient (in `effects` order), their clustered covariance, and the rows' matrix."""

    effects: list[Effect]
    params: np.ndarray
    cov: np.ndarray
    x: np.ndarray
    groups: list[list[int]]


def fit_answers(closed: pl.DataFrame, rules: dict) -> tuple[Fitted | None, Effects]:
    """The model of answered on the axes, the ask kind and the craft features over closed asks, clustered by send,
    after every guard the report applies (too few, tangled, too many effects for the answers, no convergence).
    Returns (the fit, or None with the reason in Effects.verdict; the Effects with the untold ones)."""
    cfg = rules["analysis"]
    n, answered = closed.height, int(closed["answered"].sum() or 0)
    sends = closed["send"].n_unique()
    result = Effects(asks=n, answered=answered, sends=sends)
    fewest = min(answered, n - answered)
    if fewest < cfg["min_events"] or sends < cfg["min_sends"]:
        result.verdict = (f"Too few to tell: {answered:,} answered and {n - answered:,} unanswered asks in {sends:,} "
                          f"sends; separating the styles' effects needs at least {cfg['min_events']} of each and "
                          f"{cfg['min_sends']} sends.")
        return None, result

    clusters = closed["send"].cast(pl.Categorical).to_physical().to_numpy()   # one code per send
    columns, effects, untold, groups = _design(closed, clusters, int(cfg["min_level_n"]), int(cfg["min_level_sends"]))
    tangled = set(_tangled(columns, float(cfg["max_vif"])))
    for i in sorted(tangled, reverse=True):
        effect = effects[i]
        effect.sentence = (f"Too tangled to tell for {effect.label}: in this mail they go together with other "
                           "styles so closely that their own effect cannot be separated.")
        untold.append(effect)
    keep = [i for i in range(len(columns)) if i not in tangled]
    columns, effects = [columns[i] for i in keep], [effects[i] for i in keep]
    position = {old: new for new, old in enumerate(keep)}
    groups = [[position[i] for i in g if i in position] for g in groups]
    per_effect = int(cfg["events_per_effect"])
    while effects and fewest < per_effect * len(effects):
        # Too many effects for the answers at hand: keep the axes, drop the rarest craft feature first.
        drop = max(range(len(effects)), key=lambda i: (effects[i].factor in FLAGS, -effects[i].n))
        effects[drop].sentence = (f"Too few to tell for {effects[drop].label}: {fewest:,} answers (or non-answers) "
                                  f"cannot separate {len(effects)} effects at once.")
        untold.append(effects.pop(drop))
        columns.pop(drop)
        groups = [[i - (i > drop) for i in g if i != drop] for g in groups]
    result.effects = untold
    if not effects:
        result.verdict = "Too few to tell: no style varies enough in this mail to separate its effect."
        return None, result

    from statsmodels.discrete.discrete_model import Logit
    from statsmodels.tools.sm_exceptions import ConvergenceWarning, PerfectSeparationWarning

    x = np.column_stack([np.ones(n)] + columns)
    y = closed["answered"].to_numpy().astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        warnings.simplefilter("error", PerfectSeparationWarning)
        warnings.simplefilter("error", RuntimeWarning)
        try:
            fit = Logit(y, x).fit(disp=0, maxiter=200, cov_type="cluster", cov_kwds={"groups": clusters})
            if not fit.mle_retvals.get("converged", True):
                raise ValueError("not converged")
            params, cov = np.asarray(fit.params), np.asarray(fit.cov_params())
        except (ConvergenceWarning, PerfectSeparationWarning, RuntimeWarning, ValueError, np.linalg.LinAlgError):
            result.verdict = ("Too few to tell: the model could not be fitted to this mail (some styles were always "
                              "or never answered together), so no adjusted effect is shown.")
            result.effects = effects + untold
            return None, result
    return Fitted(effects, params, cov, x, groups), result


def adjusted_effects(asks: pl.DataFrame, rules: dict) -> Effects:
    """The logistic regression of answered on the axes, the ask kind and the craft features, over closed asks
    (pending ones are left out: their answer may still come), clustered by send."""
    fitted, result = fit_answers(asks.filter(~pl.col("pending")), rules)
    if fitted is None:
        return result
    params, cov, x, untold = fitted.params, fitted.cov, fitted.x, result.effects

    def predicted(matrix: np.ndarray) -> float:
        return float(np.mean(1.0 / (1.0 + np.exp(-(matrix @ params)))))

    max_width = float(rules["analysis"]["max_interval_ratio"])
    for i, effect in enumerate(fitted.effects):
        j = i + 1
        se = math.sqrt(max(cov[j, j], 0.0))
        low, high = math.exp(params[j] - Z95 * se), math.exp(params[j] + Z95 * se)
        if not math.isfinite(high) or high / low > max_width:
            effect.sentence = (f"Too few to tell for {effect.label}: its 95% interval runs from {low:.2f}x to "
                               f"{high:.2f}x the odds of {effect.reference}, too wide to say anything.")
            untold.append(effect)
            continue
        group = next(g for g in fitted.groups if i in g)
        as_level, as_reference = x.copy(), x.copy()
        as_level[:, [k + 1 for k in group]] = 0.0
        as_reference[:, [k + 1 for k in group]] = 0.0
        as_level[:, j] = 1.0
        effect.odds_ratio, effect.low, effect.high = math.exp(params[j]), low, high
        effect.rate, effect.reference_rate = predicted(as_level), predicted(as_reference)
        effect.sentence = _sentence(effect, ADJUSTED_FOR.get(effect.factor, CRAFT_ADJUSTED_FOR))
    result.effects = [e for e in fitted.effects if e.told] + untold
    return result


@dataclass
class AnswerCurve:
    """Share answered by each day after the ask (1 minus the Kaplan-Meier survival), with a pointwise 95%
    interval, on a grid of days; and the median time to answer with its interval (None: not reached)."""

    n: int
    answered: int
    days: list[float]
    share: list[float]
    low: list[float]
    high: list[float]
    median_days: float | None
    median_low: float | None
    median_high: float | None


def answer_curve(hours: np.ndarray, answered: np.ndarray, points: int = 160) -> AnswerCurve:
    """Kaplan-Meier over (time watched, answered): an answered ask is an event at its answer, every other ask is
    censored where its watch ended. The interval is the log-log one (it stays inside [0, 1])."""
    from statsmodels.duration.survfunc import SurvfuncRight

    days = np.asarray(hours, dtype=float) / 24.0
    events = np.asarray(answered, dtype=bool)
    fit = SurvfuncRight(days, events.astype(int))
    end = float(days.max()) if len(days) else 0.0
    grid = np.unique(np.concatenate([np.linspace(0, min(2.0, end), 49), np.linspace(0, end, points)]))
    times = np.asarray(fit.surv_times, dtype=float)
    if times.size == 0:
        # Nobody answered: statsmodels keeps no step at all, and the curve stays at zero answered throughout.
        survival, se = np.ones_like(grid), np.zeros_like(grid)
    else:
        idx = np.searchsorted(times, grid, side="right") - 1
        survival = np.where(idx >= 0, np.asarray(fit.surv_prob)[np.maximum(idx, 0)], 1.0)
        se = np.where(idx >= 0, np.asarray(fit.surv_prob_se)[np.maximum(idx, 0)], 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_s = np.log(survival)
        spread = Z95 * se / (survival * np.abs(log_s))
        theta = np.log(-log_s)
        s_low = np.exp(-np.exp(theta + spread))
        s_high = np.exp(-np.exp(theta - spread))
    defined = (survival > 0) & (survival < 1) & np.isfinite(spread)
    s_low = np.where(defined, s_low, survival)
    s_high = np.where(defined, s_high, survival)
    median = _finite(fit.quantile(0.5)) if events.any() else None
    median_low = median_high = None
    if median is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            bounds = fit.quantile_ci(0.5)
        median_low, median_high = _finite(bounds[0]), _finite(bounds[1])
    return AnswerCurve(
        n=len(days), answered=int(events.sum()), days=[round(float(d), 3) for d in grid],
        share=[round(float(1 - s), 4) for s in survival], low=[round(float(1 - s), 4) for s in s_high],
        high=[round(float(1 - s), 4) for s in s_low], median_days=median, median_low=median_low,
        median_high=median_high)


def _finite(value) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None
