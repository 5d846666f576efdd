"""The country sources (World Bank, OECD) under API faults, kills and the OECD budget.

Every scenario serves a `CountryUniverse` through the local `CountryApi` and compares
raw with the universe's ground truth after every run that completed:

- raw_worldbank.indicator_values holds each (indicator_id, country_id, year) the API
  serves for a declared indicator once, with the served value and the indicator's
  current `lastupdated`;
- raw_oecd.<dataflow> holds each current observation (series_key, time_period) once,
  with the served OBS_VALUE, UNIT_MULT, OBS_STATUS and DECIMALS, and nothing the API
  deleted (no row left behind, none with `deleted` set).

Rows lost are truth rows missing from raw or held with another value or stamp;
duplicates are raw rows beyond one per key; a row the API deleted (or never served)
that raw still holds is a failed check. Every trial revises the universe first
(`universe.revise`: World Bank values with a later `lastupdated`, OECD observations
revised, added and deleted), so each fault hits data in flight.

The OECD loads here run with `overlap_seconds=0`: the source's default hour of overlap
would re-ask everything a test makes within an hour and hide a cursor that moved past
data it did not load. After the last run of country_api_faults and country_load_killed, dbt builds the
countries' models up to enriched.int_countries__indicator_years, which must hold one row
per (country, indicator, year) computed from the truth (rows in marts); the marts above it
are tested against the same universe in tests/dbt.

Kills run `python -m reliability.scenarios.countries load '{json}'`: the load of the
World Bank or of one OECD dataflow through `run_source` as the loader, with the step
markers of reliability.child (its dlt progress collector and LoadSteps).
"""

from __future__ import annotations

import json
import random
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from pipelines.oecd import OecdBudgetExceeded, OecdError, load_dataflow, load_oecd
from pipelines.oecd.budget import RequestLedger
from pipelines.oecd.budget import ledger_path as oecd_ledger_path
from pipelines.oecd.settings import load_dataflows
from pipelines.worldbank import WorldBankError, load_worldbank
from pipelines.worldbank.settings import load_indicators
from pulse import warehouse
from reliability.kill import Child, machine_free, strike
from reliability.outcome import Outcome, Trial
from reliability.scenarios import Context, scenario
from reliability.scenarios.crash import LOAD_AIMS, LOAD_PHASES, aim, kills_note, record_child, timed
from reliability.workspace import Workspace, workspace
from sample_api import FAULT_KINDS, Faults

WORLDBANK = "worldbank"
DATAFLOWS = tuple(load_dataflows())
TARGETS = (WORLDBANK, *(f"oecd.{name}" for name in DATAFLOWS))  # what one load covers
# Client settings that make a trial take seconds: no backoff, and under faults a 1 s timeout
# (the slow fault sleeps 2 s) and 4 attempts per request; the OECD budget and gap out of the
# way (but see country_oecd_budget), and no overlap (see the module's docstring).
WB_CLIENT = {"backoff_factor": 0}
OECD_CLIENT = {"backoff_factor": 0, "requests_per_hour": 100_000, "min_seconds_between_requests": 0,
               "overlap_seconds": 0}
FAST = {"request_timeout": 1.0, "max_attempts": 4}  # under faults
UNLIMITED = 100_000  # the local API's OECD requests per hour, when the budget is not tested


@dataclass(frozen=True)
class Universe:
    countries: int = 200
    first_year: int = 1960
    last_year: int = 2025

    def build(self, seed: int) -> Any:
        from sample_api.countries import CountryUniverse

        return CountryUniverse(seed=seed, countries=self.countries, first_year=self.first_year,
                               last_year=self.last_year)


SMALL, FULL = Universe(countries=15, first_year=2010), Universe()


# --- the truth and raw ------------------------------------------------------------------

Rows = dict[tuple, tuple]


def wb_truth(universe: Any) -> Rows:
    """(indicator_id, country_id, year) -> (value, lastupdated) of every declared indicator."""
    out: Rows = {}
    for indicator_id in load_indicators():
        stamp = universe.last_updated(indicator_id).isoformat()
        for row in universe.worldbank_rows(indicator_id):
            value = row["value"]
            out[(indicator_id, row["country"]["id"], int(row["date"]))] = (
                None if value is None else float(value), stamp)
    return out


