"""The one way Pulse calls dbt: the dbt beside this interpreter, this project, and its
manifest, prepared once (`prepare_dbt`) and read by everything that needs it."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
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


def dbt_connection(database: str | None = None) -> warehouse.Connection:
    """The connection every dbt build runs with: the transformer's (`pulse.roles`)."""
    return roles.connection(DBT_ROLE, database)


def export_dbt_env(database: str | None = None) -> warehouse.Connection:
    """Points the PG* variables profiles.yml reads at the transformer's connection."""
    conn = dbt_connection(database)
    os.environ.update(dbt_env(conn))
    return conn


def dbt_env(conn: warehouse.Connection) -> dict[str, str]:
    """The variables profiles.yml and dbt_project.yml read: the transformer's PG* and
    the analyst's role name (the marts' grants)."""
    return {**conn.libpq_env(), **roles.dbt_vars(conn.database)}


# What dbt compares before it reuses its last parse (target/partial_parse.msgpack), besides
# the files: dbt 1.11 hashes the connection fields of the profile (host, port, user,
# database, schema...; never the password), the --vars, --profile and --target options, and
# the values of the variables dbt_project.yml reads (dbt/parser/manifest.py,
# build_manifest_state_check). A difference is "Unable to do partial parsing because
# profile has changed" (or "env vars used in dbt_project.yml have changed"): a full parse.
# These are the variables profiles.yml and dbt_project.yml read that reach those hashes.
PARSE_VARIABLES = ("PGHOST", "PGPORT", "PGUSER", "PGDATABASE", "PULSE_DBT_TARGET",
                   "PULSE_DBT_SCHEMA", "PULSE_ROLES", "PULSE_ANALYST_ROLE")


def parse_env(conn: warehouse.Connection) -> dict[str, str]:
    """The environment of `dbt parse`: a build's (`dbt_env(conn)`), so that the parse it
    leaves is one the builds reuse, without the password, which dbt neither hashes nor
    needs to parse (it connects to nothing)."""
    env = {**os.environ, **dbt_env(conn)}
    env.pop("PGPASSWORD", None)
    return env


def parse_variables(env: Mapping[str, str]) -> dict[str, str]:
    """What of `env` dbt's partial parsing compares (PARSE_VARIABLES); no secret."""
    return {key: env[key] for key in PARSE_VARIABLES if key in env}


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


def parsed_with_path(manifest: Path | None = None) -> Path:
    """Beside the manifest: the PARSE_VARIABLES of the `dbt parse` that left
    partial_parse.msgpack there (no secret: never the password)."""
    return (manifest or manifest_path()).with_name("partial_parse.variables.json")


def manifest_is_stale(manifest: Path | None = None,
                      conn: warehouse.Connection | None = None) -> bool:
    """Missing, older than the dbt sources, or parsed for another database; and, given
    `conn` (the connection dbt builds with), parsed with other variables than a build has.

    The manifest bakes the database into every relation name, and Dagster reads row
    counts through those names: a manifest of another database would miss them. A parse
    with other variables leaves a partial_parse.msgpack no build can reuse (see
    PARSE_VARIABLES): a checkout prepared before Pulse parsed as the builds do parses
    again once. Without `conn` (the Dagster definitions, which connect to nothing when
    the manifest is fresh) the database is PGDATABASE's.
    """
    manifest = manifest or manifest_path()
    if not manifest.exists() or manifest.stat().st_mtime < _newest_source_mtime():
        return True
    if conn is None:
        return _manifest_database(manifest) != os.environ.get("PGDATABASE", "pulse")
    recorded = parsed_with_path(manifest)
    return (_manifest_database(manifest) != conn.database or not recorded.exists()
            or json.loads(recorded.read_text()) != parse_variables(parse_env(conn)))


def prepare_dbt(force: bool = False, conn: warehouse.Connection | None = None,
                reader: bool = False) -> Path:
    """The manifest's path, after `dbt parse` if it is stale (see `manifest_is_stale`).

    `make manifest` calls it before the demo, the docs and the Dagster UI (each test
    worker prepares its own); the Dagster definitions call it when they are built (never
    at import), so a changed model shows up at the next reload.

    The parse runs as a build would (`parse_env`): `conn` is the connection dbt builds
    with (default: `dbt_connection()`, asked only when a parse is due). So the
    partial_parse.msgpack it leaves, which `pulse build` reads and dagster-dbt copies into
    each run's own target folder, is reused: dbt starts warm instead of parsing the whole
    project again at every Dagster run. A `reader` (`pulse reports` as the analyst, who
    may hold no other credentials) parses with its own variables in a scratch folder and
    keeps only manifest.json: the builds' partial parse is left as it was.
    """
    if not (force or manifest_is_stale(conn=conn)):
        return manifest_path()
    target = target_dir()
    if reader:
        target.mkdir(parents=True, exist_ok=True)
        env = {k: v for k, v in os.environ.items() if k != "PGPASSWORD"}
        with tempfile.TemporaryDirectory(dir=target, prefix=".parse-") as scratch:
            _parse(Path(scratch), env)
            os.replace(Path(scratch) / "manifest.json", manifest_path())
        return manifest_path()
    env = parse_env(conn or dbt_connection())
    _parse(target, env)
    parsed_with_path().write_text(json.dumps(parse_variables(env), indent=1, sort_keys=True))
    return manifest_path()


def _parse(target: Path, env: dict[str, str]) -> None:
    parse = subprocess.run(dbt_command("parse", "--quiet", "--target-path", str(target)),
                           cwd=PROJECT_ROOT, env=env, capture_output=True, text=True)
    if parse.returncode != 0:  # dbt's own message: names the file and the line
        raise DbtError(f"dbt parse of {PROJECT_ROOT / 'dbt_project'} failed (exit "
                       f"{parse.returncode}); fix the project and run `make manifest`:\n"
                       f"{(parse.stdout + parse.stderr)[-3000:]}")


def load_manifest(path: Path | None = None) -> dict:
    """The prepared manifest, parsed once per process and file version."""
    path = path or manifest_path()
    return _parsed(path, path.stat().st_mtime)


@functools.cache
def _parsed(path: Path, mtime: float) -> dict:
    return json.loads(path.read_text())
