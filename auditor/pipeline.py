"""The flow end to end: which stage runs when. Each later stage first brings the ones before it up to date, so
`report` on a database that was only ingested works, and a stage whose inputs did not change does nothing.
Every command is recorded in the `runs` table with what it read and what became of it."""
from __future__ import annotations

import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

from .config import Identity, Settings, load_rules
from .sources import require_exists
from .ingest import Counts, ingest_paths
from .match import MatchResult, run_match
from .report import Period, ReportResult, build_report, report_inputs, reusable_report, write_report
from .store import Store
from .tag import TagResult, run_tag

Progress = Callable[[int], None]


@dataclass
class AuditResult:
    counts: Counts | None = None
    skipped_folders: list[str] = field(default_factory=list)
    tag: TagResult | None = None
    match: MatchResult | None = None
    report: ReportResult | None = None
    report_path: Path | None = None
    harvests: list = field(default_factory=list)


@contextmanager
def command_run(settings: Settings, command: str, sources: Sequence[str] = ()) -> Iterator[tuple[Store, int]]:
    """Open the store, record the run, and mark it ok or failed however the command ends."""
    store = Store.open(settings.db_path)
    try:
        run_id = store.begin_run(command, sources)
        try:
            yield store, run_id
        except BaseException as exc:
            store.finish_run(run_id, "failed", {"error": type(exc).__name__})
            raise
        store.finish_run(run_id, "ok")
    finally:
        store.close()


def check_paths(paths: Sequence[Path]) -> None:
    """Fail before any work when a path is missing: exit 2, one sentence."""
    for path in paths:
        require_exists(path)


def ingest(store: Store, run_id: int, settings: Settings, paths: Sequence[Path],
           progress: Progress | None = None) -> tuple[Counts, list[str]]:
    check_paths(paths)
    skipped: list[str] = []
    counts = ingest_paths(store, run_id, paths, skip_folders=settings.rules["sources"]["skip_folders"],
                          progress=progress, on_skip=skipped.append, rules=settings.rules)
    return counts, skipped


@dataclass
class HarvestResult:
    account: str
    folders: list[str]
    counts: Counts
    reconnects: int = 0
    partial: int = 0
    rescanned: list[str] = field(default_factory=list)


def harvest(store: Store, run_id: int, account, *, progress: Callable[[str, int | None, int], None] | None = None,
            harvester=None, rules: dict | None = None) -> HarvestResult:
    """Fetch the account's new mail folder by folder, each batch stored with its UID mark in one transaction;
    the Sent folders before INBOX, so that the inbox's strangers are known. `rules` as in
    ingest.ingest_messages."""
    from .faults import fault_point
    from .harvest import Harvester, iter_batches, plan_folders
    from .ingest import Correspondents, KnownContent, Parser, ingest_batch

    counts, parser, result, known = Counts(), Parser(measure_rules=rules), None, KnownContent(store)
    correspondents = Correspondents.under(store, rules)
    with (harvester or Harvester(account)) as h:
        plan = plan_folders(h.folders(), account.folders)
        result = HarvestResult(account.name, plan.chosen, counts)
        try:
            for folder in sorted(plan.chosen, key=lambda name: name.upper() == "INBOX"):
                mark = store.harvest_mark(account.name, folder)
                total = {"n": None}

                def on_total(n: int, folder: str = folder) -> None:
                    total["n"] = n
                    if progress:
                        progress(folder, n, 0)
                for batch in iter_batches(h, folder, mark, on_total):
                    if mark and batch.uidvalidity != mark[0] and folder not in result.rescanned:
                        result.rescanned.append(folder)
                    done = ingest_batch(store, run_id, batch.messages, parser, known,
                                        also=lambda b=batch: store.set_harvest_mark(
                                            account.name, b.folder, b.uidvalidity, b.last_uid, len(b.messages)),
                                        correspondents=correspondents)
                    counts.add(done)
                    result.partial += batch.partial
                    fault_point("harvest.after_batch")
                    if progress:
                        progress(folder, total["n"], done.read)
        finally:
            parser.close()
        result.reconnects = h.reconnects
    return result


def up_to_tag(store: Store, run_id: int, settings: Settings) -> TagResult:
    store.release_memory()          # what ingest or harvest left cached: each stage starts from what it needs
    return run_tag(store, settings, run_id)


