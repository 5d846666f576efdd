"""Crashes: a load SIGKILLed in extract, normalize or load; a dbt build SIGKILLed; the
database server stopped under a load. After each, a normal rerun must leave raw and
the marts equal to the ground truth: nothing lost, nothing twice, and no half-applied
load or build visible in between.

Every scenario serves the whole local portal (reliability/portal.py) and backfills all
seven datasets, geocodes and builds dbt: the enriched models need every raw table.
Every trial starts with a revision of the dataset it strikes (new and updated rows;
for a boundary layer, every feature published again), so each fault hits data in
flight. Each trial's seed picks the revision, the target and the delay; the seed,
the dataset and the phase the fault landed in are recorded.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pulse import warehouse
from reliability import verify
from reliability.kill import FINISHED, Child, ChildRun, strike
from reliability.outcome import Outcome, Trial
from reliability.portal import BOUNDARY_TABLES, OTHER_ROW_TABLES, ROW_TABLES, Portal
from reliability.scenarios import Context, scenario
from reliability.workspace import Workspace, dbt_failure, private_server, workspace
from sample_api import SampleApi

LOAD_PHASES = ("extract", "normalize", "load")


@dataclass(frozen=True)
class Size:
    rows: int  # crimes in the backfill
    new_rows: int  # crimes per revision (other datasets: scaled to their rows)
    updated_rows: int
    trials: int  # faults that must land (per phase of crimes for load_killed)
    max_attempts: int  # trials at most, misses included
    other_rows: int = 1_000  # rows of each other rows dataset

    def portal(self, seed: int) -> Portal:
        return Portal(self.rows, self.other_rows, seed)


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
    """The first load of every dataset, the geocoder and a full dbt build: the state every
    fault starts from."""
    ws.load_all(api.url)
    build = ws.build("--full-refresh")
    if build.returncode != 0:
        raise RuntimeError(f"the first dbt build failed: {dbt_failure(build)}")


def revise(portal: Portal, size: Size, seed: int, name: str = "crimes") -> tuple[Any, Any]:
    """Applies the trial's revision to table `name`; returns its truth before and after it."""
    return portal.revise_scaled(name, size.new_rows, size.updated_rows, seed)


def load_child(ws: Workspace, api: SampleApi, name: str, dataset: str = "crimes") -> Child:
    args = {"base_url": api.url, "pipelines_dir": str(ws.pipelines_dir), "database": ws.database,
            "dataset": dataset}
    env = {**ws.env(), "RUNTIME__LOG_LEVEL": "INFO"}  # dlt's log marks the load's steps
    return Child.python("load", args, env, ws.root / f"{name}.log")


def calibrate_load(ws: Workspace, api: SampleApi, portal: Portal, size: Size,
                   seed: int, outcome: Outcome, dataset: str = "crimes") -> dict[str, float]:
    """Two unkilled child loads of `dataset`, of a revision each (the second re-reads the
    first in its overlap window, as every trial does): the longest each phase and step took."""
    durations: dict[str, float] = {}
    for run_no in range(2):
        revise(portal, size, seed + run_no, dataset)
        run = load_child(ws, api, f"calibration-{dataset}-{run_no}", dataset).finish()
        if run.returncode != 0:
            raise RuntimeError(f"the calibration load of {dataset} failed: {run.error or run.stderr[-800:]}")
        steps = {k: v for k, v in run.durations(steps=True).items() if "." in k}
        for name, seconds in {**run.durations(), **steps}.items():
            durations[name] = max(seconds, durations.get(name, 0.0))
        if problem := raw_differs(ws, portal, dataset):
            outcome.errors.append(f"an unkilled calibration load left raw wrong: {problem}")
    outcome.detail.setdefault("calibration_seconds", {})[dataset] = {
        k: round(v, 3) for k, v in durations.items()}
    return durations


