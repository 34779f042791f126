"""The command line: a thin click layer. Each command parses its options, calls the library, and prints;
errors become one sentence and an exit code here, in one place (0 ok, 1 run error, 2 usage or bad path,
3 auth or network, 4 database busy). Data goes to stdout, progress and notes to stderr."""
from __future__ import annotations

import functools
import sys
import time
from pathlib import Path

import click

from . import pipeline
from .tag import sentence_model
from .config import Settings, load_settings
from .errors import AuditorError, UsageError

EXAMPLES = """
\b
Examples:
  auditor demo                                   # the sample mailbox, end to end
  auditor audit ~/Mail/Sent ~/Mail/INBOX --me maya@example.org
  auditor ingest export.mbox && auditor report -o october.html
"""


def common_options(command):
    """The options every command accepts after its name, each with its AUDITOR_* twin."""
    @click.option("--db", envvar="AUDITOR_DB", metavar="PATH",
                  help="DuckDB file to use [env AUDITOR_DB; else [store] db in the config; else ./auditor.duckdb].")
    @click.option("--config", "config_file", envvar="AUDITOR_CONFIG", metavar="FILE",
                  help="TOML config [env AUDITOR_CONFIG; else ./auditor.toml, else $XDG_CONFIG_HOME/auditor/config.toml].")
    @click.option("--me", multiple=True, envvar="AUDITOR_ME", metavar="ADDRESS",
                  help="Your address, or @domain for the whole team; repeatable [env AUDITOR_ME, space-separated; "
                       "else [identity] addresses; else the senders of your Sent folder].")
    @click.option("--as-of", envvar="AUDITOR_NOW", metavar="DATE",
                  help="The clock every time window uses, e.g. 2026-10-31 [env AUDITOR_NOW; default now].")
    @click.option("--traceback", is_flag=True, envvar="AUDITOR_TRACEBACK", help="Show the full stack on errors.")
    @functools.wraps(command)
    def wrapper(*args, db, config_file, me, as_of, traceback, **kwargs):
        settings = load_settings(db=db, config=config_file, me=me, as_of=as_of)
        return command(*args, settings=settings, **kwargs)
    return wrapper


def account_options(command):
    """Which IMAP accounts: names from the config, or one account spelled out on the command line."""
    @click.option("--account", "account_names", multiple=True, envvar="AUDITOR_ACCOUNT", metavar="NAME",
                  help="An [accounts.NAME] from the config; repeatable [env AUDITOR_ACCOUNT; default: all configured].")
    @click.option("--host", envvar="AUDITOR_IMAP_HOST", help="IMAP server, for one account given here instead.")
    @click.option("--port", type=int, envvar="AUDITOR_IMAP_PORT", help="Port [993 for ssl, 143 for starttls/plain].")
    @click.option("--user", envvar="AUDITOR_IMAP_USER", help="Login name.")
    @click.option("--security", type=click.Choice(["ssl", "starttls", "plain"]), envvar="AUDITOR_IMAP_SECURITY",
                  help="Transport security [ssl]; plain only to a loopback address.")
    @click.option("--folders", envvar="AUDITOR_IMAP_FOLDERS", metavar="A,B",
                  help="Exactly these folders [default: Inbox and Sent, or the \\All folder alone].")
    @click.option("--ca-file", envvar="AUDITOR_CA_FILE", type=click.Path(dir_okay=False, exists=True), metavar="PEM",
                  help="Trust this certificate (a private CA); verification is never switched off.")
    @click.option("--batch-size", type=click.IntRange(1, 5000), envvar="AUDITOR_BATCH_SIZE",
                  help="Messages per FETCH and per committed batch [300].")
    @click.option("--password-env", envvar="AUDITOR_PASSWORD_ENV", metavar="VAR",
                  help="Read the password from this environment variable.")
    @click.option("--password-command", envvar="AUDITOR_PASSWORD_COMMAND", metavar="CMD",
                  help="Run CMD and read the password from its first line (e.g. \"pass show mail\").")
    @click.option("--oauth2-token-env", envvar="AUDITOR_OAUTH2_TOKEN_ENV", metavar="VAR",
                  help="Log in with XOAUTH2, the access token read from this variable.")
    @click.option("--oauth2-token-command", envvar="AUDITOR_OAUTH2_TOKEN_COMMAND", metavar="CMD",
                  help="Log in with XOAUTH2, the token from CMD (run again on every reconnect).")
    @functools.wraps(command)
    def wrapper(*args, account_names, host, port, user, security, folders, ca_file, batch_size, password_env,
                password_command, oauth2_token_env, oauth2_token_command, **kwargs):
        spelled = {"host": host, "port": port, "user": user, "security": security, "folders": folders,
                   "ca_file": ca_file, "batch_size": batch_size, "password_env": password_env,
                   "password_command": password_command, "oauth2_token_env": oauth2_token_env,
                   "oauth2_token_command": oauth2_token_command}
        return command(*args, account_names=tuple(account_names), spelled=spelled, **kwargs)
    return wrapper


