"""Concurrent runs at small scale, with roles on: two runs of one dataset at once (a slow
run holding an older snapshot among them), overlapping runs of several datasets, two dbt
builds at once. Nothing is lost or duplicated; and without the load lock the same
scenario reports the rows the slow run set back.

A failure names its seeds; `python -m reliability --scale small --seed 20254 --only
concurrent_loads --keep` replays it and keeps every child's log.
"""

import pytest

from reliability import scenarios
from reliability.scenarios import Context
from reliability.scenarios.concurrent import run_concurrent

SEED = 20254

pytestmark = pytest.mark.usefixtures("warehouse_db")


def test_concurrent_runs_and_builds_wait_for_each_other_and_lose_nothing():
    outcome = scenarios.run("concurrent_loads", Context(scale="small", seed=SEED))
    assert not outcome.errors, outcome.errors
    assert (outcome.duplicates, outcome.lost) == (0, 0)
    assert outcome.rows_raw == outcome.rows_marts == outcome.rows_expected > 0
    assert outcome.passed
    by_fault = {}
    for trial in outcome.trial_log:
        by_fault.setdefault(trial.fault, []).append(trial)
    # run B started while run A held its older snapshot, waited for A, then loaded the newer rows
    snapshots = by_fault["slow-older-snapshot"]
    assert {t.dataset for t in snapshots} == {"crimes", "service_requests"}
    for trial in snapshots:
        assert trial.counted and trial.detail["second_run_waited"], trial
        assert trial.detail["second_run_log_says_waited"], trial
        assert trial.detail["run_returncodes"] == [0, 0]
    (overlap,) = by_fault["overlapping-runs"]
    assert overlap.detail["runs"] == 6 and overlap.detail["waited_at_lock"] >= 1
    assert overlap.detail["run_returncodes"] == [0] * 6
    (builds,) = by_fault["concurrent-builds"]
    assert builds.counted and builds.detail["second_build_waited"]


def test_without_the_load_lock_the_slow_run_sets_rows_back_and_the_scenario_says_so():
    outcome = run_concurrent(Context(scale="small", seed=SEED), lock=False, overlap=False,
                             builds=False, snapshot_datasets=("crimes",))
    (trial,) = [t for t in outcome.trial_log if t.fault == "slow-older-snapshot"]
    assert not trial.detail["second_run_waited"]
    # the rows revised twice are in raw at the older version run A merged last
    assert trial.lost >= trial.detail["rows_revised_twice"] > 0
    assert any("right after both runs" in e for e in trial.errors)
    assert outcome.failed and outcome.result == "FAIL"
