"""The reports the API serves: each report mart's columns and types as the warehouse has
them, its row count, and when dbt last built it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from pulse.reports import ReportModel

# How a column's values are read from a query string and written to JSON, by its base type.
KINDS = {
    "bool": "boolean", "int2": "integer", "int4": "integer", "int8": "integer",
    "float4": "number", "float8": "number", "numeric": "number", "date": "date",
    "timestamp": "timestamp", "timestamptz": "timestamp",
}
RANGE_KINDS = {"integer", "number", "date", "timestamp"}
# pulse.reports' CSV writer's kind of each base type: the API's CSV is the files' CSV.
CSV_KINDS = {"bool": "bool", "int2": "int", "int4": "int", "int8": "int", "float4": "float",
             "float8": "float", "numeric": "numeric", "date": "date", "timestamp": "timestamp",
             "timestamptz": "timestamptz", "time": "time"}

_COLUMNS = """
select c.relname, a.attname, format_type(a.atttypid, a.atttypmod),
       coalesce(b.typname, t.typname)
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
join pg_type t on t.oid = a.atttypid
left join pg_type b on t.typtype = 'd' and b.oid = t.typbasetype
where n.nspname = %s and c.relname = any(%s) and has_table_privilege(c.oid, 'SELECT')
order by c.relname, a.attnum
"""

_BUILT = """
select unique_id, succeeded_at from ops.dbt_results
where unique_id = any(%s) and succeeded_at is not null
"""


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # as Postgres writes it: "numeric(18,2)", "date"
    kind: str  # boolean, integer, number, date, timestamp or text: how values are read
    description: str
    csv_kind: str = "text"


@dataclass(frozen=True)
class ApiReport:
    """A report mart the analyst can read."""

    name: str
    schema: str
    table: str
    title: str
    description: str
    columns: tuple[Column, ...]
    refreshed_at: dt.datetime | None  # when dbt last built it (ops.dbt_results)

    def column(self, name: str) -> Column | None:
        return next((c for c in self.columns if c.name == name), None)

    def relation(self) -> sql.Composable:
        return sql.Identifier(self.schema, self.table)

    def summary(self, row_count: int | None = None) -> dict[str, Any]:
        return {
            "name": self.name, "title": self.title, "description": self.description,
            "row_count": row_count,
            "refreshed_at": self.refreshed_at.isoformat() if self.refreshed_at else None,
            "columns": [{"name": c.name, "type": c.type, "kind": c.kind,
                         "description": c.description} for c in self.columns],
            "url": f"/api/v1/reports/{self.name}",
        }


def read_catalog(conn: psycopg.Connection, models: Sequence[ReportModel]
                 ) -> dict[str, ApiReport]:
    """The report marts among `models` that this connection's role may read, by name;
    a mart not built yet (or not granted) is left out."""
    by_schema: dict[str, list[ReportModel]] = {}
    for model in models:
        by_schema.setdefault(model.schema, []).append(model)
    columns: dict[tuple[str, str], list[Column]] = {}
    with conn.cursor() as cur:
        for schema, group in by_schema.items():
            cur.execute(_COLUMNS, (schema, [m.table for m in group]))
            described = {m.table: m.column_descriptions for m in group}
            for table, name, type_, base in cur.fetchall():
                columns.setdefault((schema, table), []).append(Column(
                    name, type_, KINDS.get(base, "text"), described[table].get(name, ""),
                    CSV_KINDS.get(base, "text")))
        built = _built_at(cur, [m.unique_id for m in models])
    return {
        m.name: ApiReport(m.name, m.schema, m.table, m.title, m.description,
                          tuple(columns[(m.schema, m.table)]), built.get(m.unique_id))
        for m in models if (m.schema, m.table) in columns
    }


def _built_at(cur: psycopg.Cursor, unique_ids: list[str]) -> dict[str, dt.datetime]:
    """When dbt last built each model; {} before dbt's first run records anything."""
    cur.execute("select case when to_regclass('ops.dbt_results') is null then false "
                "else has_table_privilege(to_regclass('ops.dbt_results'), 'SELECT') end")
    if not cur.fetchone()[0]:
        return {}
    cur.execute(_BUILT, (unique_ids,))
    return dict(cur.fetchall())
