"""Run a child process that announces its phases, and strike it at a chosen point.

The child prints `phase <name> <monotonic>` (flushed) before each phase. A reader
thread timestamps the markers as they arrive; `strike` waits for the target phase's
marker, sleeps the chosen delay, then runs the fault (SIGKILL of the process group,
or stopping the database server). The phase the fault landed in is the last marker
the child printed before it: every marker written before the fault is read from the
pipe after the child is gone, so none is missed.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pulse.warehouse import PROJECT_ROOT

_TEMP_DIR = re.compile(r"/tmp/pulse-reliability-[\w.-]+")


def machine_free(text: str) -> str:
    """`text` without this machine's paths: results are committed and shared."""
    text = text.replace(str(PROJECT_ROOT) + "/", "").replace(sys.prefix + "/", "<venv>/")
    return _TEMP_DIR.sub("<workspace>", text)

DONE = "done"
FINISHED = "finished"  # `landed` of a child that ended before the fault


@dataclass
class ChildRun:
    markers: list[tuple[str, float]] = field(default_factory=list)  # (phase, received at)
    lines: list[tuple[str, float]] = field(default_factory=list)  # every stdout line
    returncode: int | None = None
    error: str = ""  # the child's `error ...` line, if it failed
    stderr: str = ""
    struck_at: float | None = None  # when the fault ran (monotonic)
    killed: bool = False  # the fault was a SIGKILL of the child
    started_at: float = 0.0

    @property
    def last_phase(self) -> str:
        return self.markers[-1][0] if self.markers else "start"

    def durations(self, steps: bool = False) -> dict[str, float]:
        """Seconds each phase took (its first marker to the next phase's), of a run that
        was not struck. Steps (`load.merge`) count in their phase (`load`) unless `steps`."""
        firsts: list[tuple[str, float]] = []
        for marker, at in self.markers:
            name = marker if steps else phase_of(marker)
            if not firsts or firsts[-1][0] != name:
                firsts.append((name, at))
        return {name: t1 - t0 for (name, t0), (_, t1) in zip(firsts, firsts[1:], strict=False)}

    @property
    def landed(self) -> str:
        """The marker the fault landed after (a phase or a step, e.g. `load.merge`), or
        FINISHED if the child was done before it.

        A killed child printed nothing after the kill: its last marker is exact. A child
        that lives on (the server was stopped under it) is judged by the markers that
        arrived before the fault.
        """
        if self.struck_at is None:
            return FINISHED
        if self.killed:
            before = self.markers
        else:
            before = [m for m in self.markers if m[1] <= self.struck_at]
        last = before[-1][0] if before else "start"
        return FINISHED if last == DONE else last

    @property
    def landed_phase(self) -> str:
        """`landed` without the step: extract, normalize, load (or FINISHED)."""
        return phase_of(self.landed)


Parser = Callable[[str], str | None]


def child_marker(line: str) -> str | None:
    """`phase <name> ...` lines of reliability.child; `error ...` is kept separately."""
    word, _, rest = line.partition(" ")
    return rest.split()[0] if word == "phase" and rest else None


def phase_of(marker: str) -> str:
    """The phase of a marker: `load` for the step `load.merge`."""
    return marker.split(".", 1)[0]


class Child:
    """A process in its own process group whose stdout lines are timestamped as they come;
    `parse` turns a line into a phase name (or None)."""

    # Children not yet finished: `kill_unfinished` ends them when a scenario is cut short
    # (a crash, a test timeout), so none goes on writing into a dropped database.
    unfinished: set[Child] = set()

    def __init__(self, argv: list[str], env: dict[str, str], log: Path,
                 parse: Parser = child_marker) -> None:
        self.log = log
        self._parse = parse
        self._stderr = log.open("w")
        self.run = ChildRun(started_at=time.monotonic())
        self.proc = subprocess.Popen(
            argv, cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=self._stderr,
            text=True, start_new_session=True,  # its own process group: the kill takes its helpers too
        )
        Child.unfinished.add(self)
        self._events: queue.Queue[tuple[str, float] | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    @classmethod
    def python(cls, command: str, args: dict, env: dict[str, str], log: Path) -> Child:
        """`python -m reliability.child <command> '<json>'`."""
        argv = [sys.executable, "-m", "reliability.child", command, json.dumps(args)]
        return cls(argv, env, log)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            now = time.monotonic()
            line = line.rstrip("\n")
            self.run.lines.append((line, now))
            if line.startswith("error "):
                self.run.error = machine_free(line.removeprefix("error "))
            phase = self._parse(line)
            if phase:
                self.run.markers.append((phase, now))
                self._events.put((phase, now))
        self._events.put(None)

    def wait_for(self, phase: str, timeout: float = 600) -> float | None:
        """Monotonic time the marker of `phase` arrived, or None if the child ended first
        (or reached `done` without passing it)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                event = self._events.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                return None
            if event is None:
                return None
            if event[0] == phase:
                return event[1]
            if event[0] == DONE:
                return None

    def kill(self) -> None:
        """SIGKILL the child's process group (a no-op if it is gone)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def finish(self, timeout: float = 600) -> ChildRun:
        Child.unfinished.discard(self)
        try:
            self.run.returncode = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            self.run.returncode = self.proc.wait()
            self.run.error = self.run.error or f"did not finish within {timeout:.0f} s"
        self._reader.join(timeout=30)
        self._stderr.close()
        (self.log.parent / (self.log.name + ".out")).write_text("\n".join(t for t, _ in self.run.lines))
        self.run.stderr = self.log.read_text(errors="replace")[-4000:]
        return self.run


def kill_unfinished() -> int:
    """SIGKILLs every child not finished (and its process group); returns how many."""
    children = list(Child.unfinished)
    for child in children:
        child.kill()
        Child.unfinished.discard(child)
    return len(children)


def strike(
    child: Child, phase: str, delay: float, fault: Callable[[], None] | None = None,
    occurrence: int = 1,
) -> ChildRun:
    """Waits for the `occurrence`-th marker of `phase`, sleeps `delay` seconds, runs `fault`
    (default: SIGKILL the child) unless the child has already ended, then waits for the
    child to end."""
    began = None
    for _ in range(occurrence):
        if (began := child.wait_for(phase)) is None:
            break
    if began is not None:
        while (left := began + delay - time.monotonic()) > 0 and child.proc.poll() is None:
            time.sleep(min(left, 0.005))  # a child that ends meanwhile is not waited for
        if child.proc.poll() is None:
            child.run.struck_at = time.monotonic()
            child.run.killed = fault is None
            (fault or child.kill)()
    return child.finish()
