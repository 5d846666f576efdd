"""Where a backfill's time goes: Pulse's crimes backfill from pre-rendered pages, under py-spy.

    .venv/bin/python -m bench.profile --rows 100000

In a scratch database of its own: the sample API renders the crimes' pages once, a page
server serves them (bench/pages.py), and the `pulse_ingest` step (bench/steps.py) loads
them while `py-spy record` samples every thread of it, waiting ones included (`--idle`),
100 times a second. Prints dlt's own stage times (extract, normalize, load) and the
samples added up by what they were doing: a sample goes to the first rule of COSTS that
one of its frames matches. Threads that only wait for work (an idle pool worker, the main
thread waiting on the load's jobs) are left out, so the shares are of the time something
was being done; the stages are sequential, so that is close to the wall time. `--raw`
keeps py-spy's samples.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench.api import sample_api
from bench.pages import page_server
from bench.suite import scratch_database, step
from pulse.warehouse import PROJECT_ROOT

DATABASE = "pulse_bench_profile"
RATE = 100  # samples a second, each thread
# (what, pattern): a sample counts for the first whose pattern one of its frames matches
# (py-spy names a frame "function (path:line)", paths relative to site-packages or here)
COSTS: list[tuple[str, str]] = [
    ("imports on first use in the process (pandas, SQLAlchemy, ...)", r"_find_and_load \("),
    ("load: COPY into the staging table (ADBC, from the Parquet file)", r"AdbcParquetCopyJob|adbc"),
    ("load: merge into raw_chicago, other SQL (waiting on Postgres)",
     r"Psycopg2SqlClient|sql_client\.py|sql_jobs"),
    ("JSON parse of the pages (json.loads in check_page)", r"_check_body \(|json/decoder\.py"),
    ("HTTP: request and receive (requests, urllib3)", r"(requests|urllib3)/|http/client\.py|socket\.py"),
    ("rest_api response actions: the body decoded to text", r"_handle_response_action \("),
    ("Arrow conversion (PageToArrow, SplitRejects)", r"pipelines/chicago/arrow\.py"),
    ("skip loaded versions (a query of raw)", r"pipelines/chicago/unchanged\.py"),
    ("Parquet write (extract)", r"ParquetWriter|data_writers/|BufferedDataWriter"),
    ("dlt incremental: cursor filter on Arrow", r"dlt/extract/incremental/"),
    ("dlt extract, other", r"dlt/extract/"),
    ("dlt normalize", r"dlt/normalize/"),
    ("dlt load, other", r"dlt/load/|dlt/destinations/"),
    ("dlt pipeline: configuration, state, schema", r"dlt/|pipelines/load\.py|pulse/"),
]
_COSTS = [(what, re.compile(pattern)) for what, pattern in COSTS]
_MAIN = "<module> (bench/steps.py"  # the main thread's outermost frame
_TIMED = "pulse_ingest (bench/steps.py"  # the step's timed work, in the main thread
_WAITING_FOR_WORK = re.compile(r"_worker \([^;]*concurrent/futures/thread\.py[^;]*$")
_WAITING_ON_JOBS = re.compile(r"(threading\.py|signals\.py)[^;]*$")


def classify(stack: str) -> str | None:
    """What a sample (py-spy's raw line: the thread, then frames outermost first) was doing,
    or None when it was only waiting for work or outside the step's timed part."""
    _thread, _, frames = stack.partition(";")
    if not frames or _WAITING_FOR_WORK.search(frames):  # a pool thread with no job
        return None
    if _MAIN in frames:  # py-spy does not always name the main thread
        if _TIMED not in frames:  # imports before the clock, the result's print
            return None
        if _WAITING_ON_JOBS.search(frames):  # the main thread waits while the load's jobs run
            return None
    elif not frames.startswith("Thread._bootstrap ("):  # the interpreter starting or ending
        return None
    return next((what for what, pattern in _COSTS if pattern.search(frames)), "other")


def summarize(raw: Path) -> Counter[str]:
    costs: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        what = classify(stack)
        if what is not None and count.isdigit():
            costs[what] += int(count)
    return costs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="crimes")
    parser.add_argument("--page-size", type=int, default=50_000)
    parser.add_argument("--raw", type=Path, default=None, help="keep py-spy's samples in this file")
    args = parser.parse_args(argv)
    spy = shutil.which("py-spy", path=os.pathsep.join([str(Path(sys.executable).parent),
                                                       os.environ.get("PATH", "")]))
    if spy is None:
        parser.error("py-spy is not installed: `make install` installs it (the dev extra)")
    # a name of its own per run: the tiny-scale test may run while someone profiles
    with scratch_database(f"{DATABASE}_{os.getpid()}"), \
            tempfile.TemporaryDirectory(prefix="pulse-profile-") as work:
        pages, state = Path(work, "pages"), Path(work, "state")
        with sample_api(args.rows, revisions=0) as url:
            step("render_pages", url=url, out=str(pages), page_size=args.page_size)
        raw = args.raw or Path(work, "samples.txt")
        with page_server(pages) as url:
            run = subprocess.run(
                [spy, "record", "--idle", "--threads", "--rate", str(RATE), "--format", "raw",
                 "--output", str(raw), "--", sys.executable, "-m", "bench.steps", "pulse_ingest",
                 json.dumps({"url": url, "state": str(state), "page_size": args.page_size})],
                capture_output=True, text=True, cwd=PROJECT_ROOT)
        if run.returncode != 0:
            raise RuntimeError(f"py-spy record failed:\n{run.stderr[-3000:]}")
        # the step's JSON line; py-spy writes its own lines too
        result = json.loads([line for line in run.stdout.splitlines() if line.startswith("{")][-1])
        costs = summarize(raw)
    total = sum(costs.values())
    print(f"Pulse backfill of {result['rows']:,} crimes from pre-rendered pages: "
          f"{result['seconds']:.1f} s under py-spy ({result['rows'] / result['seconds']:,.0f} rows/s), "
          f"peak RSS {result['peak_rss_mb']:.0f} MB")
    print("dlt's stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in result["stages"].items()))
    print(f"\n{'busy threads, by what they were doing':<64} {'seconds':>8} {'share':>6}")
    for what, n in costs.most_common():
        print(f"{what:<64} {n / RATE:8.2f} {n / total:6.1%}")
    print(f"{'in all':<64} {total / RATE:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
