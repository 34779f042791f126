"""Where the files that ship beside the code live: SQL queries, the report template, the default rules.

`queries/` and `reports/templates/` sit at the top of the repository (the layout the owner asked for). A wheel
carries them inside the package as `auditor/_data/...` (see `force-include` in pyproject.toml); a checkout or an
editable install finds them one level above the package. Both must work, and tests cover the wheel.
"""
from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_LAYOUT = {"queries": ("queries",), "templates": ("reports", "templates")}


@cache
def data_dir(name: str) -> Path:
    """The directory holding shipped data `name` ("queries" or "templates")."""
    installed = _PACKAGE / "_data" / name
    if installed.is_dir():
        return installed
    checkout = _PACKAGE.parent.joinpath(*_LAYOUT[name])
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"auditor is installed without its {name}/ directory (looked in {installed} and {checkout})")
