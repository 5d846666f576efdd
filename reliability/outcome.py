"""What a scenario reports, and the one table `make reliability` prints."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Columns whose every value must be zero.
MUST_BE_ZERO = ("duplicates", "lost")


@dataclass
class Trial:
    """One injected fault and what was found after it."""

    seed: int
    fault: str  # e.g. "sigkill", "sigkill-dbt", "postgres-stop"
    target: str = ""  # where the fault was aimed (a phase, a point in dbt's build)
    landed: str = ""  # where it landed: the child's last phase marker, or "finished"
    delay: float = 0.0  # seconds after the target began
    counted: bool = True  # False: the process finished first, nothing was injected
    dataset: str = ""  # the dataset whose load or requests the fault hit, if one
    duplicates: int = 0
    lost: int = 0
    detail: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    """One row of the table: a scenario over all its trials."""

    scenario: str
    trials: int = 0
    faults: int = 0  # faults that landed (a kill of a process that had finished is none)
    rows_expected: int = 0  # rows of the ground truth at the end
    rows_raw: int = 0
    rows_marts: int = 0  # crimes the monthly mart counts
    duplicates: int = 0  # summed over every check of every trial
    lost: int = 0
    notes: str = ""
    seeds: list[int] = field(default_factory=list)
    skipped: bool = False
    errors: list[str] = field(default_factory=list)  # failed checks and crashes
    seconds: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)  # e.g. the calibration's timings
    trial_log: list[Trial] = field(default_factory=list)

    def add(self, trial: Trial) -> Trial:
        self.trial_log.append(trial)
        self.trials += 1
        self.faults += trial.counted
        self.seeds.append(trial.seed)
        self.duplicates += trial.duplicates
        self.lost += trial.lost
        self.errors += [f"trial seed {trial.seed}: {e}" for e in trial.errors]
        return trial

    def note(self, text: str) -> None:
        self.notes = f"{self.notes}; {text}" if self.notes else text

    @property
    def failed(self) -> bool:
        """A row lost or duplicated, a failed check, a crash. A skipped scenario did not fail."""
        return not self.skipped and (bool(self.errors) or any(getattr(self, c) for c in MUST_BE_ZERO))

    @property
    def passed(self) -> bool:
        """Ran and failed nothing: a skipped scenario never passed."""
        return not self.skipped and not self.failed

    @property
    def result(self) -> str:
        """What the table says: skipped, pass or FAIL."""
        return "skipped" if self.skipped else "pass" if self.passed else "FAIL"

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["passed"] = self.passed
        out["result"] = self.result
        return out


def markdown_table(outcomes: list[Outcome]) -> str:
    """scenario | trials | faults injected | rows expected | rows in raw | rows in marts |
    duplicates | rows lost | notes."""
    lines = [
        "| scenario | trials | faults injected | rows expected | rows in raw | rows in marts "
        "| duplicates | rows lost | result | notes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for o in outcomes:
        if o.skipped:  # why it was skipped is in its notes
            lines.append(f"| {o.scenario} | – | – | – | – | – | – | – | skipped | {_cell(o.notes)} |")
            continue
        result = o.result
        notes = o.notes
        if o.errors:
            notes = f"{notes}; {len(o.errors)} failed checks, first: {o.errors[0]}".lstrip("; ")
        lines.append(
            f"| {o.scenario} | {o.trials} | {o.faults} | {o.rows_expected:,} | {o.rows_raw:,} | "
            f"{o.rows_marts:,} | {o.duplicates} | {o.lost} | {result} | {_cell(notes)} |"
        )
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
