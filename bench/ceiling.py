"""The ceiling: the same pages fetched the same way, written with one plain COPY.

No dlt, no merge, no state: what Postgres itself takes from this API on this machine.
"""

from __future__ import annotations

import json

import psycopg
import requests

from pipelines.chicago.settings import CRIMES_COLUMNS, SYSTEM_FIELDS

PG_TYPES = {"text": "text", "bool": "boolean", "json": "jsonb", "timestamp": "timestamptz"}
SOURCE_KEYS = {column: name for name, column in SYSTEM_FIELDS.items()}


def copy_load(base_url: str, conn_url: str, page_size: int = 50_000) -> int:
    """Loads every crime into bench_ceiling.crimes with COPY; returns the row count."""
    columns = list(CRIMES_COLUMNS)
    keys = [SOURCE_KEYS.get(c, c) for c in columns]
    json_at = {i for i, c in enumerate(columns) if CRIMES_COLUMNS[c]["data_type"] == "json"}
    ddl = ", ".join(f'"{c}" {PG_TYPES[CRIMES_COLUMNS[c]["data_type"]]}' for c in columns)
    url = f"{base_url.rstrip('/')}/resource/ijzp-q8t2.json"
    start = ":updated_at > '2001-01-01T00:00:00.000Z'"
    rows = 0
    with psycopg.connect(conn_url) as pg, pg.cursor() as cur, requests.Session() as http:
        cur.execute("create schema if not exists bench_ceiling")
        cur.execute("drop table if exists bench_ceiling.crimes")
        cur.execute(f"create table bench_ceiling.crimes ({ddl})")
        names = ", ".join(f'"{c}"' for c in columns)
        with cur.copy(f"copy bench_ceiling.crimes ({names}) from stdin") as copy:
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
