"""Concurrency: two runs of one dataset at once, many datasets' runs overlapping, and two
dbt builds at once, as two Dagster runs (or a schedule and `pulse load`) start them.

Every load runs in a process of its own (`python -m reliability.child load`: `run_source`
as the loader, as the ingest assets run it), all of them on one dlt folder, as on one
machine; every dbt build is `pulse build` (the transformer, the dbt build lock).

- The slow older snapshot: the portal revises rows of a dataset; run A reads its page,
  and the same rows are revised again at that moment; A is slow to get its (now older)
  answer back, and run B starts meanwhile. With nothing in the way, B loads the newer
  versions and moves the cursor, then A merges its older snapshot over them, and the
  newer versions never come back. Right after both runs, raw must hold every row at its
  newest version (the lock makes B wait for A, then fetch what A missed).
- Overlapping runs: every chosen dataset revised, two runs of each started at once, and
  a second revision while they run. Right after, each row of raw must be at the version
  served before the runs or the one after (never older, none missing); then one normal
  run of each dataset and raw equal to the truth.
- Two `pulse build`s at once after a revision of every dataset: both complete (the
  second waits for the first), and the marts equal the truth.

The scenario ends with the geocoder, a dbt build and the whole check.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from reliability import verify
from reliability.kill import Child, ChildRun
from reliability.outcome import Outcome, Trial
from reliability.portal import BOUNDARY_TABLES, ROW_TABLES, Portal
from reliability.scenarios import Context, scenario
from reliability.scenarios.crash import (
    backfill,
    check_against_truth,
    dbt_marker,
    final_check,
    finish,
    leftover_relations,
    raw_differs,
    timed,
)
from reliability.workspace import Workspace, workspace
from sample_api import SampleApi

# What pulse.locks logs when a run finds the lock held.
WAITED = "holds the lock; waiting for it to finish"
# How long run A's answer is held back at most (run B is seen at the lock sooner).
SNAPSHOT_HOLD_SECONDS = 60.0


@dataclass(frozen=True)
class Size:
    rows: int  # crimes
    other_rows: int  # rows of each other rows dataset
    snapshot_datasets: tuple[str, ...]  # a slow-older-snapshot trial each
    overlap_datasets: tuple[str, ...]  # run `runs` times at once, per round
    overlap_rounds: int
    runs: int  # runs of each dataset started at once
    build_rounds: int  # two dbt builds at once, per round
    share: float = 0.1  # of a dataset's rows a revision re-versions (and adds)

    def portal(self, seed: int) -> Portal:
        return Portal(self.rows, self.other_rows, seed)


SIZES = {
    "small": Size(rows=3_000, other_rows=500, snapshot_datasets=("crimes", "service_requests"),
                  overlap_datasets=("crimes", "service_requests", "community_areas"),
                  overlap_rounds=1, runs=2, build_rounds=1),
    "full": Size(rows=40_000, other_rows=8_000, snapshot_datasets=(*ROW_TABLES, "crimes"),
                 overlap_datasets=(*ROW_TABLES, *BOUNDARY_TABLES), overlap_rounds=2, runs=2,
                 build_rounds=2),
}


@scenario("concurrent_loads", order=25)
def concurrent_loads(ctx: Context) -> Outcome:
    """Two runs of one dataset at once (a slow run holding an older snapshot among them),
    overlapping runs of several datasets, two dbt builds at once."""
    return run_concurrent(ctx)


def run_concurrent(ctx: Context, lock: bool = True, overlap: bool = True, builds: bool = True,
                   snapshot_datasets: tuple[str, ...] | None = None) -> Outcome:
    """The scenario; `lock=False` runs the loads without run_source's warehouse lock (a
    fault knob: it shows the checks find what the lock prevents); `overlap`, `builds` and
    `snapshot_datasets` narrow it."""
    size = SIZES[ctx.scale]
    if snapshot_datasets is not None:
        size = replace(size, snapshot_datasets=snapshot_datasets)
    outcome = Outcome("concurrent_loads")
    portal = size.portal(ctx.seed)
    counts = (0, 0, 0)
    with workspace("concurrent_loads", keep=ctx.keep) as ws, SampleApi(portal.served) as api:
        backfill(ws, api)
        for i, name in enumerate(size.snapshot_datasets):
            trial = slow_older_snapshot(ws, api, portal, name, ctx.trial_seed(i), size.share, lock)
            report(ctx, outcome.add(trial))
        for round_no in range(size.overlap_rounds if overlap else 0):
            seed = ctx.trial_seed(100 + round_no)
            trial = overlapping_runs(ws, api, portal, size, seed, lock)
            report(ctx, outcome.add(trial))
        for round_no in range(size.build_rounds if builds else 0):
            seed = ctx.trial_seed(200 + round_no)
            trial = concurrent_builds(ws, api, portal, size, seed)
            report(ctx, outcome.add(trial))
        counts = final_check(ws, portal, outcome, ctx)
        outcome.note(concurrency_note(outcome))
        if not lock:
            outcome.note("run WITHOUT the load lock (fault knob)")
    return finish(outcome, counts)


def report(ctx: Context, trial: Trial) -> None:
    ctx.log(f"  concurrent_loads seed {trial.seed}: {trial.target} ({trial.dataset or 'all'}): "
            f"{trial.landed}, lost {trial.lost}, dup {trial.duplicates}"
            + (f", errors {trial.errors}" if trial.errors else ""))


def concurrency_note(outcome: Outcome) -> str:
    """e.g. `slow older snapshot 2 (the second run waited at the lock 2); overlapping runs 6
    in 1 round(s) (waited at the lock 3); dbt builds at once 1 (the second waited 1)`."""
    by_fault: dict[str, list[Trial]] = {}
    for trial in outcome.trial_log:
        by_fault.setdefault(trial.fault, []).append(trial)
    parts = []
    if snapshots := by_fault.get("slow-older-snapshot"):
        waited = sum(1 for t in snapshots if t.detail.get("second_run_waited"))
        parts.append(f"slow older snapshot {len(snapshots)} (the second run waited at the lock "
                     f"{waited})")
    if rounds := by_fault.get("overlapping-runs"):
        runs = sum(t.detail.get("runs", 0) for t in rounds)
        waited = sum(t.detail.get("waited_at_lock", 0) for t in rounds)
        parts.append(f"overlapping runs {runs} in {len(rounds)} round(s) (waited at the lock {waited})")
    if builds := by_fault.get("concurrent-builds"):
        waited = sum(1 for t in builds if t.detail.get("second_build_waited"))
        parts.append(f"dbt builds at once {len(builds)} (the second waited at the lock {waited})")
    return "; ".join(parts)


# --- children ---------------------------------------------------------------------------


def start_load(ws: Workspace, api: SampleApi, name: str, log_name: str, lock: bool = True) -> Child:
    """A load of `name` in a process of its own, through run_source as the loader."""
    args = {"base_url": api.url, "pipelines_dir": str(ws.pipelines_dir), "database": ws.database,
            "dataset": name, "request_timeout": SNAPSHOT_HOLD_SECONDS * 2}
    if not lock:
        args["lock"] = False
    return Child.python("load", args, ws.env(), ws.root / f"{log_name}.log")


def waited_at_lock(child: Child) -> bool:
    """The child's log says it found the lock held and waited (pulse.locks' warning)."""
    return WAITED in child.log.read_text(errors="replace")


def sessions_at_lock(ws: Workspace, name: str) -> int:
    """Sessions holding or waiting for the load lock of dataset `name` (pulse.locks names
    each session after its lock)."""
    from pipelines.load import load_lock_name

    lock_name = load_lock_name(ws.pipeline(name))
    return verify.query(ws.conn, "select count(*) from pg_stat_activity where application_name like %s",
                        (f"pulse lock: {lock_name}%",))[0][0]


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def finished(trial: Trial, runs: list[ChildRun], what: str) -> None:
    """Every run must complete: a concurrent run fails nothing."""
    codes = [run.returncode for run in runs]
    trial.detail[f"{what}_returncodes"] = codes
    for i, run in enumerate(runs):
        if run.returncode != 0:
            trial.errors.append(f"{what} {i + 1} failed: {run.error or run.stderr[-300:]}")


# --- the slow older snapshot --------------------------------------------------------------


def slow_older_snapshot(ws: Workspace, api: SampleApi, portal: Portal, name: str, seed: int,
                        share: float, lock: bool = True) -> Trial:
    """Run A reads its page; the same rows are then revised again and A's answer held back
    while run B starts. Right after both, raw must hold the newest version of every row."""
    trial = Trial(seed, "slow-older-snapshot", target="run B starts while run A holds an older "
                  "snapshot", dataset=name)
    dataset = portal[name]
    revised = max(1, round(len(dataset) * share))
    # the same seed picks the same rows: the second revision re-versions what A just read
    dataset.apply_revision(new_rows=0, updated_rows=revised, seed=seed)
    snapshot_taken, release = threading.Event(), threading.Event()
    serve = dataset.query

    def snapshot_then_revise(query: Any) -> list:
        rows = serve(query)
        if not snapshot_taken.is_set():  # run A's page: then the same rows change again
            dataset.apply_revision(new_rows=0, updated_rows=revised, seed=seed)
            snapshot_taken.set()
            release.wait(SNAPSHOT_HOLD_SECONDS)
        return rows

    dataset.query = snapshot_then_revise
    try:
        with timed(trial, "runs"):
            run_a = start_load(ws, api, name, f"snapshot-{seed}-a", lock)
            if not snapshot_taken.wait(120):
                trial.errors.append("run A never asked for its page")
            run_b = start_load(ws, api, name, f"snapshot-{seed}-b", lock)
            trial.counted = run_a.proc.poll() is None  # B started while A was busy
            # until B found the lock A holds and said so (or, with no lock, B is done);
            # B's session shows at the lock as soon as it connects, before it tries the
            # lock, so only its log says it really waited
            wait_until(lambda: waited_at_lock(run_b) or run_b.proc.poll() is not None,
                       SNAPSHOT_HOLD_SECONDS / 2)
            b_waited = run_b.proc.poll() is None and sessions_at_lock(ws, name) >= 2
            release.set()
            runs = [run_a.finish(), run_b.finish()]
    finally:
        release.set()
        del dataset.query  # the dataset's own method again
    trial.landed = "B waited for A" if b_waited else "B ran beside A"
    trial.detail.update(second_run_waited=b_waited, rows_revised_twice=revised,
                        second_run_log_says_waited=waited_at_lock(run_b))
    finished(trial, runs, "run")
    raw_is_newest(ws, portal, trial, name, "right after both runs")
    rerun_then_check(ws, api, portal, trial, [name])
    return trial


def raw_is_newest(ws: Workspace, portal: Portal, trial: Trial, name: str, when: str) -> None:
    """raw_chicago.<name> holds every row the API serves, at its current version, once."""
    check = verify.check_raw(ws.conn, verify.truth_versions(portal[name]), name)
    trial.lost += check.lost
    trial.duplicates += check.duplicates
    trial.detail.setdefault("raw", {})[when] = {"missing": check.missing[:10], "stale": check.stale[:10],
                                                "duplicates": check.duplicates}
    if not check.ok:
        trial.errors.append(f"raw_chicago.{name} {when}: {check.describe()}")


def rerun_then_check(ws: Workspace, api: SampleApi, portal: Portal, trial: Trial,
                     names: list[str]) -> None:
    """One normal run of each dataset, then raw against the truth: recorded, not counted
    (the scenario's last check counts what is still wrong at the end)."""
    healed = {}
    with timed(trial, "rerun"):
        for name in names:
            try:
                ws.load(api.url, name)
            except Exception as err:  # reported: a normal run after concurrent ones must work
                trial.errors.append(f"the normal run of {name} failed: {type(err).__name__}: "
                                    f"{str(err)[:300]}")
            healed[name] = not raw_differs(ws, portal, name)
    trial.detail["raw_equal_after_a_normal_run"] = healed


# --- overlapping runs -------------------------------------------------------------------


def overlapping_runs(ws: Workspace, api: SampleApi, portal: Portal, size: Size, seed: int,
                     lock: bool = True) -> Trial:
    """`size.runs` runs of each chosen dataset started at once, a revision while they run."""
    names = size.overlap_datasets
    rng = random.Random(seed)
    trial = Trial(seed, "overlapping-runs", target=f"{size.runs} runs of each of {len(names)} "
                  "datasets at once, revised meanwhile")
    first = {name: revise(portal, name, size.share, seed * 10 + i)[1] for i, name in enumerate(names)}
    with timed(trial, "runs"):
        children = [start_load(ws, api, name, f"overlap-{seed}-{name}-{i}", lock)
                    for name in names for i in range(size.runs)]
        # the second revision lands while the runs are busy: after the first extract began
        wait_until(lambda: any(phase == "extract" for child in children
                               for phase, _ in child.run.markers), 300)
        time.sleep(rng.uniform(0.0, 1.0))
        second = {name: revise(portal, name, size.share, seed * 10 + 5 + i)[1]
                  for i, name in enumerate(names)}
        runs = [child.finish() for child in children]
    trial.counted = True
    waited = sum(waited_at_lock(child) for child in children)
    trial.detail.update(runs=len(children), waited_at_lock=waited)
    trial.landed = f"{waited} of {len(children)} runs waited at the lock"
    finished(trial, runs, "run")
    for name in names:
        between(ws, trial, name, first[name], second[name])
    rerun_then_check(ws, api, portal, trial, list(names))
    return trial


def revise(portal: Portal, name: str, share: float, seed: int) -> tuple[Any, Any]:
    """A revision of `name` (`share` of its rows re-versioned, as many added); its truth
    before and after."""
    rows = max(1, round(portal.counts.get(name, 100) * share))
    return portal.revise(name, rows, rows, seed)


def between(ws: Workspace, trial: Trial, name: str, earlier: Any, later: Any) -> None:
    """Right after overlapping runs, raw holds the truth as served before them or after the
    revision they overlapped, row by row (a boundary layer: one of the two, whole)."""
    if name in BOUNDARY_TABLES:
        if verify.raw_content(ws.conn, name) not in (earlier, later):
            trial.lost += len(later)
            trial.errors.append(f"raw_chicago.{name} is neither layer served after overlapping runs")
        return
    behind = verify.versions_behind(verify.raw_versions(ws.conn, name), earlier, later)
    ids = verify.raw_ids(ws.conn, name)
    trial.lost += len(behind)
    trial.duplicates += len(ids) - len(set(ids))
    if behind or len(ids) != len(set(ids)):
        trial.errors.append(f"raw_chicago.{name} after overlapping runs: {len(behind)} rows missing or "
                            f"older than served before the runs (e.g. {behind[:5]}), "
                            f"{len(ids) - len(set(ids))} duplicate")


# --- two dbt builds at once -------------------------------------------------------------


def concurrent_builds(ws: Workspace, api: SampleApi, portal: Portal, size: Size, seed: int) -> Trial:
    """Every dataset revised and loaded, then two `pulse build`s at once."""
    trial = Trial(seed, "concurrent-builds", target="two dbt builds at once")
    revise_all_by_share(portal, size, seed)
    ws.load_all(api.url)
    ws.geocode()
    with timed(trial, "builds"):
        builds = [Child(ws.dbt_build_command("--no-use-colors"), ws.env(),
                        ws.root / f"build-{seed}-{i}.log", parse=dbt_marker) for i in range(2)]
        trial.counted = all(build.proc.poll() is None for build in builds)
        runs = [build.finish() for build in builds]
    waited = [waited_at_lock(build) for build in builds]
    trial.detail.update(second_build_waited=any(waited))
    trial.landed = "the second build waited at the lock" if any(waited) else "both built at once"
    for i, run in enumerate(runs):
        if run.returncode != 0:
            summary = " / ".join(line for line, _ in run.lines if "rror" in line)[-600:]
            trial.errors.append(f"dbt build {i + 1} of two at once failed: {summary or run.stderr[-300:]}")
    check_against_truth(ws, portal, trial, located=True)
    if leftovers := leftover_relations(ws):
        trial.errors.append(f"dbt left intermediate relations behind: {leftovers}")
    return trial


def revise_all_by_share(portal: Portal, size: Size, seed: int) -> None:
    for i, name in enumerate(ROW_TABLES):
        revise(portal, name, size.share, seed * 10 + i)

