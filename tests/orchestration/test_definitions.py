"""The code location loads, and the asset graph runs API -> raw -> staging -> enriched -> marts."""

import dagster as dg


def test_definitions_load_without_errors(defs):
    dg.Definitions.validate_loadable(defs)
    assert defs.resolve_job_def("chicago_refresh")
    assert defs.resolve_schedule_def("chicago_crimes_schedule").cron_schedule


def test_every_dbt_source_is_a_dlt_asset(defs):
    from dagster_dbt import get_asset_keys_by_output_name_for_source

    from orchestration.defs.dbt import dbt_models
    from orchestration.defs.geocode import geocoded_points
    from orchestration.defs.ingest import chicago_ingest
    from pipelines.chicago.settings import load_datasets

    built = {key for load in chicago_ingest().values() for key in load.keys} | set(geocoded_points().keys)
    source_keys = set(get_asset_keys_by_output_name_for_source([dbt_models()], "chicago").values())
    every_table = {f"raw_chicago/{name}" for name in load_datasets()}
    assert every_table <= {k.to_user_string() for k in source_keys}
    assert "raw_chicago/service_requests_rejects" in {k.to_user_string() for k in source_keys}
    assert source_keys <= built
    # and the manifest has no source that no dlt asset produces
    graph = defs.resolve_asset_graph()
    produced = {key for key in graph.get_all_asset_keys() if graph.get(key).is_materializable}
    external = {key for key in graph.get_all_asset_keys() if not graph.get(key).is_materializable}
    for key in dbt_models().dependency_keys - set(dbt_models().keys):
        assert key in produced, f"dbt depends on {key.to_user_string()}, which no asset builds"

    from pipelines.oecd.settings import load_dataflows

    assert {k.to_user_string() for k in external} == {
        *(f"api/chicago/{name}" for name in load_datasets()),
        *(f"api/worldbank/{name}" for name in ("countries", "indicators", "indicator_values")),
        *(f"api/oecd/{name}" for name in load_dataflows()),
        "api/events/collector",  # the events clients push, drained by events_drain
        "api/logs/loki", "api/logs/sitemaps",  # Loki's lines and the site's sitemaps
    }


def test_lineage_from_collector_to_event_marts(defs):
    graph = defs.resolve_asset_graph()
    path = ["api/events/collector", "raw_events/events", "staging/stg_events__events",
            "marts/rpt_events__daily", "reports/rpt_events__daily"]
    for upstream, downstream in zip(path, path[1:], strict=False):
        node = graph.get(dg.AssetKey.from_user_string(downstream))
        assert upstream in {k.to_user_string() for k in node.parent_keys}, downstream
    job = defs.resolve_job_def("events_refresh")
    built = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    assert {"raw_events/events", "marts/rpt_events__hourly"} <= built
    assert not any(k.startswith(("raw_chicago", "raw_worldbank")) for k in built)
    assert defs.resolve_sensor_def("events_sensor").job_name == "events_refresh"


def test_lineage_from_api_to_marts(defs):
    graph = defs.resolve_asset_graph()
    path = ["api/chicago/crimes", "raw_chicago/crimes", "staging/stg_chicago__crimes",
            "enriched/int_chicago__crimes_enriched", "marts/rpt_chicago__crimes_monthly_by_area"]
    for upstream, downstream in zip(path, path[1:], strict=False):
        node = graph.get(dg.AssetKey.from_user_string(downstream))
        parents = {k.to_user_string() for k in node.parent_keys}
        assert upstream in parents, f"{downstream} should depend on {upstream}, has {parents}"


def test_dbt_tests_are_asset_checks(defs):
    checks = defs.resolve_asset_graph().asset_check_keys
    checked_assets = {c.asset_key.to_user_string() for c in checks}
    assert "staging/stg_chicago__crimes" in checked_assets
    assert "marts/rpt_chicago__crimes_monthly_by_area" in checked_assets
    assert len(checks) >= 10


