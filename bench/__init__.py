"""Benchmark of outreach-auditor's stages on generated mailboxes: `python -m bench` (see bench/README.md).

The parent process (`main`) generates a Maildir per size, prepares databases, and runs every measured stage in
its own child process (`python -m bench --stage NAME --spec JSON`), so each stage's peak RSS is its own
(`getrusage(RUSAGE_SELF)`, plus `RUSAGE_CHILDREN` for the ingest's parser workers). A child prints one line
`BENCH-RESULT {json}` on stdout. This module imports nothing heavy at the top: a child imports only what its
stage needs, so the read stage's RSS is not inflated by DuckDB, polars or plotly.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
RESULT_MARK = "BENCH-RESULT "
# Stages measured per run, in the order they run (run-major: run 1 of every stage, then run 2, ...).
STAGES = ("read", "floor", "parse", "ingest", "measure", "tag", "cluster", "match", "report", "check", "e2e")
STAGE_LABEL = {
    "read": "read (iter_source, bytes only)",
    "floor": "floor: stdlib compat32 parse, 1 core",
    "parse": "parse (parse_raw, 1 core)",
    "ingest": "ingest (read+parse+measure+store, 2 cores)",
    "measure": "tag: all measures again (2 cores)",
    "tag": "tag: label pass (run_tag force)",
    "cluster": "tag: mails + clusters + labels",
    "match": "match (run_match force)",
    "report": "report (build + write)",
    "check": "check one draft (model stored)",
    "e2e": "end to end (pipeline.audit)",
    "rerun": "re-run audit, nothing new",
}
# The stages that start from a copy of a prepared database, and which one.
PREPARED_FROM = {"measure": "ingested", "tag": "tagged", "cluster": "tagged", "match": "tagged", "report": "matched", "check": "matched"}
CHILD_TIMEOUT = 600                 # seconds, or 5 ms a message when that is more (1M messages: 5,000 s)
CHILD_SECONDS_PER_MESSAGE = 0.005


# =============================================================================================================
# Helpers shared by parent and children (stdlib only)
# =============================================================================================================

def _status(pid: int | str = "self") -> dict[str, str]:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return dict(line.rstrip("\n").split(":\t", 1) for line in fh if ":\t" in line)
    except OSError:
        return {}


def _kib_to_mib(value: str | None) -> float | None:
    return int(value.split()[0]) / 1024 if value else None


def _rss_now_mib() -> float | None:
    """Current resident set size of this process (VmRSS), MiB."""
    return _kib_to_mib(_status().get("VmRSS"))


class _TreeSampler:
    """Peak RSS of this process's descendants (the ingest's fork server and parser workers).

    Each descendant's VmHWM (its own high-water mark) is read every `interval` seconds while it lives, found
    through /proc/PID/task/TID/children. VmHWM only grows, so the last sample before a worker exits is its peak
    within `interval`. RUSAGE_CHILDREN cannot do this job: the workers are reaped by the fork server, not by us,
    and an exec'd child's ru_maxrss starts at its parent's peak (Linux keeps it across exec)."""

    def __init__(self, interval: float = 0.05):
        import threading

        self.interval, self.peaks, self.depth, self.names = interval, {}, {}, {}
        with open("/proc/self/cmdline", "rb") as fh:
            self._own_cmdline = fh.read()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _children(self, pid: int) -> list[int]:
        out = []
        try:
            for tid in os.listdir(f"/proc/{pid}/task"):
                with open(f"/proc/{pid}/task/{tid}/children") as fh:
                    out += [int(c) for c in fh.read().split()]
        except OSError:
            pass
        return out

    def sample(self) -> None:
        todo = [(c, 1) for c in self._children(os.getpid())]
        while todo:
            pid, depth = todo.pop()
            todo += [(c, depth + 1) for c in self._children(pid)]
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as fh:
                    cmd = fh.read()
            except OSError:
                continue
            if cmd == self._own_cmdline:
                continue   # forked but not yet exec'd: its pages are still a copy of ours
            hwm = _kib_to_mib(_status(pid).get("VmHWM"))
            if hwm is not None:
                self.peaks[pid] = max(self.peaks.get(pid, 0.0), hwm)
                self.depth[pid] = depth
                self.names[pid] = (b"forkserver" in cmd and "forkserver" or
                                   b"resource_tracker" in cmd and "resource_tracker" or "process")

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.sample()

    def __enter__(self) -> "_TreeSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict:
        workers = [v for pid, v in self.peaks.items() if self.depth[pid] >= 2]   # forked by the fork server
        helpers = {self.names[pid]: v for pid, v in self.peaks.items() if self.depth[pid] == 1}
        return {"workers": len(workers), "worker_peak_rss_mib": max(workers) if workers else None,
                "workers_sum_peak_rss_mib": sum(workers) if workers else None, "helper_peak_rss_mib": helpers}


