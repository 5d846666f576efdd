"""API faults: the local API answers a share of requests with every fault it knows
(429 with Retry-After, 500/502/503, slow past the timeout, connection resets,
truncated JSON, an HTML page with status 200, an empty page mid-paging); the
backfill's first requests get each kind once, so every kind is exercised.

Each round revises the dataset and loads until a run completes. A run either gets
through on dlt's retries or fails with a clear SocrataError; after a failure raw must
be exactly as before the run (the cursor did not move past anything). An empty page
ends a run early, which is no error: the next run continues from the rows it loaded.
After the last round one fault-free run, a dbt build, and raw and the marts must
equal the ground truth.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from pipelines.chicago import SocrataError
from pulse.sample_api import FAULT_KINDS, CrimesDataset, Faults, SampleApi
from reliability import verify
from reliability.outcome import Outcome, Trial
from reliability.scenarios import Context, scenario
from reliability.scenarios.crash import check_against_truth, finish
from reliability.workspace import Workspace, dbt_failure, workspace

TOKEN = "reliability-token-6f1d"  # must never appear in an error message


@dataclass(frozen=True)
class Size:
    rows: int
    page_size: int
    rounds: int  # revisions, each loaded until a run completes
    rate: float  # share of requests that get a fault
    max_runs: int  # per round


SIZES = {
    "small": Size(rows=3_000, page_size=250, rounds=2, rate=0.25, max_runs=12),
    "full": Size(rows=40_000, page_size=1_000, rounds=6, rate=0.15, max_runs=20),
}
# Fast client settings so a trial takes seconds: a 1 s timeout (the slow fault sleeps 2 s)
# and no backoff; 4 attempts per request, as dlt counts them.
CLIENT = {"request_timeout": 1.0, "max_attempts": 4, "backoff_factor": 0, "app_token": TOKEN}


@scenario("api_faults", order=5)
def api_faults(ctx: Context) -> Outcome:
    size = ctx.pick(SIZES["small"], SIZES["full"])
    outcome = Outcome("api_faults")
    dataset = CrimesDataset(size.rows, seed=ctx.seed)
    faults = Faults(rate=size.rate, seed=ctx.seed, slow_seconds=2.0, retry_after=1)
    with workspace("api_faults", keep=ctx.keep) as ws, \
            SampleApi(dataset, faults=faults, required_token=TOKEN) as api:
        for round_no in range(size.rounds + 1):  # round 0 is the backfill
            seed = ctx.trial_seed(round_no)
            if not round_no:  # every kind at least once: the backfill's first requests
                for kind in FAULT_KINDS:
                    setattr(faults, f"{kind}_next", 1)
            else:
                dataset.apply_revision(new_rows=size.rows // 50, updated_rows=size.rows // 25,
                                       seed=seed)
            _load_until_complete(ws, api, size, seed, outcome, ctx)
        faults.rate = 0.0  # the next run completes, on a healthy API
        ws.load(api.url, page_size=size.page_size, **CLIENT)
        build = ws.dbt_build()
        final = Trial(seed=ctx.trial_seed(99), fault="none", target="final", counted=False)
        if build.returncode != 0:
            final.errors.append(f"dbt build failed: {dbt_failure(build)}")
        counts = check_against_truth(ws, dataset, final)
        outcome.add(final)
        outcome.trials -= 1  # the final check is not a trial
        outcome.faults = sum(faults.injected.values())
        outcome.note("faults " + ", ".join(f"{k} {v}" for k, v in sorted(faults.injected.items())))
    return finish(outcome, counts)


def _load_until_complete(ws: Workspace, api: SampleApi, size: Size, seed: int,
                         outcome: Outcome, ctx: Context) -> None:
    rng = random.Random(seed)
    for attempt in range(size.max_runs):
        trial = Trial(seed=seed * 100 + attempt, fault="api", target=f"page size {size.page_size}")
        api.faults.seed = rng.randrange(2**31)  # each run its own, recorded, fault sequence
        before = verify.raw_versions(ws.conn)
        injected = sum(api.faults.injected.values())
        try:
            ws.load(api.url, page_size=size.page_size, **CLIENT)
            trial.landed = "completed"
        except SocrataError as err:  # a clear error; raw must be as it was
            trial.landed = "failed clearly"
            message = str(err)
            trial.detail["error"] = message[:300]
            if TOKEN in message or "dataset crimes (ijzp-q8t2)" not in message:
                trial.errors.append(f"unclear or leaking error: {message[:200]}")
            if verify.raw_versions(ws.conn) != before:
                trial.errors.append("a failed run changed raw")
        except Exception as err:  # anything else is a bug: reported, never raised
            trial.landed = "crashed"
            trial.errors.append(f"unexplained failure: {type(err).__name__}: {str(err)[:300]}")
        trial.counted = sum(api.faults.injected.values()) > injected
        trial.detail["faults"] = sum(api.faults.injected.values()) - injected
        outcome.add(trial)
        ctx.log(f"api_faults: run {trial.seed} {trial.landed}, {trial.detail['faults']} faults")
        if trial.landed == "completed":
            return
    outcome.errors.append(f"no run completed in {size.max_runs} attempts (seed {seed})")
