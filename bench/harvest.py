"""IMAP harvest benchmark against a local Dovecot: `python -m bench --harvest` (see bench/README.md, "IMAP harvest").

The parent starts a throwaway Dovecot with the test helper (tests/imap_server.py), fills one user's INBOX per
mailbox with `samplegen.iter_messages(n_messages=N)` (and a variant mailbox where ~5% of the messages carry a
2-3 MB attachment), then runs every measured stage in its own child process
(`python -m bench --harvest --child STAGE --spec JSON`), run-major (run 1 of every stage, then run 2, ...), against
the same server in the same run. Each child prints one `BENCH-RESULT {json}` line. The timer covers one whole IMAP
session: connect + TLS + login to logout, so every stage pays the same fixed costs.

Stages:
  imaplib  stdlib imaplib, same FETCHes as `bare`: what the server and TLS can serve (a ceiling, not a target)
  bare     imapclient over TLS: select_folder(readonly) + search ALL + fetch(300 UIDs, BODY.PEEK[]), bytes kept only
  bare_size     the bare loop plus a FETCH RFC822.SIZE per batch before the bodies, as the harvester does
  bare_larger   the bare loop after one SEARCH LARGER 1000000 (another way to find the large messages)
  fetch    the harvester's fetch path alone: iter_batches(h, "INBOX", None) in `with Harvester(account)`, no storage
  harvest  auditor.pipeline.harvest into a fresh DuckDB: fetch + hash + parse (2 workers) + store, batch by batch
  fetch_nolimit  (attachment mailbox) the harvester's fetch with the size limit lifted: every message whole

Besides the client's wall time the children report the client's CPU time, the bytes the client read from its TLS
socket (`rchar` of /proc/self/io: OpenSSL reads the socket with read(2)), and the parent adds what Dovecot itself
says it sent for that session (`out=` and `body_bytes=` of its logout line).
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from bench import PROJECT, RESULT_MARK, _fmt, _machine, _peaks, _project_state, _write

PASSWORD_ENV = "AUDITOR_BENCH_IMAP_PASSWORD"   # set only in the children's environment, never written anywhere
BATCH = 300
MB = 1e6
CHILD_TIMEOUT = 900
ATTACH_SEED = "outreach-auditor-bench:attachments"
STAGE_LABEL = {
    "imaplib": "stdlib imaplib (ceiling)",
    "bare": "bare imapclient loop",
    "bare_size": "bare + RFC822.SIZE FETCH/batch",
    "bare_larger": "bare + one SEARCH LARGER",
    "fetch": "harvester fetch only",
    "fetch_nolimit": "harvester fetch, no size limit",
    "harvest": "harvester: fetch+parse+store",
}
PLAIN_STAGES = ("imaplib", "bare", "bare_size", "bare_larger", "fetch", "harvest")
ATTACH_STAGES = ("bare", "fetch", "fetch_nolimit", "harvest")


# =============================================================================================================
# Children: each returns a dict; `seconds` is one IMAP session, connect to logout
# =============================================================================================================

def _rchar() -> int:
    with open("/proc/self/io") as fh:
        for line in fh:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    return 0


class _Meter:
    """Wall time, this process's CPU time and the bytes it read (rchar) over the timed block."""

    def __enter__(self) -> "_Meter":
        self.r0, self.c0, self.t0 = _rchar(), time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self.seconds = time.perf_counter() - self.t0
        self.cpu = time.process_time() - self.c0
        self.read = _rchar() - self.r0

    def result(self, **extra) -> dict:
        return {"seconds": self.seconds, "client_cpu_s": self.cpu, "client_read_bytes": self.read, **extra}


def _account(spec: dict, size_limit: int | None = None):
    from auditor.accounts import account_from_options

    options = {"host": spec["host"], "port": spec["port"], "user": spec["user"], "security": "ssl",
               "ca_file": spec["ca_file"], "password_env": PASSWORD_ENV, "batch_size": BATCH}
    if size_limit is not None:
        options["size_limit"] = size_limit
    return account_from_options("bench", options)


