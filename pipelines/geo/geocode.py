"""`geocode`: the ZIP code and community area of every coordinate pair in the raw tables.

The result is a lookup table, `raw_chicago.geocoded_points`, keyed by the coordinate
pair as double precision: dbt joins a row to it on `latitude::double precision` and
`longitude::double precision`, the same casts used here.

Incremental: a run locates only the pairs not stored yet (new rows, moved rows), plus
every stored pair located with other boundaries than today's (`boundaries_version`
differs). All of it is one transaction, so a crash leaves the table as it was.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
import psycopg
from psycopg import sql

from pipelines.chicago.settings import load_datasets
from pipelines.geo.boundaries import Boundaries
from pulse import roles, warehouse

log = logging.getLogger(__name__)

SCHEMA = "raw_chicago"
OUTPUT_TABLE = "geocoded_points"
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
    )
""")


class BoundariesMissingError(RuntimeError):
    """A boundary layer is not loaded yet: nothing can be located."""


@dataclass(frozen=True)
class GeocodeStats:
    points_read: int  # distinct coordinate pairs in the point tables not geocoded before
    points_geocoded: int  # pairs located and written: those, plus stored ones on new boundaries
    outside_boundaries: int  # of the pairs written, those outside every ZIP or every area polygon
    boundaries_version: str
    seconds: float
    tables: tuple[str, ...] = ()  # the point tables read (the others are not loaded yet)


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
        cur.execute("select pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
        cur.execute(OUTPUT_DDL.format(table=sql.Identifier(SCHEMA, OUTPUT_TABLE)))
        boundaries = _read_boundaries(cur)
        present = _present_tables(cur, wanted)
        new = _new_pairs(cur, present)
        stale = _stale_pairs(cur, boundaries.version)
        pairs = np.concatenate([new, stale])
        # In key order, the upsert walks the primary key index in order: about twice as fast.
        pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
        zip_index, area_index = boundaries.polygons_of(pairs[:, 0], pairs[:, 1])
        _write(cur, pairs, zip_index, area_index, boundaries)
    stats = GeocodeStats(
        points_read=len(new), points_geocoded=len(pairs),
        outside_boundaries=int(((zip_index < 0) | (area_index < 0)).sum()),
        boundaries_version=boundaries.version, seconds=round(time.perf_counter() - started, 3),
        tables=tuple(present),
    )
    log.info("geocode: %s", stats)
    return stats


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


def _new_pairs(cur: psycopg.Cursor, tables: dict[str, tuple[str, str]]) -> np.ndarray:
    """Distinct (lat, lon) of every table that are not in the output table yet."""
    if not tables:
        return np.empty((0, 2))
    texts = [
        sql.SQL("select {lat}::text as latitude, {lon}::text as longitude from {table} "
                "where {lat}::text ~ {pattern} and {lon}::text ~ {pattern}").format(
            lat=sql.Identifier(lat), lon=sql.Identifier(lon), pattern=sql.Literal(COORDINATE_PATTERN),
            table=sql.Identifier(SCHEMA, table))
        for table, (lat, lon) in tables.items()
    ]
    # OFFSET 0 keeps the filter below the cast (the planner may not merge the two), so
    # the cast only ever sees text that matched the pattern; each regex runs once a row.
    cur.execute(sql.SQL("""
        with valid as (
            select * from ({union}) as texts offset 0
        ),

        pairs as (
            select distinct
                latitude::double precision as latitude,
                longitude::double precision as longitude
            from valid
        )

        select p.latitude, p.longitude from pairs as p
        where not exists (select from {output} as g
                          where g.latitude = p.latitude and g.longitude = p.longitude)
    """).format(union=sql.SQL(" union all ").join(texts), output=sql.Identifier(SCHEMA, OUTPUT_TABLE)))
    return _pairs(cur.fetchall())


def _stale_pairs(cur: psycopg.Cursor, version: str) -> np.ndarray:
    """Stored pairs located with other boundaries than today's."""
    cur.execute(sql.SQL("select latitude, longitude from {} where boundaries_version <> %s").format(
        sql.Identifier(SCHEMA, OUTPUT_TABLE)), (version,))
    return _pairs(cur.fetchall())


def _pairs(rows: list[tuple[float, float]]) -> np.ndarray:
    return np.array(rows, dtype=float).reshape(-1, 2)


def _write(cur: psycopg.Cursor, pairs: np.ndarray, zip_index: np.ndarray, area_index: np.ndarray,
           boundaries: Boundaries) -> None:
    """COPY into a temporary table, then one upsert: fast, and all or nothing."""
    if not len(pairs):
        return
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
        select latitude, longitude, zip_code, community_area_number, %s, now() from geocoded_batch
        on conflict (latitude, longitude) do update set
            zip_code = excluded.zip_code,
            community_area_number = excluded.community_area_number,
            boundaries_version = excluded.boundaries_version,
            geocoded_at = excluded.geocoded_at
    """).format(output=sql.Identifier(SCHEMA, OUTPUT_TABLE)), (boundaries.version,))
