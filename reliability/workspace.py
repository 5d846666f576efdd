"""Where a scenario runs: a database of its own, its own dlt state and dbt target folder.

While a workspace is open, WAREHOUSE_URL and PG* point at its database, so dlt, dbt
and anything that asks `pulse.warehouse` follow (as tests/conftest.py and bench/ do);
closing it restores the environment and drops the database.

dbt writes to a target folder of the workspace (`--target-path`), never to the
project's `target/`: other runs on this checkout read that folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pulse import warehouse
from pulse.warehouse import PROJECT_ROOT

# What Dagster runs (orchestration/defs/dbt.py DBT_BUILD_ARGS): unit tests belong to `make test`.
DBT_BUILD = ("build", "--exclude-resource-type", "unit_test")
ENV_KEYS = ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "WAREHOUSE_URL",
            "PULSE_WAREHOUSE_DIR", "PULSE_ROLES", "SOURCES__OECD__LEDGER_PATH")
# Every step runs as the server's admin, with explicit URLs: the suite tests crashes, not
# privileges, and a fresh server (postgres_restarted's) has no Pulse roles to grant to.
ADMIN_ENV = {"PULSE_ROLES": "off"}


@dataclass
class Workspace:
    conn: warehouse.Connection  # the scenario's database, as an admin (the server's superuser)
    root: Path  # temporary folder: dlt state, dbt target and logs, child process logs

    @property
    def url(self) -> str:
        return self.conn.url()

    @property
    def pipelines_dir(self) -> Path:
        return self.root / "dlt"

    @property
    def dbt_target(self) -> Path:
        return self.root / "dbt-target"

    def dbt_command(self, *args: str) -> list[str]:
        from pulse.dbt import dbt_command

        return dbt_command(*args, "--target-path", str(self.dbt_target),
                           "--log-path", str(self.root / "dbt-logs"))

    def dbt_build(self, *args: str) -> subprocess.CompletedProcess:
        """`dbt build` (as Dagster runs it) against this database; not checked."""
        return subprocess.run(self.dbt_command(*DBT_BUILD, *args), cwd=PROJECT_ROOT,
                              capture_output=True, text=True, env=self.env())

    def env(self) -> dict[str, str]:
        """The environment of a child process: this database in WAREHOUSE_URL and PG*."""
        env = dict(os.environ)
        env.update(self.conn.libpq_env())
        env.update(ADMIN_ENV)
        env["WAREHOUSE_URL"] = self.url
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def pipeline(self, name: str = "crimes"):
        """The dlt pipeline of dataset `name` with this workspace's local state."""
        from pipelines.chicago import dataset_pipeline

        return dataset_pipeline(name, pipelines_dir=self.pipelines_dir)

    def load(self, base_url: str, name: str = "crimes", **source_args: object):
        """One normal run of dataset `name`, as `load_dataset` does it (a fresh pipeline
        object on the same local state: what a new process would build)."""
        from pipelines.chicago import load_dataset

        source_args.setdefault("backoff_factor", 0)
        return load_dataset(name, self.pipeline(name), credentials=self.url, base_url=base_url,
                            **source_args)

    def load_all(self, base_url: str, **source_args: object):
        """One normal run of every declared dataset (`load_chicago`, a pipeline each)."""
        from pipelines.chicago import load_chicago

        source_args.setdefault("backoff_factor", 0)
        return load_chicago(credentials=self.url, pipelines_dir=self.pipelines_dir, base_url=base_url,
                            **source_args)

    def geocode(self):
        """The geocoder over this database's raw tables, as the geocoded_points asset runs it."""
        from pipelines.geo import geocode

        return geocode(self.url)

    def build(self, *args: str) -> subprocess.CompletedProcess:
        """What follows a load: geocode the new points, then `dbt build` (not checked)."""
        self.geocode()
        return self.dbt_build(*args)


