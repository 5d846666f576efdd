"""The ceiling: the same pages fetched the same way, written with one plain COPY.

No dlt, no merge, no state: what Postgres itself takes from this API on this machine.
Any rows dataset of datasets.yml, into an equivalent typed table `bench_ceiling.<name>`.
"""

from __future__ import annotations

import json

import psycopg
import requests

from pipelines.chicago.settings import SYSTEM_FIELDS, load_datasets

PG_TYPES = {"text": "text", "bool": "boolean", "json": "jsonb", "timestamp": "timestamptz"}
SOURCE_KEYS = {column: name for name, column in SYSTEM_FIELDS.items()}


def copy_load(base_url: str, conn_url: str, dataset: str = "crimes", page_size: int = 50_000) -> int:
    """Loads every row of `dataset` into bench_ceiling.<dataset> with COPY; returns the row count."""
    declared = load_datasets()[dataset]
    types = {c: spec["data_type"] for c, spec in declared.columns.items()}
    columns = list(types)
    keys = [SOURCE_KEYS.get(c, c) for c in columns]
    json_at = {i for i, c in enumerate(columns) if types[c] == "json"}
    ddl = ", ".join(f'"{c}" {PG_TYPES[types[c]]}' for c in columns)
    url = f"{base_url.rstrip('/')}/resource/{declared.id}.json"
    start = ":updated_at > '2001-01-01T00:00:00.000Z'"
    rows = 0
    table = f"bench_ceiling.{dataset}"  # a name from datasets.yml: a lower-case identifier
    with psycopg.connect(conn_url) as pg, pg.cursor() as cur, requests.Session() as http:
        cur.execute("create schema if not exists bench_ceiling")
        cur.execute(f"drop table if exists {table}")
        cur.execute(f"create table {table} ({ddl})")
        names = ", ".join(f'"{c}"' for c in columns)
        with cur.copy(f"copy {table} ({names}) from stdin") as copy:
            where = start
            while True:
                page = http.get(url, params={"$select": ":*,*", "$where": where,
                                             "$order": ":updated_at,:id", "$limit": page_size},
                                timeout=60)
                page.raise_for_status()
                data = page.json()
                for row in data:
                    values = [row.get(k) for k in keys]
                    for i in json_at:
                        if values[i] is not None:
                            values[i] = json.dumps(values[i])
                    copy.write_row(values)
                rows += len(data)
                if len(data) < page_size:
                    break
                stamp, row_id = data[-1][":updated_at"], data[-1][":id"]
                where = (f"{start} and (:updated_at > '{stamp}' or "
                         f"(:updated_at = '{stamp}' and :id > '{row_id}'))")
    return rows
