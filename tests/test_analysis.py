"""The report's analysis: adjusted effects recover known odds, clustering by send widens what one mass send can
claim, too little or too tangled data says so, the Kaplan-Meier median matches a hand computation, the measures'
bands and the priors, the next-asks list on hand-written mail, and the heavy libraries load only for a report."""
from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from auditor.config import load_rules
from auditor.report.analysis import band_labels
from auditor.report.stats import adjusted_effects, answer_curve
from auditor.samplegen import ANSWER_LOG_ODDS

from conftest import make_settings, write_eml

RULES = load_rules()
ROOT = Path(__file__).resolve().parent.parent
FLAGS = ["open_question", "chunked", "opt_out", "commitment_stated", "offers_first", "gratitude"]
# The odds the simulation draws from: the axes, two kinds against donations, and one craft feature.
TRUTH = {("audience", "personal"): 1.2, ("focus", "other"): 0.7, ("focus", "neutral"): 0.0,
         ("warmth", "warm"): 0.9, ("warmth", "lapsed"): 0.4, ("ask_kind", "meeting"): 0.5,
         ("ask_kind", "interview"): -0.4, ("opt_out", "yes"): 0.3, ("gratitude", "yes"): 0.0}


def simulate(sends: int, seed: int, *, mass_share: float = 0.15, send_effect: float = 0.0,
             truth: dict = TRUTH) -> pl.DataFrame:
    """Asks in the shape of queries/analysis_asks.sql with answers drawn from known log-odds. Mass sends go to
    10-40 people at once and share every label; warm asks are more often personal (the confounding the model
    must take apart); `send_effect` adds a shared random effect per send (what clustering is for)."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(sends):
        mass = rng.random() < mass_share
        warmth = rng.choice(["warm", "lapsed", "cold"], p=[0.15, 0.15, 0.7] if mass else [0.45, 0.2, 0.35])
        labels = {
            "audience": "mass" if mass else "personal",
            "focus": rng.choice(["other", "self", "neutral"], p=[0.4, 0.45, 0.15]),
            "warmth": warmth,
            "ask_kind": rng.choice(["donation", "meeting", "interview"], p=[0.5, 0.3, 0.2]),
            **{flag: bool(rng.random() < 0.3) for flag in FLAGS},
        }
        x = -2.0 + sum(v for (factor, level), v in truth.items()
                       if labels.get(factor) == level or (level == "yes" and labels.get(factor) is True))
        x += rng.normal(0, send_effect) if send_effect else 0.0
        for r in range(int(rng.integers(10, 41)) if mass else 1):
            answered = bool(rng.random() < 1 / (1 + math.exp(-x)))
            rows.append({"send": f"<s{s}>", "recipient": f"p{s}-{r}", "answered": answered, "pending": False,
                         "hours": float(rng.uniform(1, 300)) if answered else 336.0, **labels})
    return pl.DataFrame(rows)


def _by_key(effects) -> dict:
    return {(e.factor, e.level): e for e in effects.effects}


def test_the_regression_recovers_the_generators_odds_within_its_intervals():
    """Over 30 simulated mailboxes, the 95% intervals hold the true odds ratio about 95% of the time; on one big
    mailbox every estimate is close."""
    covered = total = 0
    for seed in range(30):
        found = _by_key(adjusted_effects(simulate(1500, seed), RULES))
        for key, log_odds in TRUTH.items():
            effect = found[key]
            assert effect.told, effect.sentence
            covered += effect.low <= math.exp(log_odds) <= effect.high
            total += 1
    assert covered / total >= 0.9, f"intervals held the truth {covered} of {total} times"
    found = _by_key(adjusted_effects(simulate(30000, 99), RULES))
    for key, log_odds in TRUTH.items():
        assert abs(math.log(found[key].odds_ratio) - log_odds) < 0.12, (key, found[key].odds_ratio)


def test_adjusting_takes_apart_what_the_raw_rates_mix_up():
    """Warm asks are more often personal here, so the raw warm/cold ratio overstates warmth; the adjusted one
    does not."""
    asks = simulate(20000, 7)
    rate = {w: asks.filter(pl.col("warmth") == w)["answered"].mean() for w in ("warm", "cold")}
    raw_odds = (rate["warm"] / (1 - rate["warm"])) / (rate["cold"] / (1 - rate["cold"]))
    warm = _by_key(adjusted_effects(asks, RULES))[("warmth", "warm")]
    assert raw_odds > math.exp(TRUTH[("warmth", "warm")]) * 1.3
    assert warm.low <= math.exp(TRUTH[("warmth", "warm")]) <= warm.high
    assert "as often as cold asks with the same audience, focus, kind and craft" in warm.sentence
    assert warm.rate > warm.reference_rate


def test_standard_errors_are_clustered_by_send():
    """A mass send shares one random draw (here sd 1.5 on the log-odds), so its thirty rows are one decision:
    intervals that treated them as thirty independent asks hold the truth about 63% of the time on these data;
    clustered by send, about as often as they promise."""
    covered = total = 0
    sd = 1.5
    # The population-averaged odds ratio a marginal model estimates: the conditional log-odds shrunk by the
    # random effect (Zeger, Liang and Albert's approximation).
    truth = math.exp(0.8 / math.sqrt(1 + 0.346 * sd * sd))
    for seed in range(30):
        asks = simulate(1600, 100 + seed, mass_share=0.06, send_effect=sd, truth={("audience", "personal"): 0.8})
        effect = _by_key(adjusted_effects(asks, RULES))[("audience", "personal")]
        if effect.told:
            total += 1
            covered += effect.low <= truth <= effect.high
    assert total >= 28
    assert covered / total >= 0.85, f"intervals held the truth {covered} of {total} times"


def test_too_few_asks_say_so_instead_of_a_number():
    effects = adjusted_effects(simulate(30, 3, mass_share=0.0), RULES)
    assert effects.verdict and effects.verdict.startswith("Too few to tell")
    assert not any(e.told for e in effects.effects)


def test_a_style_from_a_handful_of_sends_is_too_few_to_tell():
    """Three mass sends to 30 people each are 90 rows but three decisions: no mass-vs-personal effect."""
    asks = simulate(400, 4, mass_share=0.0)
    mass = simulate(3, 4, mass_share=1.0).with_columns(send=pl.col("send") + "m")
    found = _by_key(adjusted_effects(pl.concat([asks, mass]), RULES))
    assert not found[("audience", "mass")].told
    assert "one send is one decision" in found[("audience", "mass")].sentence
    assert found[("warmth", "warm")].told


def test_a_style_nobody_varies_or_everybody_shares_is_too_few_to_tell():
    asks = simulate(3000, 5).with_columns(audience=pl.lit("personal"), chunked=pl.lit(False))
    effects = adjusted_effects(asks, RULES)
    found = _by_key(effects)
    assert not found[("audience", "personal")].told
    assert "every ask was one" in found[("audience", "personal")].sentence
    assert not found[("chunked", "yes")].told
    assert found[("warmth", "warm")].told


def test_styles_that_always_go_together_are_too_tangled_to_tell():
    asks = simulate(3000, 6).with_columns(
        warmth=pl.when(pl.col("audience") == "personal").then(pl.lit("warm")).otherwise(pl.lit("cold")))
    found = _by_key(adjusted_effects(asks, RULES))
    assert not found[("warmth", "warm")].told
    assert "Too tangled to tell" in found[("warmth", "warm")].sentence
    assert found[("audience", "personal")].told


def test_kaplan_meier_median_matches_a_hand_computation():
    """Six asks watched 1-6 days; answered on days 1, 3, 4 and 6, the ones on days 2 and 5 never answered.
    S(1) = 5/6, S(3) = 5/6 * 3/4 = 0.625, S(4) = 0.625 * 2/3 = 0.4167: the median time to answer is 4 days.
    The answered alone (1, 3, 4, 6) would have said 3.5."""
    days = np.array([1, 2, 3, 4, 5, 6], dtype=float)
    answered = np.array([1, 0, 1, 1, 0, 1], dtype=bool)
    curve = answer_curve(days * 24, answered)
    assert curve.median_days == pytest.approx(4.0)
    share = dict(zip(curve.days, curve.share))
    assert share[0.0] == 0.0
    at = lambda day: [s for d, s in zip(curve.days, curve.share) if d <= day][-1]
    assert at(1.5) == pytest.approx(1 / 6, abs=1e-4)
    assert at(3.5) == pytest.approx(0.375, abs=1e-4)
    assert at(4.5) == pytest.approx(1 - 0.625 * 2 / 3, abs=1e-4)
    for low, mid, high in zip(curve.low, curve.share, curve.high):
        assert 0.0 <= low <= mid <= high <= 1.0


def test_a_median_nobody_reached_is_none():
    curve = answer_curve(np.array([24.0, 48.0, 336.0, 336.0, 336.0]), np.array([True, True, False, False, False]))
    assert curve.median_days is None
    assert curve.share[-1] == pytest.approx(0.4, abs=1e-4)


@pytest.mark.parametrize("hours, answered, share", [
    ([336.0, 336.0, 100.0], [False, False, False], 0.0),      # nobody answered: statsmodels keeps no step
    ([336.0], [False], 0.0),                                  # a single ask, still censored
    ([5.0], [True], 1.0),                                     # a single ask, answered
    ([5.0, 30.0, 30.0], [True, True, True], 1.0),             # everybody answered
])
def test_an_answer_curve_for_every_group(hours, answered, share):
    curve = answer_curve(np.array(hours), np.array(answered))
    assert curve.n == len(hours) and curve.answered == sum(answered)
    assert curve.share[-1] == pytest.approx(share) and curve.share[0] == 0.0
    assert (curve.median_days is None) == (not any(answered))
    for low, mid, high in zip(curve.low, curve.share, curve.high):
        assert 0.0 <= low <= mid <= high <= 1.0


@pytest.mark.parametrize("edges, continuous, labels", [
    ([1, 2, 3, 4], False, ["0", "1", "2", "3", "4+"]),
    ([1, 2, 5, 10], False, ["0", "1", "2–4", "5–9", "10+"]),
    ([25, 50, 126, 250, 500], False, ["below 25", "25–49", "50–125", "126–249", "250–499", "500+"]),
    ([2, 5, 9, 13], True, ["below 2", "2–5", "5–9", "9–13", "13+"]),
    ([0.1, 0.3, 0.6], False, ["below 0.1", "0.1–0.3", "0.3–0.6", "0.6+"]),
])
def test_band_labels(edges, continuous, labels):
    assert band_labels(edges, continuous) == labels


def _copy_demo(demo, tmp_path) -> Path:
    import shutil

    out, _ = demo
    shutil.copy(out / "demo.duckdb", tmp_path / "demo.duckdb")
    return tmp_path / "demo.duckdb"


def _sample_asks(demo, tmp_path) -> pl.DataFrame:
    from auditor.store import Store

    settings = make_settings(tmp_path, as_of="2026-11-01")
    with Store.open(_copy_demo(demo, tmp_path)) as store:
        return store.query("analysis_asks", since=None, until=None, sender=None, campaign=None, as_of=settings.as_of)


def test_the_sample_mailbox_gives_back_the_generators_odds(demo, tmp_path):
    """Through parsing, matching and the analysis: the sample generator drew answers from ANSWER_LOG_ODDS (plus
    noise per person and per ask), and the adjusted effects of its mailbox hold them when each ask carries the
    labels the generator gave it. (The tagger's own labels are the next test's: it reads the sample's invented
    text as a model fit on real mail does, not as the generator wrote it.)"""
    import email

    from auditor import samplegen

    truth = {}
    for m in samplegen.iter_messages():
        if m.truth and m.truth["kind"] != "none":
            truth[email.message_from_bytes(m.raw)["Message-ID"].strip()] = m.truth
    asks = _sample_asks(demo, tmp_path).filter(pl.col("send").is_in(list(truth)))
    assert asks.height > 400
    labelled = asks.with_columns(**{column: pl.col("send").replace_strict({k: v[key] for k, v in truth.items()})
                                    for column, key in (("audience", "audience"), ("focus", "focus"), ("ask_kind", "kind"))})
    found = _by_key(adjusted_effects(labelled, RULES))
    for factor, level in [("audience", "personal"), ("focus", "other"), ("warmth", "warm"), ("warmth", "lapsed")]:
        effect, expected = found[(factor, level)], math.exp(ANSWER_LOG_ODDS[factor][level])
        assert effect.told and effect.low <= expected <= effect.high, (factor, level, effect.sentence)
    assert found[("audience", "personal")].low > 1


def test_the_tagged_sample_mailbox_shows_each_style_effect(demo, tmp_path):
    """With the tagger's labels: personal over mass told with an interval above 1, about them over about us and
    warm over cold in the generator's direction."""
    found = _by_key(adjusted_effects(_sample_asks(demo, tmp_path), RULES))
    for factor, level in [("audience", "personal"), ("focus", "other"), ("warmth", "warm")]:
        effect = found[(factor, level)]
        assert effect.told and effect.odds_ratio > 1, (factor, level, effect.sentence)
    assert found[("audience", "personal")].low > 1