def password_prompt(label: str):
    """Ask on the terminal, never echoing; with no terminal there is no prompt and the error says what to pass."""
    if not sys.stdin.isatty():
        return None
    return lambda: click.prompt(f"IMAP password for {label}", hide_input=True, err=True)


def resolve_accounts(settings: Settings, names: tuple[str, ...], spelled: dict, *, required: bool):
    from .accounts import account_from_options, configured_accounts

    accounts = []
    if spelled.get("host") or spelled.get("user"):
        name = f"{spelled.get('user')}@{spelled.get('host')}"
        accounts.append(account_from_options(name, {k: v for k, v in spelled.items() if v is not None}, password_prompt))
    if names or not accounts:
        accounts += configured_accounts(settings.config, names, password_prompt)
    if required and not accounts:
        raise UsageError("no IMAP account: pass --host and --user, or add an [accounts.NAME] table to the config.")
    return accounts


class FolderProgress:
    """Per folder: count, total and rate on a terminal; one line per folder otherwise."""

    def __init__(self):
        self.live = sys.stderr.isatty()
        self.folder, self.total, self.count, self.start = None, None, 0, time.monotonic()

    def __call__(self, folder: str, total: int | None, n: int) -> None:
        if folder != self.folder:
            self.finish()
            self.folder, self.total, self.count, self.start = folder, total, 0, time.monotonic()
            if not self.live:
                note(f"harvest {folder}: {total:,} new messages")
        self.count += n
        if self.live:
            rate = self.count / max(time.monotonic() - self.start, 1e-6)
            click.echo(f"\rharvest {folder}: {self.count:,}/{self.total or 0:,} ({rate:,.0f}/s)", err=True, nl=False)

    def finish(self) -> None:
        if self.live and self.folder is not None:
            click.echo("", err=True)


def forgotten_count(counts) -> str:
    """Said only once someone was forgotten, so the usual line stays as it was."""
    return f", {counts.forgotten:,} forgotten" if counts.forgotten else ""


def print_harvest(result) -> None:
    click.echo(f"harvested {result.account} ({', '.join(result.folders) or 'no folders'}): read {result.counts.read:,}: "
               f"{result.counts.new:,} new, {result.counts.duplicate:,} duplicate, {result.counts.quarantined:,} quarantined"
               + forgotten_count(result.counts))
    if result.rescanned:
        note(f"UIDVALIDITY changed on the server for {', '.join(result.rescanned)}: rescanned (no duplicates added)")
    if result.partial:
        note(f"{result.partial:,} messages over the size limit were fetched as their header and text parts only")
    if result.reconnects:
        note(f"the connection dropped and was re-made {result.reconnects} time(s); nothing was lost")


def note(message: str) -> None:
    click.echo(message, err=True)


def announce(settings: Settings) -> None:
    note(f"database: {settings.db_path}")


class Progress:
    """A one-line counter with rate on a terminal; silent when stderr is not one (CI, pipes, cron)."""

    def __init__(self, label: str):
        self.label, self.count, self.start = label, 0, time.monotonic()
        self.live = sys.stderr.isatty()

    def __call__(self, n: int) -> None:
        self.count += n
        if self.live:
            rate = self.count / max(time.monotonic() - self.start, 1e-6)
            click.echo(f"\r{self.label}: {self.count:,} messages ({rate:,.0f}/s)", err=True, nl=False)

    def done(self) -> None:
        if self.live and self.count:
            click.echo("", err=True)


