"""A line per step as the demo's Dagster run finishes it: the step, the assets it
materialized, their rows and its seconds, read from the run's events in the instance
while `dg.materialize` runs (it returns only at the end: minutes of silence otherwise)."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Mapping

import dagster as dg

WATCHED = {dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS,
           dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.ASSET_MATERIALIZATION}
ROW_KEYS = ("dagster/row_count", "rows", "rows_loaded")


class RunProgress(threading.Thread):
    """Polls the instance for the run tagged `tags` and `say`s each finished step."""

    def __init__(self, instance: dg.DagsterInstance, tags: Mapping[str, str],
                 say: Callable[[str], None], every_seconds: float = 1.0) -> None:
        super().__init__(daemon=True, name="demo-progress")
        self.instance, self.tags, self.say, self.every = instance, dict(tags), say, every_seconds
        self._finished = threading.Event()
        self._run_id: str | None = None
        self._cursor: str | None = None
        self._assets: dict[str, int] = defaultdict(int)
        self._rows: dict[str, int] = defaultdict(int)
        self._step_started: dict[str, float] = {}

    def run(self) -> None:
        while not self._finished.wait(self.every):
            self.poll()

    def stop(self) -> None:
        self._finished.set()
        self.join(timeout=10)
        self.poll()  # what finished since the last look

    def poll(self) -> None:
        if self._run_id is None:
            runs = self.instance.get_runs(filters=dg.RunsFilter(tags=self.tags), limit=1)
            if not runs:
                return
            self._run_id = runs[0].run_id
        while True:
            page = self.instance.get_records_for_run(self._run_id, cursor=self._cursor,
                                                     of_type=WATCHED, limit=500)
            for record in page.records:
                self._hear(record.event_log_entry)
            self._cursor = page.cursor
            if not page.has_more:
                return

    def _hear(self, entry) -> None:
        event = entry.dagster_event
        step = event.step_key or "?"
        if event.event_type == dg.DagsterEventType.STEP_START:
            self._step_started[step] = entry.timestamp
        elif event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            self._assets[step] += 1
            metadata = event.event_specific_data.materialization.metadata
            for key in ROW_KEYS:
                if key in metadata and isinstance(metadata[key].value, int):
                    self._rows[step] += metadata[key].value
                    break
        else:
            seconds = entry.timestamp - self._step_started.get(step, entry.timestamp)
            if event.event_type == dg.DagsterEventType.STEP_FAILURE:
                self.say(f"  {step}: FAILED after {seconds:.1f}s")
                return
            assets = self._assets[step]
            what = f"{assets} assets" if assets > 1 else "1 asset" if assets else "no asset"
            rows = f", {self._rows[step]:,} rows" if step in self._rows else ""
            self.say(f"  {step}: {what}{rows}, {seconds:.1f}s")