def _number(text: str | None) -> float | None:
    return None if text in (None, "") else float(text)


def oecd_truth(universe: Any, name: str) -> Rows:
    """(series_key, time_period) -> (obs_value, unit_mult, obs_status, decimals) as served."""
    dims = universe.oecd_dataflows[name].dimensions
    out: Rows = {}
    for row in universe.oecd_rows(name):
        key = ".".join(str(row[d]) for d in dims)
        unit_mult, decimals = _number(row.get("UNIT_MULT")), _number(row.get("DECIMALS"))
        out[(key, str(row["TIME_PERIOD"]))] = (
            _number(row["OBS_VALUE"]), None if unit_mult is None else int(unit_mult),
            row.get("OBS_STATUS") or None, None if decimals is None else int(decimals))
    return out


def truth(universe: Any, target: str) -> Rows:
    return wb_truth(universe) if target == WORLDBANK else oecd_truth(universe, target.removeprefix("oecd."))


RAW_SQL = {
    WORLDBANK: ("raw_worldbank.indicator_values",
                "select indicator_id, country_id, year, value, last_updated::text, false "
                "from raw_worldbank.indicator_values"),
    **{f"oecd.{name}": (f"raw_oecd.{name}",
                        "select series_key, time_period, obs_value, unit_mult, obs_status, decimals, "
                        f"coalesce(deleted, false) from raw_oecd.{name}")
       for name in DATAFLOWS},
}


@dataclass
class Raw:
    rows: Rows = field(default_factory=dict)
    count: int = 0  # rows in the table, duplicates included
    deleted_flagged: int = 0  # rows with deleted = true (hard_delete must remove them)

    @property
    def duplicates(self) -> int:
        return self.count - len(self.rows)


def read_raw(conn: warehouse.Connection, target: str) -> Raw:
    table, sql = RAW_SQL[target]
    if not warehouse.query(conn, "select to_regclass(%s) is not null", (table,))[0][0]:
        return Raw()
    rows = warehouse.query(conn, sql)
    width = 2 if target.startswith("oecd.") else 3
    out = Raw(count=len(rows))
    for row in rows:
        *values, deleted = row
        out.deleted_flagged += bool(deleted)
        out.rows[tuple(values[:width])] = tuple(
            float(v) if isinstance(v, int | float) and i == 0 else v for i, v in enumerate(values[width:]))
    return out


@dataclass
class Compared:
    target: str
    expected: int
    held: int
    missing: list = field(default_factory=list)
    stale: list = field(default_factory=list)
    unexpected: list = field(default_factory=list)  # deleted upstream (or never served), still in raw
    duplicates: int = 0
    deleted_flagged: int = 0

    @property
    def lost(self) -> int:
        return len(self.missing) + len(self.stale)

    @property
    def ok(self) -> bool:
        return not (self.missing or self.stale or self.unexpected or self.duplicates or self.deleted_flagged)

    def describe(self) -> str:
        sample = [*self.missing[:2], *self.stale[:2], *self.unexpected[:2]]
        return (f"{RAW_SQL[self.target][0]}: {len(self.missing)} missing, {len(self.stale)} stale, "
                f"{len(self.unexpected)} not served, {self.duplicates} duplicate, "
                f"{self.deleted_flagged} flagged deleted" + (f" (e.g. {sample})" if sample else ""))


def compare(conn: warehouse.Connection, universe: Any, target: str) -> Compared:
    want, held = truth(universe, target), read_raw(conn, target)
    return Compared(
        target, len(want), held.count,
        missing=sorted(set(want) - set(held.rows)),
        stale=sorted(k for k in want.keys() & held.rows.keys() if want[k] != held.rows[k]),
        unexpected=sorted(set(held.rows) - set(want)),
        duplicates=held.duplicates, deleted_flagged=held.deleted_flagged,
    )


