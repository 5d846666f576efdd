"""The event collector SIGKILLed under load, the drain killed mid-batch, a sink down, a
full spool: every acknowledged message in the marts exactly once.

- collector_killed: simulated SDKs (sample_api/traffic.py: batches, single calls, the
  seed's /v1/event) send without pause while `pulse collect` is SIGKILLed at random
  moments and restarted on the same port and spool; a client whose connection breaks
  sends the same request again (the same messageIds), as SDKs do. Drains run between the
  kills. At the end: the drain, dbt (as the transformer, `pulse build`), and the check:
  the messages in `staging.stg_events__events` are exactly those some client heard a 200
  for, and the marts count each once.
- The drain is killed (a child process, SIGKILL) at random moments of its batch; the
  lake sink points at an S3 endpoint where nothing listens for the first drains (a sink
  down), then at a folder; the spool's cap is small enough that clients meet 503s.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time

from reliability.outcome import Outcome, Trial
from reliability.scenarios import Context, scenario
from reliability.workspace import Workspace, dbt_failure, workspace
from sample_api.collector_process import free_port, start_collector
from sample_api.traffic import TrafficGenerator

WRITE_KEY = "reliability-key"

DRAIN_CHILD = """
import sys
from pathlib import Path
from pipelines.events import DrainSettings, LakeSink, PostgresSink, drain
settings = DrainSettings(Path(sys.argv[1]), retries=int(sys.argv[3]), backoff_seconds=0.05,
                         max_batch_bytes=200_000)
result = drain(settings, [PostgresSink(Path(sys.argv[4])), LakeSink(sys.argv[2])])
print("drained", result.segments, result.events, flush=True)
"""


def _drain_child(ws: Workspace, lake: str, retries: int = 3) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", DRAIN_CHILD, str(ws.root / "spool"), lake, str(retries),
         str(ws.pipelines_dir)],
        env={**ws.env(), "PULSE_LAKE_S3_ENDPOINT": f"http://127.0.0.1:{free_port()}",
             "AWS_ACCESS_KEY_ID": "none", "AWS_SECRET_ACCESS_KEY": "none"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@scenario("collector_killed", order=60)
def collector_killed(ctx: Context) -> Outcome:
    """The collector SIGKILLed under load, the drain killed, a sink down, a full spool"""
    kills = ctx.pick(small=5, full=20)
    drain_kills = ctx.pick(small=2, full=6)
    outcome = Outcome("collector_killed")
    rng = random.Random(ctx.trial_seed(0))
    with workspace("collector_killed", keep=ctx.keep) as ws:
        spool, lake = ws.root / "spool", str(ws.root / "lake")
        port = free_port()
        cap = str(ctx.pick(small=400_000, full=2_000_000))
        env = {**ws.env(), "PULSE_COLLECTOR_SPOOL_CAP_BYTES": cap}

        def start():
            return start_collector(spool, ws.root / "collector.log", port=port,
                                   write_keys=f"{WRITE_KEY}=reliability", **env)

        collector = start()
        traffic = TrafficGenerator(collector.url, WRITE_KEY, seed=ctx.seed, clients=4,
                                   retry_rate=0.05)
        sender = threading.Thread(target=traffic.send, args=(10**9,), daemon=True)
        sender.start()
        for number in range(kills):
            time.sleep(rng.uniform(0.3, 1.5))
            collector.kill()
            outcome.add(Trial(ctx.trial_seed(number + 1), "sigkill", target="collector under load",
                              landed=f"{len(traffic.truth.events)} messages acknowledged so far"))
            if number % 2:  # drains between the kills: a child killed mid-batch, or one that ends
                child = _drain_child(ws, "s3://down/lake" if number < kills // 2 else lake,
                                     retries=0 if number < kills // 2 else 3)
                if number < drain_kills * 2:
                    time.sleep(rng.uniform(0.5, 3.0))
                    child.send_signal(signal.SIGKILL)
                    fault = "sigkill-drain"
                else:
                    fault = "drain"
                out, _ = child.communicate(timeout=300)
                outcome.add(Trial(ctx.trial_seed(100 + number), fault, target="drain batch",
                                  landed=(out.strip().splitlines() or ["killed"])[-1][:80]))
            collector = start()
        traffic.stop.set()
        sender.join(timeout=120)
        collector.stop()
        torn_bytes = sum(p.stat().st_size for p in spool.glob("torn/*"))

        child = _drain_child(ws, lake)
        out, _ = child.communicate(timeout=600)
        if child.returncode:
            outcome.errors.append(f"the last drain failed: {out[-2000:]}")
            return outcome
        build = ws.dbt_build("--select", "staging.events+")
        if build.returncode:
            outcome.errors.append(f"dbt build failed: {dbt_failure(build)}")
            return outcome
        check(ws, traffic, outcome)
        outcome.note(f"{kills} collector kills, {drain_kills} drain kills, "
                     f"{traffic.truth.requests:,} requests ({traffic.truth.reconnects} resent after a "
                     f"broken connection, {traffic.truth.refused} answered 503), "
                     f"{torn_bytes:,} torn bytes set aside")
    return outcome


def check(ws: Workspace, traffic: TrafficGenerator, outcome: Outcome) -> None:
    from pulse.warehouse import query

    truth = set(traffic.truth.events)
    kept = [m for (m,) in query(ws.conn, "select message_id from staging.stg_events__events")]
    (counted,), = query(ws.conn, "select coalesce(sum(events), 0) from marts.rpt_events__daily")
    outcome.rows_expected = len(truth)
    outcome.rows_raw = len(set(kept))
    outcome.rows_marts = int(counted)
    outcome.lost = len(truth - set(kept))
    outcome.duplicates = (len(kept) - len(set(kept))) + max(0, int(counted) - len(set(kept)))
    unacknowledged = set(kept) - truth
    if unacknowledged:
        outcome.errors.append(f"{len(unacknowledged)} messages no client was told were saved "
                              f"(e.g. {sorted(unacknowledged)[:3]})")
    if not truth:
        outcome.errors.append("no message was acknowledged")
    if os.environ.get("PULSE_RELIABILITY_DEBUG"):
        print(outcome)
