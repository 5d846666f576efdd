"""Bad responses end the run with a clear error; the cursor stays; the next run completes."""

import pytest

from pipelines.chicago import SocrataError
from sample_api import CrimesDataset, SampleApi
from tests.conftest import query
from tests.pipelines.helpers import cursor_where, load, raw_rows, truth_rows

ROWS = 3_000
TOKEN = "test-app-token-0123456789"


@pytest.fixture
def api():
    with SampleApi(CrimesDataset(ROWS, seed=11), required_token=TOKEN) as server:
        yield server


FAULTS = {
    "malformed JSON": ({"malformed_next": 1000}, "HTTP 200 with a body that is not valid JSON"),
    "bad request": ({"bad_request_next": 1}, "HTTP 400: query.soql.no-such-column"),
    "5xx past the retry budget": ({"server_error_next": 1000}, "HTTP 503"),
    "5xx in the middle of paging": ({"fail_after_requests": 1}, "HTTP 503"),
}


@pytest.mark.parametrize("fault", FAULTS, ids=list(FAULTS))
def test_fault_fails_clearly_and_loses_nothing(fault, api, fresh_raw, warehouse_db):
    knobs, expected = FAULTS[fault]
    load(api, fresh_raw, warehouse_db, app_token=TOKEN, page_size=500)
    api.dataset.apply_revision(new_rows=400, updated_rows=400)  # waiting upstream
    rows_before = raw_rows(warehouse_db)

    api.requests.clear()
    for knob, value in knobs.items():
        setattr(api.faults, knob, value)
    with pytest.raises(SocrataError) as failure:
        load(api, fresh_raw, warehouse_db, app_token=TOKEN, page_size=500, max_attempts=2)
    message = str(failure.value)
    assert "dataset crimes (ijzp-q8t2)" in message
    assert "/resource/ijzp-q8t2.json" in message
    assert expected in message
    assert TOKEN not in message
    cursor_before = cursor_where(api)

    # nothing from the failed run is in raw, and the cursor did not move
    assert raw_rows(warehouse_db) == rows_before
    api.faults.reset()
    api.requests.clear()
    load(api, fresh_raw, warehouse_db, app_token=TOKEN, page_size=500)
    assert cursor_where(api) == cursor_before
    assert raw_rows(warehouse_db) == truth_rows(api.dataset)
    assert query(warehouse_db, "select count(*) - count(distinct id) from raw_chicago.crimes") == [(0,)]


def test_transient_faults_are_retried(api, fresh_raw, warehouse_db):
    api.faults.rate_limit_next = 2
    api.faults.retry_after = 1
    api.faults.server_error_next = 2
    load(api, fresh_raw, warehouse_db, app_token=TOKEN, page_size=500, max_attempts=6)
    statuses = [r.status for r in api.data_requests()]
    assert statuses.count(429) == 2 and statuses.count(503) == 2
    assert raw_rows(warehouse_db) == truth_rows(api.dataset)


def test_wrong_token_names_the_setting_not_the_secret(api, fresh_raw, warehouse_db):
    with pytest.raises(SocrataError) as failure:
        load(api, fresh_raw, warehouse_db, app_token="wrong-token-abcdef")
    assert "HTTP 403" in str(failure.value)
    assert "SOURCES__CHICAGO__APP_TOKEN" in str(failure.value)
    assert "wrong-token-abcdef" not in str(failure.value)
