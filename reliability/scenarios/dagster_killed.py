"""A Dagster run of the real `chicago_refresh` job SIGKILLed mid-ingest and mid-dbt; then a
normal run of the job, and the checks against the truth.

The job runs in a child (`python -m reliability.dagster_job run`: `dagster.execute_job` on
a real instance in a temporary DAGSTER_HOME whose dagster.yaml is `pulse dev`'s, every
step in a process of its own), with roles on: its loads ask for the loader, its dbt step
for the transformer, as in production. The whole process group is killed, run worker,
step processes and dbt alike, as when a machine or a container dies.

Each trial revises every rows dataset first, so the run has work in flight, and aims at
a marker the run prints (reliability/dagster_job.py): mid-ingest, a point of the crimes
ingest step (its extract, normalize, the merge into raw, just after the merge); mid-dbt,
the k-th dbt model begun. Right after the kill, every rows dataset's raw table holds the
truth before the revision or after it, whole, and every model counts the records before
the build or after it. Then the killed run is marked failed and its pool slots freed
(what Dagster's run monitoring does; without it the next run's step waits for the slot
forever), a normal run of the job, and raw and every mart against the truth.

The warehouse's first state comes from the suite's backfill (loads through run_source,
`pulse build --full-refresh`): chicago_refresh builds no seeds, so it cannot start a
warehouse from nothing. Its own runs keep their dlt state in the default pipelines
folder of this database, which starts empty: the first run resumes from the state the
warehouse holds.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import sys
from dataclasses import dataclass

from pulse.warehouse import PROJECT_ROOT
from reliability import verify
from reliability.kill import FINISHED, Child, ChildRun, strike
from reliability.outcome import Outcome, Trial
from reliability.portal import ROW_TABLES, Portal
from reliability.scenarios import Context, scenario
from reliability.scenarios.crash import Size as CrashSize
from reliability.scenarios.crash import (
    backfill,
    check_against_truth,
    dbt_marker,
    expected_counts,
    finish,
    leftover_relations,
    model_counts,
    revise,
    timed,
)
from reliability.scenarios.crash import in_flight as dbt_in_flight
from reliability.workspace import Workspace, workspace
from sample_api import SampleApi

# Dagster's event line: `... - <pid> - <step key> - STEP_START - ...`
_STEP_EVENT = re.compile(r" - (\d+) - (\w+) - (STEP_START|STEP_SUCCESS|STEP_FAILURE) - ")
_RUN_END = re.compile(r" - (RUN_SUCCESS|RUN_FAILURE) - ")
_INGEST = re.compile(r"chicago_(\w+)_ingest")
# Where an ingest kill is aimed: a point of the crimes ingest step, in turn.
INGEST_AIMS = ("crimes:extract", "crimes:load.merge", "crimes:normalize", "crimes:load.merged",
               "crimes:load.copy")
# Where a dbt kill is aimed, in turn: the k-th model the dbt step begins, k drawn from a
# range: among the first (the staging views), or past them (the enriched models, the marts).
DBT_AIMS = (("dbt_models.model", (1, 4)), ("dbt_models.model", (9, 20)))
JOB_TIMEOUT = 1800.0  # seconds a normal run of the job may take


@dataclass(frozen=True)
class Size:
    rows: int
    other_rows: int
    kills: tuple[str, ...]  # "ingest", "dbt": each must land once per entry
    max_attempts: int
    share: float = 0.1  # of each dataset re-versioned (and added) per trial

    def portal(self, seed: int) -> Portal:
        return Portal(self.rows, self.other_rows, seed)

    def revision(self) -> CrashSize:
        new = max(1, round(self.rows * self.share))
        return CrashSize(self.rows, new, new, 0, 0, self.other_rows)


SIZES = {
    "small": Size(rows=3_000, other_rows=500, kills=("ingest", "dbt"), max_attempts=4),
    "full": Size(rows=40_000, other_rows=8_000, kills=("ingest", "dbt") * 2, max_attempts=8),
}


class JobMarkers:
    """Turns the job's output into markers: `<dataset>:<phase>` of an ingest step's dlt
    markers (attributed by pid), `<dataset>:step` when an ingest step starts,
    `<dbt step>.model` / `<dbt step>.build` when a dbt node starts in that step (one
    step, `dbt_models`, after the geocoder), `done` when the run ends."""

    def __init__(self) -> None:
        self.step_of_pid: dict[str, str] = {}
        self.dbt_step = "dbt"

    def __call__(self, line: str) -> str | None:
        if line.startswith("phase "):
            parts = line.split()
            name = parts[1]
            if name == "done" or len(parts) < 4:
                return name
            dataset = self._dataset(self.step_of_pid.get(parts[3], ""))
            return f"{dataset}:{name}" if dataset else name
        if m := _STEP_EVENT.search(line):
            pid, step, event = m.groups()
            if event == "STEP_START":
                self.step_of_pid[pid] = step
                if step.startswith("dbt_models"):
                    self.dbt_step = step
                    return f"{step}.step"
                dataset = self._dataset(step)
                return f"{dataset}:step" if dataset else None
            return None
        if _RUN_END.search(line):
            return "done"
        if (node := dbt_marker(line)) in ("model", "build"):
            return f"{self.dbt_step}.{node}"
        return None

    @staticmethod
    def _dataset(step: str) -> str:
        m = _INGEST.fullmatch(step)
        return m.group(1) if m else ""


def steps_in_flight(run: ChildRun) -> list[str]:
    """The job's steps started and not ended when the kill came, with the last marker of
    each ingest (e.g. `chicago_crimes_ingest (load.merge)`)."""
    started: dict[str, str] = {}
    pid_of: dict[str, str] = {}
    last: dict[str, str] = {}
    for line, at in run.lines:
        if run.struck_at is not None and at > run.struck_at:
            break
        if m := _STEP_EVENT.search(line):
            pid, step, event = m.groups()
            if event == "STEP_START":
                started[step], pid_of[pid] = pid, step
            else:
                started.pop(step, None)
        elif line.startswith("phase ") and len(line.split()) >= 4:
            _, name, _, pid = line.split()[:4]
            if pid in pid_of:
                last[pid_of[pid]] = name
    return [f"{step} ({last[step]})" if step in last else step for step in started]


class DagsterHome:
    """A temporary DAGSTER_HOME with `pulse dev`'s dagster.yaml, and the job's children."""

    def __init__(self, ws: Workspace, api: SampleApi) -> None:
        from pulse.cli import write_dagster_yaml

        self.ws, self.api = ws, api
        self.path = ws.root / "dagster"
        write_dagster_yaml(self.path)
        self.runs = 0

    def env(self) -> dict[str, str]:
        return {**self.ws.env(), "DAGSTER_HOME": str(self.path),
                "SOURCES__CHICAGO__BASE_URL": self.api.url, "SOURCES__CHICAGO__BACKOFF_FACTOR": "0",
                "PULSE_REPORTS_DIR": str(self.ws.root / "reports"), "PULSE_INGEST_RETRY_DELAY": "1",
                "RUNTIME__LOG_LEVEL": "INFO"}  # dlt's log marks the ingest steps' parts

    def job(self, name: str) -> Child:
        self.runs += 1
        argv = [sys.executable, "-m", "reliability.dagster_job", "run"]
        return Child(argv, self.env(), self.ws.root / f"{name}.log", parse=JobMarkers())

    def recover(self) -> dict:
        """Marks the killed run failed and frees its pool slots; what it held."""
        import subprocess

        done = subprocess.run([sys.executable, "-m", "reliability.dagster_job", "recover"],
                              cwd=PROJECT_ROOT, env=self.env(), capture_output=True, text=True,
                              timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"could not mark the killed run failed: {done.stdout[-500:]}"
                               f"{done.stderr[-500:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])


@scenario("dagster_killed", order=28)
def dagster_killed(ctx: Context) -> Outcome:
    """SIGKILL of a Dagster run of chicago_refresh mid-ingest and mid-dbt; then a normal run."""
    from pipelines.load import default_pipelines_dir

    size = SIZES[ctx.scale]
    outcome = Outcome("dagster_killed")
    portal = size.portal(ctx.seed)
    counts = (0, 0, 0)
    wanted = list(size.kills)
    with workspace("dagster_killed", keep=ctx.keep) as ws, SampleApi(portal.served) as api:
        job_state = default_pipelines_dir()  # the Dagster loads' dlt folder of this database
        try:
            backfill(ws, api)
            home = DagsterHome(ws, api)
            attempt = 0
            while wanted and attempt < size.max_attempts:
                seed = ctx.trial_seed(attempt)
                attempt += 1
                target = wanted[0]
                so_far = sum(1 for t in outcome.trial_log if t.counted and t.target.startswith(target))
                trial = kill_a_run(ws, home, portal, size, target, so_far, seed)
                if trial.counted and trial.landed.startswith(target):
                    wanted.pop(0)
                if trial.counted:
                    counts = rerun_the_job(ws, home, portal, trial)
                outcome.add(trial)
                ctx.log(f"  dagster_killed seed {seed}: {trial.target} +{trial.delay:.2f}s, in flight: "
                        f"{trial.detail.get('in_flight')}; lost {trial.lost}, dup {trial.duplicates}"
                        + (f", errors {trial.errors}" if trial.errors else ""))
            if wanted:
                outcome.errors.append(f"kills that never landed after {attempt} attempts: {wanted}")
            outcome.note(kills_note(outcome, home.runs))
        finally:
            if not ctx.keep:
                shutil.rmtree(job_state, ignore_errors=True)
    return finish(outcome, counts)


def kill_a_run(ws: Workspace, home: DagsterHome, portal: Portal, size: Size, target: str,
               nth: int, seed: int) -> Trial:
    """A revision of every rows dataset, a run of the job SIGKILLed at a seeded point of
    `target` (ingest or dbt), the state right after the kill."""
    rng = random.Random(seed)
    if target == "ingest":
        aimed, occurrence, delay = INGEST_AIMS[nth % len(INGEST_AIMS)], 1, rng.uniform(0.0, 0.3)
    else:
        aimed, (first, last) = DBT_AIMS[nth % len(DBT_AIMS)]
        occurrence, delay = rng.randint(first, last), rng.uniform(0.0, 1.5)
    trial = Trial(seed, "sigkill-dagster-run", target=f"{target}: {aimed} #{occurrence}",
                  delay=round(delay, 3))
    revision = size.revision()
    was = model_counts(ws)
    truths = {name: revise(portal, revision, seed * 10 + i, name) for i, name in enumerate(ROW_TABLES)}
    expected = expected_counts(portal)
    with timed(trial, "fault"):
        run = strike(home.job(f"killed-{seed}"), aimed, delay, occurrence=occurrence)
    trial.counted = run.landed != FINISHED
    in_flight = steps_in_flight(run)
    trial.detail.update(in_flight=in_flight, dbt_nodes_in_flight=dbt_in_flight(run),
                        returncode=run.returncode, marker=run.landed)
    if not trial.counted:
        trial.landed = FINISHED
        if run.returncode != 0:
            trial.errors.append(f"the run failed before the kill: {run.error or run.stderr[-300:]}")
        return trial
    ingesting = any(step.startswith("chicago_") for step in in_flight)
    building = any(step.startswith("dbt_models") for step in in_flight)
    # a load may still be finishing while the dbt step builds the models it does not feed
    kinds = [kind for kind, busy in (("ingest", ingesting), ("dbt", building)) if busy]
    kind = target if target in kinds else kinds[0] if kinds else "between steps"
    trial.landed = kind + (f": {', '.join(in_flight)}" if in_flight else "")
    raw_whole_after_kill(ws, trial, truths)
    if building:
        models_whole_after_kill(ws, trial, was, expected)
    trial.detail["recovered"] = home.recover()
    return trial


def raw_whole_after_kill(ws: Workspace, trial: Trial, truths: dict) -> None:
    """Right after the kill each rows dataset's raw table holds its truth before the
    revision or after it, whole."""
    states = {}
    for name, (before, after) in truths.items():
        state = verify.raw_state_is_one_of(ws.conn, before, after, name=name)
        states[name] = {0: "before", 1: "after", None: "partial"}[state]
        if state is None:
            versions = verify.raw_versions(ws.conn, name)
            trial.errors.append(f"raw_chicago.{name} partially applied after the kill: against the "
                                f"truth before: {verify.describe_difference(versions, before)}; after: "
                                f"{verify.describe_difference(versions, after)}")
    trial.detail["raw_after_kill"] = states


def models_whole_after_kill(ws: Workspace, trial: Trial, was: dict, expected: dict) -> None:
    """Right after a kill mid-dbt every model counts the records before the build or after."""
    now = model_counts(ws)
    trial.detail.update(counts_before=was, counts_after_kill=now, expected_after=expected,
                        leftovers_after_kill=leftover_relations(ws))
    for model, rows in now.items():
        if rows not in (was.get(model), expected[model]):
            trial.errors.append(f"{model} partially built after the kill: {rows} records, neither "
                                f"{was.get(model)} (before) nor {expected[model]} (after)")
    if dupes := verify.duplicates(ws.conn):
        trial.errors.append(f"{dupes} duplicate rows right after the kill")


def rerun_the_job(ws: Workspace, home: DagsterHome, portal: Portal, trial: Trial) -> tuple[int, int, int]:
    """A normal run of the job, then raw and every mart against the truth."""
    with timed(trial, "rerun"):
        run = home.job(f"rerun-{trial.seed}").finish(timeout=JOB_TIMEOUT)
    if run.returncode != 0:
        trial.errors.append(f"the normal run of the job after the kill failed: "
                            f"{run.error or run.stderr[-300:]}")
    counts = check_against_truth(ws, portal, trial, located=True)
    if leftovers := leftover_relations(ws):
        trial.errors.append(f"dbt left intermediate relations behind: {leftovers}")
    return counts


def kills_note(outcome: Outcome, runs: int) -> str:
    """e.g. `kills mid-ingest 1 (crimes:load.merge), mid-dbt 1; 4 runs of chicago_refresh;
    slots the killed runs held: chicago_crimes_ingest 1, dbt 1 ...`."""
    kills = [t for t in outcome.trial_log if t.counted]
    ingest = [t.detail["marker"] for t in kills if t.landed.startswith("ingest")]
    dbt = [t for t in kills if t.landed.startswith("dbt")]
    held: dict[str, int] = {}
    for trial in kills:
        for pool, steps in trial.detail.get("recovered", {}).get("slots_held", {}).items():
            held[pool] = held.get(pool, 0) + len(steps)
    slots = ", ".join(f"{pool} {n}" for pool, n in sorted(held.items())) or "none"
    return (f"kills mid-ingest {len(ingest)} ({', '.join(ingest)}), mid-dbt {len(dbt)}; "
            f"{runs} runs of chicago_refresh (multiprocess executor, pools of `pulse dev`, roles on); "
            f"pool slots the killed runs still held: {slots}, freed by marking the run failed "
            "(Dagster's run monitoring; without it the next run's step waits for its pool forever)")

