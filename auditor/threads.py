"""Threads: which mails belong to one conversation, from Message-ID, In-Reply-To and References, across every
ingested folder and mailbox.

In the manner of JWZ's threading algorithm, every id a mail names is a container, whether or not that mail is in
the mailbox (a missing parent still links its children), and containers that name each other are one thread. We
keep only what matching needs, the thread each mail is in, so linking is a union-find over the id graph: cycles
and duplicate Message-IDs cannot loop it, and it runs in one pass over the mails.
"""
from __future__ import annotations

import polars as pl


def thread_ids(mails: pl.DataFrame) -> pl.Series:
    """One thread id per row of `mails` (message_id, in_reply_to, reference_ids): the smallest id in its thread,
    so the same mailbox always gets the same ids."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:          # path compression
            parent[x], x = root, parent[x]
        return root

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            if rb < ra:
                ra, rb = rb, ra
            parent[rb] = ra

    rows = mails.select("message_id", "in_reply_to", "reference_ids").iter_rows()
    ids = []
    for message_id, in_reply_to, references in rows:
        ids.append(message_id)
        parent.setdefault(message_id, message_id)
        for other in (references or []):
            union(message_id, other)
        if in_reply_to:
            union(message_id, in_reply_to)
    return pl.Series("thread_id", [find(m) for m in ids], dtype=pl.String)
