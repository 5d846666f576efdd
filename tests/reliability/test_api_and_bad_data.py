"""API faults and bad data at small scale: every run completes or fails clearly, every
bad row takes its documented path, and nothing is lost or duplicated.

A failure names its seed; `python -m reliability --scale small --seed 20252 --only
api_faults,bad_data --keep` replays it.
"""

import pytest

from reliability import scenarios
from reliability.scenarios import Context

SEED = 20252

pytestmark = pytest.mark.usefixtures("warehouse_db")


def test_api_faults_are_survived_or_fail_clearly_and_lose_nothing():
    outcome = scenarios.run("api_faults", Context(scale="small", seed=SEED))
    assert not outcome.errors, outcome.errors
    assert (outcome.duplicates, outcome.lost) == (0, 0)
    assert outcome.faults >= 7
    for kind in ("rate_limit", "server_error", "slow", "reset", "malformed", "html_200",
                 "empty_page"):
        assert f"{kind} " in outcome.notes  # each fired at least once
    assert outcome.rows_raw == outcome.rows_marts == outcome.rows_expected > 0
    assert {t.landed for t in outcome.trial_log} <= {"completed", "failed clearly", ""}


def test_bad_rows_take_their_documented_paths():
    outcome = scenarios.run("bad_data", Context(scale="small", seed=SEED))
    assert not outcome.errors, outcome.errors
    assert (outcome.duplicates, outcome.lost) == (0, 0)
    # 2 rows per ingest-rejected kind (no id, null byte, lossy type flip) stay out of raw;
    # 2 per staging-rejected kind (id not a number, two bad dates) stay out of the marts
    assert outcome.rows_raw == outcome.rows_expected - 6
    assert outcome.rows_marts == outcome.rows_raw - 6
    assert "6 rejected at ingest, 6 rejected at staging, 2 duplicate ids merged" in outcome.notes
    for test in ("castable", "within_range"):
        assert f"{test} " in outcome.notes  # flagged, never failed
