"""Where a scenario runs: a database of its own, its own dlt state and dbt target folder.

While a workspace is open, WAREHOUSE_URL (the admin's) and PG* point at its database, so
dlt, dbt and anything that asks `pulse.warehouse` follow (as tests/conftest.py and
bench/ do); closing it restores the environment and drops the database.

Roles are on, as in production: the workspace creates Pulse's roles in its database
(`pulse.roles.ensure_roles`), every load runs as the loader (`roles.url("loader")`, what
the Dagster ingest assets pass to `run_source`), the geocoder as the loader too, and dbt
as the transformer through `pulse build` (which takes the dbt build lock). The checks
read as the admin (`Workspace.conn`).

dbt writes to a target folder of the workspace (DBT_TARGET_PATH), never to the project's
`target/`: other runs on this checkout read that folder.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pulse import roles, warehouse
from pulse.warehouse import PROJECT_ROOT
from reliability.kill import kill_unfinished

# What Dagster runs (orchestration/defs/dbt.py DBT_BUILD_ARGS): unit tests belong to `make test`.
DBT_BUILD = ("build", "--exclude-resource-type", "unit_test")
ENV_KEYS = ("PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE", "WAREHOUSE_URL",
            "PULSE_WAREHOUSE_DIR", "PULSE_ROLES", "DBT_TARGET_PATH", "DBT_LOG_PATH",
            "SOURCES__OECD__LEDGER_PATH")
# Every step runs as its own role, as in production (a setting of PULSE_ROLES=off in the
# caller's environment is overridden: the suite proves the production setup).
ROLES_ENV = {"PULSE_ROLES": "on"}
PULSE_CLI = str(Path(sys.executable).with_name("pulse"))


@dataclass
class Workspace:
    conn: warehouse.Connection  # the scenario's database, as an admin (the server's superuser)
    root: Path  # temporary folder: dlt state, dbt target and logs, child process logs

    @property
    def database(self) -> str:
        return self.conn.database

    @property
    def admin_url(self) -> str:
        """The admin's URL: for the checks and for setting up, never for a load or a build."""
        return self.conn.url()

    def role_url(self, role: str, raw_dataset: str | None = None) -> str:
        """`role`'s URL in this database, as the Dagster assets ask for it
        (`WarehouseResource.url`: `pulse.roles.url`)."""
        from pulse import roles

        return roles.url(role, self.database, raw_dataset=raw_dataset)

    @property
    def loader_url(self) -> str:
        return self.role_url("loader", raw_dataset="raw_chicago")

    @property
    def pipelines_dir(self) -> Path:
        return self.root / "dlt"

    @property
    def dbt_target(self) -> Path:
        return self.root / "dbt-target"

    def dbt_build_command(self, *args: str) -> list[str]:
        """`pulse build` with Dagster's build arguments and `args`: dbt as the transformer,
        holding the dbt build lock (pulse.dbt.BUILD_LOCK), as the Dagster dbt asset does."""
        return [PULSE_CLI, *DBT_BUILD, *args]

    def dbt_build(self, *args: str) -> subprocess.CompletedProcess:
        """`dbt build` (as Dagster runs it) against this database; not checked."""
        return subprocess.run(self.dbt_build_command(*args), cwd=PROJECT_ROOT,
                              capture_output=True, text=True, env=self.env())

    def env(self) -> dict[str, str]:
        """The environment of a child process: this database in WAREHOUSE_URL (the admin's,
        from which each step asks for its role) and PG*, roles on, dbt's folders here."""
        env = dict(os.environ)
        env.update(self.conn.libpq_env())
        env.update(ROLES_ENV)
        env["WAREHOUSE_URL"] = self.admin_url
        env["DBT_TARGET_PATH"] = str(self.dbt_target)
        env["DBT_LOG_PATH"] = str(self.root / "dbt-logs")
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
        return load_dataset(name, self.pipeline(name), credentials=self.loader_url,
                            base_url=base_url, **source_args)

    def load_all(self, base_url: str, **source_args: object):
        """One normal run of every declared dataset (`load_chicago`, a pipeline each)."""
        from pipelines.chicago import load_chicago

        source_args.setdefault("backoff_factor", 0)
        return load_chicago(credentials=self.loader_url, pipelines_dir=self.pipelines_dir,
                            base_url=base_url, **source_args)

    def geocode(self):
        """The geocoder over this database's raw tables, as the geocoded_points asset runs it
        (as the loader: it owns raw_chicago, where the lookup table lives)."""
        from pipelines.geo import geocode

        return geocode(self.loader_url)

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
    _enter(conn, root)
    _private_oecd_ledger(root)
    try:
        yield Workspace(conn, root)
    finally:
        kill_unfinished()  # a scenario cut short leaves no child writing here
        _restore(saved)
        try:
            roles.drop_database(database)  # and the roles named after it
        finally:
            if not keep:
                shutil.rmtree(root, ignore_errors=True)


def _private_oecd_ledger(root: Path) -> None:
    """OECD requests to the local API count in the workspace's ledger (Workspace.pipelines_dir's),
    not in the machine's: a scenario neither spends the real budget nor is refused by it."""
    from pipelines.oecd.budget import ledger_path

    os.environ["SOURCES__OECD__LEDGER_PATH"] = str(ledger_path(root / "dlt"))


def _enter(conn: warehouse.Connection, root: Path) -> None:
    """Points this process at `conn`'s database (as the admin, roles on) and creates Pulse's
    roles there: what `pulse db roles` does once on a new warehouse."""
    os.environ.update(conn.libpq_env())
    os.environ.update(ROLES_ENV)
    os.environ["WAREHOUSE_URL"] = conn.url()
    os.environ["DBT_TARGET_PATH"] = str(root / "dbt-target")
    os.environ["DBT_LOG_PATH"] = str(root / "dbt-logs")
    roles.ensure_roles(conn.database)


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
    os.environ["PULSE_WAREHOUSE_DIR"] = str(root / "server")
    (root / "server").mkdir()
    _private_oecd_ledger(root)
    try:
        conn = warehouse.create_database(f"pulse_reliability_{name}")
        _enter(conn, root)
        os.environ.pop("WAREHOUSE_URL", None)  # warehouse.stop() acts on embedded servers only
        yield Workspace(conn, root)
    finally:
        kill_unfinished()
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
