"""`pulse sql`: SQL over the event lake with DuckDB, the embedded stand-in for Athena.

The views `events` and `bad_events` read every Parquet file under the lake
(PULSE_LAKE_URL) with its Hive partition `dt`, so a query that filters on `dt` reads
only those days' files, as Athena, Trino and Spark would.
"""

from __future__ import annotations

from pathlib import Path


class LakeSqlError(RuntimeError):
    pass


def lake_connection(url: str):
    import duckdb

    if "://" in url and not url.startswith("file://"):
        raise LakeSqlError(f"pulse sql reads a lake in a folder; {url} is in object storage: "
                           "query it with DuckDB's httpfs extension, Athena, Trino or Spark "
                           "(docs/events.md#reading-the-lake)")
    root = Path(url.removeprefix("file://"))
    conn = duckdb.connect()
    for table in ("events", "bad_events"):
        files = list((root / table).glob("dt=*/*.parquet"))
        pattern = str(root / table / "*" / "*.parquet").replace("'", "''")
        if files:
            conn.execute(f"create view {table} as select * from read_parquet('{pattern}', "
                         "hive_partitioning = true)")
    return conn


def run_sql(url: str, statement: str) -> tuple[list[str], list[tuple]]:
    import duckdb

    conn = lake_connection(url)
    try:
        result = conn.execute(statement)
    except duckdb.Error as err:
        raise LakeSqlError(f"{err} (the lake: {url}; views: events, bad_events)") from None
    return [d[0] for d in result.description], result.fetchall()
