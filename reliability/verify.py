"""Shared checks: what raw and the marts hold, against the sample API's ground truth.

Every function reads the warehouse through a `warehouse.Connection` (its URL), so the
checks work on any database a scenario (or a test) points them at. Nothing here
asserts: each returns numbers or differences, and the scenario decides.

A table is named as in pipelines/chicago/datasets.yml (`crimes`, `service_requests`,
`community_areas`, ...); functions that take one default to `crimes`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from psycopg2 import sql

from pipelines.chicago.settings import load_datasets
from pulse import warehouse

DATASETS = load_datasets()
ROW_TABLES = tuple(name for name, d in DATASETS.items() if not d.is_boundary)
BOUNDARY_TABLES = tuple(name for name, d in DATASETS.items() if d.is_boundary)
SCHEMA = "raw_chicago"
RAW_TABLE = f"{SCHEMA}.crimes"
ENRICHED_TABLE = "enriched.int_chicago__crimes_enriched"
MONTHLY_MART = "marts.rpt_chicago__crimes_monthly_by_area"
# Every rows dataset's records by month and community area (int_chicago__located_records):
# the mart that counts every dataset.
LOCATED_MART = "marts.rpt_chicago__monthly_by_community_area"
# Each rows dataset's enriched model and its key, as int_chicago__located_records names them.
ENRICHED = {
    "crimes": (ENRICHED_TABLE, "crime_id"),
    "service_requests": ("enriched.int_chicago__service_requests_enriched", "service_request_id"),
    "traffic_crashes": ("enriched.int_chicago__traffic_crashes_enriched", "crash_id"),
    "building_permits": ("enriched.int_chicago__building_permits_enriched", "permit_id"),
    "food_inspections": ("enriched.int_chicago__food_inspections_enriched", "inspection_id"),
}

# (key, :updated_at as `2022-04-03T21:50:08.000Z`): a row and the version of it.
Versions = dict[str, str]


query = warehouse.query  # scenarios and tests read the warehouse the same way


def table_exists(conn: warehouse.Connection, table: str) -> bool:
    return query(conn, "select to_regclass(%s) is not null", (table,))[0][0]


def raw_table(name: str) -> str:
    return f"{SCHEMA}.{name}"


def _key(name: str) -> str:
    return DATASETS[name].primary_key


def _identifiers(name: str) -> tuple[sql.Identifier, sql.Identifier]:
    """(the raw table, its key column) as SQL identifiers: names never become SQL text."""
    return sql.Identifier(SCHEMA, name), sql.Identifier(raw_column(_key(name)))


# --- raw --------------------------------------------------------------------------------


def raw_ids(conn: warehouse.Connection, name: str = "crimes") -> list[str]:
    """Every key in raw_chicago.<name>, one per row (so duplicates show twice)."""
    if not table_exists(conn, raw_table(name)):
        return []
    table, key = _identifiers(name)
    return [row_id for (row_id,) in query(conn, sql.SQL("select {} from {}").format(key, table))]


def raw_rows(conn: warehouse.Connection, name: str = "crimes") -> int:
    if not table_exists(conn, raw_table(name)):
        return 0
    return query(conn, sql.SQL("select count(*) from {}").format(sql.Identifier(SCHEMA, name)))[0][0]


def raw_versions(conn: warehouse.Connection, name: str = "crimes") -> Versions:
    """key -> socrata_updated_at of every raw row (the newest if a key is duplicated)."""
    if not table_exists(conn, raw_table(name)):
        return {}
    table, key = _identifiers(name)
    rows = query(conn, sql.SQL("select {}, socrata_updated_at from {} order by socrata_updated_at")
                 .format(key, table))
    return {row_id: stamp_text(updated) for row_id, updated in rows}


def stamp_text(value: datetime | None) -> str:
    """A timestamptz as the API writes `:updated_at` (UTC, milliseconds, Z)."""
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def duplicates(conn: warehouse.Connection, names: Iterable[str] = ROW_TABLES) -> int:
    """Raw rows beyond one per key, plus enriched rows beyond one per key, over `names`."""
    extra = 0
    for name in names:
        if table_exists(conn, raw_table(name)):
            table, key = _identifiers(name)
            extra += query(conn, sql.SQL("select count(*) - count(distinct {}) from {}")
                           .format(key, table))[0][0]
        enriched, enriched_key = ENRICHED[name]
        if table_exists(conn, enriched):
            schema, model = enriched.split(".")
            extra += query(conn, sql.SQL("select count(*) - count(distinct {}) from {}").format(
                sql.Identifier(enriched_key), sql.Identifier(schema, model)))[0][0]
    return extra


def lost(truth_ids: Iterable[str], raw_ids: Iterable[str]) -> int:
    """Ids of the truth that raw does not hold."""
    return len(set(truth_ids) - set(raw_ids))


# --- the truth --------------------------------------------------------------------------


def truth_versions(dataset: Any) -> Versions:
    """key -> `:updated_at` of every row the API serves now, read through its query engine
    (the key and system fields only, so no row is rendered)."""
    from sample_api.soql import MAX_LIMIT, parse_query

    key = dataset.model.key
    out: Versions = {}
    offset = 0
    while True:
        page = dataset.query(parse_query({"$select": f"{key},:updated_at", "$order": ":id",
                                          "$limit": str(MAX_LIMIT), "$offset": str(offset)},
                                         dataset.schema))
        out.update((row[key], row[":updated_at"]) for row in page)
        if len(page) < MAX_LIMIT:
            return out
        offset += MAX_LIMIT


@dataclass
class Snapshot:
    """The dataset's rows rendered once, shared by the raw and the marts comparisons."""

    rows: list[dict[str, Any]]
    key: str = "id"

    @classmethod
    def of(cls, dataset: Any) -> Snapshot:
        return cls(list(dataset.truth()), dataset.model.key)

    def truth(self) -> Iterator[dict[str, Any]]:  # what the pandas expectations read
        return iter(self.rows)

    def versions(self) -> Versions:
        return {row[self.key]: row[":updated_at"] for row in self.rows}


