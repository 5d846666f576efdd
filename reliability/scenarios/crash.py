"""Crashes: a load SIGKILLed in extract, normalize or load; a dbt build SIGKILLed; the
database server stopped under a load. After each, a normal rerun must leave raw and
the marts equal to the ground truth: nothing lost, nothing twice, and no half-applied
load or build visible in between.

Every trial starts with a revision of the sample API's dataset (new rows and updated
rows), so each fault hits data in flight. Each trial's seed picks the revision, the
target and the delay; the seed and the phase the fault landed in are recorded.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from pulse import warehouse
from pulse.sample_api import CrimesDataset, SampleApi
from reliability import verify
from reliability.kill import FINISHED, Child, ChildRun, strike
from reliability.outcome import Outcome, Trial
from reliability.scenarios import Context, scenario
from reliability.workspace import DBT_BUILD, Workspace, dbt_failure, private_server, workspace

LOAD_PHASES = ("extract", "normalize", "load")


@dataclass(frozen=True)
class Size:
    rows: int  # the backfill
    new_rows: int  # per revision
    updated_rows: int
    trials: int  # faults that must land (per phase for load_killed)
    max_attempts: int  # trials at most, misses included


# --- shared steps -----------------------------------------------------------------------


@contextmanager
def timed(trial: Trial, step: str) -> Iterator[None]:
    """Records how long a step of the trial took, in its detail."""
    started = time.monotonic()
    try:
        yield
    finally:
        trial.detail.setdefault("seconds", {})[step] = round(time.monotonic() - started, 2)


def backfill(ws: Workspace, api: SampleApi) -> None:
    """The first load and a full dbt build: the state every fault starts from."""
    ws.load(api.url)
    build = ws.dbt_build("--full-refresh")
    if build.returncode != 0:
        raise RuntimeError(f"the first dbt build failed: {dbt_failure(build)}")


def revise(dataset: CrimesDataset, size: Size, seed: int) -> tuple[verify.Versions, verify.Versions]:
    """Applies the trial's revision; returns the truth's versions before and after it."""
    before = verify.truth_versions(dataset)
    dataset.apply_revision(new_rows=size.new_rows, updated_rows=size.updated_rows, seed=seed)
    return before, verify.truth_versions(dataset)


def load_child(ws: Workspace, api: SampleApi, name: str) -> Child:
    args = {"base_url": api.url, "pipelines_dir": str(ws.pipelines_dir), "credentials": ws.url}
    env = {**ws.env(), "RUNTIME__LOG_LEVEL": "INFO"}  # dlt's log marks the load's steps
    return Child.python("load", args, env, ws.root / f"{name}.log")


def calibrate_load(ws: Workspace, api: SampleApi, dataset: CrimesDataset, size: Size,
                   seed: int, outcome: Outcome) -> dict[str, float]:
    """Two unkilled child loads of a revision each (the second re-reads the first in its
    overlap window, as every trial does): the longest each phase and step took."""
    durations: dict[str, float] = {}
    for run_no in range(2):
        revise(dataset, size, seed + run_no)
        run = load_child(ws, api, f"calibration-{run_no}").finish()
        if run.returncode != 0:
            raise RuntimeError(f"the calibration load failed: {run.error or run.stderr[-800:]}")
        steps = {k: v for k, v in run.durations(steps=True).items() if "." in k}
        for name, seconds in {**run.durations(), **steps}.items():
            durations[name] = max(seconds, durations.get(name, 0.0))
        check = verify.check_raw(ws.conn, verify.truth_versions(dataset))
        if not check.ok:
            outcome.errors.append(f"an unkilled calibration load left raw wrong: {check.describe()}")
    outcome.detail["calibration_seconds"] = {k: round(v, 3) for k, v in durations.items()}
    return durations


# Load kills cycle through these aims: a point of the merge into raw, any point of the
# load step, a point after the merge committed (raw is complete, the load not yet
# recorded in _dlt_loads nor the package archived).
LOAD_AIMS = ("load.merge", "load", "load.merged")


def aim(phase: str, nth: int, durations: dict[str, float], rng: random.Random) -> tuple[str, float]:
    """Where the `nth` kill meant for `phase` is aimed (a marker), and how long after it."""
    marker = LOAD_AIMS[nth % len(LOAD_AIMS)] if phase == "load" else phase
    if not durations.get(marker):
        marker = phase
    low = 0.0 if "." in marker else 0.02
    return marker, rng.uniform(low, 1.0) * durations.get(marker, 0.0)


def pending_packages(ws: Workspace) -> dict[str, list[str]]:
    """dlt's local load packages not yet loaded, by stage, and half-written extract
    packages (a folder per killed extract under normalize/<id>/)."""
    pipeline = ws.pipeline()
    return {"extracted": list(pipeline.list_extracted_load_packages()),
            "normalized": list(pipeline.list_normalized_load_packages()),
            "half_written": half_written_packages(ws)}


def half_written_packages(ws: Workspace) -> list[str]:
    folder = ws.pipelines_dir / "chicago_crimes" / "normalize"
    if not folder.is_dir():
        return []
    return sorted(f"{d.name}/{p.name}" for d in folder.iterdir()
                  if d.is_dir() and d.name != "extracted" for p in d.iterdir())


def raw_after_fault(ws: Workspace, trial: Trial, before: verify.Versions,
                    after: verify.Versions) -> None:
    """Right after the fault raw holds the truth before the revision or after it."""
    state = verify.raw_state_is_one_of(ws.conn, before, after)
    trial.detail["raw_after_fault"] = {0: "before", 1: "after", None: "partial"}[state]
    if state is None:
        held = verify.raw_versions(ws.conn)
        trial.errors.append(
            f"raw partially applied after a fault in {trial.landed}: against the truth before: "
            f"{verify.describe_difference(held, before)}; after: {verify.describe_difference(held, after)}"
        )


def rerun_and_verify(ws: Workspace, api: SampleApi, dataset: CrimesDataset,
                     trial: Trial) -> tuple[int, int, int]:
    """A normal rerun (dlt finishes or discards what the fault left), a dbt build, then
    raw and the marts against the truth. Returns (rows expected, in raw, in marts)."""
    with timed(trial, "rerun"):
        try:
            ws.load(api.url)
        except Exception as err:  # reported: the rerun must recover on its own
            trial.errors.append(f"the rerun failed: {type(err).__name__}: {str(err)[:300]}")
    with timed(trial, "dbt"):
        build = ws.dbt_build()
    if build.returncode != 0:
        trial.errors.append(f"dbt build after the rerun failed: {dbt_failure(build)}")
    return check_against_truth(ws, dataset, trial)


def check_against_truth(ws: Workspace, dataset: CrimesDataset, trial: Trial) -> tuple[int, int, int]:
    with timed(trial, "verify"):
        return _check_against_truth(ws, dataset, trial)


def _check_against_truth(ws: Workspace, dataset: CrimesDataset, trial: Trial) -> tuple[int, int, int]:
    snapshot = verify.Snapshot.of(dataset)
    truth = snapshot.versions()
    raw = verify.check_raw(ws.conn, truth)
    marts = verify.marts_rows(ws.conn)
    # a row at the right version with other values is lost data too
    corrupt = sorted(set(verify.content_differs(ws.conn, snapshot)) - set(raw.stale))
    trial.duplicates += raw.duplicates
    # rows raw lost, plus crimes the marts miss beyond those
    trial.lost += raw.lost + len(corrupt) + max(0, len(truth) - marts - raw.lost)
    if not raw.ok:
        trial.errors.append(f"raw differs from the truth: {raw.describe()}")
    if corrupt:
        trial.errors.append(f"{len(corrupt)} raw rows differ from the truth in their values "
                            f"(e.g. ids {corrupt[:5]})")
    equal, why = verify.marts_match_truth(ws.conn, snapshot)
    if not equal:
        trial.errors.append(why)
    trial.detail["verified"] = {"expected": len(truth), "raw": raw.rows, "marts": marts,
                                "missing": raw.missing[:20], "stale": raw.stale[:20],
                                "values_differ": corrupt[:20]}
    return len(truth), raw.rows, marts


def finish(outcome: Outcome, counts: tuple[int, int, int]) -> Outcome:
    outcome.rows_expected, outcome.rows_raw, outcome.rows_marts = counts
    return outcome


# --- a load killed ----------------------------------------------------------------------

LOAD_KILLED = {
    "small": Size(rows=10_000, new_rows=2_000, updated_rows=8_000, trials=1, max_attempts=9),
    "full": Size(rows=40_000, new_rows=1_500, updated_rows=13_500, trials=8, max_attempts=45),
}


@scenario("load_killed", order=10)
def load_killed(ctx: Context) -> Outcome:
    """SIGKILL of the dlt load at random points of extract, normalize and load; then a rerun."""
    size = LOAD_KILLED[ctx.scale]
    outcome = Outcome("load_killed")
    dataset = CrimesDataset(size.rows, seed=ctx.seed)
    counts = (0, 0, 0)
    with workspace("load_killed", keep=ctx.keep) as ws, SampleApi(dataset) as api:
        backfill(ws, api)
        durations = calibrate_load(ws, api, dataset, size, ctx.trial_seed(999), outcome)
        wanted = list(LOAD_PHASES) * size.trials  # kills still to land, round robin
        attempt = 0
        while wanted and attempt < size.max_attempts:
            seed = ctx.trial_seed(attempt)
            attempt += 1
            kills_so_far = sum(1 for t in outcome.trial_log if t.counted and t.landed == wanted[0])
            target, delay = aim(wanted[0], kills_so_far, durations, random.Random(seed))
            trial = Trial(seed, "sigkill", target=target, delay=round(delay, 4))
            before, after = revise(dataset, size, seed)
            with timed(trial, "fault"):
                run = strike(load_child(ws, api, f"trial-{seed}"), target, delay)
            record_child(trial, run)
            if trial.landed in wanted:
                wanted.remove(trial.landed)
            elif trial.counted:
                wanted.append(wanted.pop(0))  # another phase next: this one was missed
            raw_after_fault(ws, trial, before, after)
            trial.detail["pending_after_fault"] = pending_packages(ws)
            counts = rerun_and_verify(ws, api, dataset, trial)
            outcome.add(trial)
            ctx.log(f"  load_killed seed {seed}: target {target} +{delay:.3f}s, landed {run.landed}, "
                    f"raw {trial.detail['raw_after_fault']}, lost {trial.lost}, dup {trial.duplicates}"
                    + (f", errors {trial.errors}" if trial.errors else ""))
        if wanted:
            outcome.errors.append(f"kills that never landed after {attempt} attempts: {wanted}")
        outcome.note(kills_note(outcome))
        after = sum(1 for t in outcome.trial_log if t.detail.get("raw_after_fault") == "after")
        outcome.note(f"raw already merged at {after} kill(s)")
        if left := half_written_packages(ws):
            outcome.note(f"{len(left)} half-written extract package(s) left behind")
    return finish(outcome, counts)


def kills_note(outcome: Outcome) -> str:
    """e.g. `kills: extract 8, normalize 8, load 8 (copy 3, merge 3, merged 2)`."""
    landed = [t.landed for t in outcome.trial_log if t.counted]
    steps = [t.detail["step"] for t in outcome.trial_log if t.counted and t.landed == "load"]
    names = {"load": "start", "load.copy": "copy", "load.merge": "merge", "load.merged": "merged",
             "load.archived": "archived"}
    in_load = ", ".join(f"{short} {steps.count(step)}" for step, short in names.items() if step in steps)
    return ("kills: " + ", ".join(f"{p} {landed.count(p)}" for p in LOAD_PHASES if p in landed)
            + (f" ({in_load})" if in_load else ""))


def record_child(trial: Trial, run: ChildRun) -> None:
    trial.landed = run.landed_phase
    trial.counted = run.landed != FINISHED
    trial.detail["step"] = run.landed
    trial.detail["returncode"] = run.returncode
    trial.detail["phases_seen"] = [p for p, _ in run.markers]
    if run.error:
        trial.detail["child_error"] = run.error
    if not run.killed and run.returncode not in (0, None) and trial.fault == "sigkill":
        trial.errors.append(f"the load failed without a fault: {run.error or run.stderr[-300:]}")


# --- a dbt build killed -----------------------------------------------------------------

DBT_KILLED = {
    "small": Size(rows=10_000, new_rows=1_000, updated_rows=4_000, trials=1, max_attempts=3),
    "full": Size(rows=40_000, new_rows=1_500, updated_rows=13_500, trials=6, max_attempts=12),
}
_NODE_START = re.compile(r"(\d+) of \d+ START (.+?)(?: \.+)? +\[RUN\]")
_NODE_END = re.compile(r"(\d+) of \d+ (OK|PASS|ERROR|FAIL|WARN|SKIP)")


def dbt_marker(line: str) -> str | None:
    """Marks in a dbt build's log: `build` at a seed or test, `model` at a model, `done`."""
    if m := _NODE_START.search(line):
        return "model" if re.search(r"\bmodel\b", m.group(2)) else "build"
    if "Finished running" in line:
        return "done"
    return None