def test_the_report_shows_the_analysis(demo):
    import html
    import re

    out, _ = demo
    page = html.unescape(re.sub(r"<[^>]+>", " ", (out / "demo.html").read_text(encoding="utf-8")))
    text = re.sub(r"\s+", " ", page)
    assert re.search(r"Personal asks were answered about [\d.]+x as often as mass asks with the same focus", text)
    assert "odds ratio" in text and "Too few to tell" not in text.split("What separates the styles")[1][:400]
    assert "Time to answer" in text and "not reached" in text
    assert "priors from other people's mail, not grades" in text
    assert "Next asks" in text and "re-ask after" in text
    for figure in ("fig-effects", "fig-km-audience", "fig-km-focus", "fig-km-warmth", "fig-bands", "fig-priors"):
        assert f'data-fig="{figure}"' in (out / "demo.html").read_text(encoding="utf-8")


def test_bands_count_every_delivered_ask_once(demo, tmp_path):
    from auditor.store import Store

    edges = {k: RULES["analysis"][k] for k in ("touches", "personalization", "co_recipients", "word_count",
                                                "question_count", "reading_grade", "subject_words")}
    p = dict(since=None, until=None, sender=None, campaign=None)
    with Store.open(_copy_demo(demo, tmp_path)) as store:
        bands = store.query("report_bands", **p, **edges)
        delivered = store.scalar("SELECT count(*) FILTER (WHERE delivered) FROM ask_outcomes WHERE is_request")
        one_touch = store.scalar("SELECT count(*) FILTER (WHERE delivered AND touches = 1) FROM ask_outcomes "
                                 "WHERE is_request")
    totals = dict(bands.group_by("measure").agg(pl.col("delivered").sum()).iter_rows())
    assert totals["touches"] == totals["co_recipients"] == delivered
    touches = {band: n for band, n in bands.filter(pl.col("measure") == "touches").select("band", "delivered").iter_rows()}
    assert touches[1] == one_touch and 0 not in touches