def by_table(portal: Mapping[str, Any]) -> dict[str, Any]:
    """{table name: dataset} of a `chicago_portal()` mapping {dataset id: dataset}."""
    names = {d.id: name for name, d in DATASETS.items()}
    return {names[dataset_id]: dataset for dataset_id, dataset in portal.items() if dataset_id in names}


# --- raw against the truth --------------------------------------------------------------


@dataclass
class RawCheck:
    rows: int  # rows in raw
    missing: list[str] = field(default_factory=list)  # truth keys raw does not hold
    stale: list[str] = field(default_factory=list)  # held, but another version than the truth
    unexpected: list[str] = field(default_factory=list)  # raw keys the truth does not have
    duplicates: int = 0

    @property
    def lost(self) -> int:
        """Rows whose current version is not in raw: missing keys and stale versions."""
        return len(self.missing) + len(self.stale)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.stale or self.unexpected or self.duplicates)

    def describe(self) -> str:
        parts = [f"{len(self.missing)} missing", f"{len(self.stale)} stale",
                 f"{len(self.unexpected)} unexpected", f"{self.duplicates} duplicate"]
        sample = (self.missing + self.stale + self.unexpected)[:5]
        return ", ".join(parts) + (f" (e.g. keys {sample})" if sample else "")


def check_raw(conn: warehouse.Connection, truth: Versions, name: str = "crimes") -> RawCheck:
    """Raw against the truth's versions; also counts duplicate rows (raw and enriched)."""
    held = raw_versions(conn, name)
    ids = raw_ids(conn, name)
    return RawCheck(
        rows=len(ids),
        missing=sorted(set(truth) - set(held)),
        stale=sorted(i for i in truth.keys() & held.keys() if truth[i] != held[i]),
        unexpected=sorted(set(held) - set(truth)),
        duplicates=duplicates(conn, [name]),
    )