def _peaks() -> dict:
    import resource

    return {
        "peak_rss_mib": _kib_to_mib(_status().get("VmHWM")),
        "ru_maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _settings(spec: dict):
    from auditor.config import Identity, Settings, load_rules, parse_as_of

    return Settings(db_path=Path(spec["db"]), config_path=None, identity=Identity.parse(spec["identity"]),
                    as_of=parse_as_of(spec["as_of"]), rules=load_rules())


def _copy_db(src: Path, dst: Path) -> None:
    for suffix in ("", ".wal"):
        s = src.with_name(src.name + suffix)
        if s.exists():
            shutil.copyfile(s, dst.with_name(dst.name + suffix))


def _remove_db(path: Path) -> None:
    for suffix in ("", ".wal"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


# =============================================================================================================
# Cold-start probes: one-off costs a process pays once, measured before the timed stage and reported apart
# =============================================================================================================

def _warm_duckdb() -> float:
    """First DuckDB insert from a polars frame (through Arrow), on a throwaway in-memory database."""
    t = time.perf_counter()
    import duckdb
    import polars as pl

    con = duckdb.connect(":memory:")
    frame = pl.DataFrame({"a": [1, 2], "b": ["x", "y"], "c": [[1], [2]]})
    con.register("_warm", frame)
    con.execute("CREATE TABLE t AS SELECT * FROM _warm WHERE false").fetchall()
    con.execute("INSERT INTO t SELECT * FROM _warm").fetchall()
    con.sql("SELECT * FROM t").pl()
    con.close()
    return time.perf_counter() - t


def _warm_plotly() -> dict:
    """First plotly figure (graph_objects validators load lazily) and reading plotly.js once per process."""
    t = time.perf_counter()
    import plotly.graph_objects as go

    from auditor.report.page import _plotly_js, json_for_html

    fig = go.Figure(go.Bar(x=["a"], y=[1.0], error_y=dict(type="data", symmetric=False, array=[1], arrayminus=[0]),
                           text=["n=1"], textposition="outside", marker_color="#3b7d5c"))
    fig.update_layout(title="warm", yaxis_range=[0, 100], height=340, margin=dict(l=50, r=20, t=50, b=40))
    scatter = go.Figure(go.Scatter(x=["2026-01"], y=[1.0], mode="lines+markers", line_color="#3b7d5c"))
    json_for_html(fig.to_plotly_json())
    json_for_html(scatter.to_plotly_json())
    first_figure = time.perf_counter() - t
    t = time.perf_counter()
    _plotly_js()
    return {"first_plotly_figure_s": first_figure, "plotly_js_load_s": time.perf_counter() - t}


# =============================================================================================================
# Child stages: each returns a dict; `seconds` is the timed part only
# =============================================================================================================

_BEFORE: dict = {}


def _mark() -> None:
    """Note the RSS just before the timed part (after imports and warm-ups), to tell growth from baseline."""
    _BEFORE["rss_before_timed_mib"] = _rss_now_mib()


def _iter_raw(maildir: str):
    from auditor.sources import iter_source

    for message in iter_source(Path(maildir)):
        yield message.raw


def stage_read(spec: dict) -> dict:
    from auditor.sources import iter_source

    n = size = 0
    _mark()
    t = time.perf_counter()
    for message in iter_source(Path(spec["maildir"])):
        n += 1
        size += len(message.raw)
    return {"seconds": time.perf_counter() - t, "messages": n, "bytes": size}


def stage_floor(spec: dict) -> dict:
    """What the stdlib's fastest full parser costs on the same bytes: the floor any Python auditor stands on."""
    import email
    from email import policy

    n, total = 0, 0.0
    _mark()
    for raw in _iter_raw(spec["maildir"]):
        t = time.perf_counter()
        email.message_from_bytes(raw, policy=policy.compat32)
        total += time.perf_counter() - t
        n += 1
    return {"seconds": total, "messages": n, "note": "parse time only, summed per message; reading not counted"}


def stage_parse(spec: dict) -> dict:
    from auditor.parse import Unparseable, parse_raw

    t = time.perf_counter()
    parse_raw(b"From: a@example.org\r\nSubject: warm\r\n\r\nhello\r\n")   # mailparser's lazy imports
    cold = time.perf_counter() - t
    n, failed, total = 0, 0, 0.0
    _mark()
    for raw in _iter_raw(spec["maildir"]):
        t = time.perf_counter()
        try:
            parse_raw(raw)
        except Unparseable:
            failed += 1
        total += time.perf_counter() - t
        n += 1
    return {"seconds": total, "messages": n, "unparseable": failed, "cold_start": {"first_parse_s": cold},
            "note": "parse time only, summed per message; reading not counted"}


def stage_ingest(spec: dict) -> dict:
    from auditor.ingest import ingest_paths
    from auditor.store import Store

    settings = _settings(spec)
    cold = {"first_duckdb_insert_s": _warm_duckdb()}
    t = time.perf_counter()
    store = Store.open(settings.db_path)
    cold["open_and_migrate_s"] = time.perf_counter() - t
    run_id = store.begin_run("ingest", [spec["maildir"]])
    marks: list[float] = []
    _mark()
    with _TreeSampler() as tree:
        t = time.perf_counter()
        counts = ingest_paths(store, run_id, [Path(spec["maildir"])],
                              skip_folders=settings.rules["sources"]["skip_folders"],
                              progress=lambda n: marks.append(time.perf_counter() - t), rules=settings.rules)
        seconds = time.perf_counter() - t
    store.finish_run(run_id, "ok")
    store.close()
    batches = [b - a for a, b in zip([0.0] + marks, marks)]
    if batches:
        cold["first_batch_s"] = batches[0]
        cold["median_later_batch_s"] = statistics.median(batches[1:]) if len(batches) > 1 else None
    return {"seconds": seconds, "messages": counts.read, "new": counts.new, "quarantined": counts.quarantined,
            "batches": len(batches), "cold_start": cold, **tree.summary()}


def _open_prepared(spec: dict, command: str):
    from auditor.store import Store

    settings = _settings(spec)
    cold = {"first_duckdb_insert_s": _warm_duckdb()}
    t = time.perf_counter()
    store = Store.open(settings.db_path)
    cold["open_s"] = time.perf_counter() - t
    return settings, store, store.begin_run(command), cold


def _message_count(store) -> int:
    return store.scalar("SELECT count(*) FROM messages")


def _timed_on_prepared(spec: dict, stage: str, run) -> tuple[float, int, object, dict]:
    """Open the prepared database for `stage`, time `run(store, settings, run_id)` alone, and count messages."""
    settings, store, run_id, cold = _open_prepared(spec, stage)
    _mark()
    t = time.perf_counter()
    result = run(store, settings, run_id)
    seconds = time.perf_counter() - t
    store.finish_run(run_id, "ok")
    n = _message_count(store)
    store.close()
    return seconds, n, result, cold


def stage_measure(spec: dict) -> dict:
    """The text measures of every outbound message (tag.measures) on a database ingested without them, both cores:
    what a change of the cleaning rules costs. An ingest measures the mail in Sent folders as it parses it."""
    import polars as pl

    from auditor.tag import resolve_identity
    from auditor.tag.mails import build_mails
    from auditor.tag.measures import ensure_measures

    settings, store, run_id, cold = _open_prepared(spec, "measure")
    identity, _ = resolve_identity(store, settings)
    mails = build_mails(store.query("load_messages", parts=1, part=0).lazy(), identity, settings.rules)
    hashes = mails.filter(pl.col("direction") == "out").select("raw_sha256").collect()["raw_sha256"].to_list()
    _mark()
    with _TreeSampler() as tree:
        t = time.perf_counter()
        measured = ensure_measures(store, hashes, settings.rules)
        seconds = time.perf_counter() - t
    store.finish_run(run_id, "ok")
    n = _message_count(store)
    store.close()
    return {"seconds": seconds, "messages": n, "measured": measured, "cold_start": cold, **tree.summary(),
            "note": "throughput over all messages; only outbound ones are measured"}


def stage_tag(spec: dict) -> dict:
    """The label pass: run_tag forced on a database whose measures, mails, asks and template clusters are stored
    (a re-tag after a word-list change)."""
    from auditor.tag import run_tag

    seconds, n, result, cold = _timed_on_prepared(spec, "tag", lambda s, st, r: run_tag(s, st, r, force=True))
    return {"seconds": seconds, "messages": n, "asks": result.asks, "tag_rows": result.rows, "cold_start": cold}


def stage_cluster(spec: dict) -> dict:
    """The label pass when the mails, asks and template clusters must be found again too (new mail arrived): what
    the first tag after an ingest costs over stored measures."""
    from auditor.tag import run_tag

    def run(store, settings, run_id):
        store.run("DELETE FROM stage_state WHERE stage IN ('mails', 'templates')")
        return run_tag(store, settings, run_id, force=True)

    seconds, n, result, cold = _timed_on_prepared(spec, "cluster", run)
    return {"seconds": seconds, "messages": n, "asks": result.asks, "tag_rows": result.rows, "cold_start": cold}


def stage_match(spec: dict) -> dict:
    from auditor.match import run_match

    seconds, n, result, cold = _timed_on_prepared(spec, "match", lambda s, st, r: run_match(s, st, r, force=True))
    return {"seconds": seconds, "messages": n, "sequences": result.sequences, "outcomes": result.outcomes,
            "cold_start": cold}


def stage_report(spec: dict) -> dict:
    from auditor.report import build_report, write_report

    settings, store, run_id, cold = _open_prepared(spec, "report")
    cold.update(_warm_plotly())
    _mark()
    t = time.perf_counter()
    result = build_report(store, settings)
    built = time.perf_counter() - t
    path = write_report(result, Path(spec["out"]))
    seconds = time.perf_counter() - t
    store.finish_run(run_id, "ok")
    n = _message_count(store)
    store.close()
    return {"seconds": seconds, "build_s": built, "write_s": seconds - built, "messages": n,
            "html_bytes": path.stat().st_size, "cold_start": cold}


BENCH_DRAFT = b"""Hi Sam,

Your note about the reading corner at the Eastside branch made our week. We are planning two more this spring and
would value your eye on the layout. Would you have 20 minutes next Tuesday for a call? No worries if not.

Thanks,
Maya
"""


def stage_check(spec: dict) -> dict:
    """`auditor check` on one draft against a matched database: the first check fits and stores the model
    (fit_s), the timed ones find it stored, as every later draft does. Also the whole command as a fresh
    process (cli_s: Python, imports, opening the database and all)."""
    import subprocess

    from auditor.check import check_draft
    from auditor.tag import resolve_identity

    settings, store, run_id, cold = _open_prepared(spec, "check")
    identity, _, _ = resolve_identity(store, settings)
    person = store.scalar("SELECT recipient FROM tags WHERE warmth = 'warm' ORDER BY recipient LIMIT 1")
    t = time.perf_counter()
    check_draft(store, settings, identity, BENCH_DRAFT, to=(person,))
    cold["fit_s"] = time.perf_counter() - t
    _mark()
    times = []
    for _ in range(5):
        t = time.perf_counter()
        result = check_draft(store, settings, identity, BENCH_DRAFT, to=(person,))
        times.append(time.perf_counter() - t)
    store.finish_run(run_id, "ok")
    n = _message_count(store)
    store.close()
    draft = Path(spec["out"]).with_name("bench-draft.txt")
    draft.write_bytes(BENCH_DRAFT)
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "auditor", "check", str(draft), "--to", person, "--db", str(settings.db_path),
                    "--as-of", settings.as_of.isoformat()], check=True, capture_output=True)
    cli_s = time.perf_counter() - t
    return {"seconds": statistics.median(times), "messages": n, "cli_s": cli_s, "cold_start": cold,
            "shown": result["prediction"]["shown"],
            "note": "seconds: the median of 5 checks in one process, the model stored"}


