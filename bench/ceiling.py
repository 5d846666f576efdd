"""The ceilings a backfill is measured against: one plain COPY, with and without the network.

- network ceiling (`copy_pages`): the sample API's pages, pre-rendered (bench/pages.py),
  fetched over HTTP, decoded and written with one psycopg COPY: what a loader of this API
  could reach if it did nothing but fetch, parse and copy.
- physical ceiling (`copy_file`): the same rows from a local file, one COPY (what psql's
  `\\copy` does): what Postgres itself takes on this machine.

No dlt, no merge, no state. Both load any rows dataset of datasets.yml into the same typed
table `bench_ceiling.<name>`: the columns, types and constraints of Pulse's raw table
(the declared columns, the system fields and dlt's `_dlt_load_id`; no index), created and
committed before the COPY, as a loader finds its table.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import psycopg
import requests

from bench.pages import ORDER, SELECT, keyset_where
from pipelines.chicago.settings import SYSTEM_FIELDS, load_datasets

# the types dlt's postgres destination gives the declared columns (see `_table`)
PG_TYPES = {"text": "varchar", "bool": "boolean", "json": "json", "timestamp": "timestamptz"}
SOURCE_KEYS = {column: name for name, column in SYSTEM_FIELDS.items()}
# dlt stamps every row it loads with its load id (pipelines/load.py asks for it)
LOAD_ID = "_dlt_load_id"
BLOCK = 1 << 20  # bytes per write of the file to COPY, as psql's \copy streams it


def _table(conn: psycopg.Connection, dataset: str) -> tuple[str, list[str]]:
    """Creates bench_ceiling.<dataset> afresh (committed); returns its name and columns."""
    declared = load_datasets()[dataset]
    # as dlt creates raw_chicago.<dataset>: no index, not null on the merge key and the cursor
    ddl = ", ".join([*(f'"{c}" {PG_TYPES[spec["data_type"]]}'
                       + (" not null" if c == declared.primary_key or spec.get("nullable") is False else "")
                       for c, spec in declared.columns.items()),
                     f'"{LOAD_ID}" varchar not null'])
    table = f"bench_ceiling.{dataset}"  # a name from datasets.yml: a lower-case identifier
    with conn.cursor() as cur:
        cur.execute("create schema if not exists bench_ceiling")
        cur.execute(f"drop table if exists {table}")
        cur.execute(f"create table {table} ({ddl})")
    conn.commit()
    return table, list(declared.columns)


def copy_pages(base_url: str, conn_url: str, dataset: str = "crimes", page_size: int = 50_000) -> int:
    """Loads every row of `dataset` from the API at `base_url` into bench_ceiling.<dataset>
    with one COPY, paging as a backfill does; returns the row count."""
    declared = load_datasets()[dataset]
    url = f"{base_url.rstrip('/')}/resource/{declared.id}.json"
    load_id = f"{time.time():.6f}"
    rows = 0
    with psycopg.connect(conn_url) as pg, requests.Session() as http:
        table, columns = _table(pg, dataset)
        keys = [SOURCE_KEYS.get(c, c) for c in columns]
        json_at = {i for i, c in enumerate(columns) if declared.columns[c]["data_type"] == "json"}
        names = ", ".join(f'"{c}"' for c in [*columns, LOAD_ID])
        with pg.cursor() as cur, cur.copy(f"copy {table} ({names}) from stdin") as copy:
            after = None
            while True:
                page = http.get(url, params={"$select": SELECT, "$where": keyset_where(after),
                                             "$order": ORDER, "$limit": page_size}, timeout=300)
                page.raise_for_status()
                data = page.json()
                for row in data:
                    values = [row.get(k) for k in keys]
                    for i in json_at:
                        if values[i] is not None:
                            values[i] = json.dumps(values[i])
                    values.append(load_id)
                    copy.write_row(values)
                rows += len(data)
                if len(data) < page_size:
                    break
                after = (data[-1][":updated_at"], data[-1][":id"])
    return rows


def export_table(conn_url: str, dataset: str, path: Path) -> int:
    """Writes bench_ceiling.<dataset> to `path` in COPY's text format; returns its size.

    The physical ceiling's input: the rows the network ceiling loaded, so the same rows the
    API serves, written once before anything is timed."""
    table = f"bench_ceiling.{dataset}"
    with psycopg.connect(conn_url) as pg, pg.cursor() as cur, path.open("wb") as out:
        with cur.copy(f"copy {table} to stdout") as copy:
            for block in copy:
                out.write(block)
    return path.stat().st_size


def copy_file(conn_url: str, dataset: str, path: Path) -> dict[str, Any]:
    """Loads the file `export_table` wrote into a fresh bench_ceiling.<dataset> with one COPY;
    returns rows and `seconds`, the COPY's alone (the table is created before)."""
    with psycopg.connect(conn_url) as pg:
        table, columns = _table(pg, dataset)
        names = ", ".join(f'"{c}"' for c in [*columns, LOAD_ID])
        started = time.perf_counter()
        with pg.cursor() as cur, path.open("rb") as source:
            with cur.copy(f"copy {table} ({names}) from stdin") as copy:
                while block := source.read(BLOCK):
                    copy.write(block)
            rows = cur.rowcount
        pg.commit()
        seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": seconds}
