"""Stage 2, geocode: every point dataset's new coordinates -> ZIP code and community area."""

import functools
from dataclasses import asdict

import dagster as dg

from pipelines.chicago.settings import load_datasets
from pipelines.geo import geocode
from pipelines.load import raw_dataset

from ..lib.dlt_load import UNCHANGED
from ..lib.keys import raw_table_key
from ..lib.resources import WarehouseResource

RAW = raw_dataset("chicago")


@functools.cache
def geocoded_points() -> dg.AssetsDefinition:
    datasets = load_datasets()
    deps = [raw_table_key(RAW, name) for name, d in datasets.items() if d.coordinates or d.is_boundary]

    @dg.asset(
        key=raw_table_key(RAW, "geocoded_points"),
        deps=deps,
        group_name=RAW,
        kinds={"shapely", "postgres"},
        pool="geocode",  # geocode() also takes a warehouse lock
        description="The ZIP code and community area of every distinct coordinate pair of the "
        "point datasets (point-in-polygon against the boundary layers, shapely). Only new "
        "coordinates are located (only the rows of loads it has not read are read); all of "
        "them again when a boundary layer changes.",
    )
    def geocoded_points(context: dg.AssetExecutionContext,
                        warehouse: WarehouseResource) -> dg.MaterializeResult:
        # As the loader: it owns raw_chicago, where the lookup table lives beside the raw data.
        stats = geocode(warehouse.url("loader"))
        context.log.info("geocoded %d new coordinate pairs (%d outside the boundaries) in %.1f s",
                         stats.points_geocoded, stats.outside_boundaries, stats.seconds)
        metadata = {k: (", ".join(v) if isinstance(v, tuple) else v)
                    for k, v in asdict(stats).items()}
        if not stats.points_geocoded:  # no pair got an answer: no enriched row changes
            metadata[UNCHANGED] = True
        return dg.MaterializeResult(metadata=metadata)

    return geocoded_points
