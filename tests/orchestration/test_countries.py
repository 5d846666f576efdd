"""The country graph in Dagster for real: both providers -> raw -> the shared enriched table ->
marts -> reports; a refresh with nothing new upstream stops after the loads."""

import csv

import dagster as dg
import pytest

from pipelines.oecd.settings import load_dataflows
from pipelines.worldbank.settings import load_indicators
from sample_api.countries import CountryApi, CountryUniverse
from tests.conftest import query

ENRICHED = dg.AssetKey(["enriched", "int_countries__indicator_years"])


def test_both_providers_flow_into_the_shared_enriched_table(defs):
    graph = defs.resolve_asset_graph()
    upstream = {key.to_user_string() for key in graph.get(ENRICHED).parent_keys}
    assert any(k.startswith("staging/stg_worldbank__") for k in upstream), upstream
    assert any(k.startswith("staging/stg_oecd__") for k in upstream), upstream
    ancestors, todo = set(), [ENRICHED]
    while todo:
        parents = graph.get(todo.pop()).parent_keys - ancestors
        ancestors |= parents
        todo += parents
    ancestors = {k.to_user_string() for k in ancestors}
    assert {"api/worldbank/indicator_values", "api/oecd/population", "raw_worldbank/countries",
            "raw_oecd/gdp"} <= ancestors
    assert defs.get_schedule_def("countries_daily").cron_schedule == "0 6 * * *"


@pytest.fixture
def fresh_countries(warehouse_db, monkeypatch, tmp_path):
    for schema in ("raw_worldbank", "raw_oecd", "staging", "enriched", "marts"):
        query(warehouse_db, f"drop schema if exists {schema} cascade")
    monkeypatch.setenv("PULSE_REPORTS_DIR", str(tmp_path / "reports"))
    monkeypatch.setenv("SOURCES__OECD__MIN_SECONDS_BETWEEN_REQUESTS", "0")
    universe = CountryUniverse(seed=7, countries=12, first_year=2005)
    with CountryApi(universe) as api:
        monkeypatch.setenv("SOURCES__WORLDBANK__BASE_URL", api.worldbank_url)
        monkeypatch.setenv("SOURCES__OECD__BASE_URL", api.oecd_url)
        yield universe, api, tmp_path / "reports"


def _run(defs, instance, run_config=None):
    job = defs.resolve_job_def("countries_refresh")
    result = job.execute_in_process(instance=instance, run_config=run_config or {},
                                    raise_on_error=False)
    assert result.success, [e.message for e in result.all_events if e.is_failure]
    return {m.asset_key.to_user_string() for m in result.get_asset_materialization_events()}


def test_daily_refresh_loads_builds_reports_then_skips_when_nothing_changed(
        defs, dbt_manifest, warehouse_db, fresh_countries):
    universe, api, reports = fresh_countries
    with dg.instance_for_test() as instance:
        first = _run(defs, instance)
        assert {"raw_worldbank/indicator_values", "raw_worldbank/countries", "raw_oecd/population",
                "enriched/int_countries__indicator_years", "marts/rpt_countries__profile",
                "reports/rpt_countries__top10", "reports/countries"} <= first
        countries = [c for c in universe.countries if not c.is_aggregate]
        assert query(warehouse_db, "select count(*) from marts.rpt_countries__profile") == [
            (len(countries),)]
        files = sorted(p.stem for p in (reports / "countries").glob("*.csv"))
        assert files == sorted(c.iso3 for c in countries)
        index = (reports / "index.html").read_text()
        assert all(f'href="countries/{code}.csv"' in index for code in files)
        with open(reports / "countries" / f"{countries[0].iso3}.csv", newline="") as f:
            rows = list(csv.DictReader(f))
        assert rows and {"year", "population", "gdp_usd", "life_expectancy",
                         "trade_balance_usd"} <= rows[0].keys()

        api.requests.clear()
        second = _run(defs, instance)
        # nothing changed upstream: a probe per indicator and one query per dataflow, no builds
        assert not any(k.startswith(("enriched/", "marts/", "reports/")) for k in second), second
        declared_indicators, declared_dataflows = len(load_indicators()), len(load_dataflows())
        assert len(api.worldbank_requests()) == 1 + declared_indicators  # the list, a probe each
        assert len(api.oecd_requests()) == declared_dataflows  # 404 NoResultsFound each

        universe.revise(share=0.05, seed=3)
        third = _run(defs, instance)
        assert "enriched/int_countries__indicator_years" in third


def test_one_countrys_report_from_the_launch_form(defs, dbt_manifest, warehouse_db,
                                                  fresh_countries):
    universe, api, reports = fresh_countries
    with dg.instance_for_test() as instance:
        _run(defs, instance)
        for path in (reports / "countries").glob("*.csv"):
            path.unlink()
        code = next(c.iso3 for c in universe.countries if not c.is_aggregate)
        job = defs.resolve_implicit_global_asset_job_def()
        result = job.get_subset(asset_selection={dg.AssetKey(["reports", "countries"])}
                                ).execute_in_process(
            instance=instance,
            run_config={"ops": {"reports__countries": {"config": {"country": code.lower()}}}})
        assert result.success
        assert [p.name for p in (reports / "countries").glob("*.csv")] == [f"{code}.csv"]

        bad = job.get_subset(asset_selection={dg.AssetKey(["reports", "countries"])}
                             ).execute_in_process(
            instance=instance, raise_on_error=False,
            run_config={"ops": {"reports__countries": {"config": {"country": "XXX"}}}})
        assert not bad.success
        message = " ".join(e.step_failure_data.error.to_string()
                           for e in bad.get_step_failure_events())
        assert "no country XXX" in message and code in message
