"""The oecd source against the local country API: full load, no-change run, revisions.

raw_oecd.<dataflow> must equal what the API serves (universe.oecd_rows) after every run:
new and revised observations merged, deleted ones removed.
"""

from __future__ import annotations

import time

import pytest
import yaml

from pipelines.oecd import OecdError, load_oecd
from pipelines.oecd.settings import DATAFLOWS_FILE, load_dataflows
from sample_api import countries
from tests.conftest import query

DATAFLOWS = list(load_dataflows(DATAFLOWS_FILE))


@pytest.fixture
def universe():
    return countries.CountryUniverse(seed=2026, countries=20, first_year=2000)


@pytest.fixture
def load(api, warehouse_db, tmp_path):
    """One run of load_oecd against the API, into the test database; fresh raw_oecd."""
    query(warehouse_db, "drop schema if exists raw_oecd cascade")

    def run(dataflows=None, **source_args):
        source_args.setdefault("requests_per_hour", 1000)
        source_args.setdefault("min_seconds_between_requests", 0)
        return load_oecd(dataflows, credentials=warehouse_db.url(), pipelines_dir=tmp_path / "dlt",
                         base_url=api.oecd_url, backoff_factor=0, **source_args)

    return run


def _value(value):
    return None if value in (None, "") else float(value)


def truth(universe, name) -> dict[tuple[str, str], tuple]:
    """(series_key, time_period) -> (obs_value, unit_mult, obs_status) as the API serves."""
    dims = universe.oecd_dataflows[name].dimensions
    out = {}
    for row in universe.oecd_rows(name):
        key = ".".join(str(row[d]) for d in dims)
        out[(key, str(row["TIME_PERIOD"]))] = (
            _value(row["OBS_VALUE"]), int(row["UNIT_MULT"]), row.get("OBS_STATUS") or None)
    return out


def raw(conn, name) -> dict[tuple[str, str], tuple]:
    rows = query(conn, f"select series_key, time_period, obs_value, unit_mult, obs_status "
                       f"from raw_oecd.{name}")
    return {(k, t): (v, m, s) for k, t, v, m, s in rows}


def last_load_id(conn, name) -> str:
    return query(conn, f"select max(_dlt_load_id) from raw_oecd.{name}")[0][0]


def data_requests(api) -> list:
    return [r for r in api.requests if "/data/" in r.path]


def test_full_then_nothing_then_revisions(universe, api, load, warehouse_db):
    started = time.monotonic()

    infos = load()
    assert set(infos) == set(DATAFLOWS)
    first = data_requests(api)
    assert len(first) == len(DATAFLOWS)
    assert all(r.params.get("format") == "csv" and "updatedAfter" not in r.params for r in first)
    for name in DATAFLOWS:
        expected = truth(universe, name)
        assert expected, f"the universe serves no {name} rows"
        assert raw(warehouse_db, name) == expected, name
    dims = {n: [d.lower() for d in universe.oecd_dataflows[n].dimensions] for n in DATAFLOWS}
    for name in DATAFLOWS:
        columns = [c for (c,) in query(warehouse_db, (
            "select column_name from information_schema.columns where table_schema = 'raw_oecd' "
            f"and table_name = '{name}' order by ordinal_position"))]
        assert columns[:len(dims[name]) + 2] == ["dataflow", *dims[name], "series_key"]
        assert {"time_period", "obs_value", "unit_mult", "decimals", "deleted"} <= set(columns)
    tables_before = {name: raw(warehouse_db, name) for name in DATAFLOWS}
    stamps_before = {name: last_load_id(warehouse_db, name) for name in DATAFLOWS}

    # nothing changed: one request per dataflow, each 404 NoResultsFound, no rows loaded
    api.requests.clear()
    load()
    second = data_requests(api)
    assert len(second) == len(DATAFLOWS)
    assert all(r.status == 404 for r in second)
    assert all(r.params.get("format") == "csvfilewithlabels" and r.params.get("updatedAfter")
               for r in second)
    for name in DATAFLOWS:  # untouched: same rows, none rewritten
        assert raw(warehouse_db, name) == tables_before[name]
        assert last_load_id(warehouse_db, name) == stamps_before[name]

    # revisions, additions and deletions upstream: the next run makes raw equal the truth again
    universe.revise(share=0.05, seed=1)
    changed = {name: truth(universe, name) for name in DATAFLOWS}
    assert any(changed[n] != tables_before[n] for n in DATAFLOWS)
    assert any(set(tables_before[n]) - set(changed[n]) for n in DATAFLOWS), "nothing deleted"
    assert any(set(changed[n]) - set(tables_before[n]) for n in DATAFLOWS), "nothing added"
    api.requests.clear()
    load()
    assert len(data_requests(api)) == len(DATAFLOWS)
    for name in DATAFLOWS:
        assert raw(warehouse_db, name) == changed[name], name
        assert query(warehouse_db, f"select count(*) from raw_oecd.{name} where deleted") == [(0,)]
    assert time.monotonic() - started < 300  # no wait for a budget slot (an hour), on a busy machine too