def test_workspace_yaml_validates_cleanly(dbt_manifest, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from pulse.warehouse import PROJECT_ROOT

    dagster = Path(sys.executable).with_name("dagster")
    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    run = subprocess.run(
        [str(dagster), "definitions", "validate", "-w", str(PROJECT_ROOT / "workspace.yaml")],
        cwd=PROJECT_ROOT, capture_output=True, text=True, env={**__import__("os").environ,
                                                               "DAGSTER_HOME": str(tmp_path)},
    )
    assert run.returncode == 0, run.stdout + run.stderr
    log = run.stdout + run.stderr
    assert "All code locations passed validation" in log
    for line in log.splitlines():
        if "SupersessionWarning" in line or "return callback(" in line:
            continue  # the validate command itself is superseded by `dg check defs`
        assert "missing" not in line.lower() and "warning" not in line.lower(), line


def test_one_step_at_a_time_per_load_for_dbt_and_for_geocoding(defs, tmp_path):
    """Each load has a pool of its own, dbt and geocoding one each, and the instance Pulse
    writes limits every pool to one step: a second run's step queues behind the first."""
    import yaml

    from pulse.cli import write_dagster_yaml

    pools = {}
    for assets_def in defs.resolve_asset_graph().assets_defs:
        if assets_def.is_executable and assets_def.op.pool:
            pools.setdefault(assets_def.op.pool, []).append(assets_def.node_def.name)
    loads = {pool: ops for pool, ops in pools.items() if pool.endswith("_ingest")}
    assert {"chicago_crimes_ingest", "worldbank_ingest"} <= set(loads), pools
    assert any(pool.startswith("oecd_") for pool in loads), pools
    assert all(ops == [pool] for pool, ops in loads.items()), loads
    assert pools["dbt"] == ["dbt_models"] and pools["geocode"] == ["raw_chicago__geocoded_points"]

    (tmp_path / "dagster.yaml").write_text("telemetry:\n  enabled: true\n")
    config = yaml.safe_load(write_dagster_yaml(tmp_path).read_text())
    assert config == {"telemetry": {"enabled": True},
                      "concurrency": {"pools": {"default_limit": 1}}}


def test_refresh_jobs_leave_source_freshness_to_its_hourly_job(defs):
    """A refresh that finds nothing new must not start dbt: the freshness checks (one
    `dbt source freshness`) run in their own job, on the clock."""
    from orchestration.defs.freshness import CHECK_NAME, freshness_job
    from orchestration.defs.schedules import refresh_jobs

    graph = defs.resolve_asset_graph()
    for job in refresh_jobs():
        checks = job.selection.resolve_checks(graph)
        assert checks and CHECK_NAME not in {c.name for c in checks}, job.name
    freshness = freshness_job().selection.resolve_checks(graph)
    assert freshness and {c.name for c in freshness} == {CHECK_NAME}


def test_every_refresh_job_runs_dbt_once(defs):
    """One dbt invocation per run: with dbt's tests on the raw tables blocking, Dagster
    split dbt into two steps around the geocoder (two dbt start-ups, two manifests read)."""
    from orchestration.defs.schedules import refresh_jobs

    for job in refresh_jobs():
        ops = [node.name for node in defs.resolve_job_def(job.name).graph.nodes]
        assert [op for op in ops if op.startswith("dbt_models")] == ["dbt_models"], (job.name, ops)


def test_every_asset_and_check_tells_an_operator_what_it_is(defs):
    """The catalog, as an operator opens it: each asset has a description, an owner, kinds,
    a group and its subject as a `domain` tag; each check says what it tests, in words."""
    graph = defs.resolve_asset_graph()
    unexplained = []
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if not (node.description and node.owners and node.kinds and node.group_name
                and node.tags.get("domain") in {"chicago", "countries", "events", "logs"}):
            unexplained.append(key.to_user_string())
    assert not unexplained
    crimes = graph.get(dg.AssetKey(["raw_chicago", "crimes"]))
    columns = {c.name for c in crimes.metadata["dagster/column_schema"].columns}
    assert {"id", "date", "updated_on"} <= columns  # declared once, in the dbt source
    assert crimes.owners == ["team:data-platform"]
    assert graph.get(dg.AssetKey(["marts", "rpt_countries__top10"])).tags["domain"] == "countries"

    checks = [spec for key in graph.asset_check_keys for spec in [graph.get_check_spec(key)]]
    assert checks and all(spec.description for spec in checks)
    assert not [s for s in checks if "'count'" in s.description  # a dict printed, or
                or s.description.startswith("dbt test `")]  # a test we cannot say in words
    not_null = dg.AssetCheckKey(dg.AssetKey(["enriched", "int_chicago__crimes_enriched"]),
                                "not_null_int_chicago__crimes_enriched_community_area_name")
    assert graph.get_check_spec(not_null).description.startswith("`community_area_name` is never NULL.")


def test_every_schedule_starts_stopped_and_says_why(defs):
    schedules = list(defs.schedules)
    assert len(schedules) >= 10
    for schedule in schedules:
        assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED, schedule.name
        assert "stopped" in (schedule.description or "").lower(), schedule.name
