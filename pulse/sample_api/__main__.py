"""`python -m pulse.sample_api --rows 10000 --seed 1 --port 8765 [--rows-file FILE] [--fault-rate 0.1]`.

Also behind `pulse sample-api`. Serves until Ctrl-C.
"""

from __future__ import annotations

import argparse
import logging
import os

from .crimes import CrimesDataset
from .server import FAULT_KINDS, Faults, serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pulse.sample_api",
                                     description="Serve a local SODA 2.1 crimes API.")
    parser.add_argument("--rows", type=int, default=10_000, help="synthetic rows to generate")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--rows-file", help="serve rows from a SODA JSON or GeoJSON file instead")
    parser.add_argument("--revisions", type=int, default=0,
                        help="revision batches to apply before serving, each touching 1%% of "
                             "the rows (half new, half updated) under one new :updated_at")
    parser.add_argument("--require-token-env", metavar="VAR",
                        help="reject requests whose X-App-Token differs from $VAR "
                             "(read from the environment so it never shows in ps)")
    parser.add_argument("--fault-rate", type=float, default=0.0,
                        help="probability that a data request gets a random fault (0-1)")
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
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    dataset = (CrimesDataset.from_file(args.rows_file, seed=args.seed) if args.rows_file
               else CrimesDataset(args.rows, seed=args.seed))
    batch = max(1, len(dataset) // 200)
    for _ in range(args.revisions):
        dataset.apply_revision(new_rows=batch, updated_rows=batch)
    token = os.environ[args.require_token_env] if args.require_token_env else None
    serve(args.host, args.port, dataset, faults=faults, required_token=token)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
