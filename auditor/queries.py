"""The named SQL files in queries/: one query per file, its first line a comment saying what it returns.
Every number in the report comes from one of them, so any figure can be re-run by hand in the duckdb CLI."""
from __future__ import annotations

import re
from functools import cache

from .resources import data_dir


@cache
def get(name: str) -> str:
    path = data_dir("queries") / f"{name}.sql"
    if not path.is_file():
        raise KeyError(f"no query named {name!r} in {path.parent}")
    return path.read_text()


def describe(name: str) -> str:
    """The first comment line of a query: what it returns."""
    first = get(name).lstrip().splitlines()[0]
    return first.lstrip("-").strip()


def changes_data(name: str) -> bool:
    """Statements a stage runs to update its tables (tag_campaigns, import_asks), not a question to ask the database."""
    body = "\n".join(line for line in get(name).splitlines() if not line.lstrip().startswith("--"))
    return body.lstrip().split(None, 1)[0].lower() in {"update", "insert", "delete", "create"}


def reads_working_tables(name: str) -> bool:
    """A query a stage runs on the tables it keeps for itself while it works (`_tag_asks`, a registered frame):
    named with a leading underscore, they exist only inside that stage."""
    return re.search(r"\b(?:from|join)\s+_\w+", get(name), re.IGNORECASE) is not None


def names() -> list[str]:
    """The queries one can run by hand: every file but the statements stages run to update their tables and the
    queries over a stage's working tables."""
    return sorted(p.stem for p in data_dir("queries").glob("*.sql")
                  if not changes_data(p.stem) and not reads_working_tables(p.stem))