def raw_differs(ws: Workspace, portal: Portal, name: str) -> str:
    """What raw_chicago.<name> holds that the truth does not ("" when equal)."""
    if name in BOUNDARY_TABLES:
        return verify.boundary_differs(ws.conn, portal[name], name)
    check = verify.check_raw(ws.conn, verify.truth_versions(portal[name]), name)
    return "" if check.ok else f"{name}: {check.describe()}"


# Load kills cycle through these aims: a point of the merge into raw, any point of the
# load step, a point after the merge committed (raw is complete, the load not yet
# recorded in _dlt_loads nor the package archived).
LOAD_AIMS = ("load.merge", "load", "load.merged")
# A boundary layer is replaced whole. With dlt's default strategy its table is emptied
# as the load step begins, then the new layer copied in (load.truncate, load.copy); with
# insert-from-staging the layer is copied to the staging schema and swapped in by one SQL
# job (load.merge, load.merged). Its load kills cycle through the steps its load has.
LAYER_AIMS = ("load.truncate", "load.merge", "load.copy", "load.merged", "load")


def aim(phase: str, nth: int, durations: dict[str, float], rng: random.Random,
        aims: tuple[str, ...] = LOAD_AIMS) -> tuple[str, float]:
    """Where the `nth` kill meant for `phase` is aimed (a marker its calibration runs
    passed), and how long after it."""
    present = [a for a in aims if durations.get(a)] or [phase]
    marker = present[nth % len(present)] if phase == "load" else phase
    if not durations.get(marker):
        marker = phase
    low = 0.0 if "." in marker else 0.02
    return marker, rng.uniform(low, 1.0) * durations.get(marker, 0.0)


def pending_packages(ws: Workspace, name: str = "crimes") -> dict[str, list[str]]:
    """dlt's local load packages of `name` not yet loaded, by stage, and half-written
    extract packages (a folder per killed extract under normalize/<id>/)."""
    pipeline = ws.pipeline(name)
    return {"extracted": list(pipeline.list_extracted_load_packages()),
            "normalized": list(pipeline.list_normalized_load_packages()),
            "half_written": half_written_packages(ws, name)}


def half_written_packages(ws: Workspace, name: str | None = None) -> list[str]:
    """Half-written extract packages of dataset `name` (default: of every dataset)."""
    from pipelines.chicago import pipeline_name

    out = []
    for table in [name] if name else [*ROW_TABLES, *BOUNDARY_TABLES]:
        folder = ws.pipelines_dir / pipeline_name(table) / "normalize"
        if folder.is_dir():
            out += [f"{table}:{d.name}/{p.name}" for d in folder.iterdir()
                    if d.is_dir() and d.name != "extracted" for p in d.iterdir()]
    return sorted(out)


def raw_after_fault(ws: Workspace, trial: Trial, before: Any, after: Any, name: str = "crimes") -> None:
    """Right after the fault raw holds the truth before the revision or after it, whole."""
    if name in BOUNDARY_TABLES:
        held = verify.raw_content(ws.conn, name)
        state = next((i for i, want in enumerate((before, after)) if held == want), None)
    else:
        state = verify.raw_state_is_one_of(ws.conn, before, after, name=name)
    trial.detail["raw_after_fault"] = {0: "before", 1: "after", None: "partial"}[state]
    if state is None:
        if name in BOUNDARY_TABLES:
            differs = (f"{len(held)} of {len(after)} features held, "
                       f"{sum(1 for k, v in held.items() if before.get(k) != v)} unlike before, "
                       f"{sum(1 for k, v in held.items() if after.get(k) != v)} unlike after")
        else:
            versions = verify.raw_versions(ws.conn, name)
            differs = (f"against the truth before: {verify.describe_difference(versions, before)}; "
                       f"after: {verify.describe_difference(versions, after)}")
        trial.errors.append(f"raw_chicago.{name} partially applied after a fault in {trial.landed}: "
                            f"{differs}")