def print_counts(counts, skipped: list[str]) -> None:
    click.echo(f"read {counts.read:,}: {counts.new:,} new, {counts.duplicate:,} duplicate, "
               f"{counts.quarantined:,} quarantined" + forgotten_count(counts))
    for reason, n in sorted(counts.reasons.items()):
        click.echo(f"  quarantined {n:,}: {reason}")
    for what in skipped:
        note(f"skipped {what}")


def print_identity(tag) -> None:
    if not tag:
        return
    if tag.identity_source == "inferred":
        note(f"identity inferred from the Sent folder: {tag.identity.describe()} (set it with --me)")
    elif tag.identity_source == "kept":
        note(f"identity: {tag.identity.describe()} (kept in the database)")
    elif tag.identity_source == "replaced":
        note(f"identity: {tag.identity.describe()} (replaces {tag.replaced_identity.describe()}, kept in the database)")


def print_summary(result: pipeline.AuditResult) -> None:
    s = result.report.summary
    pct = "–" if s["answered_pct"] is None else f"{s['answered_pct']:.1f}%"
    click.echo(f"report: {result.report_path}" + (" (unchanged: same asks, outcomes, rules and day)"
                                                  if result.report.reused else ""))
    click.echo(f"asks: {s['asks']:,} sent, {s['requests']:,} of them requests ({s['sequences']:,} request sequences)")
    click.echo(f"people reached: {s['people']:,}")
    click.echo(f"answered: {pct} ({s['answered']:,} of {s['delivered']:,} delivered, closed sequences; {s['pending']:,} pending)"
               + (f"; {s['change']}" if s.get("change") else ""))
    click.echo(f"best style: {s['best'] or 'too few asks to tell'}")
    click.echo(f"worst style: {s['worst'] or 'too few asks to tell'}")


