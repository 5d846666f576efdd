"""`geocode`: the ZIP code and community area of every coordinate pair in the raw tables.

The result is a lookup table, `raw_chicago.geocoded_points`, keyed by the coordinate
pair as double precision: dbt joins a row to it on `latitude::double precision` and
`longitude::double precision`, the same casts used here.

Incremental: a run reads only the rows of loads it has not seen (each point table's
`loaded_at`, the dlt load id as a time, beyond the one it stopped at last time: an index
makes that a range scan, so a run after no load reads nothing), locates the pairs among
them not stored yet, and, only when the boundary layers changed since its last run,
every stored pair again. All of it is one transaction, so a crash leaves the table (and
where it stopped) as it was; `raw_chicago.geocoder_runs` logs each run.

`geocoded_at` is when a pair's answer last changed: a new pair, or a stored one the new
boundaries put in another ZIP or area (one they leave where it was keeps its time). The
enriched dbt models rebuild the rows whose pair's time is later than their last build
(macros/geo.sql), so a redrawn layer rebuilds only the rows it moved. For that the time
must be later than anything a finished build read: the geocoder takes the dbt build
lock and stamps its pairs after it has it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import psycopg
from psycopg import sql
from psycopg.types.json import Jsonb

from pipelines.chicago.settings import load_datasets
from pipelines.geo.boundaries import Boundaries
from pulse import roles, warehouse
from pulse.dbt import BUILD_LOCK
from pulse.locks import lock_key

log = logging.getLogger(__name__)

SCHEMA = "raw_chicago"
OUTPUT_TABLE = "geocoded_points"
RUNS_TABLE = "geocoder_runs"
COMMUNITY_AREAS_TABLE = "community_areas"
ZIP_CODES_TABLE = "zip_codes"
# Read as YAML, not through pipelines.chicago: the geocoder needs only the column names.
# Only text shaped like a coordinate is cast: 'abc', '', 'NaN' or '1e999' would fail the
# cast (or the run); they are skipped like nulls. Three integer digits cover ±180.
COORDINATE_PATTERN = r"^[+-]?[0-9]{1,3}(\.[0-9]+)?$"
# pg_advisory_xact_lock key: two geocoders at once take turns instead of racing on the table.
_LOCK_KEY = 5_220_417_001

OUTPUT_DDL = sql.SQL("""
    create table if not exists {table} (
        latitude double precision not null,
        longitude double precision not null,
        zip_code text,
        community_area_number integer,
        boundaries_version text not null,
        geocoded_at timestamptz not null,
        primary key (latitude, longitude)
    );
    create index if not exists geocoded_points_geocoded_at on {table} (geocoded_at);
    create table if not exists {runs} (
        run_at timestamptz primary key,
        boundaries_version text not null,
        loaded_through jsonb not null,
        points_read integer not null,
        points_geocoded integer not null
    )