def _audit(spec: dict) -> dict:
    from auditor import pipeline

    settings = _settings(spec)
    cold = {"first_duckdb_insert_s": _warm_duckdb()}
    cold.update(_warm_plotly())
    _mark()
    with _TreeSampler() as tree:
        t = time.perf_counter()
        result = pipeline.audit(settings, [Path(spec["maildir"])], Path(spec["out"]))
        seconds = time.perf_counter() - t
    c = result.counts
    return {"seconds": seconds, "messages": c.read, "new": c.new, "duplicate": c.duplicate,
            "quarantined": c.quarantined, "tag_skipped": result.tag.skipped, "match_skipped": result.match.skipped,
            "cold_start": cold, **tree.summary()}


stage_e2e = _audit
stage_rerun = _audit


def stage_prepare(spec: dict) -> dict:
    """Untimed set-up for tag, match and report: an ingested database (without measures, for `measure`), a tagged
    copy and a matched copy."""
    from auditor.ingest import ingest_paths
    from auditor.match import run_match
    from auditor.store import Store
    from auditor.tag import run_tag

    settings = _settings(spec)
    paths = {k: Path(v) for k, v in spec["prepared"].items()}
    times = {}
    t = time.perf_counter()
    with Store.open(paths["ingested"]) as store:
        run_id = store.begin_run("ingest", [spec["maildir"]])
        counts = ingest_paths(store, run_id, [Path(spec["maildir"])],
                              skip_folders=settings.rules["sources"]["skip_folders"])
        store.finish_run(run_id, "ok")
    times["ingest_s"] = time.perf_counter() - t
    _copy_db(paths["ingested"], paths["tagged"])
    t = time.perf_counter()
    with Store.open(paths["tagged"]) as store:
        run_id = store.begin_run("tag")
        run_tag(store, settings, run_id, force=True)
        store.finish_run(run_id, "ok")
    times["tag_s"] = time.perf_counter() - t
    _copy_db(paths["tagged"], paths["matched"])
    t = time.perf_counter()
    with Store.open(paths["matched"]) as store:
        run_id = store.begin_run("match")
        run_match(store, settings, run_id, force=True)
        store.finish_run(run_id, "ok")
    times["match_s"] = time.perf_counter() - t
    return {"seconds": sum(times.values()), "messages": counts.read, "new": counts.new, "times": times}