def test_a_band_with_every_ask_pending_draws_without_an_interval():
    """report_bands gives a band whose asks are all pending or bounced a NULL rate, low and high."""
    from plotly.subplots import make_subplots

    from auditor.report.analysis import _bars

    fig = make_subplots(rows=1, cols=1)
    rows = pl.DataFrame({"band": [1, 2], "delivered": [10, 0], "rate": [0.3, None], "low": [0.1, None],
                         "high": [0.6, None]})
    _bars(fig, rows, ["0", "1", "2"], row=1, col=1)
    bar = fig.data[0]
    assert list(bar.y) == [30.0, None]
    assert list(bar.error_y.array) == [30.0, 0.0] and list(bar.error_y.arrayminus) == [20.0, 0.0]


AS_OF = "2026-06-01"


def _mail(frm: str, to: str, date: str, subject: str, body: str, mid: str, *, reply_to: str | None = None,
          extra: str = "") -> str:
    thread = f"In-Reply-To: {reply_to}\nReferences: {reply_to}\n" if reply_to else ""
    return (f"From: {frm}\nTo: {to}\nSubject: {subject}\nDate: {date}\nMessage-ID: {mid}\n{thread}{extra}"
            f"MIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\n\n{body}\n")


def test_next_asks_lists_the_returning_the_warm_unanswered_and_the_lapsed(tmp_path):
    """Ana's out-of-office names 14 May; Ben (warm: he wrote in January, we answered) never answered our ask;
    Cleo and we wrote to each other in 2023 and not since; Dan answered; Eve was warm and unanswered but we asked
    her again since. Only Ana, Ben and Cleo are suggested, each for their own reason."""
    from auditor.ingest import ingest_paths
    from auditor.match import run_match
    from auditor.store import Store
    from auditor.tag import run_tag

    sent, inbox = tmp_path / "mail" / "Sent", tmp_path / "mail" / "Inbox"
    me = "Sam <sam@brightpath.org>"
    ask = ("Hi {name},\n\nYou know the river trail better than anyone. Would you join our volunteer day on "
           "{day}? It takes two hours and you choose the task.\n\nThanks,\nSam")
    write_eml(inbox, "c1.eml", _mail("Cleo <cleo@cleo.example>", me, "Tue, 7 Mar 2023 10:00:00 +0000",
                                     "Trail map", "Here is the map you wanted.", "<c1@cleo.example>"))
    write_eml(sent, "c2.eml", _mail(me, "Cleo <cleo@cleo.example>", "Wed, 8 Mar 2023 10:00:00 +0000",
                                    "Re: Trail map", "Thank you, Cleo!", "<c2@brightpath.org>",
                                    reply_to="<c1@cleo.example>"))
    write_eml(inbox, "b1.eml", _mail("Ben <ben@ben.example>", me, "Mon, 12 Jan 2026 10:00:00 +0000",
                                     "Question about the trail", "Is the north loop open?", "<b1@ben.example>"))
    write_eml(sent, "b2.eml", _mail(me, "Ben <ben@ben.example>", "Tue, 13 Jan 2026 10:00:00 +0000",
                                    "Re: Question about the trail", "Yes, it reopened last week.",
                                    "<b2@brightpath.org>", reply_to="<b1@ben.example>"))
    write_eml(inbox, "e1.eml", _mail("Eve <eve@eve.example>", me, "Mon, 12 Jan 2026 11:00:00 +0000",
                                     "Hello", "Lovely to meet you at the fair.", "<e1@eve.example>"))
    write_eml(sent, "e2.eml", _mail(me, "Eve <eve@eve.example>", "Tue, 13 Jan 2026 11:00:00 +0000",
                                    "Re: Hello", "Likewise, Eve!", "<e2@brightpath.org>", reply_to="<e1@eve.example>"))
    for i, (name, addr, date) in enumerate([("Ana", "ana@ana.example", "Mon, 4 May 2026 09:00:00 +0000"),
                                            ("Ben", "ben@ben.example", "Mon, 2 Mar 2026 09:00:00 +0000"),
                                            ("Dan", "dan@dan.example", "Mon, 2 Mar 2026 09:30:00 +0000"),
                                            ("Eve", "eve@eve.example", "Mon, 2 Mar 2026 10:00:00 +0000"),
                                            ("Eve", "eve@eve.example", "Mon, 6 Apr 2026 10:00:00 +0000")]):
        write_eml(sent, f"ask{i}.eml", _mail(me, f"{name} <{addr}>", date, f"Volunteer day, {name}?",
                                             ask.format(name=name, day="June 6"), f"<ask{i}@brightpath.org>"))
    write_eml(inbox, "a1.eml", _mail("Ana <ana@ana.example>", me, "Mon, 4 May 2026 09:05:00 +0000",
                                     "Automatic reply: Volunteer day, Ana?",
                                     "I am out of the office until 14 May 2026 with limited access to email.",
                                     "<a1@ana.example>", reply_to="<ask0@brightpath.org>",
                                     extra="Auto-Submitted: auto-replied\n"))
    write_eml(inbox, "d1.eml", _mail("Dan <dan@dan.example>", me, "Tue, 3 Mar 2026 08:00:00 +0000",
                                     "Re: Volunteer day, Dan?", "Count me in!", "<d1@dan.example>",
                                     reply_to="<ask2@brightpath.org>"))

    settings = make_settings(tmp_path, as_of=AS_OF)
    with Store.open(settings.db_path) as store:
        run_id = store.begin_run("test", [str(tmp_path / "mail")])
        ingest_paths(store, run_id, [tmp_path / "mail"], skip_folders=[])
        run_tag(store, settings, run_id)
        run_match(store, settings, run_id)
        rows = store.query("next_asks", since=None, until=None, sender=None, campaign=None, as_of=settings.as_of,
                           window_days=365, rows=10)
    listed = {(kind, person) for kind, person in rows.select("kind", "person").iter_rows()}
    assert listed == {("away", "ana@ana.example"), ("warm_unanswered", "ben@ben.example"),
                      ("lapsed", "cleo@cleo.example")}
    assert str(rows.filter(pl.col("kind") == "away")["due"][0]) == "2026-05-14"


