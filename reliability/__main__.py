"""`make reliability`: every scenario against the warehouse and the local API, one table.

    .venv/bin/python -m reliability [--scale full|small] [--seed N] [--only name,...]

Writes reliability/results/latest.md (the table) and latest.json (every trial: its
seed, where its fault was aimed and where it landed, what was checked). Exits 1 if any
scenario lost or duplicated a row, failed a check or crashed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

from pulse import warehouse
from reliability import scenarios
from reliability.outcome import markdown_table
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
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--keep", action="store_true",
                        help="keep each scenario's temporary folder (dlt state, child logs, dbt logs)")
    args = parser.parse_args(argv)

    chosen = [n.strip() for n in args.only.split(",") if n.strip()] or names
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
        print(f"{name}: {'skipped' if outcome.skipped else 'pass' if outcome.passed else 'FAIL'} "
              f"in {outcome.seconds:.0f} s", flush=True)
        for error in outcome.errors:
            print(f"  ! {error}", flush=True)
    seconds = time.monotonic() - started

    table = markdown_table(outcomes)
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    header = (f"Reliability suite, scale {args.scale}, seed {args.seed}: {server}, "
              f"{os.cpu_count()} cores, {seconds:.0f} s, {when}. "
              f"Reproduce: `python -m reliability --scale {args.scale} --seed {args.seed}`.\n\n")
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.md").write_text(header + table)
    result = {
        "scale": args.scale, "seed": args.seed, "server": server, "seconds": round(seconds, 1),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version()},
        "passed": all(o.passed for o in outcomes),
        "scenarios": [o.to_json() for o in outcomes],
    }
    (args.out / "latest.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    print("\n" + header + table, flush=True)
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
