"""Dagster's guards hold: ingest retries a failed load, refuses to retry a hopeless one,
and a failing error-severity dbt test keeps bad data out of the marts."""

import os
import shutil

import dagster as dg
import pytest

from sample_api import CrimesDataset, SampleApi, chicago_portal
from tests.conftest import query

ROWS = 2_000
# The retry policy's delay, read when the code location loads: seconds here, not minutes.
os.environ.setdefault("PULSE_INGEST_RETRY_DELAY", "0.5")


@pytest.fixture
def fresh_graph(fresh_raw, dbt_manifest, monkeypatch):
    """Raw starts empty (fresh_raw), and so does the assets' local dlt state."""
    from orchestration.defs.dbt import dbt_models
    from orchestration.defs.ingest import chicago_ingest
    from pipelines.load import default_pipelines_dir

    for name in chicago_ingest():
        shutil.rmtree(default_pipelines_dir() / f"chicago_{name}", ignore_errors=True)
    monkeypatch.setenv("SOURCES__CHICAGO__MAX_ATTEMPTS", "2")  # dlt gives up fast...
    monkeypatch.setenv("SOURCES__CHICAGO__BACKOFF_FACTOR", "0")
    return chicago_ingest()["crimes"], dbt_models()


def _events(result, event_type: dg.DagsterEventType) -> list:
    return [e for e in result.all_events if e.event_type == event_type]


def test_ingest_retries_a_load_that_outlasts_dlts_retries(fresh_graph, warehouse_db, monkeypatch):
    from orchestration.lib.resources import resources

    ingest, _ = fresh_graph
    with SampleApi(CrimesDataset(ROWS, seed=21)) as api:
        api.faults.server_error_next = 2  # ...so the first attempt fails as a whole
        monkeypatch.setenv("SOURCES__CHICAGO__BASE_URL", api.url)
        with dg.instance_for_test() as instance:
            result = dg.materialize([ingest], resources=resources(), instance=instance)
    assert result.success
    assert len(_events(result, dg.DagsterEventType.STEP_UP_FOR_RETRY)) == 1
    assert query(warehouse_db, "select count(*), count(distinct id) from raw_chicago.crimes") \
        == [(ROWS, ROWS)]


def test_ingest_does_not_retry_what_a_retry_cannot_fix(fresh_graph, monkeypatch):
    from orchestration.lib.resources import resources

    ingest, _ = fresh_graph
    with SampleApi(CrimesDataset(ROWS, seed=21), required_token="expected-token") as api:
        monkeypatch.setenv("SOURCES__CHICAGO__BASE_URL", api.url)
        monkeypatch.setenv("SOURCES__CHICAGO__APP_TOKEN", "wrong-token")
        with dg.instance_for_test() as instance:
            result = dg.materialize([ingest], resources=resources(), instance=instance,
                                    raise_on_error=False)
        attempts = len(api.data_requests())
    assert not result.success
    assert not _events(result, dg.DagsterEventType.STEP_UP_FOR_RETRY)
    assert attempts == 1  # a 403 is not retried by dlt either
    failure = _events(result, dg.DagsterEventType.STEP_FAILURE)[0]
    assert "HTTP 403" in str(failure.event_specific_data.error)
    assert "Check SOURCES__CHICAGO__APP_TOKEN" in str(failure.event_specific_data.error)