def normal(value: Any) -> Any:
    """Raw (Postgres) and truth (JSON) values in one comparable form."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True)
    if hasattr(value, "isoformat"):
        return value.strftime("%Y-%m-%dT%H:%M:%S")
    return str(value)


def _compared(name: str) -> list[str]:
    """The declared source columns (not the system fields), the key first."""
    key = _key(name)
    return [key, *(c for c in DATASETS[name].columns if c != key and not c.startswith("socrata_"))]


def raw_column(column: str) -> str:
    """The raw table's name of a declared column: dlt's snake_case (`permit_` is `permitx`)."""
    from dlt.common.normalizers.naming.snake_case import NamingConvention

    return NamingConvention().normalize_identifier(column)


def raw_content(conn: warehouse.Connection, name: str = "crimes") -> dict[str, tuple]:
    """key -> every declared column of the raw row, normalised."""
    if not table_exists(conn, raw_table(name)):
        return {}
    columns = [raw_column(c) for c in _compared(name)]
    rows = query(conn, sql.SQL("select {} from {}").format(
        sql.SQL(", ").join(map(sql.Identifier, columns)), sql.Identifier(SCHEMA, name)))
    return {row[0]: tuple(normal(v) for v in row) for row in rows}


def truth_content(rows: Iterable[Mapping[str, Any]], name: str = "crimes") -> dict[str, tuple]:
    """key -> every declared column of the served row, normalised like `raw_content`."""
    columns = _compared(name)
    return {row[columns[0]]: tuple(normal(row.get(c)) for c in columns) for row in rows}


def content_differs(conn: warehouse.Connection, dataset: Any, name: str = "crimes") -> list[str]:
    """Keys whose raw row differs from the truth in any declared column: a right version
    with wrong values is caught here. `dataset` is a dataset or a Snapshot of one."""
    held, want = raw_content(conn, name), truth_content(dataset.truth(), name)
    return sorted(i for i in want.keys() & held.keys() if want[i] != held[i])


def boundary_differs(conn: warehouse.Connection, layer: Any, name: str) -> str:
    """What differs between raw_chicago.<name> and the layer as served ("" if nothing)."""
    held, want = raw_content(conn, name), truth_content(layer.truth(), name)
    if held == want:
        return ""
    other = sum(1 for k in want.keys() & held.keys() if want[k] != held[k])
    return (f"{name}: {len(want.keys() - held.keys())} features missing, "
            f"{len(held.keys() - want.keys())} extra, {other} with other values")


def raw_state_is_one_of(conn: warehouse.Connection, *states: Versions, name: str = "crimes") -> int | None:
    """The index of the state raw equals exactly (keys and versions), or None: a load is
    either applied whole or not at all."""
    held = raw_versions(conn, name)
    if raw_rows(conn, name) != len(held):
        return None  # duplicated keys: no state has those
    return next((i for i, state in enumerate(states) if held == state), None)


def versions_behind(held: Versions, earlier: Versions, later: Versions) -> list[str]:
    """Keys whose raw version is neither the `earlier` truth's nor the `later` one's: a row
    missing, or at a version older than one served before the runs began. A key new in
    `later` may be missing (no run saw it yet), never at another version."""
    behind = [k for k, v in earlier.items() if held.get(k) not in (v, later.get(k, v))]
    behind += [k for k in later.keys() - earlier.keys() if held.get(k) not in (None, later[k])]
    return sorted(behind)


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


def located_rows(conn: warehouse.Connection) -> dict[str, int]:
    """Records the marts count per rows dataset: sum(record_count) of the monthly report by
    community area (every record counts, with or without a located area)."""
    if not table_exists(conn, LOCATED_MART):
        return {}
    rows = query(conn, f"select dataset, coalesce(sum(record_count), 0) from {LOCATED_MART} "
                       "group by dataset")
    return {dataset: int(count) for dataset, count in rows}


def enriched_rows(conn: warehouse.Connection, name: str = "crimes") -> int:
    table = ENRICHED[name][0]
    if not table_exists(conn, table):
        return 0
    return query(conn, f"select count(*) from {table}")[0][0]


def marts_match_truth(conn: warehouse.Connection, dataset: Any) -> tuple[bool, str]:
    """The crimes monthly and daily marts against an independent pandas computation.

    `dataset` is a CrimesDataset or a Snapshot (anything with `.truth()`). Returns
    (equal, what differs). The expectations are the ones tests/dbt/test_marts.py checks
    the marts with (sample_api/oracles): one definition of them.
    """
    from sample_api.oracles.crimes import assert_daily_matches, assert_monthly_matches

    for name, check in (("monthly", assert_monthly_matches), ("daily", assert_daily_matches)):
        try:
            check(conn, dataset)
        except AssertionError as err:
            detail = str(err).strip().splitlines()
            return False, f"{name} mart differs from pandas: {detail[0] if detail else 'values'}"
    return True, ""


def located_marts_match_truth(conn: warehouse.Connection,
                              rows: Mapping[str, Iterable[dict]]) -> tuple[bool, str]:
    """Every dataset's records by month and ZIP, and by month and community area, against an
    independent computation from the served rows and the boundaries' analytic `locate`.

    `rows` is {table name: served rows} of every rows dataset. The expectation is the one
    tests/dbt/test_chicago_reports.py checks the marts with (sample_api/oracles).
    """
    from sample_api.oracles.chicago_reports import check_monthly

    try:
        check_monthly(conn, {name: list(served) for name, served in rows.items()})
    except AssertionError as err:
        detail = str(err).strip().splitlines()
        return False, f"ZIP and community area marts differ: {detail[0][:300] if detail else 'values'}"
    return True, ""
