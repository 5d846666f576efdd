"""A Dagster job run the dagster_killed scenario kills: `python -m reliability.dagster_job run`.

`run` executes the real `chicago_refresh` job of orchestration/definitions.py with
`dagster.execute_job` on the instance of DAGSTER_HOME (its dagster.yaml written by
`pulse.cli.write_dagster_yaml`, as `pulse dev` writes it: a pool limit of 1), with the
default executor: each step in a process of its own, as a schedule runs it. The job is
rebuilt in every step process through `chicago_refresh()` (a reconstructable job), which
also makes the step print markers on stdout, where the parent reads them:

- Dagster's own event lines (`... - <pid> - <step> - STEP_START - ...`), on stderr, which
  this process sends to stdout before the run starts (the step processes inherit both);
- `phase <marker> <monotonic> <pid>` from the ingest steps: dlt's steps (`extract`,
  `normalize`, `load`) and the parts of its load step (`load.copy`, `load.merge`,
  `load.merged`, `load.archived`), read from dlt's INFO log (RUNTIME__LOG_LEVEL=INFO);
- dbt's node lines (`1 of 9 START sql table model ...`), which dagster-dbt echoes.

`recover` does what Dagster's run monitoring does for a run whose worker died: marks every
run still STARTED as failed and frees the pool slots it held; it prints what it freed as
JSON. Without it a killed run keeps its slots, and the next run's step of that pool waits
for them forever.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time

JOB = "chicago_refresh"

# dlt's INFO lines that begin its steps (the steps of a run_source run)
DLT_STEP_LINES = (
    ("extract", "Bind incremental on"),  # a rows dataset's extract binds its cursor first
    ("normalize", "Running file normalizing"),
    ("load", "Running file loading"),
)


def marker(phase: str) -> None:
    print(f"phase {phase} {time.monotonic():.6f} {os.getpid()}", flush=True)


class StepMarkers(logging.Handler):
    """Prints a marker (with this process's pid: two steps may run at once) when dlt's log
    says a step, or a part of the load step, begins."""

    def __init__(self) -> None:
        from reliability.child import load_steps

        super().__init__(logging.INFO)
        self.steps = load_steps(None)
        self.seen: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        for step, starts in DLT_STEP_LINES:
            if message.startswith(starts) and step not in self.seen:
                self.seen.add(step)
                marker(step)
        for step, starts, has, lacks in self.steps:
            if (step not in self.seen and message.startswith(starts) and has in message
                    and not (lacks and message.rstrip().endswith(lacks))):
                self.seen.add(step)
                marker(step)


def chicago_refresh():
    """The job, as Dagster rebuilds it in each step process (reconstructable)."""
    from orchestration.definitions import defs

    dlt_log = logging.getLogger("dlt")
    if not any(isinstance(h, StepMarkers) for h in dlt_log.handlers):
        dlt_log.addHandler(StepMarkers())
    return defs().resolve_job_def(JOB)


def run() -> None:
    import dagster as dg

    from reliability import dagster_job  # by its module name: this file runs as __main__

    os.dup2(sys.stdout.fileno(), sys.stderr.fileno())  # Dagster's event lines, to the parent
    with dg.DagsterInstance.get() as instance:
        result = dg.execute_job(dg.reconstructable(dagster_job.chicago_refresh), instance=instance,
                                raise_on_error=False)
        if not result.success:
            failed = [e.step_key for e in result.all_events if e.is_step_failure]
            raise RuntimeError(f"the {JOB} run {result.run_id} failed (steps {failed})")
    marker("done")


def recover() -> None:
    """Marks the runs left STARTED as failed and frees their pool slots (what Dagster's
    run monitoring and its `free_slots_after_run_end_seconds` do); prints {pool: [steps]}
    of the slots each held."""
    import dagster as dg

    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        started = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        held: dict[str, list[str]] = {}
        for pool in sorted(storage.get_concurrency_keys()):
            for slot in storage.get_concurrency_info(pool).claimed_slots:
                if slot.run_id in {r.run_id for r in started}:
                    held.setdefault(pool, []).append(slot.step_key)
        for dead in started:
            instance.report_run_failed(dead, "its run worker was killed (reliability suite)")
            storage.free_concurrency_slots_for_run(dead.run_id)
        print(json.dumps({"runs_marked_failed": len(started), "slots_held": held}), flush=True)


COMMANDS = {"run": run, "recover": recover}


def main(argv: list[str] | None = None) -> int:
    from reliability.child import main as child_main

    return child_main(argv, COMMANDS)  # the same protocol as reliability.child


if __name__ == "__main__":
    sys.exit(main())
