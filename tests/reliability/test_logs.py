"""The `loki` source at small scale, with roles on, against the local Loki filled with
generated access logs: SIGKILLs in extract, normalize and load, Loki's 429s, 500s, timeouts,
slow answers and resets mid-run, and lines sharing one nanosecond across page boundaries
and runs. raw_logs.lines holds each of Loki's lines in the loaded range once, and each is in
raw_logs.requests or raw_logs.request_rejects once.

A failure names its seeds; `python -m reliability --scale small --seed 20256 --only logs
--keep` replays it and keeps the dlt state and child logs.
"""

import pytest

from reliability import scenarios
from reliability.scenarios import Context
from reliability.scenarios.logs import FAULT_KINDS

SEED = 20256

pytestmark = pytest.mark.usefixtures("warehouse_db")


def test_kills_loki_faults_and_shared_timestamps_lose_and_duplicate_no_line():
    outcome = scenarios.run("logs", Context(scale="small", seed=SEED))
    assert not outcome.errors, outcome.errors
    assert (outcome.lost, outcome.duplicates) == (0, 0)
    assert outcome.rows_raw == outcome.rows_expected > 10_000
    final = outcome.trial_log[-1]
    assert final.target == "final" and not final.errors
    assert final.detail["checks"]["final"]["rejects"] > 0  # rejected lines kept, not dropped

    kills = [t for t in outcome.trial_log if t.fault == "sigkill" and t.counted]
    assert {t.landed for t in kills} == {"extract", "normalize", "load"}
    for trial in kills:  # right after the kill: the lines before it, or the whole new truth
        assert trial.detail["raw_after_fault"] in ("before", "after"), trial
        if trial.landed in ("extract", "normalize"):
            assert trial.detail["raw_after_fault"] == "before", trial

    runs = [t for t in outcome.trial_log if t.fault == "loki"]
    assert {t.landed for t in runs} <= {"completed", "failed clearly"}
    assert "failed clearly" in {t.landed for t in runs}
    first = runs[0]  # every kind once, each retried through
    assert (first.landed, first.detail["faults"]) == ("completed", len(FAULT_KINDS))

    crowds = [t for t in outcome.trial_log if t.fault == "crowd"]
    assert crowds and all(t.detail["pages_ending_in_a_crowd"] > 0 for t in crowds)
    (over,) = [t for t in outcome.trial_log if t.fault == "crowd-over-limit"]
    assert over.landed == "failed clearly"  # then loaded whole once limit was raised