def rerun(ws: Workspace, api: SampleApi, trial: Trial, name: str = "crimes") -> None:
    """A normal rerun of `name` (dlt finishes or discards what the fault left)."""
    with timed(trial, "rerun"):
        try:
            ws.load(api.url, name)
        except Exception as err:  # reported: the rerun must recover on its own
            trial.errors.append(f"the rerun failed: {type(err).__name__}: {str(err)[:300]}")


def build_and_verify(ws: Workspace, portal: Portal, trial: Trial, located: bool = False,
                     what: str = "the rerun", values_of: list[str] | None = None) -> tuple[int, int, int]:
    """The geocoder and a dbt build, then raw and the marts against the truth."""
    with timed(trial, "dbt"):
        build = ws.build()
    if build.returncode != 0:
        trial.errors.append(f"dbt build after {what} failed: {dbt_failure(build)}")
    return check_against_truth(ws, portal, trial, located=located, values_of=values_of)


def rerun_and_verify(ws: Workspace, api: SampleApi, portal: Portal, trial: Trial,
                     name: str = "crimes") -> tuple[int, int, int]:
    """A normal rerun, the geocoder and a dbt build, then raw and the marts against the
    truth. Returns (rows expected, in raw, in marts) over every rows dataset."""
    rerun(ws, api, trial, name)
    return build_and_verify(ws, portal, trial, values_of=[name])


def check_against_truth(ws: Workspace, portal: Portal, trial: Trial, marts: bool = True,
                        located: bool = False, values_of: list[str] | None = None) -> tuple[int, int, int]:
    """Every rows dataset's raw table against its truth (keys and versions; every declared
    value too for the datasets `values_of`, default all) and both boundary layers against
    theirs; with `marts`, the records every dataset's marts count and the crimes marts
    against pandas; with `located`, also every dataset's records by month and ZIP and by
    month and area against the boundaries' `locate` (values of every dataset then).
    Returns (rows expected, in raw, in marts) over every rows dataset."""
    with timed(trial, "verify"):
        return _check_against_truth(ws, portal, trial, marts, located, values_of)


def _check_against_truth(ws: Workspace, portal: Portal, trial: Trial, marts: bool,
                         located: bool, values_of: list[str] | None) -> tuple[int, int, int]:
    counted = verify.located_rows(ws.conn) if marts else {}
    # rendering every served row is the slow part: the values of the datasets a trial
    # touched, the crimes for their marts, all of them for the located marts
    rendered = set(ROW_TABLES if values_of is None or located else values_of)
    rendered |= {"crimes"} if marts else set()
    snapshots: dict[str, verify.Snapshot] = {}
    expected = held = in_marts = 0
    verified: dict[str, Any] = {}
    for name in ROW_TABLES:
        if name in rendered:
            snapshot = snapshots[name] = verify.Snapshot.of(portal[name])
            truth = snapshot.versions()
        else:
            truth = verify.truth_versions(portal[name])
        raw = verify.check_raw(ws.conn, truth, name)
        # a row at the right version with other values is lost data too
        corrupt = (sorted(set(verify.content_differs(ws.conn, snapshots[name], name)) - set(raw.stale))
                   if name in snapshots else [])
        trial.duplicates += raw.duplicates
        # rows raw lost, plus records the marts miss beyond those
        missed = max(0, len(truth) - counted.get(name, 0) - raw.lost) if marts else 0
        trial.lost += raw.lost + len(corrupt) + missed
        if not raw.ok:
            trial.errors.append(f"raw_chicago.{name} differs from the truth: {raw.describe()}")
        if corrupt:
            trial.errors.append(f"{len(corrupt)} rows of raw_chicago.{name} differ from the truth in "
                                f"their values (e.g. keys {corrupt[:5]})")
        if missed:
            trial.errors.append(f"the marts count {counted.get(name, 0)} {name} records, the truth "
                                f"has {len(truth)}")
        expected, held, in_marts = expected + len(truth), held + raw.rows, in_marts + counted.get(name, 0)
        verified[name] = {"expected": len(truth), "raw": raw.rows, "marts": counted.get(name),
                          "missing": raw.missing[:20], "stale": raw.stale[:20],
                          "values_differ": corrupt[:20]}
    for name in BOUNDARY_TABLES:
        if problem := verify.boundary_differs(ws.conn, portal[name], name):
            trial.errors.append(f"raw_chicago.{name} differs from the layer: {problem}")
    if marts:
        equal, why = verify.marts_match_truth(ws.conn, snapshots["crimes"])
        if not equal:
            trial.errors.append(why)
    if marts and located:
        equal, why = verify.located_marts_match_truth(
            ws.conn, {name: snap.rows for name, snap in snapshots.items()})
        if not equal:
            trial.errors.append(why)
    trial.detail["verified"] = {"expected": expected, "raw": held, "marts": in_marts if marts else None,
                                "missing": [k for v in verified.values() for k in v["missing"]][:20],
                                "stale": [k for v in verified.values() for k in v["stale"]][:20],
                                "datasets": verified}
    return expected, held, in_marts


