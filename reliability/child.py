"""The processes a scenario kills: `python -m reliability.child load '{json args}'`.

The load (of one dataset, `crimes` unless `dataset` says otherwise) runs dlt's three
steps one by one and prints a flushed marker line before each (`phase extract`,
`phase normalize`, `phase load`, then `phase done`), so the parent knows which step a
SIGKILL lands in. Inside the load step, dlt's own log marks its parts: `phase
load.truncate` (a replaced table, a boundary layer, is about to be emptied), `phase
load.copy` (the Parquet COPY begins: into the staging table for a rows dataset, into
the emptied table itself for a boundary layer), `phase load.merge` (the merge into
raw begins), `phase load.merged` (the merge is committed; the load is not yet
recorded in _dlt_loads) and `phase load.archived` (the load recorded, the package
archived); they need dlt's INFO log (RUNTIME__LOG_LEVEL). A boundary layer is
replaced, not merged: it has no merge markers, a rows dataset no truncate marker.
A failure prints `error <Type>: <message>` on stdout and exits 1.
"""

from __future__ import annotations

import json
import logging
import sys
import time


def load_steps(table: str) -> tuple[tuple[str, str, str, str], ...]:
    """The dlt log line that begins each part of the load step: (step, starts with,
    contains, does not end with)."""
    return (
        # a replaced table (a boundary layer) is emptied before its new rows are copied in;
        # a merged one's staging copy is emptied too, which is no step of raw's
        ("load.truncate", "Client for", "will truncate tables", "for staging dataset"),
        ("load.copy", "Will load file", ".parquet", ""),
        ("load.merge", "Will load file", ".sql", ""),
        ("load.merged", f"Job for {table}.", ".sql completed", ""),
        ("load.archived", "All jobs completed, archiving package", "", ""),
    )


def marker(phase: str) -> None:
    print(f"phase {phase} {time.monotonic():.6f}", flush=True)


class LoadSteps(logging.Handler):
    """Prints a marker when dlt's log says a part of the load step begins."""

    def __init__(self, table: str = "crimes") -> None:
        super().__init__(logging.INFO)
        self.seen: set[str] = set()
        self.steps = load_steps(table)

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        for step, starts, has, lacks in self.steps:
            if (step not in self.seen and message.startswith(starts) and has in message
                    and not (lacks and message.rstrip().endswith(lacks))):
                self.seen.add(step)
                marker(step)


def load(base_url: str, pipelines_dir: str, credentials: str, dataset: str = "crimes",
         **source_args: object) -> None:
    from pipelines.chicago import dataset_pipeline, dataset_source
    from pipelines.load import LOADER_FILE_FORMAT

    pipeline = dataset_pipeline(dataset, pipelines_dir=pipelines_dir)
    source_args.setdefault("backoff_factor", 0)
    marker("extract")
    pipeline.extract(dataset_source(dataset, base_url=base_url, **source_args),
                     loader_file_format=LOADER_FILE_FORMAT)
    marker("normalize")
    pipeline.normalize()
    marker("load")
    logging.getLogger("dlt").addHandler(LoadSteps(dataset))
    pipeline.load(credentials=credentials)
    marker("done")


COMMANDS = {"load": load}


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
