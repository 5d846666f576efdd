"""A stale source is a failed check on its raw table in Dagster (dbt source freshness)."""

from __future__ import annotations

import time

import dagster as dg
import pytest

from pulse import roles
from tests.conftest import query

HOUR = 3600


@pytest.fixture
def crimes_loaded_hours_ago(warehouse_db):
    """raw_chicago.crimes whose newest load is `hours` old, written as the loader."""
    loader = roles.connection("loader", raw_dataset="raw_chicago")
    for table in ("crimes", "building_permits"):
        query(warehouse_db, f"drop table if exists raw_chicago.{table} cascade")
    query(loader, "create table raw_chicago.crimes (id text, _dlt_load_id text)")

    def set_age(hours: float) -> None:
        query(loader, "truncate raw_chicago.crimes")
        load_id = f"{time.time() - hours * HOUR:.6f}"  # dlt's load id: epoch seconds
        query(loader, "insert into raw_chicago.crimes values ('1', %s)", (load_id,))

    yield set_age
    query(warehouse_db, "drop table raw_chicago.crimes")


def crimes_check(hours_old: float, set_age) -> dg.AssetCheckEvaluation:
    from orchestration.definitions import defs

    defs = defs()

    set_age(hours_old)
    job = defs.resolve_job_def("chicago_source_freshness")
    result = job.execute_in_process(instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    evaluations = [e.event_specific_data for e in result.all_events
                   if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    return next(e for e in evaluations if e.asset_key == dg.AssetKey(["raw_chicago", "crimes"]))


def test_fresh_warn_and_error_thresholds_become_check_results(crimes_loaded_hours_ago, dbt_manifest):
    # crimes: warn after 26 h, error after 50 h (the sources YAML)
    fresh = crimes_check(1, crimes_loaded_hours_ago)
    assert fresh.passed and fresh.metadata["status"].value == "pass"

    late = crimes_check(30, crimes_loaded_hours_ago)
    assert not late.passed and late.severity == dg.AssetCheckSeverity.WARN

    stale = crimes_check(60, crimes_loaded_hours_ago)
    assert not stale.passed and stale.severity == dg.AssetCheckSeverity.ERROR
    assert stale.metadata["age_hours"].value >= 59


def test_a_missing_table_is_a_failed_check(crimes_loaded_hours_ago, dbt_manifest):
    from orchestration.definitions import defs

    defs = defs()

    crimes_loaded_hours_ago(1)
    result = defs.resolve_job_def("chicago_source_freshness").execute_in_process(
        instance=dg.DagsterInstance.ephemeral(), raise_on_error=False)
    permits = next(e.event_specific_data for e in result.all_events
                   if e.event_type_value == "ASSET_CHECK_EVALUATION"
                   and e.event_specific_data.asset_key.path[-1] == "building_permits")
    assert not permits.passed and permits.severity == dg.AssetCheckSeverity.ERROR