def check(ws: Workspace, universe: Any, trial: Trial, targets: tuple[str, ...] = TARGETS,
          what: str = "") -> tuple[int, int]:
    """Raw of `targets` against the truth, added to the trial; returns (expected, in raw)."""
    with timed(trial, "verify"):
        expected = held = 0
        verified = {}
        for target in targets:
            found = compare(ws.conn, universe, target)
            trial.lost += found.lost
            trial.duplicates += found.duplicates
            if not found.ok:
                trial.errors.append(f"{what or 'after the run'}: {found.describe()}")
            expected, held = expected + found.expected, held + found.held
            verified[target] = {"expected": found.expected, "raw": found.held,
                                "missing": [list(k) for k in found.missing[:10]],
                                "stale": [list(k) for k in found.stale[:10]],
                                "not_served": [list(k) for k in found.unexpected[:10]]}
        trial.detail.setdefault("verified", {}).update(verified)
        return expected, held


def truth_rows(universe: Any) -> int:
    return sum(len(truth(universe, target)) for target in TARGETS)


# --- the enriched model ----------------------------------------------------------------

ENRICHED = "enriched.int_countries__indicator_years"
ENRICHED_NOTE = (f"rows in marts: {ENRICHED} after the last run, one per (country, indicator, year) "
                 "of the truth, checked key for key")
# The OECD series the staging models keep (dbt_project/models/staging/oecd/stg_oecd__*),
# and the canonical indicator each feeds.
OECD_SERIES = {
    "population": ("population", {"MEASURE": "POP", "UNIT_MEASURE": "PS", "SEX": "_T", "AGE": "_T"}),
    "life_expectancy": ("life_expectancy", {"FREQ": "A", "MEASURE": "LFEXP", "UNIT_MEASURE": "Y",
                                            "SEX": "_T", "AGE": "Y0", "SOCIO_ECON_STATUS": "_T",
                                            "DEATH_CAUSE": "_T"}),
    "gdp": ("gdp_usd", {"FREQ": "A", "MEASURE": "B1GQ_V", "UNIT_MEASURE": "USD"}),
}


def enriched_keys(universe: Any) -> set[tuple[str, str, int]]:
    """(country_code, indicator, year) the enriched model must hold, from the truth: every
    World Bank value (an aggregate without ISO3 by its iso2 code) and every OECD total."""
    iso3_of = {c.iso2: c.iso3 for c in universe.countries}
    keys = set()
    for indicator_id, indicator in load_indicators().items():
        for row in universe.worldbank_rows(indicator_id):
            code = row["countryiso3code"] or iso3_of.get(row["country"]["id"])
            if row["value"] is not None and code:
                keys.add((code, indicator.name, int(row["date"])))
    for name, (indicator, where) in OECD_SERIES.items():
        for row in universe.oecd_rows(name):
            if (row["OBS_VALUE"] != "" and len(row["TIME_PERIOD"]) == 4 and row["TIME_PERIOD"].isdigit()
                    and all(row[column] == code for column, code in where.items())):
                keys.add((row["REF_AREA"], indicator, int(row["TIME_PERIOD"])))
    return keys


def check_enriched(ws: Workspace, universe: Any, trial: Trial) -> int:
    """dbt builds the countries' models up to the enriched one; it must hold one row per
    expected (country, indicator, year). Returns its rows."""
    with timed(trial, "dbt"):
        build = ws.dbt_build("--select", f"+{ENRICHED.split('.')[1]}")
    if build.returncode != 0:
        from reliability.workspace import dbt_failure

        trial.errors.append(f"dbt build of the countries' models failed: {dbt_failure(build)}")
        return 0
    want = enriched_keys(universe)
    held = warehouse.query(ws.conn, f"select country_code, indicator, year from {ENRICHED}")
    got = {(c, i, int(y)) for c, i, y in held}
    trial.duplicates += len(held) - len(got)
    missing, extra = want - got, got - want
    trial.lost += len(missing)
    if missing or extra:
        trial.errors.append(f"{ENRICHED}: {len(missing)} expected rows missing, {len(extra)} not expected "
                            f"(e.g. {sorted(missing)[:2]} {sorted(extra)[:2]})")
    trial.detail["enriched"] = {"expected": len(want), "rows": len(held)}
    return len(held)


# --- loads ------------------------------------------------------------------------------


