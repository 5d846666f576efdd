"""Helpers for pipeline tests: run the real source against a local API, read raw back."""

from __future__ import annotations

from typing import Any

from pipelines.chicago import load_dataset
from pipelines.chicago.settings import load_datasets
from sample_api import SampleApi
from tests.conftest import query

# The columns compared against the generator's ground truth: every declared source column.
COMPARED = [c for c in load_datasets()["crimes"].columns
            if c not in ("location", "socrata_id", "socrata_created_at")]


def load(api: SampleApi, pipeline, conn, **source_args: Any):
    """One incremental run of the chicago source against `api`, into `conn`'s database."""
    source_args.setdefault("backoff_factor", 0)
    return load_dataset("crimes", pipeline, credentials=conn.url(), base_url=api.url, **source_args)


def fetched_rows(api: SampleApi) -> int:
    return sum(r.rows for r in api.data_requests())


def raw_rows(conn) -> dict[str, tuple]:
    cols = ", ".join(f'"{c}"' for c in COMPARED)
    rows = query(conn, f"select {cols} from raw_chicago.crimes")
    return {row[0]: tuple(_text(v) for v in row) for row in rows}


def truth_rows(dataset) -> dict[str, tuple]:
    out = {}
    for row in dataset.truth():
        row = {**row, "socrata_updated_at": row.get(":updated_at")}
        out[row["id"]] = tuple(_text(row.get(c), c) for c in COMPARED)
    return out


def _text(value: Any, column: str | None = None) -> Any:
    """Normalises a value so raw (Postgres) and truth (JSON) compare equal."""
    if value is None or isinstance(value, bool):
        return value
    if hasattr(value, "isoformat"):  # timestamptz from Postgres
        return value.strftime("%Y-%m-%dT%H:%M:%S")
    if column == "socrata_updated_at":
        return str(value)[:19]
    return str(value)


def rows_in_last_load(conn) -> int:
    return query(
        conn,
        "select count(*) from raw_chicago.crimes where _dlt_load_id = "
        "(select max(load_id) from raw_chicago._dlt_loads where status = 0)",
    )[0][0]


def cursor_where(api: SampleApi) -> str:
    """The $where of the first data request: tells where the cursor stood."""
    return api.data_requests()[0].params["$where"]
