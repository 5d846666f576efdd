"""The scenario registry.

A scenario is a function `(Context) -> Outcome` registered with `@scenario(name)` in
any module of this package; every module here is imported by `load()`, so adding a
scenario is adding a module (or a function to one). `order` sorts the run: scenarios
that disturb the server (postgres_restarted) go last.

    from reliability.scenarios import Context, scenario
    from reliability.outcome import Outcome

    @scenario("api_faults", order=20)
    def api_faults(ctx: Context) -> Outcome:
        ...
"""

from __future__ import annotations

import importlib
import pkgutil
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from reliability.outcome import Outcome

SCALES = ("small", "full")
T = TypeVar("T")


@dataclass
class Context:
    """What a scenario is given: the scale, the suite's seed and a logger."""

    scale: str = "small"
    seed: int = 1
    log: Callable[[str], None] = field(default=lambda message: None)
    keep: bool = False  # keep the temporary folders (dlt state, dbt logs, child logs)

    def pick(self, small: T, full: T) -> T:
        return full if self.scale == "full" else small

    def trial_seed(self, index: int) -> int:
        """The recorded seed of trial `index`: everything random in it derives from it."""
        return self.seed * 1000 + index


Runner = Callable[[Context], Outcome]


@dataclass(frozen=True)
class Scenario:
    name: str
    run: Runner
    description: str
    order: int = 50


SCENARIOS: dict[str, Scenario] = {}


def scenario(name: str, order: int = 50) -> Callable[[Runner], Runner]:
    def register(fn: Runner) -> Runner:
        doc = (fn.__doc__ or name).strip().splitlines()[0]
        SCENARIOS[name] = Scenario(name, fn, doc, order)
        return fn

    return register


def load() -> list[Scenario]:
    """Every registered scenario, in run order."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    return sorted(SCENARIOS.values(), key=lambda s: (s.order, s.name))


def run(name: str, ctx: Context) -> Outcome:
    """Runs one scenario; a crash of the scenario itself is reported, not raised."""
    load()
    started = time.monotonic()
    try:
        outcome = SCENARIOS[name].run(ctx)
    except Exception as err:  # the table reports it and the exit code fails
        ctx.log(traceback.format_exc())
        outcome = Outcome(name, errors=[f"scenario crashed: {type(err).__name__}: {err}"])
    outcome.seconds = round(time.monotonic() - started, 1)
    return outcome


def describe() -> dict[str, Any]:
    return {s.name: s.description for s in load()}
