"""`python -m pulse.sample_api --rows 10000 --seed 1 --port 8765 [--rows-file FILE]`.

Also behind `pulse sample-api`. Serves until Ctrl-C.
"""

from __future__ import annotations

import argparse
import logging
import os

from .crimes import CrimesDataset
from .server import serve


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
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    dataset = (CrimesDataset.from_file(args.rows_file, seed=args.seed) if args.rows_file
               else CrimesDataset(args.rows, seed=args.seed))
    batch = max(1, len(dataset) // 200)
    for _ in range(args.revisions):
        dataset.apply_revision(new_rows=batch, updated_rows=batch)
    token = os.environ[args.require_token_env] if args.require_token_env else None
    serve(args.host, args.port, dataset, required_token=token)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
