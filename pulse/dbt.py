"""The one way Pulse calls the dbt CLI: the dbt beside this interpreter, this project."""

from __future__ import annotations

import sys
from pathlib import Path

from pulse import warehouse
from pulse.warehouse import PROJECT_ROOT

# Works without activating the virtualenv.
DBT_EXECUTABLE = str(Path(sys.executable).with_name("dbt"))


def dbt_command(*args: str) -> list[str]:
    """`dbt <args>` against the project at the repo root and its profiles.yml."""
    return [DBT_EXECUTABLE, *args, "--project-dir", str(PROJECT_ROOT),
            "--profiles-dir", str(PROJECT_ROOT)]


# dbt runs as the transformer role: it reads the raw schemas and writes only dbt's own.
DBT_ROLE = "transformer"


def export_dbt_env(database: str | None = None) -> warehouse.Connection:
    """Points the PG* variables profiles.yml reads at the transformer's connection."""
    return warehouse.export_env(database, role=DBT_ROLE)