def _modules_after(code: str) -> set[str]:
    proc = subprocess.run([sys.executable, "-c", code + "\nimport sys\nprint('\\n'.join(sys.modules))"],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stderr[-1500:]
    return {line.split(".")[0] for line in proc.stdout.splitlines()}


HEAVY = {"statsmodels", "pandas", "plotly", "scipy"}


def test_heavy_statistics_libraries_load_only_when_the_analysis_runs():
    quiet = "import contextlib, io\nfrom auditor.cli import main\n"
    for args in (["--help"], ["query", "--list"], ["report", "--help"]):
        loaded = _modules_after(quiet + f"with contextlib.redirect_stdout(io.StringIO()):\n    main({args!r})")
        assert not loaded & HEAVY, (args, loaded & HEAVY)
    loaded = _modules_after("import numpy as np\nfrom auditor.report.stats import answer_curve\n"
                            "answer_curve(np.array([24.0, 48.0]), np.array([True, False]))")
    assert "statsmodels" in loaded


def test_a_report_whose_inputs_did_not_change_is_reused_without_loading_plotly_or_statsmodels(tmp_path):
    """A second report of the same asks, outcomes, rules, period and day is the file already written: its
    summary is read back from the page and no heavy library loads. A change of day, period or redaction, or a
    page that lost its fingerprint, writes it anew."""
    db, out = tmp_path / "a.duckdb", tmp_path / "a.html"
    common = ["--db", str(db), "--me", "@riverbend-literacy.org"]

    def report(*extra, code=""):
        script = ("import contextlib, io, sys\nfrom auditor.cli import main\nout = io.StringIO()\n"
                  "with contextlib.redirect_stdout(out):\n"
                  f"    rc = main({['report', '-o', str(out), *common, *extra]!r})\n"
                  "print(out.getvalue())\nprint('HEAVY', sorted({m.split('.')[0] for m in sys.modules} & "
                  f"set({sorted(HEAVY)!r})))\nsys.exit(rc)")
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              env=dict(os.environ, PYTHONPATH=str(ROOT)))
        assert proc.returncode == 0, proc.stderr[-1500:]
        return proc.stdout

    first = subprocess.run([sys.executable, "-m", "auditor", "ingest", str(ROOT / "sample_mail"), *common],
                           capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert first.returncode == 0, first.stderr[-1500:]
    built = report("--as-of", "2026-11-01T09:00")
    assert "(unchanged" not in built and "HEAVY ['pandas', 'plotly', 'scipy', 'statsmodels']" in built
    written = out.stat().st_mtime_ns
    again = report("--as-of", "2026-11-01T17:00")
    assert "(unchanged: same asks, outcomes, rules and day)" in again and "HEAVY []" in again
    assert out.stat().st_mtime_ns == written
    summary = lambda text: [line for line in text.splitlines() if line.startswith(("asks:", "answered:", "best"))]
    assert summary(again) == summary(built) and len(summary(built)) == 3
    for changed in (["--as-of", "2026-11-02"], ["--as-of", "2026-11-01", "--show-recipients"],
                    ["--as-of", "2026-11-01", "--since", "2026-06-01"]):
        assert "(unchanged" not in report(*changed)
    report("--as-of", "2026-11-01")
    out.write_text(out.read_text(encoding="utf-8").replace('name="auditor-inputs"', 'name="x"'), encoding="utf-8")
    assert "(unchanged" not in report("--as-of", "2026-11-01")
