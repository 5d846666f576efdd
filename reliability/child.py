"""The processes a scenario kills: `python -m reliability.child load '{json args}'`.

The load (of one dataset, `crimes` unless `dataset` says otherwise) runs through
`pipelines.load.run_source`, the function the Dagster ingest assets call, as the loader
role (`pulse.roles.url("loader", database)`, what the assets pass), so what a kill finds
holds for the schedules: the warehouse lock, the state checks and the pending package
run_source finishes first are all in the path. `python -m reliability.child loki '{json
args}'` runs the `loki` source's own `pipelines.loki.load_loki` (run_source as the loader of
WAREHOUSE_URL's database, as `pulse load loki` runs it) with the same markers.

The child prints a flushed marker line when each of dlt's steps begins (`phase extract`,
`phase normalize`, `phase load`), then `phase done`, so the parent knows which step a
SIGKILL lands in. The step markers come from a dlt progress collector (`PhaseMarkers`,
set as the pipeline's `collector`), whose `on_start_trace_step` hook dlt calls as each
step starts. Steps of a pending package that run_source finishes before this run's
extract print `phase pending` once and nothing else: the markers are this run's.

Inside the load step, dlt's own log marks its parts: `phase load.truncate` (a replaced
table, a boundary layer, is about to be emptied), `phase load.copy` (the Parquet COPY
begins: into the staging table for a rows dataset, into the emptied table itself for a
boundary layer), `phase load.merge` (the merge into raw begins), `phase load.merged`
(the merge is committed; the load is not yet recorded in _dlt_loads) and `phase
load.archived` (the load recorded, the package archived); they need dlt's INFO log
(RUNTIME__LOG_LEVEL). A boundary layer is replaced, not merged: it has no merge
markers, a rows dataset no truncate marker.

A failure prints `error <Type>: <message>` on stdout and exits 1.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from dlt.common.runtime.collector import NullCollector

DLT_STEPS = ("extract", "normalize", "load")


def load_steps(table: str | None) -> tuple[tuple[str, str, str, str], ...]:
    """The dlt log line that begins each part of the load step: (step, starts with,
    contains, does not end with); `table` None: the merge of any table."""
    return (
        # a replaced table (a boundary layer) is emptied before its new rows are copied in;
        # a merged one's staging copy is emptied too, which is no step of raw's
        ("load.truncate", "Client for", "will truncate tables", "for staging dataset"),
        ("load.copy", "Will load file", ".parquet", ""),
        ("load.merge", "Will load file", ".sql", ""),
        ("load.merged", f"Job for {table}." if table else "Job for ", ".sql completed", ""),
        ("load.archived", "All jobs completed, archiving package", "", ""),
    )


def marker(phase: str) -> None:
    print(f"phase {phase} {time.monotonic():.6f}", flush=True)


class LoadSteps(logging.Handler):
    """Prints a marker when dlt's log says a part of the load step begins (once per load
    step: `reset` when the next one begins)."""

    def __init__(self, table: str | None = "crimes") -> None:
        super().__init__(logging.INFO)
        self.seen: set[str] = set()
        self.steps = load_steps(table)
        self.enabled = True

    def reset(self) -> None:
        self.seen.clear()

    def emit(self, record: logging.LogRecord) -> None:
        if not self.enabled:
            return
        message = record.getMessage()
        for step, starts, has, lacks in self.steps:
            if (step not in self.seen and message.startswith(starts) and has in message
                    and not (lacks and message.rstrip().endswith(lacks))):
                self.seen.add(step)
                marker(step)


class PhaseMarkers(NullCollector):
    """A dlt progress collector (`pipeline.collector`) that prints a marker as each of
    dlt's steps begins; it counts nothing (NullCollector)."""

    def __init__(self, table: str) -> None:
        super().__init__()
        self.load_steps = LoadSteps(table)
        self.load_steps.enabled = False  # until this run's load step
        self.extracted = False
        self.pending_announced = False

    def on_start_trace_step(self, trace: Any, step: str, pipeline: Any) -> None:
        if step not in DLT_STEPS:
            return
        if step == "extract":
            self.extracted = True
        if not self.extracted:  # run_source finishing a package a killed run left
            if not self.pending_announced:
                marker("pending")
                self.pending_announced = True
            return
        self.load_steps.reset()
        self.load_steps.enabled = step == "load"
        marker(step)