def load(ws: Workspace, api: Any, target: str, **overrides: Any) -> Any:
    """One normal run of `target` (the World Bank, or one OECD dataflow) in this workspace."""
    if target == WORLDBANK:
        return load_worldbank(credentials=ws.role_url("loader", "raw_worldbank"),
                              pipelines_dir=ws.pipelines_dir,
                              base_url=api.worldbank_url, **{**WB_CLIENT, **overrides})
    from pipelines.oecd import dataflow_pipeline

    name = target.removeprefix("oecd.")
    return load_dataflow(name, dataflow_pipeline(name, ws.pipelines_dir),
                         credentials=ws.role_url("loader", "raw_oecd"),
                         base_url=api.oecd_url, **{**OECD_CLIENT, **overrides})


def load_everything(ws: Workspace, api: Any, **overrides: Any) -> None:
    for target in TARGETS:
        load(ws, api, target, **overrides)


def clear_error(target: str, message: str, api: Any) -> bool:
    """A failure must name where (the dataflow or the World Bank URL) and say that nothing
    moved, so the operator knows a rerun is safe."""
    host = api.worldbank_url.split("/v2")[0]
    if target == WORLDBANK:
        return host in message and "state moved" in message
    return f"dataflow {target.removeprefix('oecd.')}" in message and "did not move" in message


def injected(api: Any) -> int:
    return sum(api.faults.injected.values())


# --- API faults -------------------------------------------------------------------------


@dataclass(frozen=True)
class FaultSize:
    universe: Universe
    rounds: int  # revisions after the backfill, each loaded until every run completes
    rate: float  # share of World Bank requests faulted
    oecd_rate: float  # of OECD requests: a dataflow's run is one request (and its retries)
    per_page: int  # World Bank rows per page
    max_runs: int  # per target and round
    share: float = 0.01  # of values revised per round


FAULT_SIZES = {
    "small": FaultSize(SMALL, rounds=1, rate=0.25, oecd_rate=0.5, per_page=500, max_runs=15),
    "full": FaultSize(FULL, rounds=4, rate=0.15, oecd_rate=0.4, per_page=10_000, max_runs=25),
}


@scenario("country_api_faults", order=30)
def country_api_faults(ctx: Context) -> Outcome:
    """World Bank and OECD requests answered with every fault kind (429, 5xx, resets, HTML
    200, cut bodies, empty pages, slow answers); each target loaded until a run completes,
    raw equal to the truth after every round of revisions."""
    from sample_api.countries import CountryApi

    size = ctx.pick(FAULT_SIZES["small"], FAULT_SIZES["full"])
    outcome = Outcome("country_api_faults")
    universe = size.universe.build(ctx.seed)
    faults = Faults(rate=size.rate, seed=ctx.seed, slow_seconds=2.0, retry_after=1)
    counts = (0, 0)
    with workspace("country_api_faults", keep=ctx.keep) as ws, \
            CountryApi(universe, faults=faults, oecd_requests_per_hour=UNLIMITED) as api:
        for round_no in range(size.rounds + 1):  # round 0 is the backfill
            seed = ctx.trial_seed(round_no)
            if round_no:
                summary = universe.revise(share=size.share, seed=seed)
                outcome.detail.setdefault("revisions", []).append(
                    {"seed": seed, "indicators": list(summary.indicators),
                     "wb_values": summary.values_revised, "oecd_revised": summary.oecd_revised,
                     "oecd_added": summary.oecd_added, "oecd_deleted": summary.oecd_deleted})
            for i, target in enumerate(TARGETS):
                if not round_no:  # every kind once: the first requests of each provider's backfill
                    if target in (WORLDBANK, f"oecd.{DATAFLOWS[0]}"):
                        for kind in FAULT_KINDS:
                            setattr(faults, f"{kind}_next", 1)
                _load_until_complete(ws, api, size, target, seed * 10 + i, universe, outcome, ctx)
        fired = Counter(faults.injected)
        faults.reset()  # the last runs complete, on a healthy API
        final = Trial(seed=ctx.trial_seed(99), fault="none", target="final", counted=False)
        load_everything(ws, api)  # every target once more: nothing new, nothing lost
        counts = check(ws, universe, final, what="the last check")
        outcome.rows_marts = check_enriched(ws, universe, final)
        outcome.add(final)
        outcome.trials -= 1
        outcome.faults = sum(fired.values())
        outcome.note("faults " + ", ".join(f"{k} {v}" for k, v in sorted(fired.items())))
        failed = Counter(t.dataset for t in outcome.trial_log if t.landed == "failed clearly")
        outcome.note("runs failed clearly: " + (", ".join(f"{t} {failed[t]}" for t in TARGETS if failed[t])
                                                or "none"))
        outcome.note(f"{size.rounds} revisions (OECD deletions among them); {ENRICHED_NOTE}")
    outcome.rows_expected, outcome.rows_raw = counts
    return outcome


