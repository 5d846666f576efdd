"""An OECD answer that is not whole must fail the run, never move the cursor.

Found by the reliability suite (reliability/scenarios/countries.py): a 200 with the
SDMX-CSV header alone (the local API's empty_page fault) loaded as "0 observations" and
saved the cursor, so the next run asked only for changes since then and the dataflow's
whole history (on a first load) was never loaded; a body cut at the end of a field parsed
as a shorter, valid CSV with the same effect on the observations it lacked.
"""

from __future__ import annotations

import pytest

from pipelines.oecd import OecdError, incomplete, load_oecd
from pipelines.oecd.sdmx_csv import parse_sdmx_csv
from sample_api import countries
from tests.conftest import query


@pytest.fixture
def universe():
    return countries.CountryUniverse(seed=2026, countries=15, first_year=2010)


@pytest.fixture
def load(api, warehouse_db, tmp_path):
    query(warehouse_db, "drop schema if exists raw_oecd cascade")

    def run(**source_args):
        return load_oecd(["gdp"], credentials=warehouse_db.url(), pipelines_dir=tmp_path / "dlt",
                         base_url=api.oecd_url, backoff_factor=0, requests_per_hour=1000,
                         min_seconds_between_requests=0, **source_args)

    return run


def served(universe) -> set[tuple[str, str]]:
    dims = universe.oecd_dataflows["gdp"].dimensions
    return {(".".join(row[d] for d in dims), row["TIME_PERIOD"]) for row in universe.oecd_rows("gdp")}


def raw(conn) -> set[tuple[str, str]]:
    return set(query(conn, "select series_key, time_period from raw_oecd.gdp"))


def test_a_header_alone_fails_the_first_load_and_the_next_one_loads_everything(
        universe, api, load, warehouse_db):
    api.faults.empty_page_next = 1
    with pytest.raises(OecdError) as failure:
        load()
    message = str(failure.value)
    assert "dataflow gdp: GET http://127.0.0.1:" in message
    assert "header and no observations" in message and "cursor did not move" in message
    assert failure.value.retriable

    api.requests.clear()
    load()
    again = [r for r in api.requests if "/data/" in r.path]
    assert again[0].params.get("format") == "csv" and "updatedAfter" not in again[0].params
    assert raw(warehouse_db) == served(universe)


def test_a_header_alone_fails_an_incremental_load_and_the_changes_come_next_time(
        universe, api, load, warehouse_db):
    load()
    universe.revise(share=0.05, seed=3)
    api.faults.empty_page_next = 1
    with pytest.raises(OecdError, match="header and no observations"):
        load(overlap_seconds=0)
    load(overlap_seconds=0)
    assert raw(warehouse_db) == served(universe)


def test_a_body_cut_at_a_field_end_parses_but_is_refused():
    body = ("DATAFLOW,REF_AREA,MEASURE,UNIT_MEASURE,FREQ,TIME_PERIOD,OBS_VALUE,OBS_STATUS,UNIT_MULT,"
            "DECIMALS,CURRENCY\r\n"
            "OECD.CTP.TPS:DSD_REF_GLOBAL@DF_REFSERIES_GLOBAL(1.1),AUS,B1GQ_V,USD,A,2020,1.5,A,9,3,AUD\r\n"
            "OECD.CTP.TPS:DSD_REF_GLOBAL@DF_REFSERIES_GLOBAL(1.1),AUT,B1GQ_V,USD,A,2020,0.4,A,9,3,")
    assert parse_sdmx_csv(body, "gdp").num_rows == 2  # the parser alone cannot tell
    assert "ends mid-line" in incomplete(body, 2)
    assert incomplete(body + "EUR\r\n", 2) == ""
