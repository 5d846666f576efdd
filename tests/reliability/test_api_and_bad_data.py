"""API faults and bad data at small scale, over the whole local portal: every run of every
dataset completes or fails clearly, every bad row takes its documented path, and nothing
is lost or duplicated.

A failure names its seed; `python -m reliability --scale small --seed 20252 --only
api_faults,bad_data --keep` replays it.
"""

import pytest

from reliability import scenarios
from reliability.portal import BOUNDARY_TABLES, ROW_TABLES
from reliability.scenarios import Context

SEED = 20252

pytestmark = pytest.mark.usefixtures("warehouse_db")


def test_api_faults_over_every_dataset_are_survived_or_fail_clearly_and_lose_nothing():
    outcome = scenarios.run("api_faults", Context(scale="small", seed=SEED))
    assert not outcome.errors, outcome.errors
    assert (outcome.duplicates, outcome.lost) == (0, 0)
    assert outcome.faults >= 7
    for kind in ("rate_limit", "server_error", "slow", "reset", "malformed", "html_200",
                 "empty_page"):
        assert f"{kind} " in outcome.notes  # each fired at least once
    assert outcome.rows_raw == outcome.rows_marts == outcome.rows_expected > 0
    runs = [t for t in outcome.trial_log if t.fault == "api"]
    assert {t.landed for t in runs} <= {"completed", "failed clearly"}
    # every dataset was loaded under faults, and faults hit the boundary layers' requests too
    assert {t.dataset for t in runs} == {*ROW_TABLES, *BOUNDARY_TABLES}
    assert {t.dataset for t in runs if t.counted} & set(BOUNDARY_TABLES)
    assert {t.dataset for t in runs if t.counted} - {"crimes"} - set(BOUNDARY_TABLES)
    # the last check compared every raw table with its truth, and the marts of every dataset
    final = outcome.trial_log[-1]
    assert final.target == "final" and set(final.detail["verified"]["datasets"]) == set(ROW_TABLES)


def test_bad_rows_take_their_documented_paths():
    outcome = scenarios.run("bad_data", Context(scale="small", seed=SEED))
    assert not outcome.errors, outcome.errors
    assert (outcome.duplicates, outcome.lost) == (0, 0)
    # 2 rows per ingest-rejected kind stay out of raw (crimes and 311: no key, null byte,
    # lossy type flip); 2 per staging-rejected kind stay out of the marts (crimes: id not a
    # number, two bad dates; 311: an unparsable created_date)
    assert outcome.rows_raw == outcome.rows_expected - 6 - 6
    assert outcome.rows_marts == outcome.rows_raw - 6 - 2
    assert ("crimes: 1996 loaded, 6 rejected at ingest, 6 rejected at staging, 2 duplicate keys "
            "merged") in outcome.notes
    assert ("service_requests: 996 loaded, 6 rejected at ingest, 2 rejected at staging, "
            "2 duplicate keys merged") in outcome.notes
    for test in ("castable", "within_range"):
        assert f"{test} " in outcome.notes  # flagged, never failed