def _load_until_complete(ws: Workspace, api: Any, size: FaultSize, target: str, seed: int,
                         universe: Any, outcome: Outcome, ctx: Context) -> None:
    rng = random.Random(seed)
    extra = {**FAST, "per_page": size.per_page} if target == WORLDBANK else FAST
    api.faults.rate = size.rate if target == WORLDBANK else size.oecd_rate
    for attempt in range(size.max_runs):
        trial = Trial(seed=seed * 100 + attempt, fault="api", target=target, dataset=target)
        api.faults.seed = rng.randrange(2**31)  # each run its own, recorded, fault sequence
        before = read_raw(ws.conn, target).rows
        fired = injected(api)
        try:
            load(ws, api, target, **extra)
            trial.landed = "completed"
        except (WorldBankError, OecdError) as err:  # a clear error; raw must be as it was
            trial.landed = "failed clearly"
            message = str(err)
            trial.detail["error"] = machine_free(message)[:300]
            if not clear_error(target, message, api):
                trial.errors.append(f"{target}: unclear error: {message[:300]}")
            if read_raw(ws.conn, target).rows != before:
                trial.errors.append(f"a failed run changed {RAW_SQL[target][0]}")
        except Exception as err:  # anything else is a bug: reported, never raised
            trial.landed = "crashed"
            trial.errors.append(f"{target}: unexplained failure: {type(err).__name__}: {str(err)[:300]}")
        trial.counted = injected(api) > fired
        trial.detail["faults"] = injected(api) - fired
        if trial.landed == "completed":  # a completed run leaves raw equal to the truth
            check(ws, universe, trial, (target,), what=f"a completed run of {target}")
        outcome.add(trial)
        ctx.log(f"country_api_faults: {target} run {trial.seed} {trial.landed}, "
                f"{trial.detail['faults']} faults" + (f", errors {trial.errors}" if trial.errors else ""))
        if trial.landed == "completed":
            return
    outcome.errors.append(f"no run of {target} completed in {size.max_runs} attempts (seed {seed})")


# --- a load killed ----------------------------------------------------------------------


@dataclass(frozen=True)
class KillSize:
    universe: Universe
    kills: dict[str, tuple[str, ...]]  # target -> phases to land a kill in
    max_attempts: int
    share: float = 0.01


KILL_SIZES = {
    "small": KillSize(SMALL, {WORLDBANK: LOAD_PHASES, "oecd.population": LOAD_PHASES}, max_attempts=14),
    "full": KillSize(FULL, {WORLDBANK: LOAD_PHASES * 3, "oecd.population": LOAD_PHASES * 2,
                            "oecd.life_expectancy": ("load",), "oecd.gdp": ("extract", "load")},
                     max_attempts=60),
}


def load_child(ws: Workspace, api: Any, log_name: str, target: str) -> Child:
    args = {"target": target, "pipelines_dir": str(ws.pipelines_dir), "database": ws.database,
            "base_url": api.worldbank_url if target == WORLDBANK else api.oecd_url}
    env = {**ws.env(), "RUNTIME__LOG_LEVEL": "INFO"}  # dlt's log marks the load's steps
    argv = [sys.executable, "-m", "reliability.scenarios.countries", "load", json.dumps(args)]
    return Child(argv, env, ws.root / f"{log_name}.log")


def _calibrate(ws: Workspace, api: Any, universe: Any, target: str, seed: int, size: KillSize,
               outcome: Outcome) -> dict[str, float]:
    """Two unkilled child loads of `target`, a revision before each: the longest each phase took."""
    durations: dict[str, float] = {}
    for run_no in range(2):
        universe.revise(share=size.share, seed=seed + run_no)
        run = load_child(ws, api, f"calibration-{target}-{run_no}", target).finish()
        if run.returncode != 0:
            raise RuntimeError(f"the calibration load of {target} failed: {run.error or run.stderr[-800:]}")
        steps = {k: v for k, v in run.durations(steps=True).items() if "." in k}
        for name, seconds in {**run.durations(), **steps}.items():
            durations[name] = max(seconds, durations.get(name, 0.0))
        calibration = Trial(seed=seed + run_no, fault="none", target="calibration", counted=False)
        check(ws, universe, calibration, (target,), what=f"an unkilled load of {target}")
        outcome.errors += calibration.errors
    outcome.detail.setdefault("calibration_seconds", {})[target] = {
        k: round(v, 3) for k, v in durations.items()}
    return durations


