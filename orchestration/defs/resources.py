"""Resources shared by the assets."""

from __future__ import annotations

import sys
from pathlib import Path

from dagster_dbt import DbtCliResource
from dagster_dlt import DagsterDltResource

from .project import dbt_project


def resources() -> dict[str, object]:
    return {
        "dlt": DagsterDltResource(),
        # The dbt beside this interpreter: works without activating the virtualenv.
        "dbt": DbtCliResource(
            project_dir=dbt_project, dbt_executable=str(Path(sys.executable).with_name("dbt"))
        ),
    }