def _ssl_context(spec: dict):
    import ssl

    return ssl.create_default_context(cafile=spec["ca_file"])   # what DovecotServer.ssl_context() returns


def run_imaplib(spec: dict) -> dict:
    import imaplib

    n = size = 0
    with _Meter() as m:   # the TLS context is made inside the timer, as auditor.harvest.connect makes its own
        ctx = _ssl_context(spec)
        con = imaplib.IMAP4_SSL(spec["host"], spec["port"], ssl_context=ctx)
        con.login(spec["user"], os.environ[PASSWORD_ENV])
        con.select("INBOX", readonly=True)
        uids = [int(u) for u in con.uid("SEARCH", "ALL")[1][0].split()]
        for start in range(0, len(uids), BATCH):
            typ, data = con.uid("FETCH", ",".join(map(str, uids[start:start + BATCH])), "(BODY.PEEK[])")
            for item in data:
                if isinstance(item, tuple):
                    n += 1
                    size += len(item[1])
        con.logout()
    return m.result(messages=n, payload_bytes=size)


def run_bare(spec: dict) -> dict:
    from imapclient import IMAPClient

    n = size = 0
    with _Meter() as m:
        ctx = _ssl_context(spec)
        client = IMAPClient(spec["host"], port=spec["port"], ssl=True, ssl_context=ctx)
        client.login(spec["user"], os.environ[PASSWORD_ENV])
        client.select_folder("INBOX", readonly=True)
        uids = client.search("ALL")
        for start in range(0, len(uids), BATCH):
            for _uid, data in client.fetch(uids[start:start + BATCH], ["BODY.PEEK[]"]).items():
                n += 1
                size += len(data[b"BODY[]"])
        client.logout()
    return m.result(messages=n, payload_bytes=size)


def _preimport() -> None:
    """What auditor.harvest.connect imports lazily, imported before the timer (the bare loop imports it first too)."""
    import imapclient  # noqa: F401
    import imapclient.exceptions  # noqa: F401


def run_bare_size(spec: dict) -> dict:
    """The bare loop plus what Harvester._fetch adds for every batch: a FETCH of RFC822.SIZE before the bodies."""
    from imapclient import IMAPClient

    n = size = 0
    with _Meter() as m:
        ctx = _ssl_context(spec)
        client = IMAPClient(spec["host"], port=spec["port"], ssl=True, ssl_context=ctx)
        client.login(spec["user"], os.environ[PASSWORD_ENV])
        client.select_folder("INBOX", readonly=True)
        uids = client.search("ALL")
        for start in range(0, len(uids), BATCH):
            batch = uids[start:start + BATCH]
            sizes = client.fetch(batch, ["RFC822.SIZE"])
            small = [u for u in batch if sizes[u][b"RFC822.SIZE"] <= 1_000_000]
            for _uid, data in client.fetch(small, ["BODY.PEEK[]"]).items():
                n += 1
                size += len(data[b"BODY[]"])
        client.logout()
    return m.result(messages=n, payload_bytes=size)


def run_bare_larger(spec: dict) -> dict:
    """An alternative to the per-batch size FETCH: one `SEARCH LARGER limit` per folder, answered by the server,
    then the bare loop over the rest (here every message is small, so the rest is all of them)."""
    from imapclient import IMAPClient

    n = size = 0
    with _Meter() as m:
        ctx = _ssl_context(spec)
        client = IMAPClient(spec["host"], port=spec["port"], ssl=True, ssl_context=ctx)
        client.login(spec["user"], os.environ[PASSWORD_ENV])
        client.select_folder("INBOX", readonly=True)
        uids = client.search("ALL")
        large = set(client.search(["LARGER", "1000000"]))
        small = [u for u in uids if u not in large]
        for start in range(0, len(small), BATCH):
            for _uid, data in client.fetch(small[start:start + BATCH], ["BODY.PEEK[]"]).items():
                n += 1
                size += len(data[b"BODY[]"])
        client.logout()
    return m.result(messages=n, payload_bytes=size, large=len(large))