def _state_of(ws: Workspace, target: str, before: Rows, after: Rows) -> str:
    held = read_raw(ws.conn, target).rows
    return "before" if held == before else "after" if held == after else "partial"


@scenario("country_load_killed", order=31)
def country_load_killed(ctx: Context) -> Outcome:
    """SIGKILL of the World Bank load and of OECD dataflow loads in extract, normalize and
    load; a revision between the kill and the rerun proves no cursor moved past unloaded data."""
    from sample_api.countries import CountryApi

    size = ctx.pick(KILL_SIZES["small"], KILL_SIZES["full"])
    outcome = Outcome("country_load_killed")
    universe = size.universe.build(ctx.seed)
    wanted = [(target, phase) for target, phases in size.kills.items() for phase in phases]
    counts = (0, 0)
    with workspace("country_load_killed", keep=ctx.keep) as ws, \
            CountryApi(universe, oecd_requests_per_hour=UNLIMITED) as api:
        load_everything(ws, api)
        durations = {target: _calibrate(ws, api, universe, target, ctx.trial_seed(900 + 10 * i),
                                        size, outcome)
                     for i, target in enumerate(size.kills)}
        attempt = 0
        while wanted and attempt < size.max_attempts:
            seed = ctx.trial_seed(attempt)
            attempt += 1
            target, phase = wanted[0]
            so_far = sum(1 for t in outcome.trial_log if t.counted and (t.dataset, t.landed) == wanted[0])
            aimed, delay = aim(phase, so_far, durations[target], random.Random(seed), LOAD_AIMS)
            trial = Trial(seed, "sigkill", target=aimed, delay=round(delay, 4), dataset=target)
            before = read_raw(ws.conn, target).rows  # other targets' trials revised it too
            universe.revise(share=size.share, seed=seed)
            after = truth(universe, target)
            with timed(trial, "fault"):
                run = strike(load_child(ws, api, f"trial-{seed}", target), aimed, delay)
            record_child(trial, run)
            if (target, trial.landed) in wanted:
                wanted.remove((target, trial.landed))
            elif trial.counted:
                wanted.append(wanted.pop(0))  # another phase next: this one was missed
            # right after the kill raw holds the truth before the revision or after it, whole
            state = trial.detail["raw_after_fault"] = _state_of(ws, target, before, after)
            if state == "partial" or (trial.landed in ("extract", "normalize") and state != "before"):
                trial.errors.append(f"{RAW_SQL[target][0]} is {state} the revision after a kill in "
                                    f"{trial.detail['step']}")
            # a second revision before the rerun: a cursor saved by the killed run (past what it
            # never loaded) would now skip the first revision's changes
            universe.revise(share=size.share, seed=seed + 500_000)
            with timed(trial, "rerun"):
                try:
                    load(ws, api, target)
                except Exception as err:  # reported: the rerun must recover on its own
                    trial.errors.append(f"the rerun failed: {type(err).__name__}: {str(err)[:300]}")
            check(ws, universe, trial, (target,), what=f"the rerun of {target} after a kill")
            outcome.add(trial)
            ctx.log(f"  country_load_killed seed {seed}: {target} target {aimed} +{delay:.3f}s, landed "
                    f"{run.landed}, raw {state}, lost {trial.lost}, dup {trial.duplicates}"
                    + (f", errors {trial.errors}" if trial.errors else ""))
        if wanted:
            outcome.errors.append(f"kills that never landed after {attempt} attempts: {wanted}")
        final = Trial(seed=ctx.trial_seed(99), fault="none", target="final", counted=False)
        universe.revise(share=size.share, seed=ctx.trial_seed(99))
        load_everything(ws, api)
        counts = check(ws, universe, final, what="the last check")
        outcome.rows_marts = check_enriched(ws, universe, final)
        outcome.add(final)
        outcome.trials -= 1
        outcome.note(kills_note(outcome))
        merged = sum(1 for t in outcome.trial_log if t.detail.get("raw_after_fault") == "after")
        outcome.note(f"raw already merged at {merged} kill(s); a revision between each kill and its "
                     f"rerun; {ENRICHED_NOTE}")
    outcome.rows_expected, outcome.rows_raw = counts
    return outcome


