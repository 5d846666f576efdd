"""The one way Pulse calls the dbt CLI: the dbt beside this interpreter, this project."""

from __future__ import annotations

import sys
from pathlib import Path

from pulse.warehouse import PROJECT_ROOT

# Works without activating the virtualenv.
DBT_EXECUTABLE = str(Path(sys.executable).with_name("dbt"))


def dbt_command(*args: str) -> list[str]:
    """`dbt <args>` against the project at the repo root and its profiles.yml."""
    return [DBT_EXECUTABLE, *args, "--project-dir", str(PROJECT_ROOT),
            "--profiles-dir", str(PROJECT_ROOT)]
