"""Export: the tagged asks with their outcomes as Parquet or CSV, for notebooks, spreadsheets and an
organisation's own warehouse. Written by DuckDB itself (COPY), partitioned by account and month on request."""
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
