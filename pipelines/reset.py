"""`pulse reset`: a deliberate full reload of a pipeline's tables.

A reset drops what the pipeline loaded (its tables, their rejects and nested tables, in
the raw schema and dlt's staging schema beside it) and its state, in the warehouse and
locally, under the pipeline's load lock. The next load then starts from the beginning,
as on a new warehouse. dbt's views over the dropped tables go with them (CASCADE); the
next `dbt build` makes them again.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import dlt

from pulse import locks, roles
from pulse.warehouse import table_exists

from .load import DLT_TABLE_PREFIX, load_lock_name

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reset:
    pipeline: str
    tables: tuple[str, ...]  # schema-qualified, as dropped
    state_rows: int


def reset_pipeline(pipeline: dlt.Pipeline, credentials: str | None = None) -> Reset:
    """Drops `pipeline`'s tables and state in the warehouse and its local state."""
    import psycopg
    from psycopg import sql

    dataset = pipeline.dataset_name
    credentials = credentials or roles.url("loader", raw_dataset=dataset)
    # The schema the pipeline's tables are recorded under: dlt names it after the source,
    # and each of our pipelines loads one source named like the pipeline.
    schema_name = pipeline.default_schema_name or pipeline.pipeline_name
    with locks.exclusive(credentials, load_lock_name(pipeline)), \
            psycopg.connect(credentials) as conn:
        tables = _tables_of(conn, dataset, schema_name)
        dropped, state_rows = [], 0
        # dlt's staging dataset records the schema too: forget it there as well, or the
        # next merge would skip creating the staging tables it believes exist.
        for schema in (dataset, f"{dataset}{roles.DLT_STAGING_SUFFIX}"):
            for table in tables:
                if table_exists(conn, schema, table):
                    conn.execute(sql.SQL("drop table {} cascade").format(
                        sql.Identifier(schema, table)))
                    dropped.append(f"{schema}.{table}")
            if table_exists(conn, schema, "_dlt_version"):
                conn.execute(sql.SQL("delete from {} where schema_name = %s").format(
                    sql.Identifier(schema, "_dlt_version")), (schema_name,))
        if table_exists(conn, dataset, "_dlt_pipeline_state"):
            state_rows = conn.execute(sql.SQL("delete from {} where pipeline_name = %s").format(
                sql.Identifier(dataset, "_dlt_pipeline_state")),
                (pipeline.pipeline_name,)).rowcount
        pipeline.drop()  # in the lock: no run of it may read the local state meanwhile
    log.warning("%s: reset: dropped %s and %d state row(s); the next load starts from the "
                "beginning", pipeline.pipeline_name, ", ".join(dropped) or "no tables", state_rows)
    return Reset(pipeline.pipeline_name, tuple(dropped), state_rows)


def _tables_of(conn, dataset: str, schema_name: str) -> list[str]:
    """The data tables (not dlt's own) of the newest stored version of `schema_name`."""
    from psycopg import sql

    if not table_exists(conn, dataset, "_dlt_version"):
        return []
    row = conn.execute(sql.SQL("select schema from {} where schema_name = %s "
                               "order by inserted_at desc limit 1").format(
        sql.Identifier(dataset, "_dlt_version")), (schema_name,)).fetchone()
    if not row:
        return []
    stored = json.loads(row[0])
    return sorted(t for t in stored.get("tables", {}) if not t.startswith(DLT_TABLE_PREFIX))
