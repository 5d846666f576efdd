"""The one way Pulse calls dbt: the dbt beside this interpreter, this project, and its
manifest, prepared once (`prepare_dbt`) and read by everything that needs it."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

from pulse import roles, warehouse
from pulse.warehouse import PROJECT_ROOT

# Works without activating the virtualenv.
DBT_EXECUTABLE = str(Path(sys.executable).with_name("dbt"))


def target_dir() -> Path:
    """dbt's artifacts folder: `DBT_TARGET_PATH` (dbt's own variable, which dagster-dbt
    follows too), else target/ in the project; read when asked, so a process that sets it
    (a parallel test worker) keeps its manifest apart from everyone else's."""
    path = Path(os.environ.get("DBT_TARGET_PATH", "target"))
    return path if path.is_absolute() else PROJECT_ROOT / path


def manifest_path() -> Path:
    return target_dir() / "manifest.json"

# What a parse reads: a change to any of these makes the manifest stale.
DBT_SOURCES = (PROJECT_ROOT / "dbt_project", PROJECT_ROOT / "dbt_project.yml",
               PROJECT_ROOT / "pipelines" / "worldbank" / "indicators.yml")


class DbtError(RuntimeError):
    """dbt could not prepare the project (a parse error, a missing profile variable)."""


def dbt_command(*args: str) -> list[str]:
    """`dbt <args>` against the project at the repo root and its profiles.yml."""
    return [DBT_EXECUTABLE, *args, "--project-dir", str(PROJECT_ROOT),
            "--profiles-dir", str(PROJECT_ROOT)]


# dbt runs as the transformer role: it reads the raw schemas and writes only dbt's own.
DBT_ROLE = "transformer"
# The warehouse lock (pulse/locks.py) a build holds: one build of the marts at a time.
BUILD_LOCK = "dbt build"
# dbt commands that write models; the others (parse, docs, ls, test) need no lock.
BUILDING_COMMANDS = ("build", "run", "seed", "snapshot")


def export_dbt_env(database: str | None = None) -> warehouse.Connection:
    """Points the PG* variables profiles.yml reads at the transformer's connection."""
    conn = roles.connection(DBT_ROLE, database)
    os.environ.update(dbt_env(conn))
    return conn


def dbt_env(conn: warehouse.Connection) -> dict[str, str]:
    """The variables profiles.yml and dbt_project.yml read: the transformer's PG* and
    the analyst's role name (the marts' grants)."""
    return {**conn.libpq_env(), **roles.dbt_vars(conn.database)}


def check_before_build(conn: warehouse.Connection) -> None:
    """What must hold before dbt builds as the transformer (pulse/roles.py)."""
    roles.check_raw_schemas(conn)


# --- the manifest ---------------------------------------------------------------------


def _newest_source_mtime() -> float:
    project, *files = DBT_SOURCES
    paths = [*(p for p in files if p.exists()), *(p for p in project.rglob("*") if p.is_file())]
    return max(p.stat().st_mtime for p in paths)


def _manifest_database(manifest: Path) -> str | None:
    nodes = load_manifest(manifest).get("nodes", {})  # parsed once, for the callers too
    return next((n.get("database") for n in nodes.values() if n.get("database")), None)


def manifest_is_stale(manifest: Path | None = None) -> bool:
    """Missing, older than the dbt sources, or parsed for another database.

    The manifest bakes the database into every relation name, and Dagster reads row
    counts through those names: a manifest of another database would miss them.
    """
    manifest = manifest or manifest_path()
    if not manifest.exists() or manifest.stat().st_mtime < _newest_source_mtime():
        return True
    return _manifest_database(manifest) != os.environ.get("PGDATABASE", "pulse")


def prepare_dbt(force: bool = False) -> Path:
    """The manifest's path, after `dbt parse` if it is stale (see `manifest_is_stale`).

    `make` calls it before the tests, the demo and the Dagster UI; the Dagster
    definitions call it when they are built (never at import), so a changed model shows
    up at the next reload.
    """
    if force or manifest_is_stale():
        parse = subprocess.run(dbt_command("parse", "--quiet", "--target-path", str(target_dir())),
                               cwd=PROJECT_ROOT, capture_output=True, text=True)
        if parse.returncode != 0:  # dbt's own message: names the file and the line
            raise DbtError(f"dbt parse of {PROJECT_ROOT / 'dbt_project'} failed (exit "
                           f"{parse.returncode}); fix the project and run `make manifest`:\n"
                           f"{(parse.stdout + parse.stderr)[-3000:]}")
    return manifest_path()


def load_manifest(path: Path | None = None) -> dict:
    """The prepared manifest, parsed once per process and file version."""
    path = path or manifest_path()
    return _parsed(path, path.stat().st_mtime)


@functools.cache
def _parsed(path: Path, mtime: float) -> dict:
    return json.loads(path.read_text())