def test_unknown_dataflow_fails_clearly(api, load, tmp_path, monkeypatch):
    doc = yaml.safe_load(DATAFLOWS_FILE.read_text())
    doc["dataflows"]["nowhere"] = {**doc["dataflows"]["gdp"], "id": "DSD_NOPE@DF_NOWHERE"}
    path = tmp_path / "dataflows.yml"
    path.write_text(yaml.safe_dump(doc))
    monkeypatch.setenv("PULSE_OECD_DATAFLOWS", str(path))

    with pytest.raises(OecdError) as failure:
        load(["nowhere", "gdp"])
    message = str(failure.value)
    assert "dataflow nowhere: GET " in message and "DSD_NOPE@DF_NOWHERE" in message
    assert "404" in message and "dataflows.yml" in message
    assert not failure.value.retriable
    # the other dataflow loaded all the same
    assert len([r for r in data_requests(api) if "DF_REFSERIES_GLOBAL" in r.path]) == 1


def test_unknown_name_is_refused_before_any_request(api, load):
    with pytest.raises(OecdError, match="unknown OECD dataflow.*no_such_flow"):
        load(["no_such_flow"])
    assert data_requests(api) == []


FAULTS = {
    # knobs, expected in the message, retriable
    "429 past every retry": ({"rate_limit_next": 10, "retry_after": 1},
                             "HTTP 429 (too many requests) after every retry; OECD asks to wait 1 s", True),
    "HTML maintenance page": ({"html_200_next": 1}, "returned an HTML page where SDMX-CSV was expected",
                              True),
    "5xx past every retry": ({"server_error_next": 10}, "HTTP 503", True),
}


@pytest.mark.parametrize("fault", FAULTS, ids=list(FAULTS))
def test_faults_fail_clearly_and_the_cursor_stays(fault, api, load, warehouse_db, tmp_path):
    knobs, expected, retriable = FAULTS[fault]
    load(["gdp"])
    before = raw(warehouse_db, "gdp")
    for knob, value in knobs.items():
        setattr(api.faults, knob, value)
    api.requests.clear()
    with pytest.raises(OecdError) as failure:
        load(["gdp"], max_attempts=2)
    message = str(failure.value)
    assert "dataflow gdp: GET http://127.0.0.1:" in message and "DF_REFSERIES_GLOBAL" in message
    assert expected in message and "cursor did not move" in message
    assert failure.value.retriable is retriable
    assert raw(warehouse_db, "gdp") == before
    updated_after = data_requests(api)[0].params["updatedAfter"]

    api.faults.reset()
    api.requests.clear()
    load(["gdp"])
    assert data_requests(api)[0].params["updatedAfter"] == updated_after  # the cursor stayed
