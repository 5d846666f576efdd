"""Shared fixtures: a private database on the real warehouse server, and the dbt manifest.

Tests never mock the database: they run on the embedded PostgreSQL (or WAREHOUSE_URL's
server) in a database of their own, dropped at the end.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pulse import warehouse
from pulse.warehouse import PROJECT_ROOT

TEST_DATABASE = f"pulse_test_{os.getpid()}"
REALDATA = PROJECT_ROOT.parent / "shared" / "realdata"

# `make test` runs two workers (pytest-xdist): each has its own database (its pid) and
# its own dbt target folder, so neither reads a manifest the other is rewriting.
if worker := os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("DBT_TARGET_PATH", str(PROJECT_ROOT / "target" / f"pytest-{worker}"))


def _is_worker(config) -> bool:
    return hasattr(config, "workerinput")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    """Remembers, before any test (or worker) starts, whether the embedded server ran."""
    if not _is_worker(session.config):
        session.config.pulse_server_was_running = (
            not warehouse.is_embedded() or warehouse.status().get("state") == "running")


def pytest_sessionfinish(session):
    """Leaves the machine as it was found: no stray postgres. Only the process that saw
    the start decides (with workers, the controller, once all of them are done)."""
    was_running = getattr(session.config, "pulse_server_was_running", True)
    if not _is_worker(session.config) and not was_running and warehouse.is_embedded():
        warehouse.stop()


@pytest.fixture(scope="session")
def warehouse_db() -> Iterator[warehouse.Connection]:
    """A fresh database for this test session, as the admin; PG* point at it so dbt follows.

    Tests set up and inspect as the admin (this connection, WAREHOUSE_URL); dlt and dbt
    ask for their roles (loader, transformer), created here in this database.
    """
    conn = warehouse.create_database(TEST_DATABASE)
    # Everything that asks the warehouse (dlt, dbt, Dagster assets) now gets this database.
    saved = {k: os.environ.get(k) for k in [*conn.libpq_env(), "WAREHOUSE_URL"]}
    os.environ["WAREHOUSE_URL"] = conn.url()
    from pulse.dbt import export_dbt_env

    export_dbt_env()  # the roles exist in this database; PG* are the transformer's
    yield conn
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    from pulse import roles

    roles.drop_database(TEST_DATABASE)


@pytest.fixture(scope="session")
def dbt_manifest(warehouse_db) -> Path:
    from pulse.dbt import prepare_dbt

    return prepare_dbt()


def run_dbt(*args: str) -> subprocess.CompletedProcess:
    """Real dbt CLI against the test database, as the transformer role like `pulse build`."""
    from pulse.dbt import dbt_command, export_dbt_env

    export_dbt_env()  # and puts back schemas a test dropped as the admin
    return subprocess.run(dbt_command(*args), cwd=PROJECT_ROOT, capture_output=True, text=True)


query = warehouse.query  # rows of a statement, committed


@pytest.fixture(autouse=True)
def private_oecd_ledger(tmp_path_factory, monkeypatch) -> Path:
    """Each test's OECD requests count in a ledger of its own: by default every process on
    the machine shares one (pipelines/oecd/budget.py), and a test must neither spend the
    real budget nor find it spent by another test."""
    path = tmp_path_factory.getbasetemp() / "oecd-ledgers" / f"{uuid.uuid4().hex}.json"
    monkeypatch.setenv("SOURCES__OECD__LEDGER_PATH", str(path))
    return path


@pytest.fixture
def fresh_raw(warehouse_db, tmp_path):
    """A clean raw_chicago and a dlt pipeline with no local state: each test starts over."""
    from pipelines.chicago import dataset_pipeline

    query(warehouse_db, "drop schema if exists raw_chicago cascade")
    return dataset_pipeline("crimes", pipelines_dir=tmp_path / "dlt")


# The slowest files (measured with --durations), queued first: pytest-xdist hands out
# files in collection order, so the long ones start early and the workers end together.
SLOWEST_FIRST = (
    "tests/reliability/test_dagster_killed.py",
    "tests/reliability/test_crash.py",
    "tests/bench/test_suite_runs.py",
    "tests/bench/test_countries_bench.py",
    "tests/reliability/test_countries.py",
    "tests/orchestration/test_logs.py",
    "tests/reliability/test_logs.py",
    "tests/orchestration/test_countries.py",
    "tests/reliability/test_api_and_bad_data.py",
    "tests/reliability/test_concurrent.py",
    "tests/orchestration/test_guards.py",
    "tests/dbt/test_chicago_reports.py",
    "tests/dbt/test_marts.py",
    "tests/dbt/test_contracts.py",
    "tests/orchestration/test_materialize.py",
    "tests/orchestration/test_secrets.py",
)


def pytest_collection_modifyitems(session, config, items):
    rank = {path: i for i, path in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0], len(rank)))