def _run_fetch(spec: dict, size_limit: int | None) -> dict:
    from auditor.harvest import Harvester, iter_batches

    _preimport()

    account = _account(spec, size_limit)
    n = size = partial = batches = 0
    with _Meter() as m:
        with Harvester(account) as h:
            for batch in iter_batches(h, "INBOX", None):
                batches += 1
                partial += batch.partial
                for message in batch.messages:
                    n += 1
                    size += len(message.raw)
    return m.result(messages=n, payload_bytes=size, partial=partial, batches=batches,
                    size_limit=account.size_limit)


def run_fetch(spec: dict) -> dict:
    return _run_fetch(spec, None)   # the account's default size limit (auditor.harvest.DEFAULT_SIZE_LIMIT)


def run_fetch_nolimit(spec: dict) -> dict:
    return _run_fetch(spec, 10 ** 12)


def run_harvest(spec: dict) -> dict:
    from auditor import pipeline
    from auditor.harvest import Harvester
    from auditor.faults import fault_point  # noqa: F401 - pipeline.harvest imports these lazily
    from auditor.harvest import iter_batches, plan_folders  # noqa: F401
    from auditor.ingest import Parser, ingest_batch  # noqa: F401
    from auditor.store import Store

    _preimport()
    account = _account(spec)
    db = Path(spec["db"])
    t = time.perf_counter()
    store = Store.open(db)
    open_s = time.perf_counter() - t
    try:
        run_id = store.begin_run("harvest")
        h = Harvester(account)
        fetch_times: list[float] = []
        fetch_starts: list[float] = []
        fetch = h.fetch

        def timed_fetch(*args, **kwargs):   # wraps this instance's method only: how long the fetches take
            t0 = time.perf_counter()
            fetch_starts.append(t0)
            try:
                return fetch(*args, **kwargs)
            finally:
                fetch_times.append(time.perf_counter() - t0)
        h.fetch = timed_fetch
        with _Meter() as m:
            result = pipeline.harvest(store, run_id, account, harvester=h)
        # What follows each batch's fetch until the next fetch starts: ingest_batch (hash, parse, store).
        ends = fetch_starts[1:] + [m.t0 + m.seconds]
        after_fetch = [end - start - f for start, end, f in zip(fetch_starts, ends, fetch_times)]
        store.finish_run(run_id, "ok")
        stored = store.scalar("SELECT count(*) FROM messages")
        payload = store.scalar("SELECT sum(octet_length(raw)) FROM messages")
    finally:
        store.close()
    c = result.counts
    return m.result(messages=c.read, new=c.new, duplicate=c.duplicate, quarantined=c.quarantined,
                    stored_rows=stored, payload_bytes=int(payload or 0), partial=result.partial,
                    folders=result.folders, reconnects=result.reconnects, batches=len(fetch_times),
                    fetch_s=sum(fetch_times), first_fetch_s=fetch_times[0] if fetch_times else None,
                    batch_fetch_s=[round(x, 4) for x in fetch_times], batch_ingest_s=[round(x, 4) for x in after_fetch],
                    first_ingest_s=after_fetch[0] if after_fetch else None,
                    ingest_s_first10_median=statistics.median(after_fetch[1:11]) if len(after_fetch) > 1 else None,
                    ingest_s_last10_median=statistics.median(after_fetch[-11:-1]) if len(after_fetch) > 1 else None,
                    db_open_s=open_s, db_bytes=db.stat().st_size)