def up_to_match(store: Store, run_id: int, settings: Settings) -> tuple[TagResult, MatchResult]:
    tag = up_to_tag(store, run_id, settings)
    store.release_memory()
    return tag, run_match(store, settings, run_id)


def up_to_report(store: Store, run_id: int, settings: Settings, output: Path, *,
                 show_recipients: bool = False, period=None) -> AuditResult:
    tag, match = up_to_match(store, run_id, settings)
    store.release_memory()
    period = period or Period()
    inputs = report_inputs(store, settings, period, show_recipients)
    report = reusable_report(output, inputs)
    if report is not None:
        return AuditResult(tag=tag, match=match, report=report, report_path=output)
    report = build_report(store, settings, show_recipients=show_recipients, period=period, inputs=inputs)
    return AuditResult(tag=tag, match=match, report=report, report_path=write_report(report, output))


def organisation_report(settings: Settings, directory: Path, output: Path, *, show_recipients: bool = False,
                        period=None) -> AuditResult:
    """The report of many mailboxes from their Parquet exports: loaded into a throwaway database (owner-only, in a
    temporary folder, deleted afterwards), then the same named queries as any report."""
    from .errors import UsageError
    from .export import import_asks

    if not directory.is_dir():
        raise UsageError(f"{directory} is not a folder: give the folder the mailboxes' `auditor export --format "
                         "parquet` wrote to.")
    with tempfile.TemporaryDirectory(prefix="auditor-org-") as tmp, Store.open(Path(tmp) / "org.duckdb") as store:
        import_asks(store, directory)
        report = build_report(store, settings, show_recipients=show_recipients, period=period, organisation=True)
    return AuditResult(report=report, report_path=write_report(report, output))


def default_report_path(settings: Settings, period=None) -> Path:
    """reports/<period>.html for a period, else reports/audit-<as-of date>.html."""
    if period is not None and period.label != "all":
        return Path("reports") / f"{period.label}.html"
    return Path("reports") / f"audit-{settings.as_of:%Y-%m-%d}.html"


def audit(settings: Settings, paths: Sequence[Path], output: Path | None = None,
          progress: Progress | None = None, accounts: Sequence = (), harvest_progress=None, *,
          show_recipients: bool = False) -> AuditResult:
    """Harvest the accounts and ingest the paths (if any), then tag, match and report the whole database."""
    check_paths(paths)
    sources = [str(p) for p in paths] + [f"imap:{a.name}" for a in accounts]
    with command_run(settings, "audit", sources) as (store, run_id):
        harvested = [harvest(store, run_id, account, progress=harvest_progress, rules=settings.rules)
                     for account in accounts]
        counts, skipped = ingest(store, run_id, settings, paths, progress) if paths else (None, [])
        result = up_to_report(store, run_id, settings, output or default_report_path(settings),
                              show_recipients=show_recipients)
        result.counts, result.skipped_folders, result.harvests = counts, skipped, harvested
        return result


def find_sample() -> Path | None:
    """The committed sample Maildir of a checkout; an installed copy has none and generates it instead."""
    checkout = Path(__file__).resolve().parent.parent / "sample_mail"
    return checkout if (checkout / "cur").is_dir() else None


def demo(out_dir: Path = Path("reports"), as_of=None, progress: Progress | None = None) -> AuditResult:
    """Audit the sample mailbox into its own database and report (both rebuilt each time, never the user's):
    reports/demo.duckdb and reports/demo.html. The clock is the sample's own unless --as-of says otherwise, so the figures are stable."""
    from . import samplegen

    db = out_dir / "demo.duckdb"
    for stale in (db, db.with_name(db.name + ".wal"), out_dir / "demo.html"):
        stale.unlink(missing_ok=True)
    settings = Settings(db_path=db, config_path=None, identity=Identity.parse(["@" + samplegen.TEAM_DOMAIN]),
                        as_of=as_of or samplegen.SAMPLE_AS_OF, rules=load_rules())
    sample = find_sample()
    with tempfile.TemporaryDirectory() as tmp:
        if sample is None:
            sample = Path(tmp) / "sample_mail"
            samplegen.write_maildir(sample, samplegen.iter_messages())
        return audit(settings, [sample], out_dir / "demo.html", progress)
