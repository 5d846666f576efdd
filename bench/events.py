"""The events section of `make bench`: the collector, the drain and the path to the marts.

    .venv/bin/python -m bench.suite --only events

The collector (`pulse collect`) runs pinned to core 0 and the load generator to core 1
(`taskset`), on 127.0.0.1, every request durable (fsynced in the spool) before its 200:
- a fixed rate of 1,000 single-event requests/s for 60 s (hey: 20 workers at 50/s each):
  p50/p95/p99 latency and errors;
- the most single-event requests/s (wrk, 64 connections, 20 s), and batches of 50 and 500
  events (wrk): requests/s and events/s;
- the drain of what those runs spooled, into Postgres alone and into the lake alone (a copy
  of the spool each), in its own process: events/s and peak RSS;
- end to end at 1,000 events/s for 60 s (the traffic generator: batches, single calls,
  retries): a loop drains and runs the event models (`pulse build`, as the transformer)
  as fast as it can; each event's latency is from its received_at to the end of the first
  build whose stg_events__events holds it; p50/p95.
wrk and hey come from Debian (`make bench` installs them when it can); without them the
HTTP figures are reported as not measured.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from pulse.warehouse import PROJECT_ROOT, connection, query

DATABASE = "pulse_bench_events"
WRITE_KEY = "bench-key"
SERVER_CPU, CLIENT_CPU = 0, 1
TARGETS = {"fixed_p99_ms": 50, "max_rps": 4000, "batch_events_per_s": 50_000,
           "drain_events_per_s": 50_000, "e2e_p95_s": 120}

SINGLE = {"userId": "user-1", "event": "Viewed Product", "properties": {"sku": "A-1", "price": 12.5},
          "timestamp": "2026-12-04T10:00:00Z"}


def _batch(size: int) -> dict:
    return {"batch": [{"type": "track", "userId": f"user-{i % 97}", "event": "Viewed Product",
                       "properties": {"sku": f"A-{i}", "price": 12.5}} for i in range(size)]}


WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Basic {auth}"
wrk.body = io.open("{body}"):read("*a")
"""


def _auth() -> str:
    import base64

    return base64.b64encode(f"{WRITE_KEY}:".encode()).decode()


def tools() -> dict[str, str | None]:
    return {name: shutil.which(name) for name in ("wrk", "hey", "taskset")}


def _collector(spool: Path, log: Path, source: str = "bench"):
    from sample_api.collector_process import start_collector

    cpu = SERVER_CPU if shutil.which("taskset") and (os.cpu_count() or 1) > 1 else None
    return start_collector(spool, log, write_keys=f"{WRITE_KEY}={source}", cpu=cpu,
                           PULSE_COLLECTOR_SPOOL_CAP_BYTES=str(20 << 30))


def _pinned(command: list[str]) -> list[str]:
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        return ["taskset", "-c", str(CLIENT_CPU), *command]
    return command


