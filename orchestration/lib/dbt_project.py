"""The dbt project as Dagster sees it: built when definitions are, never at import."""

import functools
from typing import Any

from dagster_dbt import DbtProject

from pulse.dbt import load_manifest, prepare_dbt, target_dir
from pulse.warehouse import PROJECT_ROOT


@functools.cache
def dbt_project() -> DbtProject:
    return DbtProject(project_dir=PROJECT_ROOT, profiles_dir=PROJECT_ROOT, target_path=target_dir())


@functools.cache  # asked by the dbt assets, the checks and the reports: prepared once
def manifest() -> dict[str, Any]:
    """The project's manifest, parsed by `dbt parse` first only when it is stale (a model
    changed since `make` prepared it): `pulse dev` then shows the change on reload."""
    return load_manifest(prepare_dbt())
