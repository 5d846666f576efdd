"""API faults: the local API serves the whole portal (five rows datasets, two boundary
layers) and answers a share of all their requests, data and metadata alike, with every
fault it knows (429 with Retry-After, 500/502/503, slow past the timeout, connection
resets, truncated JSON, an HTML page with status 200, an empty page mid-paging); the
backfill's first requests get each kind once, so every kind is exercised.

Each round revises every rows dataset and publishes both boundary layers again (so
their GeoJSON is fetched again, under faults), then loads each dataset until a run of
it completes. A run either gets through on dlt's retries or fails with a clear
SocrataError naming its dataset; after a failure that dataset's raw table must be
exactly as before the run (the cursor did not move past anything, a layer is replaced
whole or not at all). An empty page ends a rows run early, which is no error: the next
run continues from the rows it loaded. After the last round one fault-free run of
every dataset, the geocoder, a dbt build, and every raw table and the marts must
equal the ground truth.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from typing import Any

from pipelines.chicago import SocrataError
from reliability import verify
from reliability.outcome import Outcome, Trial
from reliability.portal import BOUNDARY_TABLES, ROW_TABLES, Portal
from reliability.scenarios import Context, scenario
from reliability.scenarios.crash import final_check, finish
from reliability.workspace import Workspace, workspace
from sample_api import FAULT_KINDS, Faults, SampleApi

TOKEN = "reliability-token-6f1d"  # must never appear in an error message


@dataclass(frozen=True)
class Size:
    rows: int  # crimes
    other_rows: int  # rows of each other rows dataset
    page_size: int
    rounds: int  # revisions, each loaded until a run of every dataset completes
    rate: float  # share of requests that get a fault
    max_runs: int  # per dataset and round


SIZES = {
    "small": Size(rows=3_000, other_rows=500, page_size=250, rounds=2, rate=0.25, max_runs=12),
    "full": Size(rows=40_000, other_rows=8_000, page_size=1_000, rounds=6, rate=0.15, max_runs=20),
}
# Fast client settings so a trial takes seconds: a 1 s timeout (the slow fault sleeps 2 s)
# and no backoff; 4 attempts per request, as dlt counts them.
CLIENT = {"request_timeout": 1.0, "max_attempts": 4, "backoff_factor": 0, "app_token": TOKEN}


@scenario("api_faults", order=5)
def api_faults(ctx: Context) -> Outcome:
    size = ctx.pick(SIZES["small"], SIZES["full"])
    outcome = Outcome("api_faults")
    portal = Portal(size.rows, size.other_rows, ctx.seed)
    faults = Faults(rate=size.rate, seed=ctx.seed, slow_seconds=2.0, retry_after=1)
    with workspace("api_faults", keep=ctx.keep) as ws, \
            SampleApi(portal.served, faults=faults, required_token=TOKEN) as api:
        for round_no in range(size.rounds + 1):  # round 0 is the backfill
            seed = ctx.trial_seed(round_no)
            if not round_no:  # every kind at least once: the backfill's first requests
                for kind in FAULT_KINDS:
                    setattr(faults, f"{kind}_next", 1)
            else:
                for i, name in enumerate((*ROW_TABLES, *BOUNDARY_TABLES)):
                    dataset = portal[name]
                    portal.revise(name, len(dataset) // 50, len(dataset) // 25, seed * 10 + i)
            for i, name in enumerate((*ROW_TABLES, *BOUNDARY_TABLES)):
                _load_until_complete(ws, api, size, name, seed * 10 + i, outcome, ctx)
        faults.rate = 0.0  # the next runs complete, on a healthy API
        ws.load_all(api.url, page_size=size.page_size, **CLIENT)
        counts = final_check(ws, portal, outcome, ctx)
        outcome.faults = sum(faults.injected.values())
        outcome.note("faults " + ", ".join(f"{k} {v}" for k, v in sorted(faults.injected.items())))
        outcome.note(runs_note(outcome))
    return finish(outcome, counts)


def runs_note(outcome: Outcome) -> str:
    """e.g. `runs failed clearly: crimes 3, service_requests 1, zip_codes 1`."""
    failed = Counter(t.dataset for t in outcome.trial_log if t.landed == "failed clearly")
    order = [*ROW_TABLES, *BOUNDARY_TABLES]
    return "runs failed clearly: " + (", ".join(f"{name} {failed[name]}" for name in order if failed[name])
                                      or "none")


def _raw(ws: Workspace, name: str) -> Any:
    """What a failed run of `name` must leave as it was: versions, or a layer's content."""
    if name in BOUNDARY_TABLES:
        return verify.raw_content(ws.conn, name)
    return verify.raw_versions(ws.conn, name)


def _load_until_complete(ws: Workspace, api: SampleApi, size: Size, name: str, seed: int,
                         outcome: Outcome, ctx: Context) -> None:
    rng = random.Random(seed)
    declared = verify.DATASETS[name]
    for attempt in range(size.max_runs):
        trial = Trial(seed=seed * 100 + attempt, fault="api", target=f"page size {size.page_size}",
                      dataset=name)
        api.faults.seed = rng.randrange(2**31)  # each run its own, recorded, fault sequence
        before = _raw(ws, name)
        injected = sum(api.faults.injected.values())
        try:
            ws.load(api.url, name, page_size=size.page_size, **CLIENT)
            trial.landed = "completed"
        except SocrataError as err:  # a clear error; raw must be as it was
            trial.landed = "failed clearly"
            message = str(err)
            trial.detail["error"] = message[:300]
            if TOKEN in message or f"dataset {name} ({declared.id})" not in message:
                trial.errors.append(f"unclear or leaking error: {message[:200]}")
            if _raw(ws, name) != before:
                trial.errors.append(f"a failed run changed raw_chicago.{name}")
        except Exception as err:  # anything else is a bug: reported, never raised
            trial.landed = "crashed"
            trial.errors.append(f"{name}: unexplained failure: {type(err).__name__}: {str(err)[:300]}")
        trial.counted = sum(api.faults.injected.values()) > injected
        trial.detail["faults"] = sum(api.faults.injected.values()) - injected
        outcome.add(trial)
        ctx.log(f"api_faults: {name} run {trial.seed} {trial.landed}, {trial.detail['faults']} faults")
        if trial.landed == "completed":
            return
    outcome.errors.append(f"no run of {name} completed in {size.max_runs} attempts (seed {seed})")
