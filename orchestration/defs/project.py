"""The dbt project as Dagster sees it, and the one place its manifest is prepared."""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from pulse.dbt import DBT_EXECUTABLE
from pulse.warehouse import PROJECT_ROOT

dbt_project = DbtProject(project_dir=PROJECT_ROOT, profiles_dir=PROJECT_ROOT)
# Under `dagster dev` the manifest is re-parsed at load; everywhere else `prepare_dbt()`
# (called by `make`, the CLI and the tests) builds it once, before definitions load.
dbt_project.prepare_if_dev()

DBT_SOURCES = (PROJECT_ROOT / "dbt_project", PROJECT_ROOT / "dbt_project.yml")


def _newest_source_mtime() -> float:
    paths = [DBT_SOURCES[1], *(p for p in DBT_SOURCES[0].rglob("*") if p.is_file())]
    return max(p.stat().st_mtime for p in paths)


def _manifest_database(manifest: Path) -> str | None:
    nodes = json.loads(manifest.read_text()).get("nodes", {})
    return next((n.get("database") for n in nodes.values() if n.get("database")), None)


def manifest_is_stale(manifest: Path = dbt_project.manifest_path) -> bool:
    """Missing, older than the dbt sources, or parsed for another database.

    The manifest bakes the database into every relation name, and Dagster reads row
    counts through those names: a manifest of another database would miss them.
    """
    if not manifest.exists() or manifest.stat().st_mtime < _newest_source_mtime():
        return True
    return _manifest_database(manifest) != os.environ.get("PGDATABASE", "pulse")


def load_manifest() -> dict:
    """The prepared manifest, parsed once per process (the dbt assets, checks and reports
    all read it when definitions load)."""
    return _parsed(dbt_project.manifest_path, dbt_project.manifest_path.stat().st_mtime)


@functools.cache
def _parsed(path: Path, mtime: float) -> dict:
    return json.loads(path.read_text())


def prepare_dbt(force: bool = False) -> Path:
    """Runs `dbt parse` when the manifest is stale (see `manifest_is_stale`)."""
    if force or manifest_is_stale():
        dbt = DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE)
        dbt.cli(["parse", "--quiet"], target_path=dbt_project.target_path).wait()
    return dbt_project.manifest_path
