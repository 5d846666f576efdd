"""The report marts equal an independent pandas computation from the generated rows.

Runs the real chain: local API -> dlt -> raw -> `dbt build`, then a revision batch and
an incremental `dbt build`, comparing both times.
"""

import pytest

from pipelines.chicago import dataset_pipeline, load_chicago
from pipelines.geo import geocode
from pulse import roles
from pulse.dbt import target_dir
from sample_api import SampleApi, chicago_portal
from sample_api.oracles.crimes import assert_daily_matches, assert_monthly_matches
from tests.conftest import query, run_dbt
from tests.pipelines.helpers import load

ROWS = 20_000


def api_tables() -> list[str]:
    from pipelines.chicago.settings import load_datasets

    return list(load_datasets())


@pytest.fixture(scope="module")
def built(warehouse_db, dbt_manifest, tmp_path_factory):
    """Loads ROWS crimes (and a little of every other dataset) and builds every model;
    yields (api, the crimes pipeline)."""
    query(warehouse_db, "drop schema if exists raw_chicago cascade")
    dlt_dir = tmp_path_factory.mktemp("dlt")
    pipeline = dataset_pipeline("crimes", pipelines_dir=dlt_dir)
    with SampleApi(chicago_portal(rows={"crimes": ROWS}, seed=42)) as api:
        load(api, pipeline, warehouse_db)
        others = [name for name in api_tables() if name != "crimes"]
        load_chicago(others, credentials=warehouse_db.url(), pipelines_dir=dlt_dir,
                     base_url=api.url, backoff_factor=0)
        geocode(roles.url("loader"))
        build = run_dbt("build", "--full-refresh")
        assert build.returncode == 0, build.stdout[-4000:]
        yield api, pipeline


def test_marts_equal_pandas_after_backfill(built, warehouse_db):
    api, _ = built
    assert query(warehouse_db, "select count(*) from enriched.int_chicago__crimes_enriched") == [(ROWS,)]
    assert_monthly_matches(warehouse_db, api.dataset)
    assert_daily_matches(warehouse_db, api.dataset)


def test_marts_equal_pandas_after_revision_and_incremental_build(built, warehouse_db):
    api, pipeline = built
    api.dataset.apply_revision(new_rows=150, updated_rows=150)
    load(api, pipeline, warehouse_db)
    build = run_dbt("build")
    assert build.returncode == 0, build.stdout[-4000:]
    assert query(warehouse_db, "select count(*) from enriched.int_chicago__crimes_enriched") == [
        (ROWS + 150,)
    ]
    assert_monthly_matches(warehouse_db, api.dataset)
    assert_daily_matches(warehouse_db, api.dataset)


def test_marts_equal_pandas_after_crimes_move_between_months_and_areas(built, warehouse_db):
    """Revised crimes move to an earlier month and another (portal and polygon) area,
    some maybe before the first day: the monthly mart recounts the months they left as
    well as those they entered, and the daily trend (rebuilt whole) follows too."""
    api, pipeline = built
    moved = api.dataset.apply_revision(new_rows=0, updated_rows=300, moved_rows=200).moved_ids
    assert len(moved) == 200
    load(api, pipeline, warehouse_db)
    build = run_dbt("build", "--select", "int_chicago__crimes_enriched+")
    assert build.returncode == 0, build.stdout[-4000:]
    assert_monthly_matches(warehouse_db, api.dataset)
    assert_daily_matches(warehouse_db, api.dataset)


def test_docs_generate_and_source_freshness(built):
    docs = run_dbt("docs", "generate")
    assert docs.returncode == 0, docs.stdout[-3000:]
    assert (target_dir() / "catalog.json").exists()
    freshness = run_dbt("source", "freshness", "--select", "source:chicago.crimes")
    # the load just happened: the source is fresh
    assert freshness.returncode == 0, freshness.stdout[-3000:]
    assert "PASS freshness of chicago.crimes" in freshness.stdout


def test_every_model_and_column_is_documented(built, warehouse_db, dbt_manifest):
    import json

    manifest = json.loads(dbt_manifest.read_text())
    models = [n for n in manifest["nodes"].values() if n["resource_type"] in ("model", "seed")]
    assert models
    for node in models:
        assert node["description"].strip(), f"{node['name']} has no description"
        actual = [c for (c,) in query(
            warehouse_db,
            "select column_name from information_schema.columns "
            "where table_schema = %s and table_name = %s",
            (node["schema"], node["alias"]),
        )]
        documented = {name for name, col in node["columns"].items() if col["description"].strip()}
        missing = set(actual) - documented
        assert not missing, f"{node['name']}: undocumented columns {sorted(missing)}"