""")
# What a point table's rows are read by: the load's time, as the staging models'
# loaded_at. The index on it serves this reader and the enriched models' incremental filter.
LOADED_AT = "to_timestamp(_dlt_load_id::double precision)"


class BoundariesMissingError(RuntimeError):
    """A boundary layer is not loaded yet: nothing can be located."""


@dataclass(frozen=True)
class GeocodeStats:
    points_read: int  # distinct new coordinate pairs in the rows of loads not read before
    points_geocoded: int  # pairs located: those, plus every stored one on new boundaries
    outside_boundaries: int  # of the pairs written, those outside every ZIP or every area polygon
    boundaries_version: str
    seconds: float
    tables: tuple[str, ...] = ()  # the point tables read (the others are not loaded yet)
    rows_read: int = 0  # rows of new loads read, over every table
    points_moved: int = 0  # of the pairs located, those whose ZIP or area changed


def point_tables() -> dict[str, tuple[str, str]]:
    """{table: (latitude column, longitude column)} of each declared dataset with coordinates."""
    return {name: d.coordinates for name, d in load_datasets().items() if d.coordinates}


def geocode(target: str | warehouse.Connection | psycopg.Connection | None = None,
            tables: list[str] | None = None) -> GeocodeStats:
    """Locates the new coordinate pairs of `tables` (default: every dataset with coordinates).

    `target` is a postgresql:// URL, a warehouse Connection or an open psycopg connection
    (left open; inside a transaction of the caller's, the caller commits); by default the
    warehouse as the loader role, which owns raw_chicago.
    Tables not loaded yet are skipped; missing boundary layers raise BoundariesMissingError.
    """
    columns = point_tables()
    unknown = sorted(set(tables or ()) - set(columns))
    if unknown:
        raise ValueError(f"no coordinates declared for {unknown} in the Chicago datasets.yml; "
                         f"datasets with coordinates: {sorted(columns)}")
    wanted = {name: columns[name] for name in (tables if tables is not None else columns)}
    if isinstance(target, psycopg.Connection):
        return _geocode(target, wanted)
    url = target.url() if isinstance(target, warehouse.Connection) else target
    with psycopg.connect(url or roles.url("loader")) as conn:
        return _geocode(conn, wanted)


def _geocode(conn: psycopg.Connection, wanted: dict[str, tuple[str, str]]) -> GeocodeStats:
    started = time.perf_counter()
    with conn.transaction(), conn.cursor() as cur:
        # One geocoder at a time, and never while a dbt build reads the table (see above).
        cur.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        cur.execute("select pg_try_advisory_xact_lock(%s)", (lock_key(BUILD_LOCK),))
        if not cur.fetchone()[0]:
            log.warning("geocode: a dbt build is running; waiting for it to finish")
            cur.execute("select pg_advisory_xact_lock(%s)", (lock_key(BUILD_LOCK),))
        cur.execute("select clock_timestamp()")
        stamp = cur.fetchone()[0]
        cur.execute(OUTPUT_DDL.format(table=sql.Identifier(SCHEMA, OUTPUT_TABLE),
                                      runs=sql.Identifier(SCHEMA, RUNS_TABLE)))
        boundaries = _read_boundaries(cur)
        last = _last_run(cur)
        present = _present_tables(cur, wanted)
        loaded_through = dict(last.get("loaded_through", {}))
        batches, rows_read = [], 0
        for table, columns in present.items():
            pairs, rows, newest = _new_pairs(cur, table, columns, loaded_through.get(table))
            batches.append(pairs)
            rows_read += rows
            if newest is not None:
                loaded_through[table] = newest
        new = np.unique(np.concatenate([np.empty((0, 2)), *batches]), axis=0)
        stale = (_stored_pairs(cur) if last.get("boundaries_version") != boundaries.version
                 else np.empty((0, 2)))
        pairs = np.concatenate([new, stale])
        # In key order, the upsert walks the primary key index in order: about twice as fast.
        pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
        zip_index, area_index = boundaries.polygons_of(pairs[:, 0], pairs[:, 1])
        moved = _write(cur, pairs, zip_index, area_index, boundaries, stamp)
        cur.execute(sql.SQL("insert into {} values (%s, %s, %s, %s, %s)").format(
            sql.Identifier(SCHEMA, RUNS_TABLE)),
            (stamp, boundaries.version, Jsonb(loaded_through), len(new), len(pairs)))
    stats = GeocodeStats(
        points_read=len(new), points_geocoded=len(pairs),
        outside_boundaries=int(((zip_index < 0) | (area_index < 0)).sum()),
        boundaries_version=boundaries.version, seconds=round(time.perf_counter() - started, 3),
        tables=tuple(present), rows_read=rows_read, points_moved=moved,
    )
    log.info("geocode: %s", stats)
    return stats


def _last_run(cur: psycopg.Cursor) -> dict:
    """The previous run's boundaries version and where it stopped reading each table."""
    cur.execute(sql.SQL("select boundaries_version, loaded_through from {} "
                        "order by run_at desc limit 1").format(sql.Identifier(SCHEMA, RUNS_TABLE)))
    row = cur.fetchone()
    return {"boundaries_version": row[0], "loaded_through": row[1]} if row else {}


def _read_boundaries(cur: psycopg.Cursor) -> Boundaries:
    layers = []
    for table, key in ((COMMUNITY_AREAS_TABLE, "area_numbe"), (ZIP_CODES_TABLE, "zip")):
        cur.execute("select to_regclass(%s)", (f"{SCHEMA}.{table}",))
        rows = []
        if cur.fetchone()[0] is not None:
            cur.execute(sql.SQL("select {key}, the_geom::text from {table} "
                                "where {key} is not null and the_geom is not null").format(
                key=sql.Identifier(key), table=sql.Identifier(SCHEMA, table)))
            rows = cur.fetchall()
        if not rows:
            raise BoundariesMissingError(
                f"{SCHEMA}.{table} is missing or empty: load the boundary datasets "
                f"({COMMUNITY_AREAS_TABLE}, {ZIP_CODES_TABLE}) before geocoding")
        layers.append(rows)
    return Boundaries.from_geojson(*layers)


def _present_tables(cur: psycopg.Cursor, wanted: dict[str, tuple[str, str]]) -> dict[str, tuple[str, str]]:
    """The tables of `wanted` that exist with both coordinate columns (a dataset not loaded yet has none)."""
    cur.execute("select table_name, column_name from information_schema.columns where table_schema = %s",
                (SCHEMA,))
    existing = set(cur.fetchall())
    return {table: (lat, lon) for table, (lat, lon) in wanted.items()
            if (table, lat) in existing and (table, lon) in existing}


def _new_pairs(cur: psycopg.Cursor, table: str, columns: tuple[str, str],
               loaded_after: str | None) -> tuple[np.ndarray, int, str | None]:
    """Distinct (lat, lon) of `table`'s rows loaded after `loaded_after` (an ISO time; None:
    every row) that are not stored yet; the number of those rows and the newest load time
    among them (None when there were none: the table is read from the same point next time).

    One statement, so the pairs and the newest time come from one snapshot: loads of one
    dataset commit in load order (one at a time, under their load lock), so no row of a
    load at or before that time can appear later.
    """
    lat, lon = columns
    target = sql.Identifier(SCHEMA, table)
    index = f"{table}_loaded_at"[:63]
    cur.execute("select to_regclass(%s)", (f"{SCHEMA}.{index}",))
    if cur.fetchone()[0] is None:  # checked first: CREATE INDEX locks out loads even if it exists
        cur.execute(sql.SQL("create index {name} on {table} (({loaded_at}))").format(
            name=sql.Identifier(index), table=target, loaded_at=sql.SQL(LOADED_AT)))
    # OFFSET 0 keeps the filter below the cast (the planner may not merge the two), so
    # the cast only ever sees text that matched the pattern; each regex runs once a row.
    cur.execute(sql.SQL("""
        with fresh as materialized (
            select {lat}::text as latitude, {lon}::text as longitude, {loaded_at} as loaded_at
            from {table}
            {where}
        ),

        valid as (
            select latitude, longitude from fresh
            where latitude ~ {pattern} and longitude ~ {pattern}
            offset 0
        ),

        pairs as (
            select distinct
                latitude::double precision as latitude,
                longitude::double precision as longitude
            from valid
        )

        select p.latitude, p.longitude, null::bigint, null::timestamptz from pairs as p
        where not exists (select from {output} as g
                          where g.latitude = p.latitude and g.longitude = p.longitude)
        union all
        select null, null, count(*), max(loaded_at) from fresh
    """).format(lat=sql.Identifier(lat), lon=sql.Identifier(lon), table=target,
                loaded_at=sql.SQL(LOADED_AT), pattern=sql.Literal(COORDINATE_PATTERN),
                output=sql.Identifier(SCHEMA, OUTPUT_TABLE),
                where=sql.SQL("where {} > %(after)s::timestamptz").format(sql.SQL(LOADED_AT))
                if loaded_after else sql.SQL("")), {"after": loaded_after} if loaded_after else None)
    rows = cur.fetchall()
    *pairs, (_, _, count, newest) = rows
    return _pairs([(la, lo) for la, lo, _, _ in pairs]), count, newest.isoformat() if newest else None


def _stored_pairs(cur: psycopg.Cursor) -> np.ndarray:
    """Every stored pair: the boundaries changed, so each is located again."""
    cur.execute(sql.SQL("select latitude, longitude from {}").format(
        sql.Identifier(SCHEMA, OUTPUT_TABLE)))
    return _pairs(cur.fetchall())


def _pairs(rows: list[tuple[float, float]]) -> np.ndarray:
    return np.array(rows, dtype=float).reshape(-1, 2)


def _write(cur: psycopg.Cursor, pairs: np.ndarray, zip_index: np.ndarray, area_index: np.ndarray,
           boundaries: Boundaries, stamp) -> int:
    """COPY into a temporary table, then one upsert: fast, and all or nothing. Returns how
    many stored pairs got another answer."""
    if not len(pairs):
        return 0
    cur.execute("create temporary table geocoded_batch (latitude double precision, "
                "longitude double precision, zip_code text, community_area_number integer) "
                "on commit drop")
    zips = np.append(boundaries.zip_codes.labels, None)[zip_index]
    areas = np.append(boundaries.community_areas.labels, None)[area_index]
    with cur.copy("copy geocoded_batch from stdin (format binary)") as copy:
        copy.set_types(["float8", "float8", "text", "int4"])
        for row in zip(pairs[:, 0].tolist(), pairs[:, 1].tolist(), zips.tolist(), areas.tolist(),
                       strict=True):
            copy.write_row(row)
    cur.execute(sql.SQL("""
        insert into {output} as g (latitude, longitude, zip_code, community_area_number,
                                   boundaries_version, geocoded_at)
        select latitude, longitude, zip_code, community_area_number, %s, %s from geocoded_batch
        on conflict (latitude, longitude) do update set
            zip_code = excluded.zip_code,
            community_area_number = excluded.community_area_number,
            boundaries_version = excluded.boundaries_version,
            geocoded_at = case
                when (g.zip_code, g.community_area_number)
                    is not distinct from (excluded.zip_code, excluded.community_area_number)
                then g.geocoded_at
                else excluded.geocoded_at
            end
        returning (geocoded_at = %s and xmax <> 0)
    """).format(output=sql.Identifier(SCHEMA, OUTPUT_TABLE)), (boundaries.version, stamp, stamp))
    return sum(moved for (moved,) in cur.fetchall())