# --- the OECD budget --------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetSize:
    universe: Universe
    budget: int  # OECD requests per hour, the client's and the API's
    rounds: int  # revisions loaded before the budget runs out (at most)


BUDGET_SIZES = {
    "small": BudgetSize(SMALL, budget=12, rounds=6),
    "full": BudgetSize(FULL, budget=20, rounds=10),
}


@scenario("country_oecd_budget", order=32)
def country_oecd_budget(ctx: Context) -> Outcome:
    """The OECD budget under faults: retries take slots, the API never sees more than the
    budget, a run refused for budget sends nothing and moves no cursor, and resumes later."""
    from sample_api.countries import CountryApi

    size = ctx.pick(BUDGET_SIZES["small"], BUDGET_SIZES["full"])
    outcome = Outcome("country_oecd_budget")
    universe = size.universe.build(ctx.seed)
    faults = Faults(seed=ctx.seed, retry_after=1, kinds=("rate_limit", "server_error", "reset"))
    client = {**OECD_CLIENT, "requests_per_hour": size.budget}
    targets = tuple(f"oecd.{name}" for name in DATAFLOWS)
    counts = (0, 0)
    with workspace("country_oecd_budget", keep=ctx.keep) as ws, \
            CountryApi(universe, faults=faults, oecd_requests_per_hour=size.budget) as api:
        ledger = RequestLedger(oecd_ledger_path(ws.pipelines_dir), size.budget)
        refused = 0
        for round_no in range(size.rounds):
            seed = ctx.trial_seed(round_no)
            if round_no:
                universe.revise(share=0.01, seed=seed)
            faults.server_error_next, faults.rate_limit_next = 1, round_no % 2  # retries spend slots
            trial = Trial(seed=seed, fault="api+budget", target="every dataflow", dataset="oecd")
            before = {t: read_raw(ws.conn, t).rows for t in targets}
            sent, fired = len(_oecd_data(api)), injected(api)
            try:
                load_oecd(credentials=ws.role_url("loader", "raw_oecd"), pipelines_dir=ws.pipelines_dir,
                          base_url=api.oecd_url, **client)
                trial.landed = "completed"
                check(ws, universe, trial, targets, what="a completed run")
            except OecdBudgetExceeded as err:
                trial.landed = "refused for budget"
                refused += 1
                trial.detail["error"] = machine_free(str(err))[:300]
                if "budget" not in str(err) or "did not move" not in str(err):
                    trial.errors.append(f"unclear budget error: {str(err)[:300]}")
                for t in targets:  # dataflows loaded before the refusal are checked, the rest untouched
                    now = read_raw(ws.conn, t).rows
                    if now != before[t] and now != truth(universe, t):
                        trial.errors.append(f"{RAW_SQL[t][0]} is neither as before nor the truth "
                                            "after a run refused for budget")
            except OecdError as err:
                trial.landed = "failed clearly"
                trial.detail["error"] = machine_free(str(err))[:300]
            trial.counted = injected(api) > fired
            trial.detail["requests_sent"] = len(_oecd_data(api)) - sent
            _budget_held(api, ledger, size.budget, trial)
            outcome.add(trial)
            ctx.log(f"country_oecd_budget: round {round_no} {trial.landed}, "
                    f"{trial.detail['requests_sent']} requests, ledger {trial.detail['ledger_attempts']}"
                    + (f", errors {trial.errors}" if trial.errors else ""))
            if trial.landed == "refused for budget":
                break
        if not refused:
            outcome.errors.append(f"the budget of {size.budget} never ran out in {size.rounds} rounds")
        # an hour later (the ledger's attempts and the API's window moved back by an hour):
        # the refused run's dataflows resume from their cursors and lose nothing
        universe.revise(share=0.01, seed=ctx.trial_seed(98))
        _an_hour_passed(ledger, api)
        before_hour = len(_oecd_data(api))
        fired = Counter(faults.injected)
        faults.reset()
        final = Trial(seed=ctx.trial_seed(99), fault="none", target="final: an hour later", counted=False)
        try:
            load_oecd(credentials=ws.role_url("loader", "raw_oecd"), pipelines_dir=ws.pipelines_dir,
                      base_url=api.oecd_url, **client)
        except OecdError as err:
            final.errors.append(f"the run an hour later failed: {str(err)[:300]}")
        counts = check(ws, universe, final, targets, what="the run an hour later")
        _budget_held(api, ledger, size.budget, final, since=before_hour)
        outcome.add(final)
        outcome.trials -= 1
        outcome.faults = sum(fired.values())
        statuses = Counter(r.status for r in _oecd_data(api))
        outcome.note(f"budget {size.budget}/h; {len(_oecd_data(api))} OECD data requests "
                     f"({', '.join(f'{s}: {n}' for s, n in sorted(statuses.items()))}), every one in the "
                     f"ledger; {refused} run refused for budget, resumed an hour later (simulated: "
                     f"ledger and API window moved back) with nothing lost; faults "
                     + ", ".join(f"{k} {v}" for k, v in sorted(fired.items())) + "; raw only")
    outcome.rows_expected, outcome.rows_raw = counts
    return outcome