def _profile(func, spec: dict, top: int = 25) -> dict:
    """cProfile of one stage (this process only: the harvest's parser workers are not in it)."""
    import cProfile
    import io
    import pstats

    import auditor.harvest  # noqa: F401 - imports are not what is profiled
    import auditor.pipeline  # noqa: F401
    import auditor.store  # noqa: F401

    _preimport()
    prof = cProfile.Profile()
    prof.enable()
    result = func(spec)
    prof.disable()
    stats = pstats.Stats(prof, stream=io.StringIO())
    total = stats.total_tt

    def rows(key: str) -> list[dict]:
        out = []
        for (filename, line, name), (cc, nc, tt, ct, _callers) in sorted(
                stats.stats.items(), key=lambda kv: kv[1][2 if key == "tottime" else 3], reverse=True)[:top]:
            where = filename
            for marker in ("site-packages/", "/lib/python3", "/work/main/"):
                if marker in where:
                    where = where.split(marker, 1)[1]
            out.append({"function": f"{where}:{line}({name})", "ncalls": nc, "tottime_s": round(tt, 4),
                        "cumtime_s": round(ct, 4), "tottime_pct": round(100 * tt / total, 1) if total else None})
        return out
    text = io.StringIO()
    pstats.Stats(prof, stream=text).sort_stats("tottime").print_stats(top)
    return {"profiled": result, "profile_total_s": total, "by_tottime": rows("tottime"),
            "by_cumtime": rows("cumtime"), "text": text.getvalue()}


def run_profile_fetch(spec: dict) -> dict:
    return _profile(run_fetch, spec)


def run_profile_bare(spec: dict) -> dict:
    return _profile(run_bare, spec)


def run_profile_harvest(spec: dict) -> dict:
    return _profile(run_harvest, spec)


def child(stage: str, spec: dict) -> int:
    func = globals().get(f"run_{stage}")
    if func is None:
        print(f"unknown stage {stage!r}", file=sys.stderr)
        return 2
    load = os.getloadavg()[0]
    result = func(spec)
    result["loadavg_1min"] = [load, os.getloadavg()[0]]
    result.update(_peaks())
    print(RESULT_MARK + json.dumps(result, default=str), flush=True)
    return 0


# =============================================================================================================
# Parent: the server, the mailboxes, the runs
# =============================================================================================================

_LOGOUT = re.compile(r"imap\((?P<user>[^)]+)\)<\d+><[^>]*>: Info: Disconnected: (?P<why>[^\n]*?)\bin=(?P<in>\d+) "
                     r"out=(?P<out>\d+).*?body_count=(?P<body_count>\d+) body_bytes=(?P<body_bytes>\d+)")


class _ServerLog:
    """Dovecot's own per-session byte counts, read from its logout lines (imap_logout_format)."""

    def __init__(self, path: Path):
        self.path = path
        self.offset = 0

    def mark(self) -> None:
        self.offset = self.path.stat().st_size if self.path.exists() else 0

    def sessions(self, user: str, expect: int = 1, wait: float = 3.0) -> dict:
        deadline = time.monotonic() + wait
        while True:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                text = fh.read().decode(errors="replace")
            found = [m for m in _LOGOUT.finditer(text) if m.group("user") == user]
            if len(found) >= expect or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        return {"sessions": len(found),
                "server_out_bytes": sum(int(m.group("out")) for m in found),
                "server_in_bytes": sum(int(m.group("in")) for m in found),
                "server_body_count": sum(int(m.group("body_count")) for m in found),
                "server_body_bytes": sum(int(m.group("body_bytes")) for m in found)}


