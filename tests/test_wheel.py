"""An installed copy, built as a wheel, finds its SQL, template, rules and migrations: not only a checkout does."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

CHECK = """
import auditor, auditor.queries as q, auditor.resources as r
from pathlib import Path
from auditor.store import Store
from auditor.config import load_rules
assert auditor.__file__.startswith(TARGET), auditor.__file__
assert str(r.data_dir("queries")).startswith(TARGET) and str(r.data_dir("templates")).startswith(TARGET)
names = q.names()
assert "report_headline" in names and "match_outcomes" in names, names
assert q.describe("report_headline").startswith("The headline")
assert load_rules()["match"]["reply_window_days"] == 14
with Store.open(Path(TMP) / "w.duckdb") as s:
    assert s.query("report_headline", since=None, until=None, sender=None, campaign=None).height == 1
print("ok", len(names))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("wheel")
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp / "dist"), str(ROOT)],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next((tmp / "dist").glob("outreach_auditor-*.whl"))
    target = tmp / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target), str(wheel)],
                             capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-2000:]
    return tmp, target


def test_the_wheel_carries_queries_templates_rules_and_migrations(installed):
    tmp, target = installed
    for part in ("auditor/_data/queries/report_headline.sql", "auditor/_data/templates/report.html.j2",
                 "auditor/rules.toml", "auditor/migrations/0001_initial.sql"):
        assert (target / part).is_file(), part


def test_an_installed_copy_runs_its_named_queries(installed):
    tmp, target = installed
    env = dict(os.environ, PYTHONPATH=str(target))
    code = f"TARGET = {str(target)!r}; TMP = {str(tmp)!r}\n" + CHECK
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.startswith("ok ")