def dbt_failure(run: subprocess.CompletedProcess) -> str:
    """What dbt said about its failures: the summary after "Completed with ... error"."""
    lines = [line.strip() for line in run.stdout.splitlines()]
    start = next((i for i, line in enumerate(lines) if "Completed with" in line), None)
    if start is None:
        return (run.stdout + run.stderr)[-800:]
    keep = [line.split("  ", 1)[-1].strip() for line in lines[start + 1:]
            if line and not line.split("  ", 1)[-1].strip().startswith("compiled code at")]
    return " / ".join(k for k in keep if k)[:1200]


@contextmanager
def workspace(name: str, keep: bool = False) -> Iterator[Workspace]:
    """A database `pulse_reliability_<pid>_<name>` on the warehouse server, dropped at the end."""
    database = f"pulse_reliability_{os.getpid()}_{name}"[:63]
    saved = {k: os.environ.get(k) for k in ENV_KEYS}
    root = Path(tempfile.mkdtemp(prefix=f"pulse-reliability-{name}-"))
    warehouse.drop_database(database)
    conn = warehouse.create_database(database)
    os.environ.update(conn.libpq_env())
    os.environ.update(ADMIN_ENV)
    os.environ["WAREHOUSE_URL"] = conn.url()
    _private_oecd_ledger(root)
    try:
        yield Workspace(conn, root)
    finally:
        _restore(saved)
        try:
            warehouse.drop_database(database)
        finally:
            if not keep:
                shutil.rmtree(root, ignore_errors=True)


def _private_oecd_ledger(root: Path) -> None:
    """OECD requests to the local API count in the workspace's ledger (Workspace.pipelines_dir's),
    not in the machine's: a scenario neither spends the real budget nor is refused by it."""
    from pipelines.oecd.budget import ledger_path

    os.environ["SOURCES__OECD__LEDGER_PATH"] = str(ledger_path(root / "dlt"))


def _restore(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@contextmanager
def private_server(name: str, keep: bool = False) -> Iterator[Workspace]:
    """An embedded PostgreSQL of its own (pgserver, as `pulse.warehouse` runs it) with one
    database: a scenario may stop and start it without touching anyone else's server.

    PULSE_WAREHOUSE_DIR points `pulse.warehouse` at it and WAREHOUSE_URL is unset while
    it runs, so `warehouse.stop()` and `warehouse.connection()` act on this server.
    """
    saved = {k: os.environ.get(k) for k in ENV_KEYS}
    root = Path(tempfile.mkdtemp(prefix=f"pulse-reliability-{name}-"))
    os.environ.pop("WAREHOUSE_URL", None)
    os.environ.update(ADMIN_ENV)
    os.environ["PULSE_WAREHOUSE_DIR"] = str(root / "server")
    (root / "server").mkdir()
    _private_oecd_ledger(root)
    try:
        conn = warehouse.create_database(f"pulse_reliability_{name}")
        os.environ.update(conn.libpq_env())
        os.environ.update(ADMIN_ENV)
        yield Workspace(conn, root)
    finally:
        try:
            start_embedded()  # a scenario may leave it stopped; stopped servers need no stop
            warehouse.stop()
        except Exception:  # best effort: the folder goes anyway
            pass
        _restore(saved)
        if keep:  # the server's data is not worth keeping, its log is
            log = root / "server" / "pgdata" / "log"
            if log.exists():
                shutil.copy(log, root / "postgres.log")
            shutil.rmtree(root / "server", ignore_errors=True)
        else:
            shutil.rmtree(root, ignore_errors=True)


def start_embedded() -> str:
    """Starts the embedded server of PULSE_WAREHOUSE_DIR the way a new process does
    (`warehouse.connection()` in a fresh interpreter); returns what it printed."""
    import sys

    env = {k: v for k, v in os.environ.items() if k != "WAREHOUSE_URL"}
    run = subprocess.run([sys.executable, "-c", "from pulse import warehouse; warehouse.connection()"],
                         cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)
    if run.returncode != 0:
        raise warehouse.WarehouseError(f"could not restart the embedded server: {run.stderr[-800:]}")
    return run.stdout