def _oecd_data(api: Any) -> list:
    return [r for r in api.requests if "/public/rest/data/" in r.path]


def _budget_held(api: Any, ledger: RequestLedger, budget: int, trial: Trial, since: int = 0) -> None:
    """The API never saw more than the budget in its hour (it answers those with a JSON 429,
    no injected fault), and the ledger holds every attempt the API saw (`since`: requests
    before the simulated hour)."""
    seen = _oecd_data(api)[since:]
    over = [r for r in seen if r.status == 429 and not r.fault]
    if over or len(seen) > budget:
        trial.errors.append(f"the API saw {len(seen)} requests in its hour, refused {len(over)}: "
                            f"more than the budget of {budget}")
    recorded = len(ledger.used())
    trial.detail["api_requests_in_hour"], trial.detail["ledger_attempts"] = len(seen), recorded
    if recorded != len(seen):
        trial.errors.append(f"the ledger holds {recorded} attempts, the API saw {len(seen)}")


def _an_hour_passed(ledger: RequestLedger, api: Any) -> None:
    """Moves every ledger attempt back an hour and empties the API's window."""
    doc = json.loads(ledger.path.read_text())
    for attempt in doc["attempts"]:
        attempt["at"] -= 3600.0
    doc["blocked_until"] = 0.0
    ledger.path.write_text(json.dumps(doc))
    api.reset_oecd_budget()


# --- the child a kill strikes -----------------------------------------------------------


def child_load(target: str, base_url: str, pipelines_dir: str, database: str) -> None:
    """The load of `target` through run_source, as the loader, with the step markers of
    reliability.child."""
    from pipelines.load import raw_dataset, run_source
    from reliability.child import loader_url, marker, watch

    if target == WORLDBANK:
        from pipelines.worldbank import explain_failure, worldbank_pipeline, worldbank_source

        pipeline = watch(worldbank_pipeline(pipelines_dir), "indicator_values")
        # what the worldbank_ingest asset runs: run_source(pipeline, source, explain=...)
        run_source(pipeline, worldbank_source(base_url=base_url, backoff_factor=0),
                   credentials=loader_url(database, raw_dataset("worldbank")),
                   explain=explain_failure)
    else:
        from pipelines.oecd import dataflow_pipeline

        table = target.removeprefix("oecd.")
        pipeline = watch(dataflow_pipeline(table, pipelines_dir), table)
        load_dataflow(table, pipeline, credentials=loader_url(database, raw_dataset("oecd")),
                      base_url=base_url, backoff_factor=0, requests_per_hour=UNLIMITED,
                      min_seconds_between_requests=0, overlap_seconds=0,
                      ledger_path=str(oecd_ledger_path(pipelines_dir)))
    marker("done")


def main(argv: list[str] | None = None) -> int:
    from reliability.child import main as child_main

    return child_main(argv, {"load": child_load})  # the same protocol as reliability.child


if __name__ == "__main__":
    sys.exit(main())
