"""Word lists as regular expressions over polars columns: one case-insensitive alternation per list, so a list
of fifty phrases costs one regex pass over a column, not fifty."""
from __future__ import annotations

import polars as pl


def any_match(column: str | pl.Expr, patterns: list[str]) -> pl.Expr:
    """True where any of the case-insensitive patterns matches. One alternation keeps it one regex pass."""
    expr = pl.col(column) if isinstance(column, str) else column
    if not patterns:
        return pl.lit(False)
    return expr.fill_null("").str.contains("(?i)(?:" + "|".join(f"(?:{p})" for p in patterns) + ")")


def per_distinct_text(rows: pl.LazyFrame, **marks: pl.Expr) -> pl.LazyFrame:
    """Add `marks` (expressions over the `text` column alone) by evaluating them once per distinct text and joining
    back: a mass mailing repeats its sentences by the thousand (the sample's 412k ask sentences hold 32k distinct
    ones), and regular expressions cost per row."""
    distinct = rows.select("text").unique().with_columns(**marks)
    return rows.join(distinct, on="text", how="left", nulls_equal=True, maintain_order="left")
