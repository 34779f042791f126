"""Export: the tagged asks with their outcomes as Parquet or CSV, for notebooks, spreadsheets and an
organisation's own warehouse. Written by DuckDB itself (COPY), partitioned by account and month on request; and read
back from many mailboxes' exports for an organisation's report (`auditor report --from-parquet DIR`)."""
from __future__ import annotations

from pathlib import Path

from . import queries
from .errors import UsageError
from .store import Store

FORMATS = ("parquet", "csv")
PARTITIONS = ("account", "month")


def export_asks(store: Store, output: Path, fmt: str = "parquet", partition_by: tuple[str, ...] = ()) -> int:
    """Write the export_asks query to `output` (a file, or a directory when partitioned); returns its rows."""
    if fmt not in FORMATS:
        raise UsageError(f"--format must be one of {', '.join(FORMATS)}.")
    unknown = [p for p in partition_by if p not in PARTITIONS]
    if unknown:
        raise UsageError(f"cannot partition by {unknown[0]!r}: choose from {', '.join(PARTITIONS)}.")
    sql = queries.get("export_asks")
    options = [f"FORMAT {fmt.upper()}"]
    if partition_by:
        options.append(f"PARTITION_BY ({', '.join(partition_by)})")
        options.append("OVERWRITE_OR_IGNORE")
        output.mkdir(parents=True, exist_ok=True)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "csv":
            options.append("HEADER")
    # The path is a literal in COPY (DuckDB binds no parameter there); quote it as a SQL string.
    target = "'" + str(output).replace("'", "''") + "'"
    store.run(f"COPY ({sql}) TO {target} ({', '.join(options)})")
    return store.scalar(f"SELECT count(*) FROM ({sql})")


def import_asks(store: Store, directory: Path) -> int:
    """Load every Parquet file under `directory` written by `auditor export` (one or many mailboxes, partitioned or
    not) into the store's tags, touches and outcomes, so the report's queries run on the organisation as a whole.
    Returns the ask-recipient rows loaded."""
    files = sorted(directory.rglob("*.parquet")) if directory.is_dir() else []
    if not files:
        raise UsageError(f"no Parquet files under {directory}: write them with `auditor export --format parquet "
                         "--partition-by account,month -o DIR` in each mailbox's database.")
    listed = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
    store.run(f"CREATE OR REPLACE TEMP VIEW exported AS SELECT * FROM read_parquet([{listed}], "
              "hive_partitioning = true, union_by_name = true)")
    with store.transaction():
        store.run(queries.get("import_asks"))
    return store.scalar("SELECT count(*) FROM tags")
