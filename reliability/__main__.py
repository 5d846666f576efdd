"""`make reliability`: every scenario against the warehouse and the local API, one table.

    .venv/bin/python -m reliability [--scale full|small] [--seed N] [--only name,...]
                                    [--scenario name ...] [--merge]

Writes reliability/results/latest.md (the table) and latest.json (every trial: its
seed, where its fault was aimed and where it landed, what was checked). Exits 1 if any
scenario lost or duplicated a row, failed a check or crashed. With --merge, the other
scenarios' rows of the existing results are kept, each marked with the run it came from.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

from pulse import warehouse
from reliability import scenarios
from reliability.outcome import Outcome, markdown_table
from reliability.scenarios import SCALES, Context

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    registered = scenarios.load()
    names = [s.name for s in registered]
    parser = argparse.ArgumentParser(prog="python -m reliability", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=SCALES, default="full")
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100_000,
                        help="the suite's seed; every trial's seed derives from it (default: clock)")
    parser.add_argument("--only", default="", help=f"comma-separated, of: {', '.join(names)}")
    parser.add_argument("--scenario", action="append", default=[], metavar="NAME",
                        help="a scenario to run (repeatable; adds to --only)")
    parser.add_argument("--merge", action="store_true",
                        help="keep the other scenarios' rows of the existing results in --out")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--keep", action="store_true",
                        help="keep each scenario's temporary folder (dlt state, child logs, dbt logs)")
    args = parser.parse_args(argv)

    chosen = [n.strip() for n in [*args.only.split(","), *args.scenario] if n.strip()] or names
    unknown = sorted(set(chosen) - set(names))
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}; known: {', '.join(names)}")
    chosen = [n for n in names if n in chosen]  # run order

    server = "embedded PostgreSQL 16" if warehouse.is_embedded() else "WAREHOUSE_URL's server"
    print(f"reliability suite: scale {args.scale}, seed {args.seed}, {server}", flush=True)
    ctx = Context(scale=args.scale, seed=args.seed, log=lambda m: print(m, flush=True), keep=args.keep)
    started = time.monotonic()
    outcomes = []
    for name in chosen:
        print(f"{name} ...", flush=True)
        outcome = scenarios.run(name, ctx)
        outcomes.append(outcome)
        print(f"{name}: {outcome.result} in {outcome.seconds:.0f} s"
              + (f" ({outcome.notes})" if outcome.skipped else ""), flush=True)
        for error in outcome.errors:
            print(f"  ! {error}", flush=True)
        # written after every scenario: a run stopped later keeps what it finished
        header, table = write_results(args, outcomes, time.monotonic() - started, server, names)
    print("\n" + header + table, flush=True)
    skipped = [o.scenario for o in outcomes if o.skipped]
    if skipped:
        print(f"skipped, not passed: {', '.join(skipped)}", flush=True)
    return 1 if any(o.failed for o in outcomes) else 0


def write_results(args: argparse.Namespace, outcomes: list, seconds: float, server: str,
                  names: list[str]) -> tuple[str, str]:
    """results/latest.md and latest.json for the scenarios run so far (with --merge, beside
    the other scenarios' rows of the existing results); returns the header and table."""
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    run = {"scale": args.scale, "seed": args.seed, "server": server, "seconds": round(seconds, 1),
           "date": when}
    rows = [{**o.to_json(), "run": run} for o in outcomes]
    if args.merge:
        rows = merged(args.out, rows, names)
    runs = list({json.dumps(r["run"], sort_keys=True): r["run"] for r in rows}.values())
    label = {json.dumps(r, sort_keys=True): f"run {i + 1}" for i, r in enumerate(runs)}
    shown = []
    for row in rows:
        outcome = outcome_of(row)
        if len(runs) > 1:
            outcome.notes = f"[{label[json.dumps(row['run'], sort_keys=True)]}] {outcome.notes}".strip()
        shown.append(outcome)
    table = markdown_table(shown)
    header = "".join(
        (f"{label[json.dumps(r, sort_keys=True)]}: " if len(runs) > 1 else "")
        + f"Reliability suite, scale {r['scale']}, seed {r['seed']}: {r['server']}, "
        f"{os.cpu_count()} cores, {r['seconds']:.0f} s, {r['date']}. "
        f"Reproduce: `python -m reliability --scale {r['scale']} --seed {r['seed']}"
        + ("" if len(runs) == 1 and not args.merge else
           f" --only {','.join(row['scenario'] for row in rows if row['run'] == r)}") + "`.\n\n"
        for r in runs)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.md").write_text(header + table)
    result = {
        "scale": args.scale, "seed": args.seed, "server": server, "seconds": round(seconds, 1),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        # a skipped scenario is no pass: listed apart, and `passed` is false while any is
        "passed": all(row.get("result", "pass") == "pass" for row in rows),
        "failed": [row["scenario"] for row in rows if row.get("result") == "FAIL"],
        "skipped": [row["scenario"] for row in rows if row.get("result") == "skipped"],
        "runs": runs,
        "scenarios": rows,
    }
    (args.out / "latest.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    return header, table


def merged(out: Path, rows: list[dict], order: list[str]) -> list[dict]:
    """This run's rows and, for every other scenario, its row of the results in `out`
    (marked with the run it came from: the old file's scale, seed, seconds and date)."""
    try:
        old = json.loads((out / "latest.json").read_text())
    except FileNotFoundError:
        return rows
    date = ""
    if (out / "latest.md").exists():
        found = re.search(r"(\d{4}-\d\d-\d\d \d\d:\d\d UTC)", (out / "latest.md").read_text())
        date = found.group(1) if found else ""
    old_run = {"scale": old.get("scale"), "seed": old.get("seed"), "server": old.get("server"),
               "seconds": old.get("seconds"), "date": date}
    fresh = {row["scenario"] for row in rows}
    kept = [{**with_result(row), "run": row.get("run") or old_run} for row in old.get("scenarios", [])
            if row["scenario"] not in fresh]
    rank = {name: i for i, name in enumerate(order)}
    return sorted([*kept, *rows], key=lambda row: rank.get(row["scenario"], len(rank)))


def outcome_of(row: dict) -> Outcome:
    """The table row of a scenario's JSON (its trials are not needed for the table)."""
    fields = set(Outcome.__dataclass_fields__) - {"trial_log"}
    return Outcome(**{k: v for k, v in row.items() if k in fields})


def with_result(row: dict) -> dict:
    """A row of older results, with `result` and `passed` as this version reports them
    (a skipped scenario was once written as passed)."""
    outcome = outcome_of(row)
    return {**row, "passed": outcome.passed, "result": outcome.result}


if __name__ == "__main__":
    sys.exit(main())
