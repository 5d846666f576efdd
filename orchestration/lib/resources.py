"""The resources every asset is given: the warehouse and the dbt CLI."""

import contextlib
import os
from collections.abc import Iterator

import dagster as dg
from dagster_dbt import DbtCliResource

from pulse import roles
from pulse.dbt import DBT_EXECUTABLE, DBT_ROLE, dbt_env

from .dbt_project import dbt_project


class WarehouseResource(dg.ConfigurableResource):
    """The warehouse, as each step's least role (pulse/roles.py): where it is follows
    WAREHOUSE_URL or the embedded server (pulse/warehouse.py), read when a step runs."""

    database: str | None = None  # another database on the same server; default: the URL's

    def url(self, role: str, raw_dataset: str | None = None) -> str:
        """`role`'s postgresql:// URL; `raw_dataset` is a raw schema the loader writes."""
        return roles.url(role, self.database, raw_dataset=raw_dataset)

    @contextlib.contextmanager
    def dbt_env(self, **extra: str) -> Iterator[None]:
        """profiles.yml reads the PG* variables: they are the transformer's while dbt runs,
        and what they were afterwards; so are the `extra` variables (PULSE_TESTS_SINCE)."""
        wanted = {**dbt_env(roles.connection(DBT_ROLE, self.database)), **extra}
        saved = {key: os.environ.get(key) for key in wanted}
        os.environ.update(wanted)
        try:
            yield
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value


def resources() -> dict[str, object]:
    return {
        "warehouse": WarehouseResource(),
        "dbt": DbtCliResource(project_dir=dbt_project(), dbt_executable=DBT_EXECUTABLE),
    }
