"""Rows raw already holds, at the same `:updated_at`, are not loaded again.

Every run re-reads `overlap_seconds` before its cursor (a revision the portal stamped late
must not be missed), and Socrata's bulk revisions stamp thousands of rows alike, so a
refresh after which nothing changed still fetches a page or two it has. Merged again,
those rows would get a new load id: the enriched models would rebuild them, and a
refresh that found nothing new would still look like one that loaded rows, so dbt and
the reports would run for nothing. `:updated_at` changes with every revision of a row,
so a row whose key and stamp raw already holds is that very version: this step drops
it. What it drops is counted (`rows_unchanged`); a table that gets no row in a run is
reported unchanged and the steps downstream skip.

It asks raw only for the pages whose stamps reach back to what raw holds (the overlap):
a backfill, or the new rows after the overlap, costs one `max()` at the first page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

import dlt
import pyarrow as pa
import pyarrow.compute as pc
from dlt.destinations.exceptions import DatabaseUndefinedRelation
from dlt.extract.items_transform import ItemTransform

from .arrow import REASON
from .cursor import CURSOR


class SkipLoadedVersions(ItemTransform[Any, Any]):
    """A resource step between the incremental (affinity 1) and SplitRejects (1.5): it sees
    typed pages, whose rows the cursor already counts, and leaves rejected rows alone."""

    placement_affinity: ClassVar[float] = 1.2

    def __init__(self, table_name: str, primary_key: str) -> None:
        super().__init__(lambda item: item)
        self.table_name = table_name
        self.primary_key = primary_key
        self.custom_metrics.update(rows_unchanged=0)
        self._newest_loaded: datetime | None = None
        self._asked = False

    def __call__(self, item: Any, meta: Any = None) -> Any:
        if not isinstance(item, pa.Table) or not item.num_rows:
            return item
        if not self._asked:
            self._newest_loaded = self._query(f"select max({CURSOR}) from {{table}}")
            self._asked = True
        oldest = pc.min(item[CURSOR]).as_py()
        if self._newest_loaded is None or oldest is None or oldest > self._newest_loaded:
            return item  # nothing in raw reaches this page
        newest = pc.max(item[CURSOR]).as_py()
        loaded = self._loaded_versions(oldest, newest)
        keys, stamps = item[self.primary_key].to_pylist(), item[CURSOR].to_pylist()
        reasons = item[REASON].to_pylist() if REASON in item.column_names else [None] * len(keys)
        keep = [reason is not None or (str(key), stamp) not in loaded
                for key, stamp, reason in zip(keys, stamps, reasons, strict=True)]
        dropped = keep.count(False)
        if not dropped:
            return item
        self.custom_metrics["rows_unchanged"] += dropped
        return item.filter(pa.array(keep))

    def _loaded_versions(self, oldest: datetime, newest: datetime) -> set[tuple[str, datetime]]:
        rows = self._query(
            f"select {{key}}::text, {CURSOR} from {{table}} where {CURSOR} between %s and %s",
            oldest, newest, all_rows=True)
        return set(rows or ())

    def _query(self, sql: str, *args: Any, all_rows: bool = False) -> Any:
        """`sql` on this table of the warehouse the run loads into (None if it has no table
        yet): as the run's own credentials, as FutureCursorGuard reads it."""
        try:
            with dlt.current.pipeline().sql_client() as client:
                table = client.make_qualified_table_name(self.table_name)
                key = client.escape_column_name(self.primary_key)
                rows = client.execute_sql(sql.format(table=table, key=key), *args)
        except DatabaseUndefinedRelation:
            return None
        if all_rows:
            return [tuple(row) for row in rows]
        return rows[0][0] if rows else None