def dbt_windows(run: ChildRun) -> dict[str, float]:
    """Seconds from the first mark of each kind to the end of the build: a kill target
    `build` may land anywhere in the build, `model` once the models have begun."""
    end = next((at for phase, at in run.markers if phase == "done"), None)
    if end is None:
        return {}
    out = {}
    for target in ("build", "model"):
        first = next((at for phase, at in run.markers if phase == target), None)
        if first is not None:
            out[target] = end - first
    out["build"] = end - run.markers[0][1]
    return out


def in_flight(run: ChildRun) -> list[str]:
    """The dbt nodes started but not finished when the kill came."""
    started: dict[str, str] = {}
    for line, at in run.lines:
        if run.struck_at is not None and at > run.struck_at:
            break
        if m := _NODE_START.search(line):
            started[m.group(1)] = m.group(2)
        elif m := _NODE_END.search(line):
            started.pop(m.group(1), None)
    return list(started.values())


def dbt_child(ws: Workspace, name: str) -> Child:
    argv = ws.dbt_command(*DBT_BUILD, "--no-use-colors")
    return Child(argv, ws.env(), ws.root / f"{name}.log", parse=dbt_marker)


def leftover_relations(ws: Workspace) -> list[str]:
    """dbt's intermediate relations (__dbt_tmp, __dbt_backup) left in the database."""
    rows = verify.query(ws.conn, "select schemaname || '.' || tablename from pg_tables "
                                 "where tablename ~ '__dbt_(tmp|backup)' union all "
                                 "select schemaname || '.' || viewname from pg_views "
                                 "where viewname ~ '__dbt_(tmp|backup)'")
    return sorted(name for (name,) in rows)


