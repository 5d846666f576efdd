"""Backfill and 1%-revision timings, API to marts, on a database of its own.

    .venv/bin/python -m bench.backfill_and_revision --rows 200000

The local API runs in its own process (as the real portal is remote), dlt loads into
`pulse_bench` on the warehouse server, and dbt builds every model. Prints one JSON
document and writes it to bench/results/backfill_and_revision.json.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from pulse import warehouse
from pulse.warehouse import PROJECT_ROOT

DATABASE = "pulse_bench"
RESULTS = PROJECT_ROOT / "bench" / "results"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def sample_api(rows: int, revisions: int, seed: int = 1):
    """The local API in a child process; yields its base URL once it answers."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pulse.sample_api", "--rows", str(rows), "--seed", str(seed),
         "--port", str(port), "--revisions", str(revisions)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("the local API did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def dbt_build() -> float:
    started = time.perf_counter()
    dbt = Path(sys.executable).with_name("dbt")
    subprocess.run(
        [str(dbt), "build", "--project-dir", str(PROJECT_ROOT), "--profiles-dir", str(PROJECT_ROOT)],
        check=True, stdout=subprocess.DEVNULL, cwd=PROJECT_ROOT,
    )
    return time.perf_counter() - started


def ingest(base_url: str, pipelines_dir: str) -> tuple[float, int]:
    from pipelines._common import postgres_pipeline
    from pipelines.chicago import load_chicago

    pipeline = postgres_pipeline("chicago", pipelines_dir=pipelines_dir)
    started = time.perf_counter()
    load_chicago(pipeline, base_url=base_url)
    seconds = time.perf_counter() - started
    rows = pipeline.last_trace.last_normalize_info.row_counts.get("crimes", 0)
    return seconds, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()

    warehouse.drop_database(DATABASE)
    conn = warehouse.create_database(DATABASE)
    os.environ["WAREHOUSE_URL"] = conn.url()
    os.environ.update(conn.libpq_env())
    result: dict[str, object] = {"rows": args.rows, "machine_cores": os.cpu_count()}
    try:
        with tempfile.TemporaryDirectory() as state:
            with sample_api(args.rows, revisions=0) as url:
                seconds, loaded = ingest(url, state)
                result["backfill"] = {"ingest_s": round(seconds, 2), "rows_loaded": loaded,
                                      "dbt_build_s": round(dbt_build(), 2)}
            # The same portal plus one 1% revision batch (0.5% new rows, 0.5% updated rows).
            with sample_api(args.rows, revisions=1) as url:
                seconds, loaded = ingest(url, state)
                result["revision_1pct"] = {"ingest_s": round(seconds, 2), "rows_loaded": loaded,
                                           "dbt_build_s": round(dbt_build(), 2)}
    finally:
        warehouse.drop_database(DATABASE)
    for run in ("backfill", "revision_1pct"):
        r = result[run]
        r["total_s"] = round(r["ingest_s"] + r["dbt_build_s"], 2)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "backfill_and_revision.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
