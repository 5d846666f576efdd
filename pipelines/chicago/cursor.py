"""The `:updated_at` cursor never runs ahead of the clock.

dlt's incremental saves the newest `:updated_at` it saw, and the next run asks only for
rows after it (minus the overlap). One upstream row stamped 2099 (a clock or data
error at the portal) would carry the cursor to 2099: every later run would ask for
`:updated_at > '2098-...'`, load nothing else and still succeed, while the overlap
reloaded that one row each time and kept the source looking fresh.

Two guards, both for row datasets:

- A page's rows stamped later than now + `future_tolerance_seconds` (a day by default)
  never reach the incremental: `PageToArrow` gives them a reason and a null cursor, so
  they go to `<table>_rejects` and the cursor stays where the real rows left it. Each
  run fetches and rejects such a row again (its stamp is still ahead of the cursor),
  which keeps it visible, until the portal fixes it or the clock reaches it.
- `FutureCursorGuard`: a cursor already stored in the future (by a load from before
  these guards) is logged as an ERROR and moved back, before the run asks for anything,
  to the newest stamp of the raw table that is not in the future. The raw table is
  the warehouse's record of what was loaded and rows are loaded in `:updated_at`
  order, so every row after that stamp is fetched again and merged: nothing is
  skipped, which is why the guard resumes instead of failing the run. `pulse reset
  chicago --dataset <name>` remains the way to reload a dataset from scratch.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import dlt
from dlt.common.time import ensure_pendulum_datetime
from dlt.destinations.exceptions import DatabaseUndefinedRelation
from dlt.extract.items_transform import ItemTransform

from .helpers import SocrataError, soql_timestamp
from .settings import SYSTEM_FIELDS

log = logging.getLogger(__name__)

CURSOR = SYSTEM_FIELDS[":updated_at"]  # the column dlt's incremental follows
# Portal clocks and ours disagree by seconds; a stamp a day ahead is an error upstream.
FUTURE_TOLERANCE_SECONDS = 86_400.0


def horizon(tolerance_seconds: float) -> datetime:
    """The latest `:updated_at` a run accepts: now plus the tolerance."""
    return datetime.now(UTC) + timedelta(seconds=tolerance_seconds)


def future_reason(stamp: datetime, tolerance_seconds: float) -> str:
    """The reject reason of a row stamped after `horizon(tolerance_seconds)`."""
    return (f":updated_at {soql_timestamp(stamp)} is in the future (beyond now + "
            f"{tolerance_seconds:g} s, SOURCES__CHICAGO__FUTURE_TOLERANCE_SECONDS): not loaded, "
            "so the cursor cannot jump past every real change")


class FutureCursorGuard(ItemTransform[Any, Any]):
    """A resource step that checks the stored cursor before dlt's incremental reads it.

    dlt binds a resource's steps in order before the first request; this one sits
    before the incremental (affinity 1), so a cursor it moves back is the one the
    incremental starts from. Items pass through untouched.
    """

    placement_affinity: ClassVar[float] = 0.5

    def __init__(self, dataset: str, table_name: str, tolerance_seconds: float) -> None:
        super().__init__(lambda item: item)
        self.dataset = dataset  # "<name> (<id>)", for messages
        self.table_name = table_name
        self.tolerance_seconds = tolerance_seconds

    def bind(self, pipe: Any) -> FutureCursorGuard:
        cursor = dlt.current.resource_state(pipe.name).get("incremental", {}).get(CURSOR)
        stored = cursor.get("last_value") if cursor else None
        limit = horizon(self.tolerance_seconds)
        if stored is not None and ensure_pendulum_datetime(stored) > limit:
            self._resume(cursor, ensure_pendulum_datetime(stored), limit)
        return self

    def __call__(self, item: Any, meta: Any = None) -> Any:
        return item

    def _resume(self, cursor: dict[str, Any], stored: datetime, limit: datetime) -> None:
        resume = self._newest_loaded_stamp(limit)
        log.error(
            "dataset %s: the stored :updated_at cursor is %s, in the future (beyond now + %g s): "
            "a row stamped in the future was loaded before Pulse refused such rows, and every "
            "run since asked only for rows after it. Resuming from %s, the newest stamp in "
            "raw_chicago.%s that is not in the future; the rows after it are fetched again and "
            "merged. If the table still looks wrong, reload it: pulse reset chicago --dataset %s",
            self.dataset, soql_timestamp(stored), self.tolerance_seconds,
            soql_timestamp(resume) if resume else "the initial value (the table holds none)",
            self.table_name, self.table_name)
        cursor["unique_hashes"] = []
        if resume is None:
            cursor.clear()  # dlt starts over from the initial value
        else:
            cursor["last_value"] = ensure_pendulum_datetime(resume)

    def _newest_loaded_stamp(self, limit: datetime) -> datetime | None:
        """The newest cursor value in the raw table not after `limit`, or None."""
        try:
            # the warehouse and credentials of the run under way (pipeline.run sets them)
            with dlt.current.pipeline().sql_client() as client:
                table = client.make_qualified_table_name(self.table_name)
                rows = client.execute_sql(
                    f"select max({CURSOR}) from {table} where {CURSOR} <= %s", limit)
        except DatabaseUndefinedRelation:
            return None
        except Exception as err:
            raise SocrataError(
                f"dataset {self.dataset}: the stored :updated_at cursor is in the future and the "
                f"newest real stamp could not be read from raw_chicago.{self.table_name} "
                f"({type(err).__name__}: {err}). Reload the dataset: pulse reset chicago "
                f"--dataset {self.table_name}", retriable=False) from err
        return rows[0][0] if rows else None