def model_counts(ws: Workspace) -> dict[str, int]:
    """Crimes each of the models counts (enriched rows, the marts' sums)."""
    out = {"enriched": verify.enriched_rows(ws.conn), "monthly": verify.marts_rows(ws.conn)}
    daily = "marts.rpt_chicago__crimes_daily_trend"
    if verify.table_exists(ws.conn, daily):
        out["daily"] = int(verify.query(ws.conn, f"select coalesce(sum(crime_count), 0) from {daily}")[0][0])
    return out


@scenario("dbt_killed", order=20)
def dbt_killed(ctx: Context) -> Outcome:
    """SIGKILL of `dbt build` at a random point of the build; then `dbt build` again."""
    size = DBT_KILLED[ctx.scale]
    outcome = Outcome("dbt_killed")
    dataset = CrimesDataset(size.rows, seed=ctx.seed)
    counts = (0, 0, 0)
    with workspace("dbt_killed", keep=ctx.keep) as ws, SampleApi(dataset) as api:
        backfill(ws, api)
        revise(dataset, size, ctx.trial_seed(999))
        ws.load(api.url)
        calibration = dbt_child(ws, "calibration").finish()
        if calibration.returncode != 0:
            raise RuntimeError(f"the calibration dbt build failed: {calibration.stderr[-800:]}")
        windows = dbt_windows(calibration)
        outcome.detail["calibration_seconds"] = {k: round(v, 3) for k, v in windows.items()}
        attempt = 0
        while outcome.faults < size.trials and attempt < size.max_attempts:
            seed = ctx.trial_seed(attempt)
            target = ("model", "build")[outcome.faults % 2]  # small scale: a model in flight
            attempt += 1
            delay = random.Random(seed).uniform(0.02, 0.95) * windows.get(target, 0.0)
            trial = Trial(seed, "sigkill-dbt", target=target, delay=round(delay, 4))
            was = model_counts(ws)
            revise(dataset, size, seed)
            ws.load(api.url)
            expected = len(verify.truth_versions(dataset))
            with timed(trial, "fault"):
                run = strike(dbt_child(ws, f"trial-{seed}"), target, delay)
            trial.counted = run.landed != FINISHED
            trial.landed = ", ".join(in_flight(run)) or ("between nodes" if trial.counted else FINISHED)
            # right after the kill: every model whole, before the build or after it
            now = model_counts(ws)
            trial.detail.update(counts_before=was, counts_after_kill=now, expected_after=expected,
                                leftovers_after_kill=leftover_relations(ws))
            for model, rows in now.items():
                if rows not in (was.get(model), expected):
                    trial.errors.append(f"{model} partially built after the kill: {rows} crimes, "
                                        f"neither {was.get(model)} (before) nor {expected} (after)")
            dupes = verify.duplicates(ws.conn)
            if dupes:
                trial.errors.append(f"{dupes} duplicate rows right after the kill")
            with timed(trial, "dbt"):
                build = ws.dbt_build()
            if build.returncode != 0:
                trial.errors.append(f"dbt build after the kill failed: {dbt_failure(build)}")
            counts = check_against_truth(ws, dataset, trial)
            if leftovers := leftover_relations(ws):
                trial.errors.append(f"dbt left intermediate relations behind: {leftovers}")
            outcome.add(trial)
            ctx.log(f"  dbt_killed seed {seed}: +{delay:.2f}s after the first {target}, in flight: "
                    f"{trial.landed}; "
                    f"lost {trial.lost}, dup {trial.duplicates}"
                    + (f", errors {trial.errors}" if trial.errors else ""))
        if outcome.faults < size.trials:
            outcome.errors.append(f"only {outcome.faults} of {size.trials} kills landed")
        kills = [t for t in outcome.trial_log if t.counted]
        models = sum(1 for t in kills if " model " in f" {t.landed}")
        outcome.note(f"kills with a model in flight {models}, with tests or seeds only "
                     f"{len(kills) - models}")
    return finish(outcome, counts)