def _vm_hwm_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def fixed_rate(url: str, work: Path, seconds: int = 60, rate: int = 1000) -> dict[str, Any]:
    """hey at `rate` requests/s (20 workers x rate/20 each): latency percentiles, errors."""
    body = work / "single.json"
    body.write_text(json.dumps(SINGLE))
    workers = 20
    run = subprocess.run(_pinned([
        "hey", "-z", f"{seconds}s", "-c", str(workers), "-q", str(rate // workers), "-m", "POST",
        "-T", "application/json", "-H", f"Authorization: Basic {_auth()}", "-D", str(body),
        f"{url}/v1/track"]), capture_output=True, text=True, timeout=seconds + 120)
    out = run.stdout
    percentiles = {int(p): float(v) * 1000 for p, v in re.findall(r"(\d+)%+ in ([\d.]+) secs", out)}
    codes = {int(c): int(n) for c, n in re.findall(r"\[(\d{3})\]\s+(\d+) responses", out)}
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = sum(n for c, n in codes.items() if c != 200) + len(re.findall(r"Error distribution", out))
    return {"requests_per_s": round(rps, 1), "p50_ms": percentiles.get(50), "p95_ms": percentiles.get(95),
            "p99_ms": percentiles.get(99), "responses": codes, "errors": errors}


def wrk_run(url: str, work: Path, path: str, body: dict, seconds: int = 20,
            connections: int = 64) -> dict[str, Any]:
    """wrk, closed loop: the most requests/s the collector answers (every one fsynced)."""
    body_file = work / f"body-{len(json.dumps(body))}.json"
    body_file.write_text(json.dumps(body))
    script = work / "post.lua"
    script.write_text(WRK_SCRIPT.replace("{auth}", _auth()).replace("{body}", str(body_file)))
    run = subprocess.run(_pinned(["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
                                  "-s", str(script), f"{url}{path}"]),
                         capture_output=True, text=True, timeout=seconds + 120)
    out = run.stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    scale = {"us": 0.001, "ms": 1, "s": 1000}
    return {"requests_per_s": round(rps, 1), "errors": int(non2xx.group(1)) if non2xx else 0,
            "socket_errors": socket_errors.group(1) if socket_errors else "",
            "p99_ms": round(float(p99.group(1)) * scale[p99.group(2)], 2) if p99 else None}


DRAIN_CHILD = """
import json, sys, time
from pathlib import Path
from pipelines.events import DrainSettings, LakeSink, PostgresSink, drain
sink = PostgresSink(Path(sys.argv[3])) if sys.argv[2] == "postgres" else LakeSink(sys.argv[2])
result = drain(DrainSettings(Path(sys.argv[1])), [sink])
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"events": result.events, "seconds": result.seconds, "peak_rss_mb": hwm / 1024}))
"""


def drain_run(spool: Path, sink: str, work: Path) -> dict[str, Any]:
    copy = work / f"spool-{sink.replace('/', '_')[-20:]}"
    shutil.rmtree(copy, ignore_errors=True)
    shutil.copytree(spool, copy, ignore=shutil.ignore_patterns("LOCK", "DRAIN_LOCK"))
    run = subprocess.run([sys.executable, "-c", DRAIN_CHILD, str(copy), sink, str(work / "dlt")],
                         capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=3600)
    if run.returncode:
        raise RuntimeError(f"drain into {sink} failed: {run.stderr[-3000:]}")
    result = json.loads(run.stdout.strip().splitlines()[-1])
    result["events_per_s"] = round(result["events"] / result["seconds"], 1)
    shutil.rmtree(copy, ignore_errors=True)
    return result


def end_to_end(work: Path, seconds: int = 60, rate: int = 1000) -> dict[str, Any]:
    """Traffic at `rate` events/s while a loop drains and builds; latency from received_at
    to the end of the first build that holds the event."""
    from pipelines.events import DrainSettings, PostgresSink, drain
    from sample_api.traffic import TrafficGenerator

    spool = work / "e2e-spool"
    # a source of its own: the drain runs above loaded the throughput runs' events
    collector = _collector(spool, work / "e2e-collector.log", source="e2e")
    traffic = TrafficGenerator(collector.url, WRITE_KEY, seed=5, clients=2, retry_rate=0.02,
                               invalid_rate=0.01)
    paced = threading.Thread(target=_paced_send, args=(traffic, rate, seconds), daemon=True)
    sink = PostgresSink(work / "e2e-dlt")
    conn = connection()
    latencies: list[float] = []
    seen: set[str] = set()
    builds = []
    started = time.time()
    paced.start()
    while paced.is_alive() or len(seen) < len(traffic.truth.events):
        drain(DrainSettings(spool), [sink])
        build = subprocess.run([str(Path(sys.executable).with_name("pulse")), "build", "--select",
                                "staging.events+", "--exclude-resource-type", "unit_test"],
                               capture_output=True, text=True, cwd=PROJECT_ROOT)
        done = time.time()
        if build.returncode:
            raise RuntimeError(f"dbt build failed: {build.stdout[-3000:]}")
        builds.append(done)
        rows = query(conn, "select message_id, extract(epoch from received_at) "
                           "from staging.stg_events__events where source_name = 'e2e'")
        latencies += [done - float(at) for message, at in rows if message not in seen]
        seen.update(message for message, _ in rows)
        if time.time() - started > seconds + 600:
            break
    collector_rss = _vm_hwm_mb(collector.process.pid)
    collector.stop()
    latencies.sort()
    return {"events": len(seen), "acknowledged": len(traffic.truth.events), "builds": len(builds),
            "p50_s": round(statistics.median(latencies), 1) if latencies else None,
            "p95_s": round(latencies[int(0.95 * (len(latencies) - 1))], 1) if latencies else None,
            "collector_peak_rss_mb": round(collector_rss, 1)}


def _paced_send(traffic, rate: int, seconds: int) -> None:
    """About `rate` events a second for `seconds`: a second's worth, then wait for the next."""
    for second in range(seconds):
        began = time.monotonic()
        traffic.send(rate)
        left = 1.0 - (time.monotonic() - began)
        if left > 0:
            time.sleep(left)
        del second


def run_section(seconds: int = 60, fill_seconds: int = 20, rate: int = 1000) -> dict[str, Any]:
    found = tools()
    work = Path(tempfile.mkdtemp(prefix="pulse-bench-events-"))
    result: dict[str, Any] = {"tools": {k: bool(v) for k, v in found.items()}}
    try:
        spool = work / "spool"
        collector = _collector(spool, work / "collector.log")
        try:
            if found["hey"]:
                print("  events: fixed rate (hey)", flush=True)
                result["fixed_rate"] = fixed_rate(collector.url, work, seconds=seconds)
            if found["wrk"]:
                print("  events: max single, batch 50, batch 500 (wrk)", flush=True)
                result["max_single"] = wrk_run(collector.url, work, "/v1/track", SINGLE, fill_seconds)
                for size in (50, 500):
                    run = wrk_run(collector.url, work, "/v1/batch", _batch(size), fill_seconds,
                                  connections=16)
                    run["events_per_s"] = round(run["requests_per_s"] * size, 1)
                    result[f"batch_{size}"] = run
            result["collector_peak_rss_mb"] = round(_vm_hwm_mb(collector.process.pid), 1)
        finally:
            collector.stop()
        spooled = sum(p.stat().st_size for p in spool.glob("*.sealed"))
        result["spooled_mb"] = round(spooled / 2**20, 1)
        if spooled:
            print("  events: drain into postgres, into the lake", flush=True)
            with tempfile.TemporaryDirectory() as lake:
                result["drain_postgres"] = drain_run(spool, "postgres", work)
                result["drain_lake"] = drain_run(spool, lake, work)
        print("  events: end to end at 1,000 events/s", flush=True)
        result["end_to_end"] = end_to_end(work, seconds=seconds, rate=rate)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return result


def _met(value, target, below: bool) -> str:
    if value is None:
        return "not measured"
    return "yes" if (value < target if below else value >= target) else "**no**"


def _n(value, digits: int = 0) -> str:
    """A figure as the table shows it: thousands separated, `digits` decimals."""
    return "?" if value is None else f"{value:,.{digits}f}"


def markdown(data: dict[str, Any]) -> str:
    fixed, single = data.get("fixed_rate") or {}, data.get("max_single") or {}
    b50, b500 = data.get("batch_50") or {}, data.get("batch_500") or {}
    pg, lake = data.get("drain_postgres") or {}, data.get("drain_lake") or {}
    e2e = data.get("end_to_end") or {}
    rows = [
        ("1,000 single-event requests/s for 60 s (hey): p99 latency",
         f"{_n(fixed.get('p99_ms'), 1)} ms (p50 {_n(fixed.get('p50_ms'), 1)}, p95 "
         f"{_n(fixed.get('p95_ms'), 1)}; {_n(fixed.get('requests_per_s'))} req/s, "
         f"{fixed.get('errors')} errors)" if fixed else "not measured",
         "< 50 ms, 0 errors",
         _met(fixed.get("p99_ms"), TARGETS["fixed_p99_ms"], True) if not fixed.get("errors") else "**no**"),
        ("most durable single-event requests/s (wrk, 64 connections)",
         f"{_n(single.get('requests_per_s'))} ({single.get('errors')} errors, p99 "
         f"{_n(single.get('p99_ms'), 1)} ms)" if single else "not measured", ">= 4,000",
         _met(single.get("requests_per_s"), TARGETS["max_rps"], False)),
        ("batches of 50: events/s (wrk, 16 connections)",
         _n(b50.get("events_per_s")) if b50 else "not measured", ">= 50,000",
         _met(b50.get("events_per_s"), TARGETS["batch_events_per_s"], False)),
        ("batches of 500: events/s", _n(b500.get("events_per_s")) if b500 else "not measured",
         ">= 50,000", _met(b500.get("events_per_s"), TARGETS["batch_events_per_s"], False)),
        ("drain into Postgres (raw_events, dlt): events/s",
         f"{_n(pg.get('events_per_s'))} ({_n(pg.get('events'))} events, "
         f"{_n(pg.get('peak_rss_mb'))} MB)" if pg else "not measured", ">= 50,000",
         _met(pg.get("events_per_s"), TARGETS["drain_events_per_s"], False)),
        ("drain into the Parquet lake: events/s",
         f"{_n(lake.get('events_per_s'))} ({_n(lake.get('peak_rss_mb'))} MB)" if lake
         else "not measured", ">= 50,000",
         _met(lake.get("events_per_s"), TARGETS["drain_events_per_s"], False)),
        ("end to end at 1,000 events/s: received to the staging row of a finished build, p95",
         f"{_n(e2e.get('p95_s'), 1)} s (p50 {_n(e2e.get('p50_s'), 1)} s, {e2e.get('builds')} "
         "drain+build cycles)" if e2e else "not measured", "< 120 s",
         _met(e2e.get("p95_s"), TARGETS["e2e_p95_s"], True)),
        ("collector peak RSS (the HTTP runs; end to end)",
         f"{_n(data.get('collector_peak_rss_mb'))} MB; {_n(e2e.get('collector_peak_rss_mb'))} MB",
         "", ""),
    ]
    lines = [f"Events: {data.get('when', '')}, {data.get('machine', '')}; the collector on core "
             f"{SERVER_CPU}, the load generator on core {CLIENT_CPU}; one run.", "",
             "| figure (issue #15) | measured | target | met |", "|---|---:|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines) + "\n"
