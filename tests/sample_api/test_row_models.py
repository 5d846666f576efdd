"""The four new row datasets: declared columns, Socrata's encodings, consistent values, planted geography."""

from __future__ import annotations

import re
import statistics
from collections import Counter, defaultdict
from datetime import datetime
from functools import cache
from pathlib import Path

import pytest
import requests
import yaml

from sample_api import SampleApi, chicago_portal
from sample_api.boundaries import edge_points, locate
from sample_api.rows import RowDataset

DECLARED = yaml.safe_load((Path(__file__).parents[2] / "pipelines/chicago/datasets.yml").read_text())
NEW_TABLES = ("service_requests", "traffic_crashes", "building_permits", "food_inspections")
ROWS = 1_500
FLOATING = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000$")
NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
COORDINATES = {"latitude", "longitude", "location", "x_coordinate", "y_coordinate", "xcoordinate",
               "ycoordinate"}
KEY_FORMATS = {"service_requests": r"SR\d{2}-\d{8}", "traffic_crashes": r"[0-9a-f]{128}",
               "building_permits": r"\d{7}", "food_inspections": r"\d{7}"}


@cache
def portal() -> dict:
    return chicago_portal(rows=ROWS, seed=5)


def dataset(table: str) -> RowDataset:
    return portal()[DECLARED[table]["id"]]


@cache
def truth(table: str) -> tuple[dict, ...]:
    return tuple(dataset(table).truth())


def content(row: dict) -> dict:
    return {k: v for k, v in row.items() if not k.startswith(":")}


