"""Contract test: real recorded portal responses load through the same source, typed.

The samples in ../shared/realdata/chicago are served by the local API as they are, so the
source sees the real keys, string encodings and omitted nulls.
"""

import json

import pytest

from sample_api import CrimesDataset, SampleApi
from tests.conftest import REALDATA, query
from tests.pipelines.helpers import load

SAMPLES = {
    "soda2_json": "crimes_ijzp-q8t2_2017-04_soda2_json__dbhaskara-bestwayback.json",
    "geojson": "crimes_ijzp-q8t2_2022-03_geojson__TeresaGobble-project-spotlight.geojson",
}


def _recorded_rows(name: str) -> list[dict]:
    data = json.loads((REALDATA / "chicago" / SAMPLES[name]).read_text())
    if isinstance(data, dict):  # GeoJSON: the rows are the features' properties
        return [f["properties"] for f in data["features"]]
    return data


@pytest.mark.parametrize("sample", SAMPLES)
def test_recorded_rows_load_with_types_and_nulls(sample, fresh_raw, warehouse_db):
    recorded = _recorded_rows(sample)
    with SampleApi(CrimesDataset.from_file(REALDATA / "chicago" / SAMPLES[sample])) as api:
        load(api, fresh_raw, warehouse_db)

    raw = {
        row[0]: row
        for row in query(
            warehouse_db,
            "select id, arrest, domestic, latitude, longitude, iucr, beat, district, "
            "location, socrata_updated_at, updated_on from raw_chicago.crimes",
        )
    }
    assert len(raw) == len(recorded)
    for rec in recorded:
        (_, arrest, domestic, lat, lon, iucr, beat, district, location, updated_at,
         updated_on) = raw[rec["id"]]
        assert arrest is rec["arrest"] and domestic is rec["domestic"]  # booleans stay booleans
        assert (iucr, beat, district) == (rec["iucr"], rec["beat"], rec["district"])  # "0512", "005"
        assert lat == rec.get("latitude") and lon == rec.get("longitude")  # text, nulls kept null
        assert updated_on[:19] == rec["updated_on"][:19]  # SODA 2.1 adds ".000"
        assert updated_at is not None and updated_at.tzinfo is not None
        if rec.get("latitude") is None:
            assert location is None
        elif "location" in rec:  # SODA JSON: the object, human_address still a JSON string
            assert location["latitude"] == rec["location"]["latitude"]
            assert isinstance(json.loads(location["human_address"]), dict)

    missing = sum(1 for rec in recorded if rec.get("latitude") is None)
    assert missing > 0, "the samples include rows without coordinates"
    nulls = query(warehouse_db, "select count(*) from raw_chicago.crimes where latitude is null")
    assert nulls == [(missing,)]


def test_recorded_rows_pass_staging_types(fresh_raw, warehouse_db, dbt_manifest):
    from tests.conftest import run_dbt

    with SampleApi(CrimesDataset.from_file(REALDATA / "chicago" / SAMPLES["soda2_json"])) as api:
        load(api, fresh_raw, warehouse_db)
    run = run_dbt("build", "--select", "stg_chicago__crimes")
    assert run.returncode == 0, run.stdout[-3000:]
    rows = query(
        warehouse_db,
        "select crime_id, occurred_at, latitude, community_area_id, is_arrest "
        "from staging.stg_chicago__crimes where crime_id = 10913035",
    )
    crime_id, occurred_at, latitude, area, is_arrest = rows[0]
    # 2017-04-14T23:58:00 in Chicago (CDT, UTC-5) is 04:58 UTC the next day
    assert occurred_at.isoformat().startswith("2017-04-15T04:58:00")
    assert (crime_id, latitude, area, is_arrest) == (10913035, 41.702514517, 49, True)