def watch(pipeline: Any, table: str) -> Any:
    """Makes `pipeline` print its step markers; returns it."""
    markers = PhaseMarkers(table)
    logging.getLogger("dlt").addHandler(markers.load_steps)
    pipeline.collector = markers  # dlt's documented progress hook (dlt.pipeline(progress=...))
    return pipeline


def loader_url(database: str, raw_dataset: str) -> str:
    """The loader's URL in `database`, as the Dagster ingest asset asks for it."""
    from pulse import roles

    return roles.url("loader", database, raw_dataset=raw_dataset)


def without_the_load_lock() -> None:
    """A fault knob, never used by a normal run of the suite: run_source's warehouse lock
    does nothing in this process, which shows that the concurrent scenario finds what the
    lock prevents (tests/reliability/test_concurrent.py)."""
    import contextlib

    from pulse import locks

    locks.exclusive = lambda *args, **kwargs: contextlib.nullcontext()


def load(base_url: str, pipelines_dir: str, database: str, dataset: str = "crimes",
         lock: bool = True, **source_args: object) -> None:
    from pipelines.chicago import dataset_pipeline, load_dataset

    if not lock:
        without_the_load_lock()
    pipeline = watch(dataset_pipeline(dataset, pipelines_dir=pipelines_dir), dataset)
    source_args.setdefault("backoff_factor", 0)
    load_dataset(dataset, pipeline, credentials=loader_url(database, pipeline.dataset_name),
                 base_url=base_url, **source_args)
    marker("done")


def load_loki(pipelines_dir: str, database: str, **source_args: object) -> None:
    """The `loki` source's load: `pipelines.loki.load_loki` itself (run_source, as the loader
    of WAREHOUSE_URL's database `database`, as `pulse load loki` runs it), its pipeline
    made to print the step markers."""
    import pipelines.loki as loki
    from pulse import warehouse

    if warehouse.connection().database != database:
        raise RuntimeError(f"WAREHOUSE_URL names {warehouse.connection().database}, not {database}")
    made = loki.loki_pipeline
    loki.loki_pipeline = lambda pipelines_dir=None: watch(made(pipelines_dir), "lines")
    source_args.setdefault("backoff_factor", 0)
    loki.load_loki(pipelines_dir, **source_args)
    marker("done")


COMMANDS = {"load": load, "loki": load_loki}


def describe(err: BaseException) -> str:
    """The exception and its causes on one line, the root cause first: what a log reader
    would be told, e.g. `OperationalError: ... the database system is shutting down <-
    PipelineStepFailed: Pipeline execution failed at step=load ...`."""
    chain: list[BaseException] = []
    seen: BaseException | None = err
    while seen is not None and len(chain) < 5 and seen not in chain:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    parts = []
    for exc in reversed(chain):
        text = " / ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        parts.append(f"{type(exc).__name__}: {text[:400]}")
    return " <- ".join(parts)


def main(argv: list[str] | None = None, commands: dict | None = None) -> int:
    """Runs `argv[0]` of `commands` (default: these) with the JSON arguments in `argv[1]`."""
    argv = sys.argv[1:] if argv is None else argv
    name, args = argv[0], json.loads(argv[1]) if len(argv) > 1 else {}
    try:
        (commands or COMMANDS)[name](**args)
    except Exception as err:  # reported to the parent, which judges it
        print(f"error {describe(err)}", flush=True)
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
