"""The report marts equal an independent pandas computation from the generated rows.

Runs the real chain: local API -> dlt -> raw -> `dbt build`, then a revision batch and
an incremental `dbt build`, comparing both times.
"""

import numpy as np
import pandas as pd
import pytest

from pipelines.chicago import dataset_pipeline, load_chicago
from pipelines.geo import geocode
from pulse import warehouse
from pulse.sample_api import SampleApi, chicago_portal
from pulse.warehouse import PROJECT_ROOT
from tests.conftest import query, run_dbt
from tests.pipelines.helpers import load

ROWS = 20_000
SEEDS = PROJECT_ROOT / "dbt_project" / "seeds"


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
        geocode(warehouse.url(role="loader"))
        build = run_dbt("build", "--full-refresh")
        assert build.returncode == 0, build.stdout[-4000:]
        yield api, pipeline


def expected_crimes(dataset) -> pd.DataFrame:
    """The crimes as an analyst would compute them from the API rows, in pandas."""
    rows = pd.DataFrame(
        [
            {
                "date": row["date"],
                "area": row.get("community_area"),
                "fbi_code": row.get("fbi_code"),
                "arrest": bool(row.get("arrest")),
                "domestic": bool(row.get("domestic")),
            }
            for row in dataset.truth()
        ]
    )
    # `date` is Chicago wall-clock time: its calendar day and month are the local ones.
    rows["day"] = pd.to_datetime(rows["date"].str[:10])
    rows["month"] = rows["day"].dt.to_period("M").dt.to_timestamp()
    rows["area"] = pd.to_numeric(rows["area"]).astype("Int64")
    categories = pd.read_csv(SEEDS / "fbi_crime_codes.csv", dtype=str).set_index("fbi_code")
    rows["category"] = rows["fbi_code"].map(categories["crime_category"]).fillna("other")
    return rows


def expected_monthly(crimes: pd.DataFrame) -> pd.DataFrame:
    grouped = crimes.groupby(["month", "area"], dropna=False)
    out = grouped.agg(
        crime_count=("date", "size"),
        arrest_count=("arrest", "sum"),
        domestic_count=("domestic", "sum"),
        violent_count=("category", lambda c: (c == "violent").sum()),
        property_count=("category", lambda c: (c == "property").sum()),
    ).reset_index()
    out["arrest_rate"] = out["arrest_count"] / out["crime_count"]
    out["domestic_share"] = out["domestic_count"] / out["crime_count"]
    return out.drop(columns="domestic_count")


def expected_daily(crimes: pd.DataFrame) -> pd.DataFrame:
    counts = crimes.groupby("day").size()
    days = pd.date_range(counts.index.min(), counts.index.max(), freq="D")
    daily = pd.DataFrame({"crime_count": counts.reindex(days, fill_value=0)})
    daily["moving_avg_7d"] = daily["crime_count"].rolling(7, min_periods=1).mean()
    daily["moving_avg_28d"] = daily["crime_count"].rolling(28, min_periods=1).mean()
    daily["crime_count_28d"] = daily["crime_count"].rolling(28, min_periods=1).sum()
    last_year = daily["crime_count_28d"].shift(364)
    # only a full 28-day window a year back counts: it must start on or after the first day
    complete = np.arange(len(daily)) >= 364 + 27
    daily["crime_count_28d_last_year"] = last_year.where(complete)
    daily["change_vs_last_year"] = (
        daily["crime_count_28d"] / daily["crime_count_28d_last_year"].replace(0, np.nan) - 1
    )
    return daily.rename_axis("crime_date").reset_index()


def actual(conn, sql: str, columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame(query(conn, sql), columns=columns)


MONTHLY_COLUMNS = ["month", "area", "crime_count", "arrest_count", "violent_count",
                   "property_count", "arrest_rate", "domestic_share"]


def assert_monthly_matches(conn, dataset):
    want = expected_monthly(expected_crimes(dataset))
    got = actual(
        conn,
        "select occurred_month, community_area_id, crime_count, arrest_count, violent_count, "
        "property_count, arrest_rate, domestic_share from marts.rpt_chicago__crimes_monthly_by_area",
        MONTHLY_COLUMNS,
    )
    got["month"] = pd.to_datetime(got["month"])
    got["area"] = got["area"].astype("Int64")
    key = ["month", "area"]
    merged = want.merge(got, on=key, how="outer", suffixes=("_want", "_got"), indicator=True)
    assert (merged["_merge"] == "both").all(), merged[merged["_merge"] != "both"].head()
    for col in MONTHLY_COLUMNS[2:6]:
        assert (merged[f"{col}_want"] == merged[f"{col}_got"]).all(), col
    for col in MONTHLY_COLUMNS[6:]:  # rounded to 4 places in SQL
        diff = (merged[f"{col}_want"] - merged[f"{col}_got"].astype(float)).abs()
        assert (diff <= 0.00005 + 1e-12).all(), col


def assert_daily_matches(conn, dataset):
    want = expected_daily(expected_crimes(dataset))
    columns = ["crime_date", "crime_count", "moving_avg_7d", "moving_avg_28d", "crime_count_28d",
               "crime_count_28d_last_year", "change_vs_last_year"]
    got = actual(
        conn,
        f"select {', '.join(columns)} from marts.rpt_chicago__crimes_daily_trend order by crime_date",
        columns,
    )
    got["crime_date"] = pd.to_datetime(got["crime_date"])
    assert list(got["crime_date"]) == list(want["crime_date"])
    assert (got["crime_count"].to_numpy() == want["crime_count"].to_numpy()).all()
    assert (got["crime_count_28d"].to_numpy() == want["crime_count_28d"].to_numpy()).all()
    for col, places in [("moving_avg_7d", 2), ("moving_avg_28d", 2),
                        ("crime_count_28d_last_year", 0), ("change_vs_last_year", 4)]:
        g = pd.to_numeric(got[col], errors="coerce").astype(float).to_numpy()
        w = want[col].astype(float).to_numpy()
        assert (np.isnan(g) == np.isnan(w)).all(), f"{col}: nulls differ"
        ok = np.isnan(w) | (np.abs(g - w) <= 0.5 * 10**-places + 1e-9)
        assert ok.all(), f"{col}: {np.count_nonzero(~ok)} values differ"


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


def test_docs_generate_and_source_freshness(built):
    docs = run_dbt("docs", "generate")
    assert docs.returncode == 0, docs.stdout[-3000:]
    assert (PROJECT_ROOT / "target" / "catalog.json").exists()
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