@click.group(epilog=EXAMPLES, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(package_name="outreach-auditor")
def cli():
    """Audit your outreach email: which asks got answers, and why.

    Every outbound ask is tagged mass or personal, about us or about them, warm, lapsed or cold; replies are
    matched to it (auto-replies and bounces are not answers); the report shows which styles got answers.
    """


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@common_options
def ingest(paths, settings):
    """Read mail from PATHS: a .eml file, a folder of them, an mbox file or a Maildir (with its subfolders), or an
    export: Google Takeout's mbox, Apple Mail or Thunderbird folders, an Outlook .pst or .msg.

    Read-only; a message already stored is not stored again; files that are not mail are quarantined."""
    announce(settings)
    progress = Progress("ingest")
    with pipeline.command_run(settings, "ingest", [str(p) for p in paths]) as (store, run_id):
        counts, skipped = pipeline.ingest(store, run_id, settings, paths, progress)
    progress.done()
    print_counts(counts, skipped)


@cli.command()
@account_options
@common_options
def harvest(account_names, spelled, settings):
    """Fetch new mail from IMAP accounts into the database: read-only, incremental, resumable.

    \b
    Examples:
      auditor harvest --host imap.fastmail.com --user maya@example.org --password-command "pass show mail"
      auditor harvest --account work --account shared-inbox"""
    announce(settings)
    accounts = resolve_accounts(settings, account_names, spelled, required=True)
    progress = FolderProgress()
    for account in accounts:
        with pipeline.command_run(settings, "harvest", [f"imap:{account.name}"]) as (store, run_id):
            result = pipeline.harvest(store, run_id, account, progress=progress, rules=settings.rules)
        progress.finish()
        print_harvest(result)


@cli.command()
@account_options
@common_options
def folders(account_names, spelled, settings):
    """List the folders each account's server has, and which of them a harvest reads and why."""
    from .harvest import Harvester, plan_folders

    for account in resolve_accounts(settings, account_names, spelled, required=True):
        with Harvester(account) as h:
            plan = plan_folders(h.folders(), account.folders)
        click.echo(f"{account.name}:")
        for folder in plan.folders:
            mark = "harvest" if folder.name in plan.chosen else "skip"
            special = folder.special or ""
            click.echo(f"  {mark:8} {folder.name:30} {special:10} {plan.reasons.get(folder.name, '')}")


@cli.command()
@common_options
def tag(settings):
    """Tag every outbound ask on the three axes (re-tags only when mail, identity or rules changed)."""
    announce(settings)
    with pipeline.command_run(settings, "tag") as (store, run_id):
        result = pipeline.up_to_tag(store, run_id, settings)
    print_identity(result)
    if result.skipped:
        click.echo("tags are up to date")
    else:
        click.echo(f"tagged {result.asks:,} asks ({result.rows:,} ask-recipient pairs), rules {result.ruleset_digest}")


@cli.command()
@common_options
def match(settings):
    """Match replies to asks: one outcome per ask sequence and recipient."""
    announce(settings)
    with pipeline.command_run(settings, "match") as (store, run_id):
        tag_result, result = pipeline.up_to_match(store, run_id, settings)
    print_identity(tag_result)
    if result.skipped:
        click.echo("outcomes are up to date")
    else:
        counts = ", ".join(f"{k} {v:,}" for k, v in sorted(result.outcomes.items()))
        click.echo(f"matched {result.sequences:,} ask sequences: {counts}")


show_recipients_option = click.option(
    "--show-recipients", is_flag=True, envvar="AUDITOR_SHOW_RECIPIENTS",
    help="Name recipients (for internal use); by default each is a stable pseudonym.")


def period_options(command):
    """--month/--since/--until/--sender/--campaign: which asks a report (or a report query) covers."""
    for option in reversed([
        click.option("--month", metavar="YYYY-MM", envvar="AUDITOR_MONTH",
                     help="The monthly audit: asks first sent that month ([report] timezone), compared with the month before."),
        click.option("--since", metavar="DATE", envvar="AUDITOR_SINCE", help="Asks first sent on or after DATE."),
        click.option("--until", metavar="DATE", envvar="AUDITOR_UNTIL", help="Asks first sent before DATE."),
        click.option("--sender", metavar="ADDRESS", envvar="AUDITOR_SENDER", help="Only this team member's asks."),
        click.option("--campaign", metavar="NAME", envvar="AUDITOR_CAMPAIGN",
                     help="Only this campaign: a template's first subject, or a subject without Re:/Fwd: "
                          "(`auditor query report_campaigns` lists them)."),
    ]):
        command = option(command)
    return command


def make_period(settings: Settings, month, since, until, sender, campaign):
    from .report import Period

    return Period.from_options(month=month, since=since, until=until, sender=sender, campaign=campaign,
                               timezone_name=settings.config.get("report", {}).get("timezone", "UTC"))


@cli.command()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), envvar="AUDITOR_OUTPUT",
              help="Where to write the HTML report [default reports/audit-<as-of date>.html].")
@show_recipients_option
@click.option("--from-parquet", "parquet", type=click.Path(path_type=Path), envvar="AUDITOR_FROM_PARQUET",
              metavar="DIR", help="An organisation's report from the Parquet exports of many mailboxes under DIR "
              "(`auditor export --format parquet --partition-by account,month` in each); --db is not read.")
@period_options
@common_options
def report(output, show_recipients, parquet, month, since, until, sender, campaign, settings):
    """Write the HTML report (tags and matches first if needed): the whole database, a month, or a period."""
    period = make_period(settings, month, since, until, sender, campaign)
    if parquet is not None:
        result = pipeline.organisation_report(settings, parquet, output or pipeline.default_report_path(settings, period),
                                              show_recipients=show_recipients, period=period)
        print_summary(result)
        return
    announce(settings)
    with pipeline.command_run(settings, "report") as (store, run_id):
        result = pipeline.up_to_report(store, run_id, settings, output or pipeline.default_report_path(settings, period),
                                       show_recipients=show_recipients, period=period)
    print_identity(result.tag)
    print_summary(result)


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), envvar="AUDITOR_OUTPUT",
              help="Where to write the HTML report [default reports/audit-<as-of date>.html].")
