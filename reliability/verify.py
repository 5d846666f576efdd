"""Shared checks: what raw and the marts hold, against the sample API's ground truth.

Every function reads the warehouse through a `warehouse.Connection` (its URL), so the
checks work on any database a scenario (or a test) points them at. Nothing here
asserts: each returns numbers or differences, and the scenario decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pulse import warehouse

RAW_TABLE = "raw_chicago.crimes"
ENRICHED_TABLE = "enriched.int_chicago__crimes_enriched"
MONTHLY_MART = "marts.rpt_chicago__crimes_monthly_by_area"

# (id, :updated_at as `2022-04-03T21:50:08.000Z`): a row and the version of it.
Versions = dict[str, str]


query = warehouse.query  # scenarios and tests read the warehouse the same way


def table_exists(conn: warehouse.Connection, table: str) -> bool:
    return query(conn, "select to_regclass(%s) is not null", (table,))[0][0]


# --- raw --------------------------------------------------------------------------------


def raw_ids(conn: warehouse.Connection) -> list[str]:
    """Every id in raw_chicago.crimes, one per row (so duplicates show twice)."""
    if not table_exists(conn, RAW_TABLE):
        return []
    return [row_id for (row_id,) in query(conn, f"select id from {RAW_TABLE}")]


def raw_rows(conn: warehouse.Connection) -> int:
    if not table_exists(conn, RAW_TABLE):
        return 0
    return query(conn, f"select count(*) from {RAW_TABLE}")[0][0]


def raw_versions(conn: warehouse.Connection) -> Versions:
    """id -> socrata_updated_at of every raw row (the newest if an id is duplicated)."""
    if not table_exists(conn, RAW_TABLE):
        return {}
    rows = query(conn, f"select id, socrata_updated_at from {RAW_TABLE} order by socrata_updated_at")
    return {row_id: stamp_text(updated) for row_id, updated in rows}


def stamp_text(value: datetime | None) -> str:
    """A timestamptz as the API writes `:updated_at` (UTC, milliseconds, Z)."""
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def duplicates(conn: warehouse.Connection) -> int:
    """Raw rows beyond one per id, plus enriched rows beyond one per crime_id."""
    extra = 0
    if table_exists(conn, RAW_TABLE):
        extra += query(conn, f"select count(*) - count(distinct id) from {RAW_TABLE}")[0][0]
    if table_exists(conn, ENRICHED_TABLE):
        extra += query(conn, f"select count(*) - count(distinct crime_id) from {ENRICHED_TABLE}")[0][0]
    return extra


def lost(truth_ids: Iterable[str], raw_ids: Iterable[str]) -> int:
    """Ids of the truth that raw does not hold."""
    return len(set(truth_ids) - set(raw_ids))


# --- the truth --------------------------------------------------------------------------


def truth_versions(dataset: Any) -> Versions:
    """id -> `:updated_at` of every row the API serves now, read through its query engine
    (the system fields only, so no row is rendered)."""
    from pulse.sample_api.soql import MAX_LIMIT, parse_query

    out: Versions = {}
    offset = 0
    while True:
        page = dataset.query(parse_query({"$select": "id,:updated_at", "$order": "id",
                                          "$limit": str(MAX_LIMIT), "$offset": str(offset)}))
        out.update((row["id"], row[":updated_at"]) for row in page)
        if len(page) < MAX_LIMIT:
            return out
        offset += MAX_LIMIT


@dataclass
class Snapshot:
    """The dataset's rows rendered once, shared by the raw and the marts comparisons."""

    rows: list[dict[str, Any]]

    @classmethod
    def of(cls, dataset: Any) -> Snapshot:
        return cls(list(dataset.truth()))

    def truth(self) -> Iterator[dict[str, Any]]:  # what the pandas expectations read
        return iter(self.rows)

    def versions(self) -> Versions:
        return {row["id"]: row[":updated_at"] for row in self.rows}


# --- raw against the truth --------------------------------------------------------------


