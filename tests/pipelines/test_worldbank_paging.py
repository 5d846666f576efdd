"""World Bank paging against the local API: an answer stuck on one page, or a page count
beyond the cap, fails the run at once with a clear error and loads nothing."""

from __future__ import annotations

import pytest

from pipelines.worldbank import WorldBankError, load_worldbank
from pipelines.worldbank.paging import MAX_PAGES
from sample_api.countries import CountryApi, CountryUniverse
from tests.conftest import query

INDICATOR = "SP.POP.TOTL"


@pytest.fixture
def universe() -> CountryUniverse:
    # 42 economies x 25 years: 1,050 values an indicator
    return CountryUniverse(seed=2026, countries=8, first_year=2000, last_year=2024)


@pytest.fixture
def pipelines_dir(warehouse_db, tmp_path):
    query(warehouse_db, "drop schema if exists raw_worldbank cascade")
    return tmp_path / "dlt"


def indicator_requests(api: CountryApi) -> list:
    """Requests for the indicator: its per_page=1 probe, then its pages of values."""
    return [r for r in api.worldbank_requests() if r.path.endswith(f"/indicator/{INDICATOR}")]


def test_an_answer_stuck_on_page_one_fails_at_page_two_and_loads_nothing(
        api, universe, pipelines_dir, warehouse_db):
    economies = len(universe.economies)
    # One page of countries; the indicator's values exactly fill 25 pages, so page 1 read
    # 25 times has the row count the metadata announces: only the page number tells.
    api.worldbank_repeats_page = 1
    with pytest.raises(WorldBankError) as failed:
        load_worldbank(pipelines_dir=pipelines_dir, base_url=f"http://u:pw@{api.url[7:]}/v2",
                       indicators=[INDICATOR], per_page=economies, backoff_factor=0)
    message = str(failed.value)
    assert f"indicator {INDICATOR}" in message
    assert "asked for page 2 and the API answered page 1 of 25" in message
    assert f"{api.url}/v2/country/all/indicator/{INDICATOR}?" in message and ":pw@" not in message
    assert "Nothing from this run was loaded" in message
    assert len(indicator_requests(api)) == 1 + 2  # stopped at the first page that did not advance
    assert query(warehouse_db, "select to_regclass('raw_worldbank.indicator_values')")[0][0] is None

    api.worldbank_repeats_page = None  # the API recovers: the next run loads every value
    load_worldbank(pipelines_dir=pipelines_dir, base_url=f"{api.url}/v2", indicators=[INDICATOR],
                   per_page=economies, backoff_factor=0)
    assert query(warehouse_db, "select count(*) from raw_worldbank.indicator_values")[0][0] == \
        len(universe.worldbank_rows(INDICATOR))


def test_more_pages_than_the_cap_fail_before_a_second_page(api, universe, pipelines_dir):
    total = len(universe.worldbank_rows(INDICATOR))
    assert total > MAX_PAGES
    with pytest.raises(WorldBankError) as failed:
        load_worldbank(pipelines_dir=pipelines_dir, base_url=f"{api.url}/v2",
                       indicators=[INDICATOR], per_page=1, backoff_factor=0)
    message = str(failed.value)
    assert f"indicator {INDICATOR}" in message and f"{api.url}/v2/country/all/indicator/" in message
    assert f"{total} rows in {total} pages of 1, more than the {MAX_PAGES} pages" in message
    assert "SOURCES__WORLDBANK__PER_PAGE" in message
    assert failed.value.retriable is False
    assert len(indicator_requests(api)) == 1 + 1  # the probe and page 1
