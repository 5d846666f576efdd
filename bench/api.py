"""The local Socrata API in its own process, as the real portal is remote.

    .venv/bin/python -m bench.api --rows 1000000 --dataset-rows 200000 --revisions 1 --port 8765

serves the whole Chicago portal (`sample_api.chicago_portal`): `--rows` crimes,
`--dataset-rows` rows of each other rows dataset (311 service requests, traffic
crashes, building permits, food inspections) and both boundary layers, every rows
dataset with `--revisions` 1% revision batches applied (half new rows, half updated,
one `:updated_at` per batch). `--dataset-rows 0` serves the crimes alone.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def portal(rows: int, dataset_rows: int, seed: int = 1, revisions: int = 0) -> dict[str, Any]:
    """{dataset id: dataset}: the seven datasets at the benchmark's sizes, revised `revisions` times."""
    from pipelines.chicago.settings import load_datasets
    from sample_api import chicago_portal

    others = [n for n, d in load_datasets().items() if not d.is_boundary and n != "crimes"]
    if dataset_rows:
        served = chicago_portal(rows={"crimes": rows, **dict.fromkeys(others, dataset_rows)}, seed=seed)
    else:  # crimes alone (the untuned comparison)
        served = chicago_portal(rows={"crimes": rows}, seed=seed, tables=["crimes"])
    for dataset in served.values():
        if hasattr(dataset, "apply_revision"):  # rows datasets; boundary layers stay as published
            batch = max(1, len(dataset) // 200)
            for _ in range(revisions):
                dataset.apply_revision(new_rows=batch, updated_rows=batch)
    return served


@contextmanager
def sample_api(rows: int, revisions: int = 0, seed: int = 1, dataset_rows: int = 0) -> Iterator[str]:
    """Serves the portal (see `portal`) from a process of its own; yields the URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.api", "--rows", str(rows), "--dataset-rows", str(dataset_rows),
         "--seed", str(seed), "--port", str(port), "--revisions", str(revisions)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the local API did not start (exit {proc.poll()})") from None
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # a busy machine: the server is done with, end it
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> int:
    from sample_api import serve

    parser = argparse.ArgumentParser(prog="python -m bench.api", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, required=True, help="crimes")
    parser.add_argument("--dataset-rows", type=int, default=0, help="rows of each other rows dataset")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--revisions", type=int, default=0)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    served = portal(args.rows, args.dataset_rows, args.seed, args.revisions)
    serve("127.0.0.1", args.port, served)  # until terminated
    return 0


if __name__ == "__main__":
    sys.exit(main())
