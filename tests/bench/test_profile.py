"""`python -m bench.profile` samples a backfill and adds up its costs (tiny scale, no timing
asserted), and its rules sort py-spy's stacks as the docs say."""

import subprocess
import sys

from bench.profile import classify
from pulse.warehouse import PROJECT_ROOT

MAIN = ("thread (1): MainThread;_run_module_as_main (<frozen runpy>:198);<module> (bench/steps.py:254);"
        "main (bench/steps.py:245)")
TIMED = f"{MAIN};pulse_ingest (bench/steps.py:61);Pipeline.run (dlt/pipeline/pipeline.py:815)"
WORKER = ("thread (2): dlt-pool-1;Thread._bootstrap (threading.py:1002);Thread.run (threading.py:982);"
          "_worker (concurrent/futures/thread.py:83);Load.w_run_job (dlt/load/load.py:293)")


def test_stacks_count_for_what_they_were_doing():
    parse = (f"{TIMED};RESTClient.paginate (dlt/sources/helpers/rest_client/client.py:273);"
             "check_page (pipelines/chicago/helpers.py:38);_check_body (pipelines/chicago/helpers.py:52);"
             "loads (json/__init__.py:346);JSONDecoder.raw_decode (json/decoder.py:353)")
    assert classify(parse).startswith("JSON parse")
    arrow = (f"{TIMED};PageToArrow.__call__ (pipelines/chicago/arrow.py:80);"
             "wrapper (pyarrow/compute.py:252)")
    assert classify(arrow).startswith("Arrow conversion")
    copy = (f"{WORKER};AdbcParquetCopyJob.run (dlt/destinations/_adbc_jobs.py:109);"
            "ParquetFile.read_row_groups (pyarrow/parquet/core.py:536)")
    assert classify(copy).startswith("load: COPY")  # reading Parquet to COPY it, not writing
    merge = f"{WORKER};SqlClientBase.execute_many (dlt/destinations/sql_client.py:218)"
    assert classify(merge).startswith("load: merge")
    lazy = (f"{TIMED};_array (pipelines/chicago/arrow.py:216);"
            "_find_and_load (<frozen importlib._bootstrap>:1176)")
    assert classify(lazy).startswith("imports on first use")


def test_waiting_and_untimed_samples_are_left_out():
    assert classify(f"{MAIN};import_module (importlib/__init__.py:126)") is None  # before the clock
    assert classify(f"{TIMED};Load.load_single_package (dlt/load/load.py:792);"
                    "Semaphore.acquire (threading.py:479);Condition.wait (threading.py:331)") is None
    idle = ("thread (2): dlt-pool-1;Thread._bootstrap (threading.py:1002);Thread.run (threading.py:982);"
            "_worker (concurrent/futures/thread.py:81)")
    assert classify(idle) is None
    assert classify("thread (1);<module> (<frozen site>:1)") is None  # the interpreter starting


def test_profile_runs_at_tiny_scale(warehouse_db):
    run = subprocess.run([sys.executable, "-m", "bench.profile", "--rows", "2000", "--page-size", "500"],
                         cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-3000:]
    out = run.stdout
    assert "Pulse backfill of 2,000 crimes from pre-rendered pages" in out
    assert "dlt's stages: extract" in out and "load" in out
    shares = [float(line.rsplit(None, 1)[-1].rstrip("%")) for line in out.splitlines() if line.endswith("%")]
    assert shares and abs(sum(shares) - 100) < 1
