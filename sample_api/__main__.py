"""`python -m sample_api --rows 10000 --seed 1 --port 8765 [--tables crimes,...] [--fault-rate 0.1]`.

Serves the seven Chicago datasets (`chicago_portal`) until Ctrl-C; also behind
`pulse sample-api`. `python -m sample_api countries --help` serves the World Bank
and OECD APIs instead. `--rows` sizes every row dataset (default: 10,000 crimes and
2,000-5,000 rows of the others), `--table-rows` one of them; `--rows-file`
serves crimes from a file instead; `--datasets-file` adds the row datasets of
another datasets.yml that have no built-in model, served from their declared columns.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import yaml

from .crimes import CrimesDataset
from .portal import DEFAULT_ROWS, TABLES, chicago_portal
from .rows import RowDataset
from .server import FAULT_KINDS, Faults, serve


def _table_rows(text: str) -> tuple[str, int]:
    table, _, rows = text.partition("=")
    if not rows.isdigit():
        raise argparse.ArgumentTypeError(f"expected TABLE=ROWS, e.g. traffic_crashes=500, not {text!r}")
    return table.strip(), int(rows)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["countries"]:  # the World Bank + OECD API instead (issue #6)
        from .countries.server import main as countries_main
        return countries_main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m sample_api",
                                     description="Serve a local SODA 2.1 Chicago data portal.")
    parser.add_argument("--rows", type=int, default=None,
                        help="synthetic rows of every row dataset (default: "
                             + ", ".join(f"{t} {n:,}" for t, n in DEFAULT_ROWS.items()) + ")")
    parser.add_argument("--table-rows", type=_table_rows, action="append", default=[],
                        metavar="TABLE=N", help="rows of one table (repeatable), over --rows")
    parser.add_argument("--tables", help=f"comma list of tables to serve (default: all of "
                                         f"{', '.join(TABLES)})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--rows-file", help="serve crimes from a SODA JSON or GeoJSON file instead")
    parser.add_argument("--datasets-file", type=Path,
                        help="a datasets.yml: serve its tables, inventing rows for entries "
                             "the portal has no model for from their declared columns")
    parser.add_argument("--revisions", type=int, default=0,
                        help="revision batches to apply to every row dataset before serving, each "
                             "touching 1%% of the rows (half new, half updated) under one new "
                             ":updated_at")
    parser.add_argument("--require-token-env", metavar="VAR",
                        help="reject requests whose X-App-Token differs from $VAR "
                             "(read from the environment so it never shows in ps)")
    parser.add_argument("--fault-rate", type=float, default=0.0,
                        help="probability that a data or metadata request gets a random fault (0-1)")
    parser.add_argument("--fault-kinds", default=",".join(FAULT_KINDS),
                        help="comma list of random fault kinds (default: all of them)")
    parser.add_argument("--fault-seed", type=int, default=0,
                        help="seed of the random faults: the same seed, the same faults")
    args = parser.parse_args(argv)
    try:
        faults = Faults(rate=args.fault_rate, seed=args.fault_seed,
                        kinds=tuple(k.strip() for k in args.fault_kinds.split(",") if k.strip()))
    except ValueError as err:
        parser.error(str(err))
    declared = yaml.safe_load(args.datasets_file.read_text()) if args.datasets_file else None
    tables = ([t.strip() for t in args.tables.split(",") if t.strip()] if args.tables
              else list(declared) if declared else None)
    rows: dict[str, int] = dict.fromkeys([*TABLES, *(declared or {})], args.rows) if args.rows else {}
    rows.update(args.table_rows)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        portal = chicago_portal(rows or None, seed=args.seed, tables=tables, declared=declared)
    except (KeyError, ValueError) as err:
        parser.error(err.args[0])
    if args.rows_file and TABLES["crimes"] in portal:
        portal[TABLES["crimes"]] = CrimesDataset.from_file(args.rows_file, seed=args.seed)
    for dataset in portal.values():
        if isinstance(dataset, RowDataset):
            batch = max(1, len(dataset) // 200)
            for _ in range(args.revisions):
                dataset.apply_revision(new_rows=batch, updated_rows=batch)
    token = os.environ[args.require_token_env] if args.require_token_env else None
    serve(args.host, args.port, portal, faults=faults, required_token=token)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
