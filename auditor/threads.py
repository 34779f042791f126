"""Threads: which mails belong to one conversation, from Message-ID, In-Reply-To and References, across every
ingested folder and mailbox.

In the manner of JWZ's threading algorithm, every id a mail names is a container, whether or not that mail is in
the mailbox (a missing parent still links its children), and containers that name each other are one thread. We
keep only what matching needs, the thread each mail is in, so linking is the connected components of the id graph:
cycles and duplicate Message-IDs cannot loop it. The ids are numbered in the database and only the numbers come
into Python, so a million mails cost a few arrays of integers, not a dictionary of strings.
"""
from __future__ import annotations

import numpy as np
import polars as pl

from . import queries
from .store import Store


def components(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected components of n nodes joined by the edges a[i]-b[i]: each node's component is its smallest node."""
    if len(a) == 0:
        # Nothing joined (a draft alone, `auditor check`): each node is its own, and scipy need not load (0.5 s).
        return np.arange(n, dtype=np.int64)
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    smallest = np.full(labels.max() + 1, n)
    np.minimum.at(smallest, labels, np.arange(n))
    return smallest[labels]


def thread_mails(store: Store) -> None:
    """Give every mail of the tag stage's `_tag_mails` its thread, the smallest id in it, in `_tag_threads`
    (message_id, thread_id): the same mailbox always gets the same ids."""
    store.spool("_tag_thread_ids", queries.get("tag_thread_ids"))
    n = store.scalar("SELECT count(*) FROM _tag_thread_ids")
    edges = store.con.sql(queries.get("tag_thread_edges")).fetchnumpy()
    roots = components(n, edges["a"].astype(np.int64), edges["b"].astype(np.int64))
    with store.registered(_roots=pl.DataFrame({"node": np.arange(n, dtype=np.int64), "root": roots})):
        store.spool("_tag_threads", queries.get("tag_threads"))
