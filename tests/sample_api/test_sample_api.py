"""The local SODA 2.1 server, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests

from sample_api import CrimesDataset, Faults, SampleApi, same_timestamp_dataset
from sample_api.boundaries import EXTENT
from sample_api.synth import OFFENSES

FBI_CODES = set("01A 01B 02 03 04A 04B 05 06 07 08A 08B 09 10 11 12 13 14 15 16 17 18 19 20 "
                "22 24 26".split())
FLOATING = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000$")
FIXED = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000Z$")
COORD_KEYS = {"latitude", "longitude", "x_coordinate", "y_coordinate", "location"}
CHICAGO = ZoneInfo("America/Chicago")
LAT_MIN, LAT_MAX, LON_MIN, LON_MAX = EXTENT


@pytest.fixture(scope="module")
def api():
    with SampleApi(CrimesDataset(5_000, seed=11)) as server:
        yield server


def get(api: SampleApi, timeout: float = 10, **params) -> requests.Response:
    return requests.get(api.resource_url, params=params, timeout=timeout)


def page_all(api: SampleApi, where: str, limit: int) -> list[dict]:
    """Incremental paging as the dlt source does it: fixed $where, $offset advances."""
    rows: list[dict] = []
    while True:
        page = get(api, **{"$select": ":*,*", "$where": where, "$order": ":updated_at,:id",
                           "$limit": limit, "$offset": len(rows)}).json()
        rows += page
        if len(page) < limit:
            return rows


def test_row_shape(api):
    resp = get(api, **{"$limit": 5000})
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/json;charset=utf-8"
    rows = resp.json()
    assert len(rows) == 5000
    combos = {(o[0], o[1], o[2], o[3]) for o in OFFENSES}
    for row in rows:
        assert not any(k.startswith(":") for k in row)  # `*` has no system fields
        assert None not in row.values()  # nulls are omitted, never sent
        for key, value in row.items():
            expected = bool if key in ("arrest", "domestic") else dict if key == "location" else str
            assert isinstance(value, expected), (key, value)
        assert (row["primary_type"], row["description"], row["iucr"], row["fbi_code"]) in combos
        assert row["fbi_code"] in FBI_CODES
        assert re.fullmatch(r"\d{4}", row["beat"]) and re.fullmatch(r"\d{3}", row["district"])
        assert row["beat"][:2] == row["district"][1:]
        assert FLOATING.match(row["date"]) and FLOATING.match(row["updated_on"])
        assert row["year"] == row["date"][:4] and row["date"] < row["updated_on"]
        assert re.fullmatch(r"\d{8}", row["id"]) and re.fullmatch(r"[HJ][A-Z]\d{6}", row["case_number"])
        assert re.fullmatch(r"(0000X|\d{3}XX) [NSEW] [A-Z0-9 ]+", row["block"])
        assert 1 <= int(row.get("community_area", 1)) <= 77 and 1 <= int(row.get("ward", 1)) <= 50
        present = COORD_KEYS & row.keys()
        assert present in (set(), COORD_KEYS)  # all coordinates or none
        if present:
            # the synthetic boundaries' extent; edge points sit up to 0.001 outside it
            assert LAT_MIN - 0.001 <= float(row["latitude"]) <= LAT_MAX + 0.001
            assert LON_MIN - 0.001 <= float(row["longitude"]) <= LON_MAX + 0.001
            assert 1_090_000 < int(row["x_coordinate"]) < 1_210_000
            assert 1_810_000 < int(row["y_coordinate"]) < 1_960_000
            loc = row["location"]
            assert (loc["latitude"], loc["longitude"]) == (row["latitude"], row["longitude"])
            assert json.loads(loc["human_address"]) == {"address": "", "city": "", "state": "",
                                                        "zip": ""}
    n = len(rows)
    assert 0.02 < sum(not (COORD_KEYS & r.keys()) for r in rows) / n < 0.06
    assert 0.15 < sum(r["arrest"] for r in rows) / n < 0.25
    assert 0.12 < sum(r["domestic"] for r in rows) / n < 0.22
    assert any("community_area" not in r for r in rows)
    types = {r["primary_type"] for r in rows}
    assert {"THEFT", "BATTERY", "CRIMINAL DAMAGE"} <= types


def test_system_fields(api):
    rows = get(api, **{"$select": ":*,*", "$limit": 200}).json()
    for row in rows:
        assert list(row)[:4] == [":id", ":created_at", ":updated_at", "id"]
        assert re.fullmatch(r"row-[a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4}", row[":id"])
        assert FIXED.match(row[":created_at"]) and FIXED.match(row[":updated_at"])
        instant = datetime.strptime(row[":updated_at"], "%Y-%m-%dT%H:%M:%S.000Z").replace(tzinfo=UTC)
        local = instant.astimezone(CHICAGO).strftime("%Y-%m-%dT%H:%M:%S.000")
        assert row["updated_on"] == local  # one write, two renderings
        assert row[":created_at"] <= row[":updated_at"]
    only = get(api, **{"$select": "id,:updated_at,arrest", "$limit": 3}).json()
    assert [list(r) for r in only] == [["id", ":updated_at", "arrest"]] * 3
    # many rows share one :updated_at, as bulk loads do
    stamps = [r[":updated_at"] for r in api.dataset.truth()]
    assert max(stamps.count(s) for s in set(stamps)) >= 50


def test_default_order_is_id_and_matches_colon_id(api):
    by_default = get(api, **{"$select": ":id,id", "$limit": 300}).json()
    ids = [int(r["id"]) for r in by_default]
    assert ids == sorted(ids)
    assert [r[":id"] for r in by_default] == sorted(r[":id"] for r in by_default)
    assert get(api, **{"$select": ":id,id", "$order": ":id", "$limit": 300}).json() == by_default
    desc = get(api, **{"$select": "id", "$order": "id DESC", "$limit": 3}).json()
    assert [r["id"] for r in desc] == sorted((r["id"] for r in desc), reverse=True)
    assert int(desc[0]["id"]) == max(int(r["id"]) for r in api.dataset.truth())


def test_determinism():
    a, b = CrimesDataset(2_000, seed=5), CrimesDataset(2_000, seed=5)
    assert list(a.truth()) == list(b.truth())
    with SampleApi(a) as one, SampleApi(b) as two:
        params = {"$select": ":*,*", "$order": ":updated_at,:id", "$limit": 500, "$offset": 700}
        assert get(one, **params).json() == get(two, **params).json()
    other = list(CrimesDataset(2_000, seed=6).truth())
    assert other != list(a.truth())
    assert a.apply_revision(10, 10) == b.apply_revision(10, 10)
    assert list(a.truth()) == list(b.truth())


def test_incremental_paging_returns_every_row_once(api):
    truth = list(api.dataset.truth())
    stamps = sorted({r[":updated_at"] for r in truth})
    cursor = stamps[len(stamps) // 3]
    expected = {r["id"] for r in truth if r[":updated_at"] > cursor}
    for literal in (cursor, cursor[:-1], cursor[:19]):  # Z, floating .000, no millis
        rows = page_all(api, f":updated_at > '{literal}'", limit=333)
        ids = [r["id"] for r in rows]
        assert len(ids) == len(set(ids)) and set(ids) == expected
        keys = [(r[":updated_at"], int(r["id"])) for r in rows]
        assert keys == sorted(keys)
    everything = page_all(api, ":updated_at > '2000-01-01T00:00:00'", limit=1000)
    assert len(everything) == len(truth) == len({r["id"] for r in everything})


def test_where_on_updated_on_id_and_keyset(api):
    truth = list(api.dataset.truth())
    row = sorted(truth, key=lambda r: (r[":updated_at"], int(r["id"])))[len(truth) // 2]
    by_fixed = get(api, **{"$select": "id", "$where": f":updated_at >= '{row[':updated_at']}'",
                           "$limit": 50000}).json()
    # updated_on literals are Chicago wall-clock time: the same instant selects the same rows
    by_local = get(api, **{"$select": "id", "$where": f"updated_on >= '{row['updated_on']}'",
                           "$limit": 50000}).json()
    assert by_fixed == by_local and by_fixed
    keyset = (f"(:updated_at > '{row[':updated_at']}') OR "
              f"(:updated_at = '{row[':updated_at']}' AND id > '{row['id']}')")
    got = get(api, **{"$select": "id", "$where": keyset,
                      "$order": ":updated_at ASC, :id ASC", "$limit": 50000}).json()
    after = [r["id"] for r in truth if (r[":updated_at"], int(r["id"])) >
             (row[":updated_at"], int(row["id"]))]
    assert sorted(r["id"] for r in got) == sorted(after)
    first = int(row["id"])
    ranged = get(api, **{"$select": "id", "$where": f"id > '{first}' and id <= '{first + 10}'"})
    assert [int(r["id"]) for r in ranged.json()] == list(range(first + 1, first + 11))
    count = get(api, **{"$select": "count(*)", "$where": "arrest = true"}).json()
    assert count == [{"count": str(sum(r["arrest"] for r in truth))}]


def test_revision_is_one_bulk_write():
    ds = CrimesDataset(3_000, seed=2)
    before = {r["id"]: r for r in ds.truth()}
    old_max = ds.max_updated_at
    result = ds.apply_revision(new_rows=150, updated_rows=120)
    assert len(result.new_ids) == 150 and len(set(result.updated_ids)) == 120
    assert not set(result.new_ids) & before.keys() and set(result.updated_ids) <= before.keys()
    assert result.updated_at > old_max and ds.max_updated_at == result.updated_at
    after = {r["id"]: r for r in ds.truth()}
    assert len(after) == len(ds) == 3_150
    stamp = result.updated_at.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    touched = {*result.new_ids, *result.updated_ids}
    assert {i for i, r in after.items() if r[":updated_at"] == stamp} == touched
    for i in result.updated_ids:
        old, new = before[i], after[i]
        assert new[":created_at"] == old[":created_at"] and new[":id"] == old[":id"]
        content = {k for k in old.keys() | new.keys() if old.get(k) != new.get(k)}
        assert content - {":updated_at", "updated_on"}, "a revision must change something"
    for i in result.new_ids:
        assert after[i][":created_at"] == stamp and after[i]["date"] < after[i]["updated_on"]
    with SampleApi(ds) as api:
        old = old_max.strftime("%Y-%m-%dT%H:%M:%S.000")
        rows = page_all(api, f":updated_at > '{old}'", limit=100)
        assert {r["id"] for r in rows} == touched and len(rows) == len(touched)
    # a revision stamped in the past still leaves the index consistent
    past = ds.apply_revision(5, 5, at=old_max - timedelta(days=1))
    keys = [(r[":updated_at"], int(r["id"])) for r in ds.truth()]
    assert len(keys) == 3_155 and past.updated_at < result.updated_at
    with SampleApi(ds) as api:
        rows = page_all(api, ":updated_at > '2000-01-01'", limit=500)
        assert [(r[":updated_at"], int(r["id"])) for r in rows] == sorted(keys)


def test_rows_sharing_one_timestamp_page_cleanly():
    ds = same_timestamp_dataset(50_000, seed=3)
    with SampleApi(ds) as api:
        rows = page_all(api, ":updated_at > '2000-01-01T00:00:00.000Z'", limit=10_000)
        assert len(rows) == 50_000 == len({r["id"] for r in rows})
        assert {r[":updated_at"] for r in rows} == {ds.max_updated_at.strftime("%Y-%m-%dT%H:%M:%S.000Z")}
        assert [r.rows for r in api.data_requests()] == [10_000] * 5 + [0]


def test_errors(api):
    bad = get(api, **{"$select": "id,nope"})
    assert bad.status_code == 400 and bad.headers["Content-Type"].startswith("application/json")
    body = bad.json()
    assert body["errorCode"] == "query.soql.no-such-column" and body["data"]["column"] == "nope"
    assert "message" in body
    assert get(api, **{"$where": "nope > '1'"}).json()["errorCode"] == "query.soql.no-such-column"
    assert get(api, **{"$order": "nope"}).json()["errorCode"] == "query.soql.no-such-column"
    for where in (":updated_at >", ":updated_at > '2020-01-01' and", "(id > '1'", "id >> '1'"):
        resp = get(api, **{"$where": where})
        assert resp.status_code == 400 and resp.json()["errorCode"] == "query.soql.malformed"
    assert get(api, **{"$where": ":updated_at > 'yesterday'"}).status_code == 400
    assert get(api, **{"$limit": 50_001}).status_code == 400
    assert get(api, **{"$limit": "ten"}).status_code == 400
    missing = requests.get(f"{api.url}/resource/abcd-1234.json", timeout=5)
    assert missing.status_code == 404 and missing.json() == {"error": True, "message": "Not found"}


def test_app_token():
    with SampleApi(CrimesDataset(100), required_token="s3cret-token") as api:
        wrong = requests.get(api.resource_url, headers={"X-App-Token": "nope"}, timeout=5)
        assert wrong.status_code == 403 and wrong.json()["code"] == "permission_denied"
        assert requests.get(api.resource_url, timeout=5).status_code == 403
        ok = requests.get(api.resource_url, headers={"X-App-Token": "s3cret-token"}, timeout=5)
        assert ok.status_code == 200 and len(ok.json()) == 100
        assert [r.token_sent for r in api.requests] == [True, False, True]
        assert "s3cret" not in repr(api.requests)  # recorded, never its value


def test_fault_knobs(api):
    faults: Faults = api.faults
    try:
        faults.rate_limit_next, faults.retry_after = 2, 7
        for _ in range(2):
            limited = get(api, **{"$limit": 1})
            assert limited.status_code == 429 and limited.headers["Retry-After"] == "7"
        assert get(api, **{"$limit": 1}).status_code == 200

        for status in (500, 502, 503):
            faults.server_error_next, faults.server_error_status = 1, status
            assert get(api, **{"$limit": 1}).status_code == status
        assert get(api, **{"$limit": 1}).status_code == 200

        faults.malformed_next = 1
        broken = get(api, **{"$limit": 10})
        assert broken.status_code == 200
        with pytest.raises(ValueError):
            broken.json()
        assert len(get(api, **{"$limit": 10}).json()) == 10

        faults.bad_request_next = 1
        assert get(api, **{"$limit": 1}).json()["errorCode"] == "query.soql.no-such-column"

        faults.slow_next, faults.slow_seconds = 1, 2.0
        with pytest.raises(requests.Timeout):
            get(api, timeout=0.2, **{"$limit": 1})
        started = time.monotonic()
        assert get(api, **{"$limit": 1}).status_code == 200
        assert time.monotonic() - started < 1.5  # the next request is not slowed
        # the abandoned slow request still counts a success when it ends: wait for its
        # record (written after the count) before arming the countdown below
        deadline = time.monotonic() + 10
        while not any(r.fault == "slow" for r in api.requests) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any(r.fault == "slow" for r in api.requests)

        # mid-run failure: the first page succeeds, then the server stays down
        faults.fail_after_requests = 1  # counts from now, not from the server's start
        assert get(api, **{"$limit": 5}).status_code == 200
        assert [get(api, **{"$limit": 5}).status_code for _ in range(3)] == [503] * 3
        assert {r.fault for r in api.requests[-3:]} == {"server_error"}
    finally:
        faults.reset()
    assert get(api, **{"$limit": 1}).status_code == 200


def test_from_rows_keeps_real_shape():
    rows = [
        {"id": "12654853", "case_number": "JF188735", "date": "2022-03-27T23:55:00.000",
         "primary_type": "WEAPONS VIOLATION", "arrest": True, "domestic": False,
         "updated_on": "2022-04-03T16:50:08.000", "latitude": "41.852904198",
         "longitude": "-87.628264394", "ward": None},
        {"type": "Feature", "geometry": None,
         "properties": {"id": "12654939", "date": "2022-03-27T20:00:00.000", "arrest": False,
                        "updated_on": "2022-04-03T16:50:08", "latitude": None,
                        "location_zip": None, "primary_type": "CRIMINAL DAMAGE"}},
    ]
    ds = CrimesDataset.from_rows(rows)
    truth = {r["id"]: r for r in ds.truth()}
    first, second = truth["12654853"], truth["12654939"]
    assert first[":updated_at"] == "2022-04-03T21:50:08.000Z" == second[":updated_at"]
    assert "ward" not in first and first["location"]["latitude"] == "41.852904198"
    assert not COORD_KEYS & second.keys() and not any(k.startswith("location_") for k in second)
    assert second["updated_on"] == "2022-04-03T16:50:08.000"
    result = ds.apply_revision(new_rows=1, updated_rows=1)
    assert len(ds) == 3 and result.updated_at == datetime(2022, 4, 3, 21, 51, 8, tzinfo=UTC)
    with SampleApi(ds) as api:
        got = get(api, **{"$select": ":*,*", "$order": ":updated_at,:id"}).json()
        assert [r["id"] for r in got][-2:] == sorted([*result.new_ids, *result.updated_ids],
                                                     key=int)
        geo = requests.get(f"{api.url}/resource/ijzp-q8t2.geojson", timeout=5).json()
        assert geo["type"] == "FeatureCollection" and len(geo["features"]) == 3


def test_a_large_dataset_serves_a_deep_page():
    """A deep page answers right (how fast the local API serves shows in `make bench`)."""
    ds = CrimesDataset(200_000, seed=1)
    assert len(ds) == 200_000
    with SampleApi(ds) as api:
        assert get(api, **{"$select": "count(*)"}).json() == [{"count": "200000"}]
        deep = get(api, **{"$order": ":updated_at,:id", "$offset": 190_000, "$limit": 50_000,
                           "$where": ":updated_at > '2000-01-01T00:00:00'"})
        assert len(deep.json()) == 10_000


def test_cli_help():
    out = subprocess.run([sys.executable, "-m", "sample_api", "--help"],
                         capture_output=True, text=True, check=True, timeout=60)
    assert "--rows" in out.stdout and "--rows-file" in out.stdout
    assert all(f"--fault-{o}" in out.stdout for o in ("rate", "kinds", "seed"))