# --- the server stopped under a load ----------------------------------------------------

POSTGRES_RESTARTED = {
    "small": Size(rows=10_000, new_rows=2_000, updated_rows=8_000, trials=1, max_attempts=4),
    "full": Size(rows=40_000, new_rows=1_500, updated_rows=13_500, trials=3, max_attempts=8),
}
# what a clear error names: the connection or the server going away
CLEAR_ERROR = re.compile(r"terminat|connection|server closed|shut ?down|could not connect|"
                         r"no such file|refused|administrator", re.IGNORECASE)


@scenario("postgres_restarted", order=90)
def postgres_restarted(ctx: Context) -> Outcome:
    """The embedded PostgreSQL stopped (fast shutdown) during the load step, then started."""
    outcome = Outcome("postgres_restarted")
    if not warehouse.is_embedded():
        outcome.skipped = True
        outcome.note("WAREHOUSE_URL is set: the server is not ours to stop")
        return outcome
    size = POSTGRES_RESTARTED[ctx.scale]
    dataset = CrimesDataset(size.rows, seed=ctx.seed)
    counts = (0, 0, 0)
    # A server of its own: stopping the shared one would break every other run on it.
    with private_server("postgres_restarted", keep=ctx.keep) as ws, SampleApi(dataset) as api:
        backfill(ws, api)
        durations = calibrate_load(ws, api, dataset, size, ctx.trial_seed(999), outcome)
        restart_notes: set[str] = set()
        attempt = 0
        while outcome.faults < size.trials and attempt < size.max_attempts:
            seed = ctx.trial_seed(attempt)
            attempt += 1
            rng = random.Random(seed)
            target, delay = aim("load", outcome.faults, durations, rng)
            # down longer than dlt's retries of a job (5 tries, about a second apart): the
            # load fails; shorter: dlt may retry through it. Alternated, the long one first.
            down = rng.uniform(6.0, 9.0) if outcome.faults % 2 == 0 else rng.uniform(0.2, 2.0)
            trial = Trial(seed, "postgres-stop", target=target, delay=round(delay, 4))
            trial.detail["down_seconds"] = round(down, 2)
            before, after = revise(dataset, size, seed)

            def stop_and_start(down: float = down, trial: Trial = trial) -> None:
                warehouse.stop()
                time.sleep(down)
                trial.detail["restart"] = restart(restart_notes)

            with timed(trial, "fault"):
                run = strike(load_child(ws, api, f"trial-{seed}"), target, delay, stop_and_start)
            record_child(trial, run)
            if trial.counted and run.returncode != 0 and not CLEAR_ERROR.search(run.error):
                unclear = run.error or run.stderr[-300:]
                trial.errors.append(f"the load failed without a clear error: {unclear}")
            trial.detail["child"] = "finished" if run.returncode == 0 else "failed"
            raw_after_fault(ws, trial, before, after)
            trial.detail["pending_after_fault"] = pending_packages(ws)
            counts = rerun_and_verify(ws, api, dataset, trial)
            outcome.add(trial)
            ctx.log(f"  postgres_restarted seed {seed}: stop +{delay:.3f}s after {target}, in "
                    f"{run.landed}, down {down:.1f}s, child {trial.detail['child']} ({run.error[:160]}); "
                    f"raw {trial.detail['raw_after_fault']}, lost {trial.lost}, dup {trial.duplicates}"
                    + (f", errors {trial.errors}" if trial.errors else ""))
        if outcome.faults < size.trials:
            outcome.errors.append(f"only {outcome.faults} of {size.trials} stops landed in a load")
        stops = [t for t in outcome.trial_log if t.counted]
        failed = sum(1 for t in stops if t.detail["child"] == "failed")
        outcome.note(f"{kills_note(outcome).replace('kills', 'stops')}; the load failed clearly "
                     f"{failed}, retried through {len(stops) - failed}")
        for note in sorted(restart_notes):
            outcome.note(note)
    return finish(outcome, counts)


def restart(notes: set[str]) -> str:
    """Starts the stopped embedded server: `warehouse.connection()` in this process, and in
    a new process if that fails (noted: a long-lived process should be able to)."""
    try:
        warehouse.connection()
        return "in-process"
    except warehouse.WarehouseError as err:
        from reliability.workspace import start_embedded

        notes.add("warehouse.connection() cannot restart, in the process that stopped it, the "
                  "server it started (pgserver's handle is cached): restarted from a new process")
        start_embedded()
        return f"new process (in-process: {str(err)[:200]})"
