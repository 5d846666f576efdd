"""The crimes marts as an analyst would compute them from the API's rows, in pandas.

An oracle independent of the SQL: tests and the reliability suite compare the marts
dbt built with these frames (`assert_monthly_matches`, `assert_daily_matches`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pulse.warehouse import PROJECT_ROOT, query

SEEDS = PROJECT_ROOT / "dbt_project" / "seeds"


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
