"""A row stamped in the future never moves the :updated_at cursor (issue #13, item 2).

One upstream row stamped 2099 used to carry the cursor there: every later run asked for
`:updated_at > '2098-...'`, loaded nothing else and still succeeded, and the overlap
reloaded that row each time, so the source looked fresh. Such a row now goes to
`crimes_rejects`; a cursor already stored in the future is reported and resumed.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from pipelines.chicago.helpers import soql_timestamp
from sample_api import CrimesDataset, SampleApi
from tests.conftest import query
from tests.pipelines.helpers import cursor_where, load, raw_rows, truth_rows

ROWS = 2_000
FUTURE = datetime(2099, 1, 1, tzinfo=UTC)
# dbt's loaded_at_field for raw_chicago: source freshness reads the newest load that wrote a row.
NEWEST_LOAD = "select max(to_timestamp(_dlt_load_id::double precision)) from raw_chicago.crimes"


@pytest.fixture
def api():
    with SampleApi(CrimesDataset(ROWS, seed=31)) as server:
        yield server


def plant_future_row(dataset: CrimesDataset) -> str:
    """One new row upstream, stamped 2099 (a clock or data error at the portal)."""
    return dataset.apply_revision(new_rows=1, updated_rows=0, at=FUTURE).new_ids[0]


def revise(dataset: CrimesDataset, after: datetime):
    """A real revision, stamped an hour after `after` (not after the 2099 row)."""
    return dataset.apply_revision(new_rows=30, updated_rows=30, at=after + timedelta(hours=1))


def stored_cursor(pipeline) -> datetime:
    resource = pipeline.state["sources"]["chicago_crimes"]["resources"]["crimes"]
    return resource["incremental"]["socrata_updated_at"]["last_value"]


def resumed_where(cursor: datetime) -> str:
    return f":updated_at > '{soql_timestamp(cursor - timedelta(seconds=60))}'"  # the overlap


def test_a_row_stamped_in_the_future_is_rejected_and_never_moves_the_cursor(api, fresh_raw, warehouse_db):
    real_newest = api.dataset.max_updated_at
    future_id = plant_future_row(api.dataset)
    load(api, fresh_raw, warehouse_db, page_size=500)

    raw = raw_rows(warehouse_db)
    assert len(raw) == ROWS and future_id not in raw
    rejects = query(warehouse_db, "select id, socrata_updated_at, reject_reason, record "
                                  "from raw_chicago.crimes_rejects")
    assert [(r[0], r[1]) for r in rejects] == [(future_id, FUTURE)]
    assert ":updated_at 2099-01-01T00:00:00.000Z is in the future" in rejects[0][2]
    assert '"2099-01-01T00:00:00.000Z"' in rejects[0][3]  # the row as sent
    assert stored_cursor(fresh_raw) == real_newest

    # The next revision loads: the run asks from the real cursor, not from 2099.
    revision = revise(api.dataset, real_newest)
    api.requests.clear()
    load(api, fresh_raw, warehouse_db, page_size=500)
    assert cursor_where(api) == resumed_where(real_newest)
    expected = truth_rows(api.dataset)
    del expected[future_id]
    assert raw_rows(warehouse_db) == expected
    assert stored_cursor(fresh_raw) == revision.updated_at

    # Nothing new upstream but the 2099 row: raw is not written, so source freshness
    # (the newest load in raw) ages as it should instead of staying green.
    newest_load = query(warehouse_db, NEWEST_LOAD)
    load(api, fresh_raw, warehouse_db, page_size=500, overlap_seconds=0)
    assert query(warehouse_db, NEWEST_LOAD) == newest_load
    assert stored_cursor(fresh_raw) == revision.updated_at


def test_a_cursor_stored_in_the_future_is_reported_and_resumed(api, fresh_raw, warehouse_db,
                                                               monkeypatch, caplog):
    real_newest = api.dataset.max_updated_at
    future_id = plant_future_row(api.dataset)
    # A warehouse loaded before Pulse refused such rows: a tolerance past 2099 lets the
    # row in and carries the cursor there, as every load did before.
    monkeypatch.setenv("SOURCES__CHICAGO__FUTURE_TOLERANCE_SECONDS", str(100 * 365 * 86_400))
    load(api, fresh_raw, warehouse_db, page_size=500)
    assert future_id in raw_rows(warehouse_db)
    assert stored_cursor(fresh_raw) == FUTURE

    monkeypatch.delenv("SOURCES__CHICAGO__FUTURE_TOLERANCE_SECONDS")
    revision = revise(api.dataset, real_newest)
    api.requests.clear()
    with caplog.at_level(logging.ERROR):
        load(api, fresh_raw, warehouse_db, page_size=500)

    # loud: an ERROR naming the dataset, the stored value and what to do
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("dataset crimes (ijzp-q8t2)" in m and "2099-01-01" in m
               and "pulse reset chicago --dataset crimes" in m for m in errors), errors
    # resumed from the newest stamp in raw that is not in the future, so nothing is skipped
    assert cursor_where(api) == resumed_where(real_newest)
    assert raw_rows(warehouse_db) == truth_rows(api.dataset)
    assert {*revision.new_ids, *revision.updated_ids} <= raw_rows(warehouse_db).keys()
    assert stored_cursor(fresh_raw) == revision.updated_at

    # and the state of record (the warehouse) holds the resumed cursor: a new checkout
    # with no local state starts from there, not from 2099
    caplog.clear()
    api.requests.clear()
    fresh_raw.drop()
    load(api, fresh_raw, warehouse_db, page_size=500)
    assert cursor_where(api) == resumed_where(revision.updated_at)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