def test_a_host_that_does_not_resolve_is_asked_once(fresh_graph, monkeypatch):
    """A DNS failure is not retried, by dlt or by Dagster: the run fails at once saying so."""
    import socket

    from orchestration.lib.resources import resources

    ingest, _ = fresh_graph
    host = "pulse-no-such-host.invalid"  # .invalid never resolves (RFC 2606)
    lookups = []
    resolve = socket.getaddrinfo

    def counted(name, *args, **kwargs):
        if name == host:
            lookups.append(name)
        return resolve(name, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", counted)
    monkeypatch.setenv("SOURCES__CHICAGO__BASE_URL", f"http://{host}/resource")
    monkeypatch.setenv("SOURCES__CHICAGO__MAX_ATTEMPTS", "5")
    with dg.instance_for_test() as instance:
        result = dg.materialize([ingest], resources=resources(), instance=instance,
                                raise_on_error=False)
    assert not result.success
    assert not _events(result, dg.DagsterEventType.STEP_UP_FOR_RETRY)
    assert len(lookups) == 1
    error = str(_events(result, dg.DagsterEventType.STEP_FAILURE)[0].event_specific_data.error)
    assert "Not retried: the host name does not resolve" in error
    assert "dataset crimes" in error and host in error


MARTS = ("marts.rpt_chicago__crimes_monthly_by_area", "marts.rpt_chicago__crimes_daily_trend")


def test_failing_error_test_keeps_the_marts_as_they_were(fresh_graph, warehouse_db, monkeypatch):
    from orchestration.defs.geocode import geocoded_points
    from orchestration.defs.ingest import chicago_ingest
    from orchestration.lib.resources import resources

    _, dbt_models = fresh_graph
    graph = [*chicago_ingest().values(), geocoded_points(), dbt_models]
    with SampleApi(chicago_portal(rows=ROWS, seed=22)) as api:
        monkeypatch.setenv("SOURCES__CHICAGO__BASE_URL", api.url)
        with dg.instance_for_test() as instance:
            assert dg.materialize(graph, resources=resources(), instance=instance).success
            before = {m: query(warehouse_db, f"select * from {m} order by 1, 2") for m in MARTS}

            # Someone writes raw by hand: a second copy of a crime, in a newer "load".
            query(warehouse_db, """
                insert into raw_chicago.crimes
                select (c).* from (select c from raw_chicago.crimes c limit 1) one
            """)
            query(warehouse_db, """
                update raw_chicago.crimes set _dlt_load_id = '9999999999.0'
                where ctid = (select max(ctid) from raw_chicago.crimes)
            """)
            # dbt alone, with the tests on its raw sources (as the refresh job runs them)
            raw = dg.AssetKey(["raw_chicago", "crimes"])
            result = dg.materialize(
                graph, resources=resources(), instance=instance,
                selection=dg.AssetSelection.assets(*dbt_models.keys)
                | dg.AssetSelection.checks_for_assets(raw),
                raise_on_error=False,
            )
            check = instance.get_latest_asset_check_evaluation_record(
                dg.AssetCheckKey(raw, "source_unique_chicago_crimes_id"))

    assert not result.success
    failed = [c for c in result.get_asset_check_evaluations() if not c.passed]
    assert [c.check_name for c in failed] == ["source_unique_chicago_crimes_id"]
    assert failed[0].severity == dg.AssetCheckSeverity.ERROR
    # the asset graph shows it: the latest evaluation of the check is the failure
    assert check is not None and not check.event.dagster_event.event_specific_data.passed
    rebuilt = {m.asset_key.path[-1] for m in result.get_asset_materialization_events()}
    assert not rebuilt & {"stg_chicago__crimes", "int_chicago__crimes_enriched",
                          "rpt_chicago__crimes_monthly_by_area", "rpt_chicago__crimes_daily_trend"}
    assert {m: query(warehouse_db, f"select * from {m} order by 1, 2") for m in MARTS} == before


def test_the_dbt_step_refuses_to_build_over_code_hidden_in_raw(fresh_graph, warehouse_db):
    """A function the loader's credentials put in raw_chicago would run as the transformer
    inside dbt: the Dagster dbt step checks first, and fails saying what it found."""
    from orchestration.lib.resources import resources
    from pulse import roles

    _, dbt_models = fresh_graph
    pg = roles.connect("loader")
    try:
        with pg, pg.cursor() as cur:
            cur.execute("create function raw_chicago.evil() returns int language sql as 'select 1'")
        with dg.instance_for_test() as instance:
            result = dg.materialize([dbt_models], resources=resources(), instance=instance,
                                    selection=["seeds/chicago_community_areas"],
                                    raise_on_error=False)
        assert not result.success
        failure = _events(result, dg.DagsterEventType.STEP_FAILURE)[0]
        message = failure.step_failure_data.error.message
        assert "refusing to run dbt" in message and "function raw_chicago.evil()" in message
        assert not _events(result, dg.DagsterEventType.ASSET_MATERIALIZATION)
    finally:
        with pg, pg.cursor() as cur:
            cur.execute("drop function if exists raw_chicago.evil()")
        pg.close()


def test_the_daily_tests_read_every_row_a_refresh_does_not(fresh_graph, warehouse_db, monkeypatch):
    """A refresh's dbt step tests only the rows the marts have not counted yet
    (PULSE_TESTS_SINCE=marts); dbt_daily_tests, run by its schedule, tests every row: an old
    row gone bad passes the one and fails the other, as an error on its enriched asset."""
    from orchestration.definitions import defs
    from orchestration.defs.geocode import geocoded_points
    from orchestration.defs.ingest import chicago_ingest
    from orchestration.lib.resources import resources

    _, dbt_models = fresh_graph
    graph = [*chicago_ingest().values(), geocoded_points(), dbt_models]
    enriched = dg.AssetKey(["enriched", "int_chicago__crimes_enriched"])
    check = dg.AssetCheckKey(enriched, "not_null_int_chicago__crimes_enriched_community_area_name")
    with SampleApi(chicago_portal(rows=ROWS, seed=24)) as api:
        monkeypatch.setenv("SOURCES__CHICAGO__BASE_URL", api.url)
        with dg.instance_for_test() as instance:
            assert dg.materialize(graph, resources=resources(), instance=instance).success
            # Someone writes an old enriched row by hand.
            query(warehouse_db, """
                update enriched.int_chicago__crimes_enriched set community_area_name = null
                where crime_id = (select min(crime_id) from enriched.int_chicago__crimes_enriched)
            """)
            refresh = dg.materialize([dbt_models], resources=resources(), instance=instance,
                                     selection=dg.AssetSelection.assets(*dbt_models.keys))
            daily = defs().resolve_job_def("dbt_daily_tests").execute_in_process(
                instance=instance, raise_on_error=False)

    assert refresh.success
    assert [c.passed for c in refresh.get_asset_check_evaluations() if c.asset_check_key == check] \
        == [True]
    assert not daily.success
    assert not daily.get_asset_materialization_events()  # tests only: nothing rebuilt
    failed = [c for c in daily.get_asset_check_evaluations() if not c.passed]
    assert [c.asset_check_key for c in failed] == [check]
    assert failed[0].severity == dg.AssetCheckSeverity.ERROR
