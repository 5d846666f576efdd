"""Data tests priced to the change (dbt_project/macros/tests_since.sql).

On the real path (the local portal, `load_chicago`, the geocoder, `dbt build` as the
transformer): with `tests_since` 'marts', as the Dagster refreshes run, the tests of the
enriched point models read only the rows the marts have not counted yet; with the default
('everything'), as the daily run, every row. An error test failing on rows the marts have
not counted keeps the marts as they were, build after build, until the rows are fixed.
"""

from __future__ import annotations

import json

import pytest

from pipelines.chicago import load_chicago
from pipelines.geo import geocode
from pulse import roles
from pulse.dbt import target_dir
from sample_api import SampleApi, chicago_portal
from tests.conftest import query, run_dbt

ENRICHED = "enriched.int_chicago__crimes_enriched"
TEST = "not_null_int_chicago__crimes_enriched_community_area_name"
MART = "marts.rpt_chicago__crimes_monthly_by_area"
COMPILED = f"compiled/pulse/dbt_project/models/enriched/chicago/_chicago__models.yml/{TEST}.sql"


@pytest.fixture(scope="module")
def built(warehouse_db, dbt_manifest, tmp_path_factory):
    for schema in ("raw_chicago", "staging", "enriched", "marts"):
        query(warehouse_db, f"drop schema if exists {schema} cascade")
    with SampleApi(chicago_portal(rows=400, seed=31)) as api:
        load_chicago(pipelines_dir=tmp_path_factory.mktemp("dlt"), base_url=api.url,
                     backoff_factor=0)
    geocode(roles.url("loader"))
    result = run_dbt("build", "--exclude-resource-type", "unit_test")
    assert result.returncode == 0, result.stdout[-4000:]
    return warehouse_db


def refresh(monkeypatch, tests_since: str | None) -> tuple[int, dict[str, str]]:
    """`dbt build` of the crimes and everything downstream, as the refresh runs it with
    PULSE_TESTS_SINCE=`tests_since` (None: unset); (exit code, {node name: status}), the
    statuses of errors with their message."""
    if tests_since is None:
        monkeypatch.delenv("PULSE_TESTS_SINCE", raising=False)
    else:
        monkeypatch.setenv("PULSE_TESTS_SINCE", tests_since)
    result = run_dbt("build", "--select", "int_chicago__crimes_enriched+",
                     "--exclude-resource-type", "unit_test")
    results = json.loads((target_dir() / "run_results.json").read_text())["results"]
    return result.returncode, {
        r["unique_id"].split(".")[2]: r["status"] + ("" if r["status"] != "error" else f": {r['message']}")
        for r in results}


def failed(status: dict[str, str]) -> dict[str, str]:
    return {node: state for node, state in status.items() if state not in ("pass", "success")}


def marts_state(conn) -> tuple:
    return (query(conn, f"select *, xmin::text from {MART} order by 1, 2"),
            query(conn, "select * from enriched.mart_watermarks order by 1, 2"))


def test_a_refresh_reads_only_the_rows_the_marts_have_not_counted(built, monkeypatch):
    (row, name) = query(built, f"select crime_id, community_area_name from {ENRICHED} "
                               "order by loaded_at, crime_id limit 1")[0]
    # an old row, counted by the marts long ago, goes bad by hand
    query(built, f"update {ENRICHED} set community_area_name = null where crime_id = %s", (row,))
    try:
        code, status = refresh(monkeypatch, "marts")
        assert code == 0 and status[TEST] == "pass", failed(status)
        assert "loaded_at >" in (target_dir() / COMPILED).read_text()  # a filter, not luck
        code, status = refresh(monkeypatch, None)  # the default: every row
        assert code != 0 and status[TEST] == "fail"
        assert "loaded_at >" not in (target_dir() / COMPILED).read_text()
    finally:
        query(built, f"update {ENRICHED} set community_area_name = %s where crime_id = %s",
              (name, row))


def test_a_failing_test_on_uncounted_rows_keeps_the_marts_until_the_rows_are_fixed(built,
                                                                                  monkeypatch):
    code, status = refresh(monkeypatch, "marts")
    assert code == 0, failed(status)
    before = marts_state(built)
    # the newest row goes bad, a microsecond after what the marts counted
    (row, name) = query(built, f"select crime_id, community_area_name from {ENRICHED} "
                               "order by loaded_at desc, crime_id limit 1")[0]
    query(built, f"update {ENRICHED} set community_area_name = null, "
                 "loaded_at = loaded_at + interval '1 microsecond' where crime_id = %s", (row,))
    for _ in range(2):  # the marts' watermarks stay: the next refresh tests the row again
        code, status = refresh(monkeypatch, "marts")
        assert code != 0 and status[TEST] == "fail"
        assert status["rpt_chicago__crimes_monthly_by_area"] == "skipped"
        assert marts_state(built) == before
    query(built, f"update {ENRICHED} set community_area_name = %s where crime_id = %s",
          (name, row))
    code, status = refresh(monkeypatch, "marts")
    assert code == 0 and status[TEST] == "pass", failed(status)
    assert status["rpt_chicago__crimes_monthly_by_area"] == "success"
    assert marts_state(built)[1] != before[1]  # counted now: the watermarks moved on
