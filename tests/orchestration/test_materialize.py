"""Dagster runs the whole graph for real: API -> dlt -> raw -> geocode -> dbt -> reports,
with checks and row counts; a refresh that finds nothing new stops after the loads."""

import dagster as dg

from pipelines.chicago.settings import load_datasets
from sample_api import SampleApi, chicago_portal
from tests.conftest import query, run_dbt

ROWS = 5_000


def test_materialize_every_asset(warehouse_db, dbt_manifest, monkeypatch, tmp_path):
    from orchestration.definitions import defs

    defs = defs()

    for schema in ("raw_chicago", "staging", "enriched", "marts"):  # a warehouse from scratch
        query(warehouse_db, f"drop schema if exists {schema} cascade")
    # but for the seeds, which no refresh job selects (they change with the code, not the data)
    assert run_dbt("seed").returncode == 0
    monkeypatch.setenv("PULSE_REPORTS_DIR", str(tmp_path / "reports"))
    portal = chicago_portal(rows={"crimes": ROWS}, seed=5)
    with SampleApi(portal) as api, dg.instance_for_test() as instance:
        monkeypatch.setenv("SOURCES__CHICAGO__BASE_URL", api.url)
        job = defs.resolve_job_def("chicago_refresh")
        result = job.execute_in_process(instance=instance)
        assert result.success
        check_first_run(result, warehouse_db, tmp_path)

        # Nothing changed upstream: the loads fetch their overlap and write nothing, the
        # geocoder reads nothing, and dbt and the reports skip.
        again = job.execute_in_process(instance=instance)
        assert again.success
        built = {m.asset_key.to_user_string() for m in again.get_asset_materialization_events()}
        assert "raw_chicago/crimes" in built
        assert not any(k.startswith(("staging/", "enriched/", "marts/", "reports/")) for k in built), built

        # A revision of the crimes is built through to the reports.
        portal[load_datasets()["crimes"].id].apply_revision(new_rows=10, updated_rows=10)
        revised = job.execute_in_process(instance=instance)
        built = {m.asset_key.to_user_string() for m in revised.get_asset_materialization_events()}
        assert {"enriched/int_chicago__crimes_enriched", "reports/rpt_chicago__crimes_daily_trend"} <= built
        assert query(warehouse_db, "select count(*) from enriched.int_chicago__crimes_enriched") == [
            (ROWS + 10,)]


def check_first_run(result, warehouse_db, tmp_path):
    """Every layer built once, its checks passed, every report delivered."""
    materialized = {m.asset_key.to_user_string(): m for m in result.get_asset_materialization_events()}
    assert {"raw_chicago/crimes", "staging/stg_chicago__crimes",
            "enriched/int_chicago__crimes_enriched", "marts/rpt_chicago__crimes_monthly_by_area",
            "marts/rpt_chicago__crimes_daily_trend"} <= materialized.keys()
    raw_meta = materialized["raw_chicago/crimes"].materialization.metadata
    assert raw_meta["dagster/row_count"].value == ROWS

    checks = result.get_asset_check_evaluations()
    assert len(checks) >= 10
    assert all(c.passed for c in checks), [c.check_name for c in checks if not c.passed]
    assert query(warehouse_db, "select count(*) from enriched.int_chicago__crimes_enriched") == [(ROWS,)]
    # every report mart was delivered, and the index lists them all
    reports = {k for k in materialized if k.startswith("reports/")}
    marts = {k.removeprefix("marts/") for k in materialized if k.startswith("marts/rpt_")}
    assert {r.removeprefix("reports/") for r in reports} == marts
    index = (tmp_path / "reports" / "index.html").read_text()
    assert all(mart in index for mart in marts)
    assert "raw_chicago/geocoded_points" in materialized