def floating(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.000")


@pytest.mark.parametrize("table", NEW_TABLES)
def test_rows_carry_exactly_the_declared_columns_in_socrata_encodings(table):
    declared = DECLARED[table]["columns"]
    rows = [content(r) for r in truth(table)]
    assert len(rows) == ROWS
    seen: set[str] = set()
    for row in rows:
        assert list(row) == [c for c in declared if c in row]  # declared order, nulls omitted
        assert None not in row.values()
        seen |= row.keys()
        for column, value in row.items():
            kind = declared[column]
            expected = {"bool": bool, "json": dict}.get(kind, str)
            assert isinstance(value, expected), (column, value)
    assert seen == set(declared), "every declared column appears in some row"
    key = DECLARED[table]["primary_key"]
    keys = [row[key] for row in rows]
    assert len(set(keys)) == len(keys) and all(re.fullmatch(KEY_FORMATS[table], k) for k in keys)
    # numbers are strings, as Socrata sends them
    for column, kind in dataset(table).schema.kinds.items():
        if kind == "number":
            assert all(NUMBER.match(r[column]) for r in rows if column in r), column
        if kind == "floating_timestamp":
            assert all(FLOATING.match(r[column]) for r in rows if column in r), column


@pytest.mark.parametrize("table", NEW_TABLES)
def test_coordinates_are_all_or_nothing_and_match_the_boundaries(table):
    rows = [content(r) for r in truth(table)]
    declared = set(DECLARED[table]["columns"]) & COORDINATES
    with_point = [r for r in rows if declared & r.keys()]
    assert all(declared <= r.keys() for r in with_point)
    assert 0.02 < 1 - len(with_point) / len(rows) < 0.06
    zip_column = {"service_requests": "zip_code", "food_inspections": "zip"}.get(table)
    wrong_area = 0
    for row in with_point:
        lat, lon = float(row["latitude"]), float(row["longitude"])
        true_zip, true_area = locate(lat, lon)
        location = row["location"]
        if "coordinates" in location:  # GeoJSON Point: numbers, longitude first
            assert location == {"type": "Point", "coordinates": [lon, lat]}
        else:  # the older Socrata location: text, with a JSON human_address
            assert (location["latitude"], location["longitude"]) == (row["latitude"], row["longitude"])
            assert isinstance(location["human_address"], str)
        if zip_column:
            assert row.get(zip_column) == true_zip
        if "community_area" in row:
            wrong_area += int(row["community_area"]) != true_area
            assert 1 <= int(row["community_area"]) <= 77
    if "community_area" in DECLARED[table]["columns"]:
        mismatches = dataset(table).community_area_mismatches()
        assert len(mismatches) == wrong_area and 0.01 < wrong_area / len(with_point) < 0.035
        key = DECLARED[table]["primary_key"]
        by_key = {r[key]: r for r in rows}
        for row_key, (served, true) in mismatches.items():
            row = by_key[row_key]
            assert int(row["community_area"]) == served != true == locate(float(row["latitude"]),
                                                                         float(row["longitude"]))[1]
    else:
        assert dataset(table).community_area_mismatches() == {}


@pytest.mark.parametrize("table", NEW_TABLES)
def test_some_rows_sit_exactly_on_boundary_edge_points(table):
    edges = {(lat, lon) for lat, lon, _, _ in edge_points()}
    key = DECLARED[table]["primary_key"]
    on_edge = {r[key] for r in truth(table)
               if "latitude" in r and (float(r["latitude"]), float(r["longitude"])) in edges}
    planted = dataset(table).rows_on_edges()
    assert set(planted) == on_edge
    rows_per_point = 4 if table == "food_inspections" else 1  # inspections share establishments
    assert 0.003 < len(on_edge) / ROWS < 0.03 * rows_per_point


def test_service_requests_close_after_a_type_specific_delay():
    rows = [content(r) for r in truth("service_requests")]
    assert {r["status"] for r in rows} == {"Open", "Completed", "Canceled"}
    hours = defaultdict(list)
    for row in rows:
        assert row["city"] == "CHICAGO" and row["state"] == "IL"
        assert row["origin"] in ("Phone Call", "Mobile Device", "Internet", "E-Mail")
        assert row["created_date"] <= row["last_modified_date"]
        assert ("closed_date" in row) == (row["status"] == "Completed")
        if "closed_date" in row:
            assert row["created_date"] < row["closed_date"] <= row["last_modified_date"]
            delay = floating(row["closed_date"]) - floating(row["created_date"])
            hours[row["sr_type"]].append(delay.total_seconds() / 3600)
        assert ("parent_sr_number" in row) <= row["duplicate"]
    assert statistics.median(hours["311 INFORMATION ONLY CALL"]) < 1
    assert statistics.median(hours["Pothole in Street Complaint"]) > 48
    median = {sr_type: statistics.median(h) for sr_type, h in hours.items()}
    assert median["Tree Trim Request"] > median["Graffiti Removal Request"]
    same_year = sum(r["sr_number"][2:4] == r["created_date"][2:4] for r in rows)
    assert same_year / len(rows) > 0.99  # SR numbers carry the year created
    assert any(r["legacy_record"] for r in rows) and not all(r["legacy_record"] for r in rows)


def test_traffic_crash_injuries_and_dates_agree():
    rows = [content(r) for r in truth("traffic_crashes")]
    severities = Counter(r.get("most_severe_injury") for r in rows)
    assert severities["FATAL"] >= 1 and severities["NO INDICATION OF INJURY"] > 0.7 * len(rows)
    for row in rows:
        assert "community_area" not in row
        if "injuries_total" in row:
            counts = [int(row[f"injuries_{k}"]) for k in ("fatal", "incapacitating", "non_incapacitating")]
            assert int(row["injuries_total"]) == sum(counts)
            worst = ("FATAL" if counts[0] else "INCAPACITATING INJURY" if counts[1]
                     else "NONINCAPACITATING INJURY" if counts[2] else "NO INDICATION OF INJURY")
            assert row["most_severe_injury"] == worst
            if sum(counts):
                assert row["crash_type"] == "INJURY AND / OR TOW DUE TO CRASH"
        crashed = floating(row["crash_date"])
        assert (row["crash_hour"], row["crash_month"]) == (str(crashed.hour), str(crashed.month))
        assert row["crash_day_of_week"] == str(crashed.isoweekday() % 7 + 1)  # 1 = Sunday
        assert row["date_police_notified"] >= row["crash_date"]
        assert row.get("hit_and_run_i", "Y") == "Y"
        assert row["damage"] in ("$500 OR LESS", "$501 - $1,500", "OVER $1,500")


def test_building_permits_are_issued_after_they_are_applied_for():
    rows = [content(r) for r in truth("building_permits")]
    for row in rows:
        started, issued = floating(row["application_start_date"]), floating(row["issue_date"])
        assert issued > started and (issued - started).days == int(row["processing_time"])
        assert re.fullmatch(r"1\d{8}", row["permit_"]) and row["permit_type"].startswith("PERMIT - ")
        assert float(row["total_fee"]) > 0 and float(row["reported_cost"]) >= 0
    median_days = {t: statistics.median(int(r["processing_time"]) for r in rows if r["permit_type"] == t)
                   for t in ("PERMIT - EASY PERMIT PROCESS", "PERMIT - NEW CONSTRUCTION")}
    assert median_days["PERMIT - EASY PERMIT PROCESS"] < 5 < median_days["PERMIT - NEW CONSTRUCTION"]


def test_food_inspections_revisit_establishments_and_pass_rates_differ():
    rows = [content(r) for r in truth("food_inspections")]
    assert max(Counter(r["license_"] for r in rows).values()) > 1  # re-inspections
    by_type = defaultdict(list)
    for row in rows:
        assert row["inspection_date"].endswith("T00:00:00.000")
        assert row["risk"] in ("Risk 1 (High)", "Risk 2 (Medium)", "Risk 3 (Low)")
        by_type[row["facility_type"]].append(row["results"] in ("Pass", "Pass w/ Conditions"))
        if "violations" in row:
            assert row["results"] in ("Pass", "Pass w/ Conditions", "Fail")
            assert all(re.match(r"\d+\. [A-Z]", v) and " - Comments: " in v
                       for v in row["violations"].split(" | "))
        elif row["results"] == "Fail":
            pytest.fail("a failed inspection lists its violations")
    assert statistics.mean(by_type["School"]) > statistics.mean(by_type["Grocery Store"])
    assert {r["results"] for r in rows} == {"Pass", "Pass w/ Conditions", "Fail", "Out of Business",
                                            "No Entry", "Not Ready"}


def keyset_all(url: str, since: str = "2000-01-01T00:00:00", limit: int = 250) -> list[dict]:
    """Page as pipelines/chicago/paging.py does: after the last (:updated_at, :id) seen."""
    rows: list[dict] = []
    base = f":updated_at > '{since}'"
    where = base
    while True:
        page = requests.get(url, params={"$select": ":*,*", "$where": where,
                                         "$order": ":updated_at,:id", "$limit": limit}, timeout=10).json()
        rows += page
        if len(page) < limit:
            return rows
        stamp, sid = page[-1][":updated_at"], page[-1][":id"]
        where = f"{base} and (:updated_at > '{stamp}' or (:updated_at = '{stamp}' and :id > '{sid}'))"


@pytest.mark.parametrize("table", NEW_TABLES)
def test_keyset_paging_returns_every_row_once_across_a_revision(table):
    ds = chicago_portal(rows=600, seed=9, tables=[table])[DECLARED[table]["id"]]
    key = DECLARED[table]["primary_key"]
    with SampleApi(ds) as api:
        assert api.resource_url.endswith(f"/resource/{DECLARED[table]['id']}.json")
        first = keyset_all(api.resource_url)
        assert len(first) == 600 == len({r[key] for r in first})
        cursor = max(r[":updated_at"] for r in first)[:19]
        revision = ds.apply_revision(new_rows=20, updated_rows=30)
        later = keyset_all(api.resource_url, since=cursor)
        assert sorted(r[key] for r in later) == sorted(revision.new_ids + revision.updated_ids)
        merged = {r[key]: r for r in [*first, *later]}
        assert merged == {r[key]: r for r in ds.truth()}
        # the key column filters like any other column
        some = revision.updated_ids[0]
        [row] = requests.get(api.resource_url, params={"$where": f"{key} = '{some}'"}, timeout=5).json()
        assert row[key] == some


def test_rows_are_deterministic_and_revisions_change_content():
    a = chicago_portal(rows=200, seed=3, tables=["service_requests"])["v6vf-nfxy"]
    b = chicago_portal(rows=200, seed=3, tables=["service_requests"])["v6vf-nfxy"]
    assert list(a.truth()) == list(b.truth())
    before = {r["sr_number"]: r for r in a.truth()}
    result = a.apply_revision(new_rows=0, updated_rows=50)
    after = {r["sr_number"]: r for r in a.truth()}
    for key in result.updated_ids:
        assert after[key]["last_modified_date"] > before[key]["last_modified_date"]
        # revisions never move a row
        assert {c: after[key].get(c) for c in COORDINATES} == {c: before[key].get(c) for c in COORDINATES}


@pytest.mark.parametrize("table", ["crimes", *NEW_TABLES])
def test_a_revision_can_move_rows_to_another_month_and_place(table):
    """`moved_rows` of the re-versioned rows get an earlier event (another month) and a
    new point; their key stays, every other row stays where it was, and the API serves
    what truth() says, the planted geography (edges, mismatches) following the move."""
    from sample_api.oracles.chicago_reports import EVENT_DATE, located, month

    ds = chicago_portal(rows=400, seed=11, tables=[table])[DECLARED[table]["id"]]
    key = DECLARED[table]["primary_key"]
    before = {r[key]: r for r in ds.truth()}
    result = ds.apply_revision(new_rows=5, updated_rows=60, moved_rows=25)
    after = {r[key]: r for r in ds.truth()}
    assert len(result.moved_ids) == 25 and set(result.moved_ids) <= set(result.updated_ids)
    assert set(before) <= set(after)  # same keys: a move is a revision, not a new row
    event = EVENT_DATE[table]
    for row_id, row in before.items():
        moved_month = month(after[row_id][event]) != month(row[event])
        moved_place = located(after[row_id]) != located(row)
        assert moved_month == (row_id in result.moved_ids), row_id
        assert moved_place <= (row_id in result.moved_ids), row_id
    assert sum(located(after[k]) != located(before[k]) for k in result.moved_ids) >= 20
    # each row's content is a function of its state: served as truth() says
    with SampleApi(ds) as api:
        served = {r[key]: r for r in keyset_all(api.resource_url)}
    assert served == after
    if "community_area" in ds.schema.columns:
        for row_id, (served_area, area) in ds.community_area_mismatches().items():
            assert int(after[row_id]["community_area"]) == served_area != area