@show_recipients_option
@account_options
@common_options
def audit(paths, output, show_recipients, account_names, spelled, settings):
    """Harvest the IMAP accounts (all configured ones when none is named), ingest PATHS (if any), then tag,
    match and report the whole database."""
    announce(settings)
    accounts = resolve_accounts(settings, account_names, spelled, required=False)
    progress, folder_progress = Progress("ingest"), FolderProgress()
    result = pipeline.audit(settings, paths, output, progress, accounts, folder_progress,
                            show_recipients=show_recipients)
    folder_progress.finish()
    progress.done()
    for harvested in result.harvests:
        print_harvest(harvested)
    if result.counts:
        print_counts(result.counts, result.skipped_folders)
    print_identity(result.tag)
    print_summary(result)


@cli.command()
@click.option("--out-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("reports"),
              show_default=True, help="Where demo.duckdb and demo.html go.")
@click.option("--as-of", envvar="AUDITOR_NOW", metavar="DATE",
              help="The clock [default: the sample's own, 2026-11-01, so the figures never change].")
@click.option("--traceback", is_flag=True, help="Show the full stack on errors.")
def demo(out_dir, as_of, traceback):
    """Audit the bundled sample mailbox into reports/demo.duckdb and write reports/demo.html."""
    from .config import parse_as_of

    note(f"database: {out_dir / 'demo.duckdb'} (rebuilt for the demo)")
    progress = Progress("ingest")
    result = pipeline.demo(out_dir, parse_as_of(as_of) if as_of else None, progress)
    progress.done()
    print_counts(result.counts, result.skipped_folders)
    print_summary(result)


@cli.command()
@click.argument("draft", required=False, metavar="[DRAFT]")
@click.option("--to", "to", multiple=True, envvar="AUDITOR_CHECK_TO", metavar="ADDRESS",
              help="A recipient; repeatable [env AUDITOR_CHECK_TO, space-separated; default: the draft's To/Cc/Bcc].")
@click.option("--subject", envvar="AUDITOR_CHECK_SUBJECT", help="The subject, when the draft has none or to change it.")
@click.option("--drafts", "from_drafts", is_flag=True, envvar="AUDITOR_CHECK_DRAFTS",
              help="List the IMAP account's Drafts folder (read-only); with DRAFT (a number or words of the "
                   "subject), check that one.")
@click.option("--json", "as_json", is_flag=True, envvar="AUDITOR_CHECK_JSON", help="Print the check as JSON.")
@click.option("--html", "html_path", type=click.Path(dir_okay=False), envvar="AUDITOR_CHECK_HTML", metavar="FILE",
              help="Also write the check as one self-contained HTML page.")
@click.option("--show-recipients", is_flag=True, envvar="AUDITOR_SHOW_RECIPIENTS",
              help="Name recipients in the HTML page instead of pseudonyms.")
@click.option("--calibration", is_flag=True, envvar="AUDITOR_CHECK_CALIBRATION",
              help="Instead of a draft: fit on the asks before a cut date, predict those after, print how well.")
@click.option("--cut", envvar="AUDITOR_CHECK_CUT", metavar="DATE",
              help="The --calibration cut [default: after the first 70% of sends].")
