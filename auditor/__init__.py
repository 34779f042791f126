"""The email outreach campaign auditor. The flow and its modules: README.md, "Performance and design"."""
import os

# polars allocates through its own jemalloc, which it tells to keep freed pages for a second as "muzzy" pages:
# given back to the kernel lazily (MADV_FREE), so they still count in the process's resident memory. The tag stage
# makes and drops frames batch after batch, and at a million messages those pages took it from 963 to 1,144 MiB.
# Read when polars loads (polars adds its own settings before these); a caller that loaded polars first, or set
# the variable itself, keeps its own.
os.environ.setdefault("_RJEM_MALLOC_CONF", "muzzy_decay_ms:0")
