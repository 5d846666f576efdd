"""Every Chicago report mart as pandas computes it from the generator's ground truth.

Independent of the SQL and of shapely: points are placed by the boundaries' analytic
`locate`. Tests and the reliability suite call `check_all_marts` (or one `check_*`)
after dbt has built the marts; each raises AssertionError naming what differs.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pandas as pd

from pipelines.chicago.settings import load_datasets
from pulse.warehouse import query
from sample_api import boundaries

CHICAGO = ZoneInfo("America/Chicago")
EVENT_DATE = {"crimes": "date", "service_requests": "created_date", "traffic_crashes": "crash_date",
              "building_permits": "issue_date", "food_inspections": "inspection_date"}


def truth(portal) -> dict[str, list[dict]]:
    datasets = load_datasets()
    by_id = {d.id: name for name, d in datasets.items()}
    return {by_id[i]: list(ds.truth()) for i, ds in portal.items() if by_id[i] in EVENT_DATE}


def located(row: dict) -> tuple[str | None, int | None]:
    if row.get("latitude") is None or row.get("longitude") is None:
        return None, None
    return boundaries.locate(float(row["latitude"]), float(row["longitude"]))


def month(text: str) -> date:
    return date(int(text[:4]), int(text[5:7]), 1)


def chicago_time(text: str) -> datetime:
    # in UTC: Python subtracts two datetimes of one tzinfo as wall-clock times, across DST too
    return datetime.fromisoformat(text).replace(tzinfo=CHICAGO).astimezone(UTC)


def mart(conn, name: str) -> pd.DataFrame:
    rows = query(conn, f"select * from marts.{name}")
    columns = [c for (c,) in query(conn, "select column_name from information_schema.columns "
                                         "where table_schema = 'marts' and table_name = %s "
                                         "order by ordinal_position", (name,))]
    frame = pd.DataFrame(rows, columns=columns).astype(object)
    return frame.where(frame.notna(), None)  # NULL stays None, not NaN


def as_float(value) -> float | None:
    return None if value is None or pd.isna(value) else round(float(value), 4)


def check_all_marts(conn, rows: dict[str, list[dict]]) -> None:
    check_monthly(conn, rows)
    check_time_to_close(conn, rows["service_requests"])
    check_crashes(conn, rows["traffic_crashes"])
    check_pass_rate(conn, rows["food_inspections"])
    check_scorecard(conn, rows)


def check_monthly(conn, rows) -> None:
    by_zip, by_area = Counter(), Counter()
    for dataset, records in rows.items():
        for row in records:
            zip_code, area = located(row)
            by_zip[dataset, month(row[EVENT_DATE[dataset]]), zip_code] += 1
            by_area[dataset, month(row[EVENT_DATE[dataset]]), area] += 1
    got = mart(conn, "rpt_chicago__monthly_by_zip")
    assert {(r.dataset, r.month, r.zip_code): r.record_count for r in got.itertuples()} == dict(by_zip)
    got = mart(conn, "rpt_chicago__monthly_by_community_area")
    assert {(r.dataset, r.month, None if pd.isna(r.community_area_number) else int(r.community_area_number)):
            r.record_count for r in got.itertuples()} == dict(by_area)


def hours_to_close(row) -> float | None:
    if not row.get("closed_date"):
        return None
    hours = (chicago_time(row["closed_date"]) - chicago_time(row["created_date"])).total_seconds() / 3600
    return hours if hours >= 0 else None


def check_time_to_close(conn, requests) -> None:
    frame = pd.DataFrame({"request_type": [r.get("sr_type") for r in requests],
                          "area": [located(r)[1] for r in requests],
                          "hours": [hours_to_close(r) for r in requests]})
    frame["area"] = frame["area"].astype("Int64")
    expected = {}
    for (kind, area), group in frame.groupby(["request_type", "area"], dropna=False):
        closed = group["hours"].dropna()
        expected[kind, None if pd.isna(area) else int(area)] = (
            len(group), len(closed),
            as_float(round(closed.quantile(0.5), 2)) if len(closed) else None,
            as_float(round(closed.quantile(0.9), 2)) if len(closed) else None)
    got = mart(conn, "rpt_chicago__311_time_to_close")
    actual = {(r.request_type, None if pd.isna(r.community_area_number) else int(r.community_area_number)):
              (r.request_count, r.closed_count, as_float(r.median_hours_to_close),
               as_float(r.p90_hours_to_close)) for r in got.itertuples()}
    assert actual.keys() == expected.keys()
    for key, (count, closed, median, p90) in expected.items():
        a = actual[key]
        assert a[:2] == (count, closed), key
        for got_value, want in ((a[2], median), (a[3], p90)):
            assert (got_value is None) == (want is None), key
            assert want is None or abs(got_value - want) <= 0.011, key


def check_crashes(conn, crashes) -> None:
    expected: dict = {}
    for row in crashes:
        key = (month(row["crash_date"]), located(row)[1])
        injured, fatal = int(row.get("injuries_total", 0)), int(row.get("injuries_fatal", 0))
        e = expected.setdefault(key, [0, 0, 0, 0, 0, 0])
        e[0] += 1
        e[1] += injured > 0
        e[2] += injured
        e[3] += int(row.get("injuries_incapacitating", 0))
        e[4] += fatal > 0
        e[5] += fatal
    got = mart(conn, "rpt_chicago__crash_injuries_monthly")
    actual = {(r.crashed_month, None if pd.isna(r.community_area_number) else int(r.community_area_number)):
              [r.crash_count, r.crashes_with_injuries, r.injuries_total, r.injuries_incapacitating,
               r.fatal_crashes, r.fatalities] for r in got.itertuples()}
    assert actual == expected
    assert sum(e[5] for e in expected.values()) > 0, "the generator should produce some fatalities"


def check_pass_rate(conn, inspections) -> None:
    expected: dict = {}
    for row in inspections:
        key = (row.get("facility_type") or "Unknown", located(row)[0])
        e = expected.setdefault(key, [0, 0, 0])
        e[0] += 1
        result = row.get("results")
        e[1] += result in ("Pass", "Pass w/ Conditions", "Fail")
        e[2] += result in ("Pass", "Pass w/ Conditions")
    got = mart(conn, "rpt_chicago__food_inspection_pass_rate")
    actual = {(r.facility_type, r.zip_code): (r.inspection_count, r.graded_count, r.passed_count,
                                               as_float(r.pass_rate)) for r in got.itertuples()}
    assert actual == {k: (n, g, p, as_float(round(p / g, 4)) if g else None)
                      for k, (n, g, p) in expected.items()}


def check_scorecard(conn, rows) -> None:
    def per_area(dataset):
        return Counter(located(r)[1] for r in rows[dataset])

    crimes, requests = per_area("crimes"), per_area("service_requests")
    crashes, permits = per_area("traffic_crashes"), per_area("building_permits")
    inspections = per_area("food_inspections")
    fatalities = Counter()
    for row in rows["traffic_crashes"]:
        fatalities[located(row)[1]] += int(row.get("injuries_fatal", 0))
    got = mart(conn, "rpt_chicago__community_area_scorecard")
    assert sorted(got.community_area_number) == list(range(1, 78))
    for r in got.itertuples():
        area = int(r.community_area_number)
        assert (r.crime_count, r.service_request_count, r.crash_count, r.permit_count,
                r.food_inspection_count, r.crash_fatalities) == (
            crimes[area], requests[area], crashes[area], permits[area], inspections[area],
            fatalities[area]), area
