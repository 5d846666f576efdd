"""A Dagster run of the real chicago_refresh job (its own instance, every step in a process
of its own, roles on) SIGKILLed mid-ingest and mid-dbt at small scale: right after each
kill raw and the models are whole, and a normal run of the job leaves raw and every mart
equal to the truth.

A failure names its seeds; `python -m reliability --scale small --seed 20255 --only
dagster_killed --keep` replays it and keeps the run's output and DAGSTER_HOME.
"""

import pytest

from reliability import scenarios
from reliability.scenarios import Context

SEED = 20255

pytestmark = pytest.mark.usefixtures("warehouse_db")


# Four runs of the whole job, each step a process of its own: about 15 minutes on two cores.
@pytest.mark.timeout(2700)
def test_a_dagster_run_killed_mid_ingest_and_mid_dbt_then_run_again_loses_nothing():
    outcome = scenarios.run("dagster_killed", Context(scale="small", seed=SEED))
    assert not outcome.errors, outcome.errors
    assert (outcome.duplicates, outcome.lost) == (0, 0)
    assert outcome.rows_raw == outcome.rows_marts == outcome.rows_expected > 0
    kills = [t for t in outcome.trial_log if t.counted]
    assert {t.landed.split(":")[0] for t in kills} == {"ingest", "dbt"}
    for trial in kills:
        assert set(trial.detail["raw_after_kill"].values()) <= {"before", "after"}, trial
        # the killed run was left STARTED; marked failed before the normal run
        assert trial.detail["recovered"]["runs_marked_failed"] == 1
        assert trial.detail["verified"]["missing"] == [] and trial.detail["verified"]["stale"] == []
    ingest = next(t for t in kills if t.landed.startswith("ingest"))
    assert any(step.startswith("chicago_crimes_ingest") for step in ingest.detail["in_flight"])
    dbt = next(t for t in kills if t.landed.startswith("dbt"))
    for model, rows in dbt.detail["counts_after_kill"].items():
        assert rows in (dbt.detail["counts_before"][model], dbt.detail["expected_after"][model]), model