@account_options
@common_options
def check(draft, to, subject, from_drafts, as_json, html_path, show_recipients, calibration, cut, account_names,
          spelled, settings):
    """Score a draft before you send it, against your own history of asks and answers: sentences about us
    (yellow) or about them (green), mass or personal, warm or cold per recipient, the craft checks, and the
    chance of an answer with what would change it most. DRAFT is a .eml or text file, or - for standard input.
    Nothing is sent anywhere and the draft is not stored.

    \b
    Examples:
      auditor check draft.txt --to ana@example.org --subject "A small favour"
      pbpaste | auditor check - --to ana@example.org
      auditor check --drafts                    # list the Drafts folder; then: auditor check --drafts 2
      auditor check --calibration               # how well the predictions held on your later asks"""
    import json
    import os

    from . import check as checking
    from .config import parse_as_of

    announce(settings)
    if calibration:
        with pipeline.command_run(settings, "check", ["calibration"]) as (store, run_id):
            pipeline.up_to_match(store, run_id, settings)
            result = checking.calibration(store, settings, parse_as_of(cut) if cut else None)
        click.echo(json.dumps(result, indent=2) if as_json else "\n".join(checking.render_calibration(result)))
        return
    if from_drafts:
        from . import drafts as imap_drafts

        accounts = resolve_accounts(settings, account_names, spelled, required=True)
        if len(accounts) > 1:
            raise UsageError(f"{len(accounts)} accounts are configured: say whose Drafts folder to read with "
                             "--account NAME.")
        names = settings.rules["sources"]["drafts_folders"]
        found = imap_drafts.list_drafts(accounts[0], names)
        if not draft:
            for d in found:
                click.echo(imap_drafts.describe(d))
            if not found:
                note(f"{accounts[0].name}: the Drafts folder is empty")
            return
        chosen = imap_drafts.choose(found, draft)
        data = imap_drafts.fetch(accounts[0], chosen, names)
        sources = [f"imap:{accounts[0].name}:drafts"]
    elif not draft:
        raise UsageError("give the draft to check: a .eml or text file, - for standard input, or --drafts.")
    elif draft == "-":
        data, sources = sys.stdin.buffer.read(), ["stdin"]
    else:
        path = Path(draft).expanduser()
        if not path.is_file():
            raise UsageError(f"{draft}: no such file; give a .eml or text file, or - for standard input.")
        data, sources = path.read_bytes(), [str(path)]
    to = tuple(a for item in to for a in item.replace(",", " ").split())
    with pipeline.command_run(settings, "check", sources) as (store, run_id):
        tagged, _ = pipeline.up_to_match(store, run_id, settings)
        result = checking.check_draft(store, settings, tagged.identity, data, to=to, subject=subject)
        if html_path:
            from .report.check_page import write_check_page

            written = write_check_page(result, Path(html_path), key=store.secret_key("pseudonyms"),
                                       show_recipients=show_recipients)
            note(f"check page: {written}")
    if as_json:
        click.echo(json.dumps(result, indent=2, default=str))
        return
    colour = False if os.environ.get("NO_COLOR") else None
    for line in checking.render(result, click.style):
        click.echo(line, color=colour)


@cli.command()
@click.argument("message_id")
@common_options
def explain(message_id, settings):
    """Why an ask got its labels: scores, reasons, and its sentences highlighted yellow (about us) and green
    (about them). MESSAGE_ID with or without angle brackets."""
    announce(settings)
    with pipeline.command_run(settings, "explain", [message_id]) as (store, run_id):
        pipeline.up_to_match(store, run_id, settings)
        rows = store.query("explain_ask", message_id=message_id.strip().strip("<>")).to_dicts()
        sentences = store.query("report_sentences", message_ids=[rows[0]["message_id"]]) if rows else None
    if not rows:
        raise UsageError(f"no ask with Message-ID {message_id} (is it outbound to someone outside the team?): "
                         "`auditor query export_asks` lists them.")
    first = rows[0]
    click.echo(f"{first['message_id']}  {first['sent_at']:%Y-%m-%d %H:%M}  from {first['sender']}")
    click.echo(f"subject: {first['subject']}")
    click.echo(f"ask: {first['ask_kind']}" + (f" ({first['ask_size']})" if first["ask_size"] else "")
               + (f": \"{first['ask_sentence']}\"" if first["ask_sentence"] else ""))
    click.echo(f"audience: {first['audience']} (score {first['audience_score']:.1f}): " + "; ".join(first["audience_reasons"]))
    share = "–" if first["other_share"] is None else f"{100 * first['other_share']:.0f}% about them"
    click.echo(f"focus: {first['focus']} ({share}): " + "; ".join(first["focus_reasons"]))
    click.echo(craft_line(first))
    grade = "–" if first["reading_grade"] is None else f"{first['reading_grade']:.1f}"
    click.echo(f"measures: {first['word_count']} words, {first['question_count']} questions, subject "
               f"{first['subject_words']} words, reading grade {grade}, sentiment {first['sentiment']:+.2f}, "
               f"personalization {100 * first['personalization']:.0f}% (campaign: {first['campaign']}), "
               f"{first['co_recipients']} visible co-recipients")
    for row in rows:
        outcome = row["outcome"] or "–"
        if row["answer_kind"]:
            outcome += f", {row['answer_kind']}" + (f" (\"{row['answer_phrase']}\")" if row["answer_phrase"] else "")
        click.echo(f"  {row['recipient']}: {row['warmth']} ({'; '.join(row['warmth_reasons'])}); touch {row['touch']}; {outcome}")
    click.echo("")
    colours = {"self": {"bg": "yellow", "fg": "black"}, "other": {"bg": "green", "fg": "black"}, "neutral": {}}
    reasons = sentence_model.why(sentences["text"].to_list(), sentences["colour"].to_list(),
                                 sentences["confidence"].to_list())
    for (text, colour, is_ask), reason in zip(sentences.select("text", "colour", "is_ask").iter_rows(), reasons):
        mark = "→ " if is_ask else "  "
        click.echo(mark + click.style(text, **colours[colour]) + click.style(f"  [{reason}]", dim=True))