@dataclass
class RawCheck:
    rows: int  # rows in raw
    missing: list[str] = field(default_factory=list)  # truth ids raw does not hold
    stale: list[str] = field(default_factory=list)  # held, but another version than the truth
    unexpected: list[str] = field(default_factory=list)  # raw ids the truth does not have
    duplicates: int = 0

    @property
    def lost(self) -> int:
        """Rows whose current version is not in raw: missing ids and stale versions."""
        return len(self.missing) + len(self.stale)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.stale or self.unexpected or self.duplicates)

    def describe(self) -> str:
        parts = [f"{len(self.missing)} missing", f"{len(self.stale)} stale",
                 f"{len(self.unexpected)} unexpected", f"{self.duplicates} duplicate"]
        sample = (self.missing + self.stale + self.unexpected)[:5]
        return ", ".join(parts) + (f" (e.g. ids {sample})" if sample else "")


def check_raw(conn: warehouse.Connection, truth: Versions) -> RawCheck:
    """Raw against the truth's versions; also counts duplicate rows (raw and enriched)."""
    held = raw_versions(conn)
    ids = raw_ids(conn)
    return RawCheck(
        rows=len(ids),
        missing=sorted(set(truth) - set(held)),
        stale=sorted(i for i in truth.keys() & held.keys() if truth[i] != held[i]),
        unexpected=sorted(set(held) - set(truth)),
        duplicates=duplicates(conn),
    )


def content_differs(conn: warehouse.Connection, dataset: Any) -> list[str]:
    """Ids whose raw row differs from the truth in any source column (the comparison of
    tests/pipelines/helpers.py): a right version with wrong values is caught here."""
    from tests.pipelines.helpers import raw_rows as raw_content
    from tests.pipelines.helpers import truth_rows

    if not table_exists(conn, RAW_TABLE):
        return []
    held, want = raw_content(conn), truth_rows(dataset)
    return sorted(i for i in want.keys() & held.keys() if want[i] != held[i])


def raw_state_is_one_of(conn: warehouse.Connection, *states: Versions) -> int | None:
    """The index of the state raw equals exactly (ids and versions), or None: a load is
    either applied whole or not at all."""
    held = raw_versions(conn)
    if raw_rows(conn) != len(held):
        return None  # duplicated ids: no state has those
    return next((i for i, state in enumerate(states) if held == state), None)


def describe_difference(held: Versions, want: Versions) -> str:
    missing = want.keys() - held.keys()
    extra = held.keys() - want.keys()
    stale = sum(1 for i in want.keys() & held.keys() if want[i] != held[i])
    return f"{len(missing)} missing, {len(extra)} extra, {stale} other version"


# --- the marts --------------------------------------------------------------------------


def marts_rows(conn: warehouse.Connection) -> int:
    """Crimes the marts count: sum(crime_count) of the monthly-by-area report."""
    if not table_exists(conn, MONTHLY_MART):
        return 0
    return int(query(conn, f"select coalesce(sum(crime_count), 0) from {MONTHLY_MART}")[0][0])


def enriched_rows(conn: warehouse.Connection) -> int:
    if not table_exists(conn, ENRICHED_TABLE):
        return 0
    return query(conn, f"select count(*) from {ENRICHED_TABLE}")[0][0]


def marts_match_truth(conn: warehouse.Connection, dataset: Any) -> tuple[bool, str]:
    """The monthly and daily marts against an independent pandas computation.

    `dataset` is a CrimesDataset or a Snapshot (anything with `.truth()`). Returns
    (equal, what differs). The expectations are the ones tests/dbt/test_marts.py checks
    the marts with, imported from there so there is one definition of them.
    """
    from tests.dbt.test_marts import assert_daily_matches, assert_monthly_matches

    for name, check in (("monthly", assert_monthly_matches), ("daily", assert_daily_matches)):
        try:
            check(conn, dataset)
        except AssertionError as err:
            detail = str(err).strip().splitlines()
            return False, f"{name} mart differs from pandas: {detail[0] if detail else 'values'}"
    return True, ""
