"""The geocoder at scale: N distinct random points to their ZIP code and community area.

    .venv/bin/python -m bench.geocode --points 1000000 --repeat 3

End to end is `pipelines.geo.geocode` on a scratch database holding the synthetic
boundaries and N distinct coordinate pairs as text in raw_chicago.crimes: read the new
pairs, locate them, COPY and upsert them, commit. In memory is `Boundaries.locate` alone.
With `--json` the last stdout line is one JSON result, as bench.suite's steps print.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from typing import Any

import numpy as np
import psycopg

from pipelines.geo import Boundaries, geocode
from pulse import roles, warehouse
from sample_api import boundaries as synthetic

DATABASE = "pulse_bench_geocode"
SEED = 2026
CHECKED_POINTS = 2000  # a sample compared with the construction's own answer


def random_points(count: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """`count` distinct (lat, lon) inside the city, 9 decimals like the portal."""
    lat_min, lat_max, lon_min, lon_max = synthetic.EXTENT
    rng = np.random.default_rng(seed)
    points = np.empty((0, 2))
    while len(points) < count:  # a collision at 9 decimals is rare; draw again until distinct
        more = np.round(rng.uniform((lat_min, lon_min), (lat_max, lon_max), (count - len(points), 2)), 9)
        points = np.unique(np.concatenate([points, more]), axis=0)
    points = rng.permutation(points)
    return points[:, 0], points[:, 1]


def load_scratch(admin: warehouse.Connection, lats: np.ndarray, lons: np.ndarray) -> None:
    """The synthetic boundaries and the points, as the raw tables dlt would leave them."""
    with psycopg.connect(admin.url()) as conn, conn.cursor() as cur:
        cur.execute("drop schema if exists raw_chicago cascade")
        cur.execute("create schema raw_chicago")
        cur.execute("create table raw_chicago.community_areas (area_numbe text, community text, "
                    "the_geom jsonb)")
        cur.execute("create table raw_chicago.zip_codes (zip text, the_geom jsonb)")
        cur.executemany("insert into raw_chicago.community_areas values (%s, %s, %s)",
                        [(f["properties"]["area_numbe"], f["properties"]["community"],
                          json.dumps(f["geometry"])) for f in synthetic.community_area_features()])
        cur.executemany("insert into raw_chicago.zip_codes values (%s, %s)",
                        [(f["properties"]["zip"], json.dumps(f["geometry"]))
                         for f in synthetic.zip_code_features()])
        # the geocoder reads the rows of loads it has not seen: dlt's load id, one load here
        cur.execute("create table raw_chicago.crimes (latitude text, longitude text, "
                    f"_dlt_load_id varchar not null default '{time.time():.6f}')")
        with cur.copy("copy raw_chicago.crimes (latitude, longitude) from stdin") as copy:
            copy.write("".join(f"{lat:.9f}\t{lon:.9f}\n" for lat, lon in zip(lats, lons, strict=True)))
    roles.connection("loader", admin.database)  # gives the tables to the loader, untimed


def check(admin: warehouse.Connection, lats: np.ndarray, lons: np.ndarray) -> None:
    sample = [(float(lat), float(lon)) for lat, lon in zip(lats[:CHECKED_POINTS], lons[:CHECKED_POINTS],
                                                            strict=True)]
    rows = warehouse.query(admin, "select latitude, longitude, zip_code, community_area_number "
                                  "from raw_chicago.geocoded_points where (latitude, longitude) in "
                                  "(select * from unnest(%s::float8[], %s::float8[]))",
                           ([p[0] for p in sample], [p[1] for p in sample]))
    got = {(lat, lon): (zip_code, area) for lat, lon, zip_code, area in rows}
    wrong = [p for p in sample if got.get(p) != synthetic.locate(*p)]
    if wrong:
        raise AssertionError(f"{len(wrong)} of {len(sample)} points geocoded wrong, e.g. {wrong[:3]}")


def bench_geocode(points: int = 1_000_000, repeat: int = 1) -> dict[str, Any]:
    """Seconds of `repeat` end-to-end runs and in-memory lookups of `points` distinct points."""
    lats, lons = random_points(points)
    roles.drop_database(DATABASE)
    admin = warehouse.create_database(DATABASE)
    end_to_end, in_memory = [], []
    try:
        load_scratch(admin, lats, lons)
        loader = roles.connection("loader", DATABASE)
        for _ in range(repeat):
            # from scratch each time: no points stored, no earlier run whose loads it skips
            warehouse.query(admin, "drop table if exists raw_chicago.geocoded_points, "
                                   "raw_chicago.geocoder_runs")
            started = time.perf_counter()
            stats = geocode(loader)
            end_to_end.append(time.perf_counter() - started)
            if stats.points_geocoded != points:
                raise AssertionError(f"geocoded {stats.points_geocoded} of {points} points")
            check(admin, lats, lons)

            started = time.perf_counter()
            Boundaries.from_features(synthetic.community_area_features(),
                                     synthetic.zip_code_features()).locate(lats, lons)
            in_memory.append(time.perf_counter() - started)
    finally:
        roles.drop_database(DATABASE)
    return {"points": points, "seconds": statistics.median(end_to_end), "runs": end_to_end,
            "in_memory_seconds": statistics.median(in_memory), "in_memory_runs": in_memory,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON line (for bench.suite)")
    args = parser.parse_args(argv)
    result = bench_geocode(args.points, args.repeat)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"geocode {args.points:,} points: end to end {result['seconds']:.2f} s "
              f"(runs {', '.join(f'{s:.2f}' for s in result['runs'])}), in memory "
              f"{result['in_memory_seconds']:.2f} s, peak RSS {result['peak_rss_mb']:.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
