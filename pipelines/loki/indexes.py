"""The indexes the readers of raw_logs need, made by its owner (the loader) after a load.

The crawl model `int_logs__requests_classified` and the lake copy read the loads they
have not seen (`_dlt_load_id >` their watermark): with these, a range scan, not a pass
over every line the warehouse ever loaded. dlt creates the tables, so the indexes come
after its first load; each is checked first, since CREATE INDEX locks out loads even
when it exists.
"""

from __future__ import annotations

import psycopg

INDEXES = {  # name: (table, column)
    "lines__dlt_load_id": ("lines", "_dlt_load_id"),
    "lines_logged_at": ("lines", "logged_at"),
    "requests__dlt_load_id": ("requests", "_dlt_load_id"),
}


def index_raw_logs(url: str) -> list[str]:
    """Creates the missing indexes of raw_logs as the role of `url`; returns their names."""
    created = []
    with psycopg.connect(url, autocommit=True) as conn:
        for name, (table, column) in INDEXES.items():
            has_table, has_index = conn.execute(
                "select to_regclass(%s) is not null, to_regclass(%s) is not null",
                (f"raw_logs.{table}", f"raw_logs.{name}")).fetchone()
            if has_table and not has_index:  # names from INDEXES, not from data
                conn.execute(f"create index if not exists {name} on raw_logs.{table} ({column})")
                created.append(name)
    return created
