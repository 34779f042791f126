"""Named fault points for crash tests: `AUDITOR_FAULT=ingest.after_batch:2` makes the process SIGKILL itself
right after committing its second batch, so tests kill at a known place instead of racing a timer."""
from __future__ import annotations

import os
import signal
from collections import Counter

_hits: Counter[str] = Counter()


def fault_point(name: str) -> None:
    spec = os.environ.get("AUDITOR_FAULT")
    if not spec:
        return
    point, _, count = spec.partition(":")
    if point != name:
        return
    _hits[name] += 1
    if _hits[name] >= int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)