def child(stage: str, spec: dict) -> int:
    """Entry point of a child process: run one stage, print its result line."""
    func = globals().get(f"stage_{stage}")
    if func is None:
        print(f"unknown stage {stage!r}", file=sys.stderr)
        return 2
    rss_start = _rss_now_mib()
    load_start = os.getloadavg()[0]
    t = time.perf_counter()
    result = func(spec)
    result["child_s"] = time.perf_counter() - t
    result["rss_at_start_mib"] = rss_start
    result.update(_BEFORE)
    result["loadavg_1min"] = [load_start, os.getloadavg()[0]]
    result.update(_peaks())
    print(RESULT_MARK + json.dumps(result, default=str), flush=True)
    return 0


# =============================================================================================================
# Parent
# =============================================================================================================

def _run_child(stage: str, spec: dict) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(PROJECT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    cmd = [sys.executable, "-m", "bench", "--stage", stage, "--spec", json.dumps(spec)]
    timeout = max(CHILD_TIMEOUT, spec.get("n", 0) * CHILD_SECONDS_PER_MESSAGE)
    t = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        return {"error": f"timed out after {timeout:.0f} s", "stderr": (exc.stderr or "")[-4000:]
                if isinstance(exc.stderr, str) else ""}
    wall = time.perf_counter() - t
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            result = json.loads(line[len(RESULT_MARK):])
            result["process_s"] = wall
            return result
    return {"error": f"exit status {proc.returncode}", "stderr": proc.stderr[-6000:], "process_s": wall}


def _generate(root: Path, n: int) -> dict:
    """Write an N-message Maildir, streamed from the generator (never a list), and note the latest date."""
    from auditor import samplegen

    seen = {"last": None, "first": None, "bytes": 0}

    def tap():
        for message in samplegen.iter_messages(n_messages=n):
            if seen["last"] is None or message.when > seen["last"]:
                seen["last"] = message.when
            if seen["first"] is None or message.when < seen["first"]:
                seen["first"] = message.when
            seen["bytes"] += len(message.raw)
            yield message

    t = time.perf_counter()
    files = samplegen.write_maildir(root, tap(), malformed=False)
    return {"seconds": time.perf_counter() - t, "files": files, "bytes": seen["bytes"],
            "first_message": seen["first"].isoformat() if seen["first"] else None,
            "last_message": seen["last"].isoformat() if seen["last"] else None}


def _as_of(last_message: str | None) -> datetime:
    """The sample's own clock, or the day after the last generated message if that is later."""
    from auditor import samplegen

    as_of = samplegen.SAMPLE_AS_OF
    if last_message:
        last = datetime.fromisoformat(last_message).astimezone(timezone.utc)
        day_after = datetime(last.year, last.month, last.day, tzinfo=timezone.utc) + timedelta(days=1)
        as_of = max(as_of, day_after)
    return as_of


def _machine() -> dict:
    from importlib import metadata

    versions = {}
    for dist in ("duckdb", "polars", "pyarrow", "plotly", "mail-parser", "inscriptis", "jinja2"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    cpu = None
    mem = None
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((l.split(":", 1)[1].strip() for l in fh if l.startswith("model name")), None)
        with open("/proc/meminfo") as fh:
            mem = next((round(int(l.split()[1]) / 1024 ** 2, 1) for l in fh if l.startswith("MemTotal")), None)
    except OSError:
        pass
    return {"cores": os.cpu_count(), "usable_cores": len(os.sched_getaffinity(0)), "cpu": cpu, "memory_gib": mem,
            "python": platform.python_version(), "implementation": platform.python_implementation(),
            "platform": platform.platform(), "versions": versions}


def _project_state() -> dict:
    """Which code was measured: the commit and any files changed since (others may be editing meanwhile)."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=PROJECT, capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            return ""
    return {"commit": git("rev-parse", "HEAD").strip() or None,
            "changed_files": [line[3:] for line in git("status", "--porcelain").splitlines()
                              if not line[3:].startswith("bench/")]}


def _summarise(stage: str, runs: list[dict], n: int) -> dict:
    ok = [r for r in runs if "error" not in r]
    out = {"stage": stage, "label": STAGE_LABEL[stage], "n": n, "runs": runs, "ok_runs": len(ok),
           "failed_runs": len(runs) - len(ok)}
    if not ok:
        return out
    seconds = statistics.median(r["seconds"] for r in ok)
    out.update({
        "seconds": seconds,
        "seconds_min": min(r["seconds"] for r in ok),
        "seconds_max": max(r["seconds"] for r in ok),
        "msgs_per_s": (n / seconds) if seconds > 0 else None,
        "peak_rss_mib": statistics.median(r["peak_rss_mib"] for r in ok),
        "rss_at_start_mib": statistics.median(r["rss_at_start_mib"] for r in ok),
        "rss_before_timed_mib": statistics.median(r["rss_before_timed_mib"] for r in ok),
        "process_s": statistics.median(r["process_s"] for r in ok),
        "loadavg_1min_max": max(max(r["loadavg_1min"]) for r in ok),
    })
    worker_peaks = [r["worker_peak_rss_mib"] for r in ok if r.get("worker_peak_rss_mib") is not None]
    if worker_peaks:
        out["worker_peak_rss_mib"] = statistics.median(worker_peaks)
        out["workers"] = max(r.get("workers", 0) for r in ok)
        out["workers_sum_peak_rss_mib"] = statistics.median(
            r["workers_sum_peak_rss_mib"] for r in ok if r.get("workers_sum_peak_rss_mib") is not None)
    colds = [r.get("cold_start") for r in ok if r.get("cold_start")]
    if colds:
        out["cold_start"] = {k: statistics.median(c[k] for c in colds if c.get(k) is not None)
                             for k in colds[0] if any(c.get(k) is not None for c in colds)}
    return out


def _fmt(x, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def _print_table(results: dict) -> None:
    head = (f"{'stage':<40} {'N':>7} {'msgs/s':>9} {'seconds':>8} {'peak RSS MiB':>13} {'before MiB':>11} "
            f"{'+ workers MiB':>14}")
    print()
    print(head)
    print("-" * len(head))
    for size in results["sizes"].values():
        for key in list(STAGES) + ["rerun"]:
            s = size["stages"].get(key)
            if not s:
                continue
            if "seconds" not in s:
                print(f"{s['label']:<40} {s['n']:>7}   FAILED ({s['runs'][0].get('error')})")
                continue
            workers = (f"{s['workers']} x {s['worker_peak_rss_mib']:.0f}" if s.get("worker_peak_rss_mib") else "-")
            print(f"{s['label']:<40} {s['n']:>7} {_fmt(s['msgs_per_s'], ',.0f'):>9} {s['seconds']:>8.2f} "
                  f"{s['peak_rss_mib']:>13.0f} {s['rss_before_timed_mib']:>11.0f} {workers:>14}")
        print()
    for size in results["sizes"].values():
        n = size["n"]
        ratio = size.get("e2e_vs_floor")
        rerun = size["stages"].get("rerun", {})
        print(f"N={n}: generate {size['generate']['seconds']:.1f} s (untimed); end-to-end throughput is "
              f"{_fmt(ratio, '.3f')} x the stdlib compat32 floor; re-run with nothing new "
              f"{_fmt(rerun.get('seconds'), '.2f')} s in-process, {_fmt(rerun.get('process_s'), '.2f')} s "
              f"as a fresh process")
        cold = {}
        for key in STAGES:
            for k, v in (size["stages"].get(key, {}).get("cold_start") or {}).items():
                cold.setdefault(k, {})[key] = v
        if cold:
            print("  cold start (median, not in the stage seconds): " + "; ".join(
                f"{k} " + ", ".join(f"{st} {v:.2f}s" for st, v in per.items()) for k, per in cold.items()))


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if "--harvest" in argv:   # the IMAP harvest benchmark: its own options, see bench/harvest.py
        from bench.harvest import main as harvest_main

        return harvest_main([a for a in argv if a != "--harvest"])
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument("--harvest", action="store_true",
                    help="run the IMAP harvest benchmark instead (python -m bench --harvest --help)")
    ap.add_argument("--sizes", default="10000,100000", help="comma-separated message counts (default 10000,100000)")
    ap.add_argument("--large", action="store_true", help="also 1,000,000 messages (about 1.3 GB of Maildir)")
    ap.add_argument("--runs", type=int, default=3, help="runs per stage; the median is reported (default 3)")
    ap.add_argument("--json", type=Path, default=None,
                    help="where to write the results (default bench/results.json, or bench/results_big_message.json)")
    ap.add_argument("--big-message", action="store_true",
                    help="instead of the stages: ingest one message with a 50 MB attachment, its time and peak RSS")
    ap.add_argument("--keep", type=Path, default=None,
                    help="keep the Maildirs, databases and reports in this directory instead of a deleted temp dir")
    ap.add_argument("--stages", default=",".join(STAGES + ("rerun",)),
                    help="subset of stages to run (default all): " + ",".join(STAGES + ("rerun",)))
    ap.add_argument("--stage", help=argparse.SUPPRESS)   # internal: run one stage in this (child) process
    ap.add_argument("--spec", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.stage:
        return child(args.stage, json.loads(args.spec))
    if args.big_message:
        return big_message(args.runs, args.json or PROJECT / "bench" / "results_big_message.json", args.keep)
    args.json = args.json or PROJECT / "bench" / "results.json"

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()] + ([1_000_000] if args.large else [])
    wanted = [s.strip() for s in args.stages.split(",") if s.strip()]
    unknown = set(wanted) - set(STAGES) - {"rerun"}
    if unknown or args.runs < 1 or not sizes:
        ap.error(f"bad --stages {sorted(unknown)}" if unknown else "need --runs >= 1 and at least one size")
    if "rerun" in wanted and "e2e" not in wanted:
        wanted.append("e2e")     # the re-run audits the database the whole audit wrote
    sys.path.insert(0, str(PROJECT))
    from auditor import samplegen

    if args.keep:
        work = args.keep.resolve()
        work.mkdir(parents=True, exist_ok=True)
    else:
        work = Path(tempfile.mkdtemp(prefix="auditor-bench-"))
    identity = ["@" + samplegen.TEAM_DOMAIN]
    results = {"machine": _machine(), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "sizes_requested": sizes, "runs": args.runs, "identity": identity,
               "page_cache": "warm (the Maildir was just written)", "project": _project_state(),
               "loadavg_at_start": os.getloadavg(), "sizes": {}}
    print(f"machine: {results['machine']['cores']} cores, Python {results['machine']['python']}, "
          f"duckdb {results['machine']['versions']['duckdb']}, polars {results['machine']['versions']['polars']}; "
          f"work dir {work}", flush=True)
    try:
        for n in sizes:
            base = work / f"n{n}"
            if base.exists():
                shutil.rmtree(base)
            base.mkdir(parents=True)
            maildir = base / "maildir"
            gen = _generate(maildir, n)
            as_of = _as_of(gen["last_message"])
            print(f"[N={n}] generated {gen['files']} files ({gen['bytes'] / 1e6:.1f} MB) in {gen['seconds']:.1f} s "
                  f"(not timed); messages {gen['first_message'][:10]} .. {gen['last_message'][:10]}; "
                  f"as_of {as_of.date()}", flush=True)
            common = {"maildir": str(maildir), "identity": identity, "as_of": as_of.isoformat(), "n": n}
            size = {"n": n, "as_of": as_of.isoformat(), "generate": gen, "stages": {}}
            results["sizes"][str(n)] = size

            prepared = {k: str(base / f"prepared-{k}.duckdb") for k in ("ingested", "tagged", "matched")}
            if set(wanted) & PREPARED_FROM.keys():
                prep = _run_child("prepare", dict(common, db=prepared["ingested"], prepared=prepared))
                size["prepare"] = prep
                if "error" in prep:
                    print(f"[N={n}] prepare FAILED: {prep['error']}\n{prep.get('stderr', '')}", flush=True)
                else:
                    print(f"[N={n}] prepared databases in {prep['seconds']:.1f} s (not timed)", flush=True)

            runs: dict[str, list[dict]] = {s: [] for s in wanted}
            for r in range(args.runs):
                for stage in STAGES:
                    if stage not in wanted:
                        continue
                    rdir = base / f"run{r + 1}-{stage}"
                    rdir.mkdir()
                    db = rdir / "audit.duckdb"
                    if stage in PREPARED_FROM:
                        source = PREPARED_FROM[stage]
                        if "error" in size.get("prepare", {}):
                            runs[stage].append({"error": "prepare failed"})
                            continue
                        _copy_db(Path(prepared[source]), db)
                    spec = dict(common, db=str(db), out=str(rdir / "report.html"))
                    res = _run_child(stage, spec)
                    runs[stage].append(res)
                    _say(n, r, stage, res)
                    if stage == "e2e" and "rerun" in wanted:
                        if "error" in res:
                            runs["rerun"].append({"error": "e2e failed"})
                        else:
                            res2 = _run_child("rerun", spec)
                            runs["rerun"].append(res2)
                            _say(n, r, "rerun", res2)
                    if not args.keep:
                        shutil.rmtree(rdir, ignore_errors=True)
            for stage, rs in runs.items():
                size["stages"][stage] = _summarise(stage, rs, n)
            e2e, floor = size["stages"].get("e2e", {}), size["stages"].get("floor", {})
            if e2e.get("msgs_per_s") and floor.get("msgs_per_s"):
                size["e2e_vs_floor"] = e2e["msgs_per_s"] / floor["msgs_per_s"]
            _write(args.json, results)   # after every size, so a later failure keeps the earlier figures
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    _print_table(results)
    _write(args.json, results)
    print(f"\nwrote {args.json}")
    failed = [f"{s['stage']} N={s['n']}" for size in results["sizes"].values() for s in size["stages"].values()
              if s.get("failed_runs")]
    if failed:
        print("FAILED: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0


def big_message(runs: int, json_path: Path, keep: Path | None, attachment_bytes: int = 50_000_000) -> int:
    """Ingest one message with a large attachment (samplegen.write_large_message) into a fresh database, `runs`
    times, each in a fresh child process: the time and the peak RSS of the stage's process."""
    sys.path.insert(0, str(PROJECT))
    from auditor import samplegen

    work = keep.resolve() if keep else Path(tempfile.mkdtemp(prefix="auditor-bench-big-"))
    try:
        folder = work / "big-message"
        shutil.rmtree(folder, ignore_errors=True)
        size = samplegen.write_large_message(folder / "mail" / "large.eml", attachment_bytes=attachment_bytes)
        print(f"one message of {size / 1e6:.1f} MB ({attachment_bytes / 1e6:.0f} MB attachment, base64)", flush=True)
        spec = {"maildir": str(folder / "mail"), "identity": ["@" + samplegen.TEAM_DOMAIN],
                "as_of": samplegen.SAMPLE_AS_OF.isoformat()}
        results = []
        for r in range(runs):
            db = folder / f"run{r + 1}.duckdb"
            _remove_db(db)
            res = _run_child("ingest", dict(spec, db=str(db)))
            results.append(res)
            _say(1, r, "ingest", res)
            _remove_db(db)
        summary = _summarise("ingest", results, 1)
        out = {"machine": _machine(), "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "project": _project_state(), "message_bytes": size, "attachment_bytes": attachment_bytes,
               "runs": runs, "ingest": summary}
        _write(json_path, out)
    finally:
        if not keep:
            shutil.rmtree(work, ignore_errors=True)
    if "seconds" not in summary:
        print("FAILED: ingest of the large message", file=sys.stderr)
        return 1
    print(f"\ningest of one {size / 1e6:.1f} MB message: {summary['seconds']:.2f} s (median of {runs}), peak RSS "
          f"{summary['peak_rss_mib']:.0f} MiB ({summary['rss_before_timed_mib']:.0f} MiB before the timed part)"
          f"\nwrote {json_path}")
    return 0


def _say(n: int, r: int, stage: str, res: dict) -> None:
    if "error" in res:
        print(f"[N={n}] run {r + 1} {stage}: FAILED ({res['error']})\n{res.get('stderr', '')}", flush=True)
    else:
        print(f"[N={n}] run {r + 1} {stage:<7} {res['seconds']:7.2f} s  peak RSS {res['peak_rss_mib']:6.0f} MiB"
              + (f" (+ {res['workers']} workers, {res['worker_peak_rss_mib']:.0f} MiB each at most)"
                 if res.get("worker_peak_rss_mib") else "")
              + f"  process {res['process_s']:.2f} s  load {max(res['loadavg_1min']):.1f}", flush=True)


def _write(path: Path, results: dict) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(results, indent=1, default=str) + "\n", encoding="utf-8")
    tmp.replace(path)