def _dovecot_cpu(master: int) -> float:
    """CPU seconds used so far by the Dovecot started with start_new_session (its master leads the session):
    every live process of that session, plus what the master's reaped children used (cutime + cstime). TLS is
    terminated in the long-lived imap-login processes, the IMAP work is done in one imap process per session."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[0] is the state (field 3); session id is field 6, utime..cstime are fields 14..17
        if int(fields[3]) != master:
            continue
        total += int(fields[11]) + int(fields[12])
        if int(entry.name) == master:
            total += int(fields[13]) + int(fields[14])
    return total / tick


def _run_child(stage: str, spec: dict, password: str) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(PROJECT)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env[PASSWORD_ENV] = password
    cmd = [sys.executable, "-m", "bench", "--harvest", "--child", stage, "--spec", json.dumps(spec)]
    t = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=PROJECT, env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {CHILD_TIMEOUT} s"}
    wall = time.perf_counter() - t
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            result = json.loads(line[len(RESULT_MARK):])
            result["process_s"] = wall
            return result
    return {"error": f"exit status {proc.returncode}", "stderr": proc.stderr[-6000:], "process_s": wall}


def _with_attachment(raw: bytes, size: int, rng) -> bytes:
    """The same message as multipart/mixed: its own text (or multipart/alternative) part, then a PDF-like
    attachment of `size` random bytes (base64 makes it about 4/3 as large on the wire)."""
    from email import message_from_bytes
    from email.mime.application import MIMEApplication
    from email.mime.multipart import MIMEMultipart
    from email.policy import compat32

    original = message_from_bytes(raw, policy=compat32)
    outer = MIMEMultipart("mixed")
    for name, value in original.items():
        if name.lower() not in ("content-type", "content-transfer-encoding", "mime-version"):
            outer[name] = value
    body = message_from_bytes(raw, policy=compat32)
    for name in list(dict.fromkeys(body.keys())):
        if not name.lower().startswith("content-"):
            del body[name]
    outer.attach(body)
    attachment = MIMEApplication(rng.randbytes(size), _subtype="pdf")
    attachment.add_header("Content-Disposition", "attachment", filename="annual-report.pdf")
    outer.attach(attachment)
    return outer.as_bytes(policy=compat32.clone(linesep="\r\n"))


def _fill(server, user: str, password: str, n: int, attach_share: float = 0.0) -> dict:
    """Store N generated messages in INBOX with MULTIAPPEND over one of the helper's connections, up to 500
    messages or 32 MB per command. The helper's `append` logs in once per message, and one APPEND per message
    gets slower as the Maildir grows (5,000 took 22 s, 20,000 took 172 s here; MULTIAPPEND: 3 s and 10 s).
    The server stores the same messages either way."""
    import random

    from auditor import samplegen

    rng = random.Random(ATTACH_SEED)
    count = size = attached = attached_bytes = 0
    largest = 0
    t = time.perf_counter()
    pending: list[bytes] = []
    pending_bytes = 0
    with server.client(user, password) as c:
        for message in samplegen.iter_messages(n_messages=n):
            raw = message.raw
            if attach_share and rng.random() < attach_share:
                raw = _with_attachment(raw, rng.randint(2_000_000, 3_000_000), rng)
                attached += 1
                attached_bytes += len(raw)
            pending.append(raw)
            pending_bytes += len(raw)
            count += 1
            size += len(raw)
            largest = max(largest, len(raw))
            if len(pending) >= 500 or pending_bytes >= 32_000_000:
                c.multiappend("INBOX", pending)
                pending, pending_bytes = [], 0
        if pending:
            c.multiappend("INBOX", pending)
        exists = int(c.select_folder("INBOX", readonly=True)[b"EXISTS"])
    if exists != count:
        raise RuntimeError(f"{user}: appended {count} messages but INBOX holds {exists}")
    return {"messages": count, "bytes": size, "with_attachment": attached, "attachment_message_bytes": attached_bytes,
            "largest_bytes": largest, "seconds": time.perf_counter() - t}


def _summarise(stage: str, runs: list[dict], mailbox: dict) -> dict:
    ok = [r for r in runs if "error" not in r]
    out = {"stage": stage, "label": STAGE_LABEL[stage], "runs": runs, "ok_runs": len(ok),
           "failed_runs": len(runs) - len(ok)}
    if not ok:
        return out
    seconds = statistics.median(r["seconds"] for r in ok)
    med = lambda key: statistics.median(r[key] for r in ok if r.get(key) is not None)  # noqa: E731
    n = mailbox["fill"]["messages"]
    out.update({
        "seconds": seconds, "seconds_min": min(r["seconds"] for r in ok), "seconds_max": max(r["seconds"] for r in ok),
        "messages": ok[0]["messages"], "msgs_per_s": n / seconds,
        "payload_bytes": med("payload_bytes"), "payload_mb_per_s": med("payload_bytes") / MB / seconds,
        "mailbox_mb_per_s": mailbox["fill"]["bytes"] / MB / seconds,
        "client_cpu_s": med("client_cpu_s"), "client_cpu_share": med("client_cpu_s") / seconds,
        "client_read_bytes": med("client_read_bytes"),
        "server_cpu_s": med("server_cpu_s") if any("server_cpu_s" in r for r in ok) else None,
        "server_out_bytes": med("server_out_bytes") if any("server_out_bytes" in r for r in ok) else None,
        "server_body_bytes": med("server_body_bytes") if any("server_body_bytes" in r for r in ok) else None,
        "peak_rss_mib": med("peak_rss_mib"), "process_s": med("process_s"),
        "loadavg_1min_max": max(max(r["loadavg_1min"]) for r in ok),
    })
    for key in ("fetch_s", "first_fetch_s", "first_ingest_s", "ingest_s_first10_median", "ingest_s_last10_median",
                "partial", "new", "stored_rows", "quarantined"):
        if any(r.get(key) is not None for r in ok):
            out[key] = med(key)
    if "fetch_s" in out:
        out["fetch_share"] = out["fetch_s"] / seconds
    return out


def _say(name: str, r: int, stage: str, res: dict) -> None:
    if "error" in res:
        print(f"[{name}] run {r + 1} {stage}: FAILED ({res['error']})\n{res.get('stderr', '')}", flush=True)
        return
    print(f"[{name}] run {r + 1} {stage:<13} {res['seconds']:7.2f} s  {res['messages']:>6} msgs  "
          f"{res['payload_bytes'] / MB:8.1f} MB payload  client CPU {res['client_cpu_s']:.2f} s  "
          f"Dovecot sent {res.get('server_out_bytes', 0) / MB:.1f} MB, CPU {res.get('server_cpu_s', 0):.2f} s  load {max(res['loadavg_1min']):.1f}", flush=True)


def _print_table(results: dict) -> None:
    head = (f"{'mailbox':<13} {'stage':<31} {'msgs/s':>8} {'MB/s':>7} {'seconds':>8} {'vs bare':>8} "
            f"{'client CPU':>10} {'Dovecot CPU':>11} {'sent MB':>8}")
    print()
    print(head)
    print("-" * len(head))
    for name, box in results["mailboxes"].items():
        bare = box["stages"].get("bare", {}).get("seconds")
        for stage, s in box["stages"].items():
            if "seconds" not in s:
                print(f"{name:<13} {s['label']:<31}   FAILED")
                continue
            ratio = bare / s["seconds"] if bare else None
            sent = s.get("server_out_bytes")
            server_cpu = s.get("server_cpu_s")
            print(f"{name:<13} {s['label']:<31} {s['msgs_per_s']:>8,.0f} {s['payload_mb_per_s']:>7.1f} "
                  f"{s['seconds']:>8.2f} {_fmt(ratio, '.2f'):>8} {s['client_cpu_share']:>9.0%} "
                  f"{_fmt(server_cpu and server_cpu / s['seconds'], '.0%'):>11} {_fmt(sent and sent / MB, '.1f'):>8}")
        print()
    for name, box in results["mailboxes"].items():
        for key, value in box.get("ratios", {}).items():
            print(f"{name}: {key} = {_fmt(value, '.3f')}")
    print("(MB/s: message bytes the client received; the size-limited fetch receives less. CPU columns: CPU seconds "
          "/ wall seconds of the client's main process and of all Dovecot processes. 'sent MB': what Dovecot logged "
          "as sent for the session.)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench --harvest", description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="5000,20000", help="INBOX sizes of the plain mailboxes (default 5000,20000)")
    ap.add_argument("--attach-n", type=int, default=2000,
                    help="messages in the attachment mailbox (0: none; default 2000)")
    ap.add_argument("--attach-share", type=float, default=0.05,
                    help="share of its messages with a 2-3 MB attachment (default 0.05)")
    ap.add_argument("--runs", type=int, default=3, help="runs per stage; the median is reported (default 3)")
    ap.add_argument("--stages", default=None,
                    help="only these stages (comma-separated) of " + ",".join(STAGE_LABEL) + " (default: all)")
    ap.add_argument("--no-profile", action="store_true", help="skip the cProfile runs (not timed anyway)")
    ap.add_argument("--json", type=Path, default=PROJECT / "bench" / "results_harvest.json",
                    help="where to write the results (default bench/results_harvest.json)")
    ap.add_argument("--keep", action="store_true", help="keep the Dovecot folder and databases (printed)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--spec", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child(args.child, json.loads(args.spec))

    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    wanted = [s.strip() for s in (args.stages or ",".join(STAGE_LABEL)).split(",") if s.strip()]
    if set(wanted) - set(STAGE_LABEL):
        ap.error(f"unknown stages {sorted(set(wanted) - set(STAGE_LABEL))}")
    if args.runs < 1 or not (sizes or args.attach_n):
        ap.error("need --runs >= 1 and at least one mailbox")
    sys.path.insert(0, str(PROJECT))
    sys.path.insert(0, str(PROJECT / "tests"))
    from imap_server import find_dovecot, start_dovecot

    if os.geteuid() != 0 or not find_dovecot():
        print("the harvest benchmark needs root and Dovecot (apt-get install dovecot-imapd)", file=sys.stderr)
        return 2
    started = time.perf_counter()
    base = Path(tempfile.mkdtemp(prefix="auditor-bench-imap-"))   # short: Dovecot's sockets live under it
    work = Path(tempfile.mkdtemp(prefix="auditor-bench-imapdb-"))
    dovecot_version = subprocess.run([find_dovecot(), "--version"], capture_output=True, text=True).stdout.strip()
    from importlib import metadata

    machine = _machine()
    machine["versions"]["imapclient"] = metadata.version("imapclient")
    machine["versions"]["dovecot"] = dovecot_version
    results = {"machine": machine, "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
               "runs": args.runs, "batch_size": BATCH, "project": _project_state(),
               "loadavg_at_start": os.getloadavg(),
               "timer": "one IMAP session per run: connect + TLS + login ... logout (harvest: pipeline.harvest call)",
               "mailboxes": {}, "profiles": {}}
    print(f"machine: {machine['cores']} cores, Python {machine['python']}, imapclient "
          f"{machine['versions']['imapclient']}, Dovecot {dovecot_version}; server in {base}", flush=True)
    server = start_dovecot(base)
    log = _ServerLog(server.log_path)
    plans = [(f"plain-{n}", n, 0.0) for n in sizes]
    if args.attach_n:
        plans.append((f"attach-{args.attach_n}", args.attach_n, args.attach_share))
    try:
        for name, n, share in plans:
            user, password = server.add_user(re.sub(r"[^a-z0-9]", "", name))
            fill = _fill(server, user, password, n, share)
            print(f"[{name}] appended {fill['messages']} messages ({fill['bytes'] / MB:.1f} MB, "
                  f"{fill['with_attachment']} with an attachment, largest {fill['largest_bytes'] / MB:.2f} MB) "
                  f"in {fill['seconds']:.1f} s (not timed)", flush=True)
            spec = {"host": server.host, "port": server.tls_port, "user": user, "ca_file": str(server.ca_file)}
            box = {"n": n, "fill": fill, "stages": {}}
            results["mailboxes"][name] = box
            box["warmup"] = {}
            for stage in ("bare", "fetch"):   # Dovecot's index and cache (RFC822.SIZE too), the page cache
                log.mark()
                warm = _run_child(stage, spec, password)
                box["warmup"][stage] = {**warm, **log.sessions(user)}
                print(f"[{name}] warm-up {stage} {warm.get('seconds', float('nan')):.2f} s (not counted)", flush=True)
            stages = [s for s in (ATTACH_STAGES if share else PLAIN_STAGES) if s in wanted]
            runs: dict[str, list[dict]] = {s: [] for s in stages}
            for r in range(args.runs):
                for stage in stages:
                    db = work / f"{name}-run{r + 1}.duckdb"
                    log.mark()
                    cpu0 = _dovecot_cpu(server._proc.pid)
                    res = _run_child(stage, dict(spec, db=str(db)), password)
                    if "error" not in res:
                        res.update(log.sessions(user))   # waits for the logout line: the session is over
                        res["server_cpu_s"] = _dovecot_cpu(server._proc.pid) - cpu0
                    runs[stage].append(res)
                    _say(name, r, stage, res)
                    if not args.keep:
                        for p in (db, db.with_name(db.name + ".wal")):
                            p.unlink(missing_ok=True)
            for stage, rs in runs.items():
                box["stages"][stage] = _summarise(stage, rs, box)
            st = box["stages"]
            bare = st.get("bare", {}).get("seconds")
            box["ratios"] = {f"{k}_vs_bare": bare / st[k]["seconds"] for k in st
                             if k != "bare" and bare and st[k].get("seconds")}
            if share and st.get("fetch", {}).get("seconds") and st.get("bare", {}).get("server_out_bytes"):
                box["size_limit_saving"] = {
                    "bare_sent_bytes": st["bare"]["server_out_bytes"],
                    "fetch_sent_bytes": st["fetch"]["server_out_bytes"],
                    "fetch_nolimit_sent_bytes": st.get("fetch_nolimit", {}).get("server_out_bytes"),
                    "sent_ratio": st["fetch"]["server_out_bytes"] / st["bare"]["server_out_bytes"],
                    "seconds_ratio": st["fetch"]["seconds"] / bare,
                    "seconds_ratio_vs_nolimit": (st["fetch"]["seconds"] / st["fetch_nolimit"]["seconds"]
                                                 if st.get("fetch_nolimit", {}).get("seconds") else None),
                }
            _write(args.json, results)
            if not args.no_profile:
                for what in (("fetch", "harvest") if not share else ("fetch",)):
                    if name != plans[0][0] and not share:
                        continue   # profile the first plain mailbox and the attachment one
                    prof = _run_child(f"profile_{what}", dict(spec, db=str(work / f"{name}-profile.duckdb")),
                                      password)
                    results["profiles"][f"{name}/{what}"] = prof
                    if "error" in prof:
                        print(f"[{name}] profile {what} FAILED\n{prof.get('stderr', '')}", flush=True)
                    else:
                        print(f"[{name}] profile of {what} (cProfile, main process):\n"
                              + "\n".join(prof["text"].splitlines()[:40]), flush=True)
                _write(args.json, results)
    finally:
        server.stop()
        if args.keep:
            print(f"kept {base} and {work}")
        else:
            shutil.rmtree(base, ignore_errors=True)
            shutil.rmtree(work, ignore_errors=True)
    results["total_seconds"] = time.perf_counter() - started
    _print_table(results)
    _write(args.json, results)
    print(f"\nwrote {args.json} (total {results['total_seconds']:.0f} s)")
    failed = [f"{name}/{s['stage']}" for name, box in results["mailboxes"].items() for s in box["stages"].values()
              if s.get("failed_runs")]
    if failed:
        print("FAILED: " + ", ".join(failed), file=sys.stderr)
        return 1
    return 0