def finish(outcome: Outcome, counts: tuple[int, int, int]) -> Outcome:
    outcome.rows_expected, outcome.rows_raw, outcome.rows_marts = counts
    return outcome


# --- a load killed ----------------------------------------------------------------------

LOAD_KILLED = {
    "small": Size(rows=10_000, new_rows=2_000, updated_rows=8_000, trials=1, max_attempts=15,
                  other_rows=2_000),
    "full": Size(rows=40_000, new_rows=1_500, updated_rows=13_500, trials=8, max_attempts=80,
                 other_rows=8_000),
}
# Kills besides the crimes' (`trials` per phase): in a new rows dataset and in the boundary
# layers, whose load replaces the whole table.
OTHER_KILLS: dict[str, dict[str, tuple[str, ...]]] = {
    "small": {"service_requests": ("load",), "community_areas": ("load",)},
    "full": {"service_requests": LOAD_PHASES * 3, "community_areas": LOAD_PHASES * 2,
             "zip_codes": ("load",)},
}


@scenario("load_killed", order=10)
def load_killed(ctx: Context) -> Outcome:
    """SIGKILL of a dlt load (crimes, 311 service requests, a boundary layer) at random points
    of extract, normalize and load; then a rerun."""
    size = LOAD_KILLED[ctx.scale]
    outcome = Outcome("load_killed")
    portal = size.portal(ctx.seed)
    counts = (0, 0, 0)
    # kills still to land, (dataset, phase): the crimes' round robin, then the others
    wanted = [("crimes", phase) for phase in LOAD_PHASES] * size.trials
    wanted += [(name, phase) for name, phases in OTHER_KILLS[ctx.scale].items() for phase in phases]
    with workspace("load_killed", keep=ctx.keep) as ws, SampleApi(portal.served) as api:
        backfill(ws, api)
        durations = {name: calibrate_load(ws, api, portal, size, ctx.trial_seed(900 + 10 * i), outcome, name)
                     for i, name in enumerate(dict.fromkeys(name for name, _ in wanted))}
        attempt = 0
        while wanted and attempt < size.max_attempts:
            seed = ctx.trial_seed(attempt)
            attempt += 1
            name, phase = wanted[0]
            kills_so_far = sum(1 for t in outcome.trial_log
                               if t.counted and (t.dataset, t.landed) == wanted[0])
            aims = LAYER_AIMS if name in BOUNDARY_TABLES else LOAD_AIMS
            target, delay = aim(phase, kills_so_far, durations[name], random.Random(seed), aims)
            trial = Trial(seed, "sigkill", target=target, delay=round(delay, 4), dataset=name)
            before, after = revise(portal, size, seed, name)
            with timed(trial, "fault"):
                run = strike(load_child(ws, api, f"trial-{seed}", name), target, delay)
            record_child(trial, run)
            if (name, trial.landed) in wanted:
                wanted.remove((name, trial.landed))
            elif trial.counted:
                wanted.append(wanted.pop(0))  # another phase next: this one was missed
            raw_after_fault(ws, trial, before, after, name)
            trial.detail["pending_after_fault"] = pending_packages(ws, name)
            if name == "crimes":
                counts = rerun_and_verify(ws, api, portal, trial, name)
            else:  # raw is what a load changes; the marts are checked at the end
                rerun(ws, api, trial, name)
                check_against_truth(ws, portal, trial, marts=False, values_of=[name])
            outcome.add(trial)
            ctx.log(f"  load_killed seed {seed}: {name} target {target} +{delay:.3f}s, landed "
                    f"{run.landed}, raw {trial.detail['raw_after_fault']}, lost {trial.lost}, "
                    f"dup {trial.duplicates}" + (f", errors {trial.errors}" if trial.errors else ""))
        if wanted:
            outcome.errors.append(f"kills that never landed after {attempt} attempts: {wanted}")
        counts = final_check(ws, portal, outcome, ctx)
        outcome.note(kills_note(outcome))
        after = sum(1 for t in outcome.trial_log if t.detail.get("raw_after_fault") == "after")
        outcome.note(f"raw already merged at {after} kill(s)")
        if left := half_written_packages(ws):
            outcome.note(f"{len(left)} half-written extract package(s) left behind")
    return finish(outcome, counts)


