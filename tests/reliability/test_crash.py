"""A load killed in extract, normalize and load (crimes, 311 service requests, a boundary
layer), and a dbt build killed: at small scale, nothing is lost or duplicated and raw and
the marts of every dataset equal the truth afterwards.

A failure names its trial seeds; `python -m reliability --scale small --seed 20251
--only load_killed --keep` replays it and keeps the dlt state and logs.
"""

import pytest

from reliability import scenarios
from reliability.kill import FINISHED
from reliability.outcome import Outcome
from reliability.scenarios import Context

SEED = 20251

pytestmark = pytest.mark.usefixtures("warehouse_db")


def run(name: str) -> Outcome:
    return scenarios.run(name, Context(scale="small", seed=SEED))


def assert_equal_to_truth(outcome: Outcome) -> None:
    assert not outcome.errors, outcome.errors
    assert outcome.duplicates == 0
    assert outcome.lost == 0
    assert outcome.rows_expected > 0
    assert outcome.rows_raw == outcome.rows_expected
    assert outcome.rows_marts == outcome.rows_expected
    for trial in outcome.trial_log:
        assert trial.detail["verified"]["missing"] == [] and trial.detail["verified"]["stale"] == []
    assert outcome.passed


def test_load_killed_in_extract_normalize_and_load_loses_nothing():
    outcome = run("load_killed")
    assert_equal_to_truth(outcome)
    kills = [t for t in outcome.trial_log if t.counted]
    assert {(t.dataset, t.landed) for t in kills} == {
        ("crimes", "extract"), ("crimes", "normalize"), ("crimes", "load"),
        ("service_requests", "load"), ("community_areas", "load")}
    assert outcome.faults == len(kills) >= 5
    trials, final = outcome.trial_log[:-1], outcome.trial_log[-1]
    for trial in trials:
        assert trial.fault == "sigkill" and trial.seed >= SEED * 1000
        # right after the kill raw held the truth before the revision or after it, whole
        assert trial.detail["raw_after_fault"] in ("before", "after"), trial
    # a kill before the load step never reached raw
    for trial in kills:
        if trial.landed in ("extract", "normalize"):
            assert trial.detail["raw_after_fault"] == "before", trial
    # after the last kill: the geocoder, dbt, and every dataset's raw table and marts
    assert final.target == "final" and not final.counted and not final.errors


def test_dbt_killed_mid_build_rebuilds_to_the_truth():
    outcome = run("dbt_killed")
    assert_equal_to_truth(outcome)
    assert outcome.faults >= 1
    trial = next(t for t in outcome.trial_log if t.counted)
    assert trial.target == "model" and trial.landed != FINISHED
    before, after_kill, expected = (trial.detail[k] for k in
                                    ("counts_before", "counts_after_kill", "expected_after"))
    # every model whole right after the kill: the records before the build or after it
    assert set(after_kill) == set(expected) >= {"enriched", "service_requests_enriched", "located"}
    for model, rows in after_kill.items():
        assert rows in (before[model], expected[model]), model