def craft_line(row: dict) -> str:
    flags = [name for name, key in (("a small first step", "chunked"), ("an easy no", "opt_out"),
                                    ("the commitment stated", "commitment_stated"), ("gives first", "offers_first"),
                                    ("thanks", "gratitude")) if row[key]]
    craft = f"craft: {row['open_questions']} open and {row['closed_questions']} closed questions"
    craft += (", " + ", ".join(flags)) if flags else ""
    return craft + (": " + "; ".join(row["craft_reasons"]) if row["craft_reasons"] else "")


@cli.command()
@click.argument("name", required=False)
@click.option("--list", "list_", is_flag=True, help="List the named queries with what each returns.")
@click.option("--param", "params", multiple=True, metavar="KEY=VALUE",
              help="A query parameter; VALUE is read as JSON when it parses (numbers, lists), else as text.")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True)
@period_options
@common_options
def query(name, list_, params, fmt, month, since, until, sender, campaign, settings):
    """Run one named query from queries/ on the database (stages brought up to date first), or --list them."""
    import json

    from . import queries

    if list_ or not name:
        for query_name in queries.names():
            click.echo(f"{query_name:24} {queries.describe(query_name)}")
        return
    if name not in queries.names():
        raise UsageError(f"no query named {name!r}: `auditor query --list` shows them.")
    values = {}
    for item in params:
        key, sep, raw = item.partition("=")
        if not sep:
            raise UsageError(f"--param {item!r} is not KEY=VALUE.")
        try:
            values[key] = json.loads(raw)
        except ValueError:
            values[key] = raw
    sql = queries.get(name)
    period = make_period(settings, month, since, until, sender, campaign).params()
    for key, value in period.items():                # a report query takes its period from the period options
        if f"${key}" in sql:
            values.setdefault(key, value)
    if "$parts" in sql:                               # a query the stages read in partitions: all of it at once
        values.setdefault("parts", 1)
        values.setdefault("part", 0)
    announce(settings)
    with pipeline.command_run(settings, "query", [name]) as (store, run_id):
        pipeline.up_to_match(store, run_id, settings)
        frame = store.query(name, **values)
    if fmt == "csv":
        click.echo(frame.write_csv(), nl=False)
    elif fmt == "json":
        click.echo(frame.write_json())
    else:
        import polars as pl

        with pl.Config(tbl_rows=50, tbl_cols=20, fmt_str_lengths=60, tbl_width_chars=160):
            click.echo(frame)


@cli.command()
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True,
              help="A file, or a directory when --partition-by is given.")
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv"]), default="parquet", show_default=True)
@click.option("--partition-by", default="", metavar="account,month", help="Hive-partitioned output by these columns.")
@common_options
def export(output, fmt, partition_by, settings):
    """Write the tagged asks with their outcomes (queries/export_asks.sql) as Parquet or CSV."""
    from .export import export_asks

    announce(settings)
    parts = tuple(p.strip() for p in partition_by.split(",") if p.strip())
    with pipeline.command_run(settings, "export", [str(output)]) as (store, run_id):
        pipeline.up_to_match(store, run_id, settings)
        rows = export_asks(store, output, fmt, parts)
    click.echo(f"exported {rows:,} ask-recipient rows to {output}")