def final_check(ws: Workspace, portal: Portal, outcome: Outcome, ctx: Context) -> tuple[int, int, int]:
    """After the last trial: the geocoder, a dbt build, and every raw table and every
    dataset's marts against the truth. Recorded with the trials, not counted as one."""
    final = Trial(seed=ctx.trial_seed(99), fault="none", target="final", counted=False)
    counts = build_and_verify(ws, portal, final, located=True, what="the last trial")
    outcome.add(final)
    outcome.trials -= 1  # the final check is not a trial
    return counts


def kills_note(outcome: Outcome) -> str:
    """e.g. `kills: extract 8, normalize 8, load 8 (copy 3, merge 3, merged 2)`, per dataset
    when more than the crimes were struck (`kills: crimes extract 8, ...; zip_codes load 1`)."""
    kills = [t for t in outcome.trial_log if t.counted]
    datasets = list(dict.fromkeys(t.dataset or "crimes" for t in kills))
    names = {"load": "start", "load.truncate": "truncate", "load.copy": "copy", "load.merge": "merge",
             "load.merged": "merged", "load.archived": "archived"}
    parts = []
    for dataset in datasets:
        landed = [t.landed for t in kills if (t.dataset or "crimes") == dataset]
        steps = [t.detail["step"] for t in kills if (t.dataset or "crimes") == dataset and t.landed == "load"]
        in_load = ", ".join(f"{short} {steps.count(step)}" for step, short in names.items() if step in steps)
        prefix = f"{dataset} " if datasets != ["crimes"] else ""
        parts.append(prefix + ", ".join(f"{p} {landed.count(p)}" for p in LOAD_PHASES if p in landed)
                     + (f" ({in_load})" if in_load else ""))
    return "kills: " + "; ".join(parts)


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
    "full": Size(rows=40_000, new_rows=1_500, updated_rows=13_500, trials=6, max_attempts=12,
                 other_rows=8_000),
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
    argv = ws.dbt_build_command("--no-use-colors")
    return Child(argv, ws.env(), ws.root / f"{name}.log", parse=dbt_marker)


def leftover_relations(ws: Workspace) -> list[str]:
    """dbt's intermediate relations (__dbt_tmp, __dbt_backup) left in the database."""
    rows = verify.query(ws.conn, "select schemaname || '.' || tablename from pg_tables "
                                 "where tablename ~ '__dbt_(tmp|backup)' union all "
                                 "select schemaname || '.' || viewname from pg_views "
                                 "where viewname ~ '__dbt_(tmp|backup)'")
    return sorted(name for (name,) in rows)


