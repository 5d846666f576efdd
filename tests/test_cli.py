"""The `pulse` command passes dbt's own options through and reports the warehouse."""

import subprocess
import sys
from pathlib import Path

from pulse.warehouse import PROJECT_ROOT
from tests.conftest import query

PULSE = str(Path(sys.executable).with_name("pulse"))


def test_build_passes_dbt_options_through(warehouse_db):
    run = subprocess.run([PULSE, "build", "--select", "chicago_community_areas",
                          "--indirect-selection", "cautious"],
                         cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert query(warehouse_db, "select count(*) from seeds.chicago_community_areas") == [(77,)]


def test_unknown_options_are_refused(warehouse_db):
    run = subprocess.run([PULSE, "load", "chicago", "--bogus"], capture_output=True, text=True)
    assert run.returncode == 2 and "unrecognized arguments: --bogus" in run.stderr


def test_db_url_names_the_configured_warehouse(warehouse_db):
    run = subprocess.run([PULSE, "db", "url"], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == warehouse_db.url()
