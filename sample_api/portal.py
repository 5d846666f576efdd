"""The whole local Chicago portal: every dataset of pipelines/chicago/datasets.yml, by id.

    with SampleApi(chicago_portal(rows=2_000, seed=1)) as api: ...

Five row datasets (crimes, 311 service requests, traffic crashes, building
permits, food inspections) and two boundary layers (community areas, ZIP codes)
whose synthetic polygons tile the city, so every row's point has one true area
and ZIP (`boundaries.locate`). Entries of another datasets.yml that the portal
has no model for are served from their declared columns (`DeclaredModel`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .crimes import CrimesDataset
from .layers import BoundaryDataset, community_areas, zip_codes
from .models import (
    BuildingPermitsModel,
    DeclaredModel,
    FoodInspectionsModel,
    ServiceRequestsModel,
    TrafficCrashesModel,
)
from .rows import RowDataset, RowModel

# table name (datasets.yml) -> Socrata id
TABLES: dict[str, str] = {
    "crimes": "ijzp-q8t2",
    "service_requests": "v6vf-nfxy",
    "traffic_crashes": "85ca-t3if",
    "building_permits": "ydr8-5enu",
    "food_inspections": "4ijn-s7e5",
    "community_areas": "igwz-8jzy",
    "zip_codes": "unjd-c2ca",
}
BOUNDARY_TABLES = ("community_areas", "zip_codes")
# Rows per dataset when not given: crimes as the CLI always served, the rest smaller.
DEFAULT_ROWS: dict[str, int] = {"crimes": 10_000, "service_requests": 5_000, "traffic_crashes": 2_000,
                                "building_permits": 2_000, "food_inspections": 2_000}
DECLARED_DEFAULT_ROWS = 1_000

Dataset = RowDataset | BoundaryDataset


def row_model(table: str, n_rows: int) -> RowModel:
    """The built-in model of a row table (food inspections visit ~n/4 establishments)."""
    if table == "service_requests":
        return ServiceRequestsModel()
    if table == "traffic_crashes":
        return TrafficCrashesModel()
    if table == "building_permits":
        return BuildingPermitsModel()
    if table == "food_inspections":
        return FoodInspectionsModel(establishments=max(20, n_rows // 4))
    raise KeyError(f"no built-in row model for table {table!r}; built-in: "
                   f"{', '.join(t for t in TABLES if t not in BOUNDARY_TABLES)}")


def chicago_portal(
    rows: int | Mapping[str, int] | None = None,
    seed: int = 0,
    *,
    tables: Iterable[str] | None = None,
    declared: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Dataset]:
    """{dataset id: dataset} for the seven Chicago datasets (or `tables` of them).

    `rows`: one count for every row dataset, or counts by table name (the rest
    get `DEFAULT_ROWS`). `declared`: datasets.yml entries (table name -> entry);
    their row tables without a built-in model are added, served from `columns`.
    """
    known = [*TABLES, *(declared or {})]
    counts = dict(DEFAULT_ROWS)
    if isinstance(rows, int):
        counts = dict.fromkeys(known, rows)
    elif rows is not None:
        counts.update(rows)
    wanted = list(TABLES) if tables is None else list(tables)
    unknown = [t for t in [*wanted, *counts] if t not in known]
    if unknown:
        raise KeyError(f"unknown tables {unknown}; the portal serves {', '.join(known)}")
    portal: dict[str, Dataset] = {}
    for table in wanted:
        if table not in TABLES:
            continue
        n = counts.get(table, DECLARED_DEFAULT_ROWS)
        if table == "crimes":
            portal[TABLES[table]] = CrimesDataset(n, seed=seed)
        elif table == "community_areas":
            portal[TABLES[table]] = community_areas()
        elif table == "zip_codes":
            portal[TABLES[table]] = zip_codes()
        else:
            portal[TABLES[table]] = RowDataset(row_model(table, n), n, seed=seed)
    for table, entry in (declared or {}).items():
        if table in TABLES or entry.get("id") in portal or (tables is not None and table not in wanted):
            continue
        if entry.get("format", "rows") != "rows":
            raise ValueError(f"datasets.yml entry {table!r} ({entry.get('id')}): the local portal can "
                             "only invent rows datasets; boundary layers need features")
        model = DeclaredModel(entry["id"], entry["primary_key"], entry["columns"], name=table,
                              title=entry.get("title"))
        portal[entry["id"]] = RowDataset(model, counts.get(table, DECLARED_DEFAULT_ROWS), seed=seed)
    return portal