def model_counts(ws: Workspace) -> dict[str, int]:
    """Records each model counts: the crimes' enriched rows and marts' sums, every other
    dataset's enriched rows, and every record the monthly report by community area counts."""
    out = {"enriched": verify.enriched_rows(ws.conn), "monthly": verify.marts_rows(ws.conn)}
    daily = "marts.rpt_chicago__crimes_daily_trend"
    if verify.table_exists(ws.conn, daily):
        out["daily"] = int(verify.query(ws.conn, f"select coalesce(sum(crime_count), 0) from {daily}")[0][0])
    for name in OTHER_ROW_TABLES:
        out[f"{name}_enriched"] = verify.enriched_rows(ws.conn, name)
    out["located"] = sum(verify.located_rows(ws.conn).values())
    return out


def expected_counts(portal: Portal) -> dict[str, int]:
    """What `model_counts` must find once the build is done: every served row."""
    rows = {name: len(verify.truth_versions(portal[name])) for name in ROW_TABLES}
    out = dict.fromkeys(("enriched", "monthly", "daily"), rows["crimes"])
    out.update({f"{name}_enriched": rows[name] for name in OTHER_ROW_TABLES})
    out["located"] = sum(rows.values())
    return out


@scenario("dbt_killed", order=20)
def dbt_killed(ctx: Context) -> Outcome:
    """SIGKILL of `dbt build` at a random point of the build; then `dbt build` again."""
    size = DBT_KILLED[ctx.scale]
    outcome = Outcome("dbt_killed")
    portal = size.portal(ctx.seed)
    counts = (0, 0, 0)
    with workspace("dbt_killed", keep=ctx.keep) as ws, SampleApi(portal.served) as api:
        backfill(ws, api)
        revise_all(portal, size, ctx.trial_seed(999))
        ws.load_all(api.url)
        ws.geocode()
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
            revise_all(portal, size, seed)  # every dataset: every model has work in flight
            ws.load_all(api.url)
            ws.geocode()
            expected = expected_counts(portal)
            with timed(trial, "fault"):
                run = strike(dbt_child(ws, f"trial-{seed}"), target, delay)
            trial.counted = run.landed != FINISHED
            trial.landed = ", ".join(in_flight(run)) or ("between nodes" if trial.counted else FINISHED)
            # right after the kill: every model whole, before the build or after it
            now = model_counts(ws)
            trial.detail.update(counts_before=was, counts_after_kill=now, expected_after=expected,
                                leftovers_after_kill=leftover_relations(ws))
            for model, rows in now.items():
                if rows not in (was.get(model), expected[model]):
                    trial.errors.append(f"{model} partially built after the kill: {rows} records, "
                                        f"neither {was.get(model)} (before) nor {expected[model]} (after)")
            dupes = verify.duplicates(ws.conn)
            if dupes:
                trial.errors.append(f"{dupes} duplicate rows right after the kill")
            with timed(trial, "dbt"):
                build = ws.dbt_build()
            if build.returncode != 0:
                trial.errors.append(f"dbt build after the kill failed: {dbt_failure(build)}")
            counts = check_against_truth(ws, portal, trial, located=True)
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


def revise_all(portal: Portal, size: Size, seed: int) -> None:
    """A revision of every rows dataset (scaled to its rows)."""
    for i, name in enumerate(ROW_TABLES):
        revise(portal, size, seed * 10 + i, name)


# --- the server stopped under a load ----------------------------------------------------

POSTGRES_RESTARTED = {
    "small": Size(rows=10_000, new_rows=2_000, updated_rows=8_000, trials=1, max_attempts=4),
    "full": Size(rows=40_000, new_rows=1_500, updated_rows=13_500, trials=3, max_attempts=8,
                 other_rows=8_000),
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
    portal = size.portal(ctx.seed)
    counts = (0, 0, 0)
    # A server of its own: stopping the shared one would break every other run on it.
    with private_server("postgres_restarted", keep=ctx.keep) as ws, SampleApi(portal.served) as api:
        backfill(ws, api)
        durations = calibrate_load(ws, api, portal, size, ctx.trial_seed(999), outcome)
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
            before, after = revise(portal, size, seed)

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
            counts = rerun_and_verify(ws, api, portal, trial)
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
