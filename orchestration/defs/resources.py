"""Resources shared by the assets."""

from __future__ import annotations

from dagster_dbt import DbtCliResource
from dagster_dlt import DagsterDltResource

from pulse.dbt import DBT_EXECUTABLE

from .project import dbt_project


def resources() -> dict[str, object]:
    return {
        "dlt": DagsterDltResource(),
        "dbt": DbtCliResource(project_dir=dbt_project, dbt_executable=DBT_EXECUTABLE),
    }
