"""Report assets: one per rpt_ mart, downstream of it, run by the refresh jobs after it."""

import copy
import json

import dagster as dg
import pyarrow.parquet as pq
import pytest

from pulse import roles
from tests.conftest import query


@pytest.fixture(scope="module")
def report_marts(dbt_manifest) -> list[str]:
    manifest = json.loads(dbt_manifest.read_text())
    return sorted(n["name"] for n in manifest["nodes"].values()
                  if n["resource_type"] == "model" and n["fqn"][1] == "marts"
                  and n["name"].startswith("rpt_"))


def test_one_report_asset_per_report_mart(defs, report_marts):
    graph = defs.resolve_asset_graph()
    # every report asset but the per-country files (defs/countries.py) mirrors one mart
    reports = sorted(k for k in graph.get_all_asset_keys()
                     if k.path[0] == "reports" and k != dg.AssetKey(["reports", "countries"]))
    assert report_marts, "the manifest has no rpt_ marts"
    assert reports == [dg.AssetKey(["reports", name]) for name in report_marts]
    maps = 0
    for name in report_marts:
        node = graph.get(dg.AssetKey(["reports", name]))
        # a page with a map reads the boundaries too (pulse/maps.py)
        drawn_from = node.parent_keys - {dg.AssetKey(["marts", name])}
        assert drawn_from in (set(), {dg.AssetKey(["marts", "dim_chicago__boundaries"])}), name
        assert dg.AssetKey(["marts", name]) in node.parent_keys
        maps += bool(drawn_from)
        assert node.group_name == "reports"
        assert set(node.kinds) == {"csv", "parquet", "json"}
    assert maps >= 5


@pytest.mark.parametrize("job, prefix", [("chicago_refresh", "rpt_chicago__"),
                                         ("countries_refresh", "rpt_countries__")])
def test_refresh_jobs_include_the_reports(defs, report_marts, job, prefix):
    selected = defs.resolve_job_def(job).asset_layer.selected_asset_keys
    theirs = {dg.AssetKey(["reports", name]) for name in report_marts if name.startswith(prefix)}
    assert theirs and theirs <= selected


def test_a_new_mart_needs_no_code_change(dbt_manifest):
    from orchestration.defs.reports import build_report_assets

    manifest = json.loads(dbt_manifest.read_text())
    uid, node = next((u, n) for u, n in manifest["nodes"].items()
                     if n["resource_type"] == "model" and n["name"].startswith("rpt_"))
    new = copy.deepcopy(node)
    new.update(name="rpt_chicago__brand_new", alias="rpt_chicago__brand_new",
               unique_id="model.pulse.rpt_chicago__brand_new",
               fqn=[*node["fqn"][:-1], "rpt_chicago__brand_new"])
    manifest["nodes"][new["unique_id"]] = new
    assets = {a.key: a for a in build_report_assets(manifest)}
    key = dg.AssetKey(["reports", "rpt_chicago__brand_new"])
    assert key in assets
    spec = assets[key].specs_by_key[key]
    assert [d.asset_key for d in spec.deps] == [dg.AssetKey(["marts", "rpt_chicago__brand_new"])]


TREND = "rpt_chicago__crimes_daily_trend"
GONE = "rpt_chicago__since_removed"
DAYS, CRIMES = 40, 500


def test_a_report_is_written_after_its_mart_in_one_run(warehouse_db, dbt_manifest, tmp_path,
                                                        monkeypatch):
    """dbt builds the real mart and the report asset exports it, in one Dagster run.

    The mart's upstream (the enriched crimes) is a stand-in table made here, so the test
    needs neither the API nor the loads: only the mart and its report run, as the refresh
    jobs run them. A report of a mart since removed from the project, in the same
    folder, is deleted by the run and leaves the index.
    """
    from orchestration.defs.dbt import dbt_models
    from orchestration.defs.reports import report_assets
    from orchestration.lib.resources import resources
    from pulse.reports import export_report

    # dbt reads the upstream as the transformer, which owns the enriched schema
    transformer = roles.connection("transformer")
    query(transformer, "drop table if exists enriched.int_chicago__crimes_enriched cascade")
    query(transformer, "create table enriched.int_chicago__crimes_enriched as "
          "select g as crime_id, date '2024-01-01' + (g %% %s) as occurred_date "
          "from generate_series(1, %s) as g", (DAYS, CRIMES))
    mart, report = dg.AssetKey(["marts", TREND]), dg.AssetKey(["reports", TREND])
    monkeypatch.setenv("PULSE_REPORTS_DIR", str(tmp_path / "out"))
    query(warehouse_db, f"create table marts.{GONE} as select 1 as one")
    query(warehouse_db, f"grant select on marts.{GONE} to public")
    export_report("marts", GONE, tmp_path / "out")
    query(warehouse_db, f"drop table marts.{GONE}")  # the mart left the project
    with dg.instance_for_test() as instance:
        result = dg.materialize([dbt_models(), *report_assets()], selection=[mart, report],
                                resources=resources(), instance=instance)
    assert result.success

    events = result.get_asset_materialization_events()
    order = [e.asset_key for e in events]
    assert order.index(mart) < order.index(report)
    meta = {e.asset_key: e.materialization.metadata for e in events}[report]
    out = tmp_path / "out"
    rows = query(warehouse_db, f"select * from marts.{TREND} order by crime_date")
    columns = [r[0] for r in query(
        warehouse_db, "select column_name from information_schema.columns where "
        "table_schema = 'marts' and table_name = %s order by ordinal_position", (TREND,))]
    assert len(rows) == DAYS
    assert meta["dagster/row_count"].value == DAYS
    assert [c.name for c in meta["dagster/column_schema"].schema.columns] == columns
    assert meta["read_as"].value == (warehouse_db.user if _roles_off()
                                     else roles.role_name("analyst"))
    assert meta["parquet"].value == str(out / f"{TREND}.parquet")
    # the files hold exactly the mart's rows, and the index lists the report
    assert pq.read_table(out / f"{TREND}.parquet").to_pylist() == [
        dict(zip(columns, row, strict=True)) for row in rows]
    assert len(json.loads((out / f"{TREND}.json").read_text())) == DAYS
    page = (out / "index.html").read_text()
    assert f'<section id="{TREND}">' in page and f'<span class="rows">{DAYS} rows</span>' in page
    assert GONE not in page
    assert not [p.name for p in out.iterdir() if GONE in p.name]
    assert not (out / ".versions" / GONE).exists()


def _roles_off() -> bool:
    from pulse.roles import roles_enabled

    return not roles_enabled()
