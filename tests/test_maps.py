"""The portal's maps: real recorded boundary layers (the portal's own GeoJSON exports in
../shared/realdata/chicago) loaded by the chicago source, gathered by dbt into
marts.dim_chicago__boundaries, and drawn on an exported report's page, opened in Chromium."""

from __future__ import annotations

import json
import re
from decimal import Decimal

from pipelines.chicago import dataset_pipeline, load_dataset
from pulse import maps, roles
from pulse.reports import PAGE, ReportModel, export_report
from sample_api import SampleApi
from sample_api.layers import community_areas, zip_codes
from tests.conftest import REALDATA, query, run_dbt
from tests.test_portal import open_in_browser

AREAS_FILE = ("community_areas_igwz-8jzy_portal-export-geojson_2026-06_first75of77"
              "__cam-rodriguez-lead-replacements.geojson")
ZIPS_FILE = ("zip_codes_boundaries_legacy-socrata-export-geojson_2022_61features"
             "__uic-vis-project-3-data-goblins.geojson")


def _features(name: str) -> list[dict]:
    return json.loads((REALDATA / "chicago" / name).read_text())["features"]


def test_real_boundaries_become_one_outline_per_area_and_a_map(warehouse_db, dbt_manifest, tmp_path):
    query(warehouse_db, "drop schema if exists raw_chicago cascade")
    areas_layer, zips_layer = community_areas(), zip_codes()
    areas_layer.replace_features(_features(AREAS_FILE))
    zips_layer.replace_features(zip_features := _features(ZIPS_FILE))
    portal = {areas_layer.dataset_id: areas_layer, zips_layer.dataset_id: zips_layer}
    with SampleApi(portal) as api:
        for name in ("community_areas", "zip_codes"):
            load_dataset(name, dataset_pipeline(name, tmp_path / "dlt"), credentials=warehouse_db.url(),
                         base_url=api.url, backoff_factor=0)
    build = run_dbt("build", "--select", "chicago_community_areas", "stg_chicago__community_areas",
                    "stg_chicago__zip_codes", "dim_chicago__boundaries", "--indirect-selection", "cautious")
    assert build.returncode == 0, build.stdout[-3000:]

    # As the analyst: every area once, a ZIP drawn as two features (60707) as one outline
    analyst = roles.connection("analyst")
    areas = maps.read_areas(analyst, "marts", "community_area")
    zips = maps.read_areas(analyst, "marts", "zip_code")
    assert len(areas) == 75 and areas["32"].name == "Loop"
    assert len(zips) == len({f["properties"]["zip"] for f in zip_features}) == 59
    parts = [len(f["geometry"]["coordinates"]) for f in zip_features if f["properties"]["zip"] == "60707"]
    assert len(parts) == 2 and len(zips["60707"].polygons) == sum(parts)

    # A report with a map of its areas, exported as the report assets export it
    query(warehouse_db, f"""
        drop table if exists marts.rpt_test__map;
        create table marts.rpt_test__map (community_area_number integer, crimes bigint);
        insert into marts.rpt_test__map select i % 70 + 1, i from generate_series(1, 140) i;
        grant select on marts.rpt_test__map to {roles.role("analyst").name(warehouse_db.database)};
    """)
    model = ReportModel(name="rpt_test__map", unique_id="model.pulse.rpt_test__map", schema="marts",
                        table="rpt_test__map", description="Crimes per area.", column_descriptions={},
                        portal={"chart": [{"type": "map", "layer": "community_area",
                                           "key": "community_area_number", "y": "crimes"}]})
    assert model.draws_maps
    report = export_report("marts", "rpt_test__map", tmp_path / "out", model=model)
    dom, errors = open_in_browser(tmp_path / "out" / report.files[PAGE])
    assert not errors
    paths = re.findall(r'<path class="mark" d="M[^"]+" fill="(#[0-9a-f]{6})"', dom)
    assert len(paths) == 75  # every area drawn, shaded or not
    assert paths.count(maps.NO_VALUE) == 5  # 71-75 have no rows in the report
    assert "Loop (32): 132" in dom  # 31 and 101: the values of one area are summed


def test_classes_and_keys():
    assert maps.quantile_breaks([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]) == [2, 4, 6, 8, 10]
    assert maps.quantile_breaks([5, 5, 5]) == [5]  # one class when every value is the same
    breaks = maps.quantile_breaks([1.0, 100.0])
    assert maps.shade(1.0, breaks) == maps.SHADES[0] and maps.shade(100.0, breaks) == maps.SHADES[-1]
    assert maps.shade(None, breaks) == maps.NO_VALUE
    assert [maps.area_key(v) for v in (25, 25.0, Decimal("25"), " 60601", None)] == \
        ["25", "25", "25", "60601", None]


def test_a_map_without_boundaries_says_so():
    svg = maps.choropleth("t", {}, {"1": 3.0})
    assert "no boundaries loaded yet" in svg
