"""The country sources (World Bank, OECD) under API faults, kills and the OECD budget, at
small scale (15 countries from 2010): every run completes or fails clearly, and raw
equals the universe's truth afterwards, revisions and OECD deletions included.

A failure names its seeds; `python -m reliability --scale small --seed 20253 --scenario
country_load_killed --keep` replays it and keeps the dlt state and child logs.
"""

import pytest

from reliability import scenarios
from reliability.outcome import Outcome
from reliability.scenarios import Context
from reliability.scenarios.countries import TARGETS, WORLDBANK
from sample_api import FAULT_KINDS

SEED = 20253

pytestmark = pytest.mark.usefixtures("warehouse_db")


def run(name: str) -> Outcome:
    return scenarios.run(name, Context(scale="small", seed=SEED))


def assert_equal_to_truth(outcome: Outcome) -> None:
    assert not outcome.errors, outcome.errors
    assert (outcome.duplicates, outcome.lost) == (0, 0)
    assert outcome.rows_raw == outcome.rows_expected > 0
    final = outcome.trial_log[-1]
    assert final.target.startswith("final") and not final.errors


def assert_enriched_equals_truth(outcome: Outcome) -> None:
    # the enriched model held every (country, indicator, year) of the truth, key for key
    assert outcome.rows_marts == outcome.trial_log[-1].detail["enriched"]["expected"] > 0


def test_country_api_faults_of_every_kind_lose_nothing():
    outcome = run("country_api_faults")
    assert_equal_to_truth(outcome)
    assert_enriched_equals_truth(outcome)
    for kind in FAULT_KINDS:
        assert f"{kind} " in outcome.notes  # each fired at least once
    runs = [t for t in outcome.trial_log if t.fault == "api"]
    assert {t.landed for t in runs} <= {"completed", "failed clearly"}
    # both providers were loaded under faults, and faults hit both
    assert {t.dataset for t in runs} == set(TARGETS)
    assert {t.dataset.split(".")[0] for t in runs if t.counted} == {WORLDBANK, "oecd"}
    # the last check compared every raw table with the truth
    assert set(outcome.trial_log[-1].detail["verified"]) == set(TARGETS)


def test_country_load_killed_in_every_phase_moves_no_cursor_past_unloaded_data():
    outcome = run("country_load_killed")
    assert_equal_to_truth(outcome)
    assert_enriched_equals_truth(outcome)
    kills = [t for t in outcome.trial_log if t.counted]
    assert {(t.dataset, t.landed) for t in kills} == {
        (target, phase) for target in (WORLDBANK, "oecd.population")
        for phase in ("extract", "normalize", "load")}
    for trial in kills:
        assert trial.detail["raw_after_fault"] in ("before", "after"), trial
        if trial.landed in ("extract", "normalize"):
            assert trial.detail["raw_after_fault"] == "before", trial


def test_country_oecd_budget_is_never_exceeded_and_a_refused_run_resumes():
    outcome = run("country_oecd_budget")
    assert_equal_to_truth(outcome)
    assert "refused for budget" in {t.landed for t in outcome.trial_log}
    for trial in outcome.trial_log:  # the ledger counted every attempt the API saw
        assert trial.detail["ledger_attempts"] == trial.detail["api_requests_in_hour"] <= 12
