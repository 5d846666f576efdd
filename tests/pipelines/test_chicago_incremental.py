"""Full and incremental loads of Chicago crimes against the local Socrata API."""

from datetime import timedelta

import pytest

from sample_api import CrimesDataset, SampleApi
from sample_api.crimes import same_timestamp_dataset
from tests.conftest import query
from tests.pipelines.helpers import (
    fetched_rows,
    load,
    raw_rows,
    rows_in_last_load,
    truth_rows,
)

ROWS = 20_000


@pytest.fixture
def api():
    with SampleApi(CrimesDataset(ROWS, seed=7)) as server:
        yield server


def test_backfill_then_revision_loads_only_the_change(api, fresh_raw, warehouse_db):
    load(api, fresh_raw, warehouse_db, page_size=5_000)
    assert fetched_rows(api) == ROWS
    assert raw_rows(warehouse_db) == truth_rows(api.dataset)

    # A 1% revision: new rows and updated rows, all stamped with one :updated_at.
    revision = api.dataset.apply_revision(new_rows=100, updated_rows=100)
    api.requests.clear()
    load(api, fresh_raw, warehouse_db, page_size=5_000, overlap_seconds=0)
    assert fetched_rows(api) == 200
    assert rows_in_last_load(warehouse_db) == 200
    raw = raw_rows(warehouse_db)
    assert len(raw) == ROWS + 100
    assert raw == truth_rows(api.dataset)
    assert {*revision.new_ids, *revision.updated_ids} <= raw.keys()
    dupes = query(warehouse_db, "select count(*) - count(distinct id) from raw_chicago.crimes")
    assert dupes == [(0,)]


def test_overlap_rereads_only_the_window_before_the_cursor(api, fresh_raw, warehouse_db):
    load(api, fresh_raw, warehouse_db, page_size=5_000)
    cursor = api.dataset.max_updated_at
    window = [(cursor - timedelta(seconds=s)).strftime("%Y-%m-%dT%H:%M:%S") for s in (60, 0)]
    api.dataset.apply_revision(new_rows=50, updated_rows=50)
    # rows stamped in (cursor - 60 s, cursor] that the revision did not move
    in_window = sum(1 for row in api.dataset.truth() if window[0] < row[":updated_at"][:19] <= window[1])
    api.requests.clear()
    load(api, fresh_raw, warehouse_db, page_size=5_000, overlap_seconds=60)
    # the revision, plus the rows stamped within 60 s before the saved cursor
    assert fetched_rows(api) == 100 + in_window
    assert raw_rows(warehouse_db) == truth_rows(api.dataset)


def test_overlap_rows_raw_already_holds_are_not_loaded_again(api, fresh_raw, warehouse_db):
    load(api, fresh_raw, warehouse_db, page_size=5_000)
    newest_load = "select max(_dlt_load_id) from raw_chicago.crimes"
    [(backfill_load,)] = query(warehouse_db, newest_load)
    revision = api.dataset.apply_revision(new_rows=50, updated_rows=50)
    api.requests.clear()
    info = load(api, fresh_raw, warehouse_db, page_size=5_000, overlap_seconds=3_600)
    assert fetched_rows(api) > 100  # the revision and the hour before the cursor
    # only the revised rows are written again: the overlap's rows are the versions raw has
    changed = {key for (key,) in query(warehouse_db, "select id from raw_chicago.crimes "
                                                     "where _dlt_load_id > %s", (backfill_load,))}
    assert changed == {*revision.new_ids, *revision.updated_ids}
    assert raw_rows(warehouse_db) == truth_rows(api.dataset)

    # Nothing changed since: the overlap is fetched, nothing is written, the table has no job
    [(revision_load,)] = query(warehouse_db, newest_load)
    api.requests.clear()
    info = load(api, fresh_raw, warehouse_db, page_size=5_000, overlap_seconds=3_600)
    assert fetched_rows(api) > 0
    assert query(warehouse_db, newest_load) == [(revision_load,)]
    jobs = [job for package in info.load_packages for job in package.jobs["completed_jobs"]
            if job.job_file_info.table_name == "crimes"]
    assert jobs == []
    assert raw_rows(warehouse_db) == truth_rows(api.dataset)


def test_noop_refresh_fetches_nothing(api, fresh_raw, warehouse_db):
    load(api, fresh_raw, warehouse_db, page_size=5_000)
    api.requests.clear()
    load(api, fresh_raw, warehouse_db, page_size=5_000, overlap_seconds=0)
    assert fetched_rows(api) == 0
    assert len(api.data_requests()) == 1  # one empty page ends the run


def test_rows_sharing_one_timestamp_skip_boundary_deduplication(fresh_raw, warehouse_db):
    """50k rows with one :updated_at: the cursor keeps no per-row hashes, so the load is
    linear (dlt's closed-range boundary de-duplication is quadratic in these rows)."""
    with SampleApi(same_timestamp_dataset(50_000, seed=3)) as api:
        load(api, fresh_raw, warehouse_db)
        assert query(warehouse_db, "select count(*) from raw_chicago.crimes") == [(50_000,)]
        state = fresh_raw.state["sources"]["chicago_crimes"]["resources"]["crimes"]["incremental"]
        cursor = state["socrata_updated_at"]
        assert cursor["unique_hashes"] == []
        assert cursor["last_value"] == api.dataset.max_updated_at


def test_rows_revised_between_pages_are_not_skipped(fresh_raw, warehouse_db):
    """The portal revises rows while a run pages through them. With `$offset` paging the
    rows after a revised one shift left and one is skipped for good; keyset paging
    (after the last `:updated_at, :id` seen) reads every row."""
    with SampleApi(CrimesDataset(ROWS, seed=9)) as api:
        query_page = api.dataset.query
        pages = []

        def query_then_revise(q):
            rows = query_page(q)
            if not pages:  # right after serving the first page, half the rows change
                api.dataset.apply_revision(new_rows=0, updated_rows=ROWS // 2)
            pages.append(len(rows))
            return rows

        api.dataset.query = query_then_revise
        load(api, fresh_raw, warehouse_db, page_size=2_000)
        assert len(pages) > 2
        assert raw_rows(warehouse_db) == truth_rows(api.dataset)