@cli.command()
@click.argument("addresses", nargs=-1, required=True, metavar="ADDRESS...")
# No AUDITOR_YES twin: an environment variable set once would answer yes to every forget after it.
@click.option("-y", "--yes", is_flag=True, help="Do not ask first (needed when stdin is not a terminal).")
@common_options
def forget(addresses, yes, settings):
    """Remove a person from the database for good: every message from, to or naming ADDRESS (give each address
    they used), the places it was found, quarantined files naming it, and all tags and outcomes (the next tag,
    match or report rebuilds them without the person). The file is then rewritten, so no deleted byte stays
    readable in it. A salted hash of each address is kept: a later ingest or harvest skips mail naming it and
    counts it as forgotten.

    Asks first; with no terminal to ask on, pass --yes. Exit 2, with nothing changed, when nothing stored names an
    address (a typo?); exit 0 when it was forgotten before.

    \b
    Examples:
      auditor forget lena@example.org
      auditor forget --yes lena@example.org lena.vogt@school.example   # one person, two addresses"""
    from .forget import forget_addresses

    if not yes and not sys.stdin.isatty():
        raise UsageError("forget removes mail for good and there is no terminal to ask on: pass --yes to go ahead.")
    announce(settings)

    def confirm(plan) -> None:
        click.confirm(f"forget {', '.join(plan.addresses)}: remove {describe_forget(plan)} for good and rewrite "
                      f"{settings.db_path}?", abort=True, err=True)

    result = forget_addresses(settings.db_path, addresses, confirm=None if yes else confirm)
    if not result.rewritten:
        click.echo(f"already forgotten: {', '.join(result.plan.already)} (nothing stored names them)")
        return
    click.echo(f"forgot {', '.join(result.plan.addresses)}: removed {describe_forget(result.plan)}; "
               f"rewrote {result.path}")
    if result.derived_rows:
        note(f"{result.derived_rows:,} derived rows (tags, outcomes) were cleared: the next tag, match or report "
             "rebuilds them")


def describe_forget(plan) -> str:
    people = "them" if len(plan.addresses) == 1 else "one of them"
    return (f"{len(plan.messages):,} messages ({plan.participant:,} from or to {people}, "
            f"{len(plan.messages) - plan.participant:,} naming {people}), {len(plan.locations):,} locations "
            f"and {len(plan.quarantined):,} quarantined files")


def _database_out_of_memory(exc: BaseException | None) -> bool:
    """DuckDB went past the memory limit the store sets: its OutOfMemoryException, or a commit that could not get
    a block, here or as the cause of the error that reached the CLI."""
    while exc is not None:
        if type(exc).__name__ == "OutOfMemoryException" or "could not allocate block" in str(exc):
            return True
        exc = exc.__cause__
    return False


def _say_memory_limit() -> int:
    from .store import MEMORY_LIMIT

    click.echo(f"error: the database needed more than its {MEMORY_LIMIT} of memory for this mailbox: run again with "
               "AUDITOR_DB_MEMORY=2GB (or more) in the environment.", err=True)
    return 1


def main(argv: list[str] | None = None) -> int:
    """Entry point: errors become one sentence and an exit code, never a traceback (unless --traceback)."""
    args = sys.argv[1:] if argv is None else argv
    show_trace = "--traceback" in args
    try:
        cli.main(args=args, prog_name="auditor", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("aborted", err=True)
        return 1
    except AuditorError as exc:
        if show_trace:
            raise
        if _database_out_of_memory(exc):
            return _say_memory_limit()
        click.echo(f"error: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("interrupted: every committed batch is kept; run the command again to resume", err=True)
        return 130
    except Exception as exc:  # noqa: BLE001 - a bug: say so in one sentence, keep the stack behind --traceback
        if show_trace:
            raise
        if _database_out_of_memory(exc):
            return _say_memory_limit()
        click.echo(f"error: unexpected {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
                   "(run again with --traceback and report it)", err=True)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
