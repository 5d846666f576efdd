"""The logs section of `make bench` (issue #16): Loki to `raw_logs`, lines/s, and what a
refresh reads.

    .venv/bin/python -m bench.suite --only logs --repeat 3 --log-lines 500000

The local Loki (sample_api/loki.py) runs in a process of its own (`serve` below), filled
with `--log-lines` lines of generated traffic (sample_api/weblogs.py, `WebTraffic`),
rendered as `combined` lines in four streams (`{job="nginx", host="web-1".."web-4"}`),
spread over the 20 hours that end 2 hours before the section starts, stamped to the
millisecond (so some lines share a timestamp, as a shipper's stamps do). It counts every
`query_range` request and every line it answers with.

Each repetition, on an empty `raw_logs` and a fresh dlt folder:

1. **The local Loki alone** (`fetch`): every page a backfill asks for (`limit` 5,000,
   forward, the next page from the last one's newest timestamp), decoded with orjson
   for the next start and nothing else: the stand-in server's own ceiling.
2. **A plain loader** (`fetch` with `copy`): the same pages, decoded, and every line
   written with one psycopg COPY into `bench_ceiling.loki_lines` (ts_ns, labels, line):
   what a loader of this API that only fetched, decoded and copied would reach.
3. **Pulse's backfill** (`load`): `pipelines.loki.load_loki`, the `run_source` path
   `pulse load loki` runs, into `raw_logs.lines`, `raw_logs.requests` and
   `raw_logs.request_rejects`; lines/s (target >= 50,000). In the same process the time
   of each part is added up (`TIMERS`): HTTP (request and receive) and decoding the JSON,
   both in the source's read-ahead thread; the lines' rows (line ids, the Arrow table)
   and the access-log parse, in dlt's extract; then dlt's own stages (the rest of
   extract: Parquet and incremental; normalize; load).
4. **A 1% refresh**: 1% more lines, newer than every loaded one, pushed to Loki; then
   `load_loki` again with the backfill's state. Loki counts the lines it answered: they
   should be the new lines plus the overlap window (`overlap_seconds` 300 before the
   cursor) plus the lines of each page boundary's timestamp read again; never the
   backfill. The table must then hold every line once.

Every step runs in its own process (its peak RSS is its own); the clock of a step starts
after its imports. Each process is a Python of its own: `--log-lines` of 500,000 are
about 100 MB of lines held by the Loki process.
"""

from __future__ import annotations

import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from pulse.warehouse import PROJECT_ROOT

DATABASE = "pulse_bench_logs"
TARGET_LINES_PER_S = 50_000
LIMIT = 5000  # lines a page: the source's default, Loki's default max_entries_limit_per_query
QUERY = '{job="nginx"}'
HOSTS = ("web-1", "web-2", "web-3", "web-4")
SPAN_S = 20 * 3600  # the backfill's lines: the 20 hours that end 2 hours ago
BACKFILL_HOURS = 24.0
OVERLAP_S = 300.0  # the source's default
REFRESH_SHARE = 0.01
SEED = 16
SCHEMAS = ("raw_logs", "raw_logs_staging", "bench_ceiling")


# -- the Loki process -----------------------------------------------------------------------

def traffic_entries(lines: int, seed: int, start: datetime, seconds: float) -> list:
    """`lines` generated requests as Loki entries: combined lines in HOSTS' streams,
    stamped with the request's second plus a millisecond."""
    from sample_api.loki import Entry
    from sample_api.weblogs import WebTraffic

    rng = random.Random(seed)
    streams = [(("host", host), ("job", "nginx")) for host in HOSTS]
    out = []
    for visit in WebTraffic(seed).generate(lines, start, seconds):
        ts = int(visit.requested_at.timestamp()) * 10**9 + rng.randrange(1000) * 10**6
        out.append(Entry(ts, visit.line("combined"), rng.choice(streams)))
    return out


def serve(lines: int, seed: int = SEED) -> None:
    """The local Loki with `lines` lines, answering commands on stdin (a JSON object a
    line): `push` (1% more lines, after the newest), `restore` (back to the backfill's
    lines), `counts` (requests and lines answered since the last `counts`); EOF stops it."""
    from sample_api.loki import LocalLoki, LogStore

    class CountingStore(LogStore):
        answered = 0

        def query(self, *args, **kwargs):
            found = super().query(*args, **kwargs)
            self.answered += len(found)
            return found

        def restore(self, entries: list) -> None:
            with self._lock:
                self._by_tenant["fake"] = list(entries)

    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2) - timedelta(seconds=SPAN_S)
    base = traffic_entries(lines, seed, start, SPAN_S)
    store = CountingStore(base)
    base = store.entries()  # sorted, one copy of each entry (Loki's own deduplication)
    newest = base[-1].ts_ns
    loki = LocalLoki(store).start()
    reply({"url": loki.url, "lines": len(base), "newest_ns": newest})
    for command in sys.stdin:
        what = json.loads(command)
        if what["cmd"] == "push":
            # 1% of the lines, over 1% of the span, from the second after the newest
            count = max(1, int(len(base) * REFRESH_SHARE))
            after = datetime.fromtimestamp(newest // 10**9 + 1, UTC)
            new = traffic_entries(count, seed + 1, after, SPAN_S * REFRESH_SHARE)
            overlap = sum(1 for e in base if e.ts_ns >= newest - int(OVERLAP_S * 1e9))
            before = len(store.entries())
            store.push(new)
            reply({"new": len(store.entries()) - before, "overlap": overlap,
                   "lines": len(store.entries())})
        elif what["cmd"] == "restore":
            store.restore(base)
            reply({"lines": len(base)})
        elif what["cmd"] == "counts":
            reply({"requests": len(loki.faults.requests), "lines": store.answered})
            loki.faults.requests.clear()
            store.answered = 0
    loki.stop()


def reply(message: dict) -> None:
    print(json.dumps(message), flush=True)


class LokiProcess:
    """The `serve` process, driven from the suite."""

    def __init__(self, lines: int, seed: int = SEED) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "bench.logs", "serve",
                                         json.dumps({"lines": lines, "seed": seed})],
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                        cwd=PROJECT_ROOT)
        self.started = self._read()
        self.url = self.started["url"]

    def _read(self) -> dict:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the local Loki stopped (exit {self.process.wait()})")
        return json.loads(line)

    def ask(self, cmd: str) -> dict:
        self.process.stdin.write(json.dumps({"cmd": cmd}) + "\n")
        self.process.stdin.flush()
        return self._read()

    def stop(self) -> None:
        self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# -- the measured steps, each in a process of its own -------------------------------------

def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def fetch(url: str, limit: int = LIMIT, copy: bool = False) -> dict[str, Any]:
    """Every page of the last BACKFILL_HOURS, paged as the source pages (forward, the next
    start at the newest timestamp read); with `copy`, every line written with one COPY."""
    import orjson
    import requests

    from pulse import warehouse

    end = time.time_ns()
    start = end - int(BACKFILL_HOURS * 3600e9)
    lines = pages = 0
    started = time.perf_counter()
    with requests.Session() as http, _copier(copy, warehouse.url()) as write:
        while True:
            answer = http.get(f"{url}/loki/api/v1/query_range",
                              params={"query": QUERY, "direction": "forward", "limit": limit,
                                      "start": start, "end": end}, timeout=300)
            answer.raise_for_status()
            streams = orjson.loads(answer.content)["data"]["result"]
            pages += 1
            stamps = []
            for stream in streams:
                labels = orjson.dumps(stream["stream"], option=orjson.OPT_SORT_KEYS).decode()
                for ts, line, *_ in stream["values"]:
                    stamps.append(int(ts))
                    if write:
                        write((int(ts), labels, line))
            lines += len(stamps)
            if len(stamps) < limit:
                break
            start = max(stamps)
    return {"seconds": time.perf_counter() - started, "lines": lines, "pages": pages,
            "peak_rss_mb": _peak_rss_mb()}


@contextmanager
def _copier(copy: bool, conn_url: str) -> Iterator[Any]:
    if not copy:
        yield None
        return
    import psycopg

    with psycopg.connect(conn_url) as pg:
        with pg.cursor() as cur:
            cur.execute("create schema if not exists bench_ceiling")
            cur.execute("drop table if exists bench_ceiling.loki_lines")
            cur.execute("create table bench_ceiling.loki_lines "
                        "(ts_ns bigint not null, labels varchar not null, line varchar not null)")
        pg.commit()
        with pg.cursor() as cur, cur.copy("copy bench_ceiling.loki_lines from stdin") as out:
            yield out.write_row
        pg.commit()


# The parts of a load whose time `load` adds up: (what, module, attribute). A part that
# calls another (the transformer calls the parse) is counted without it.
TIMERS = (
    ("http", "requests.sessions", "Session.send"),
    ("json", "requests.models", "Response.json"),
    ("json", "orjson", "loads"),
    ("rows", "pipelines.loki", "page_rows"),
    ("rows", "pipelines.loki", "lines_table"),
    ("parse", "pipelines.loki", "parse_page"),
)


def _timed(clock: dict[str, float], what: str, fn):
    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            clock[what] = clock.get(what, 0.0) + time.perf_counter() - started
    return timed


def _install_timers(clock: dict[str, float]) -> None:
    import importlib

    for what, module_name, attribute in TIMERS:
        module = importlib.import_module(module_name)
        owner, _, name = attribute.rpartition(".")
        target = getattr(module, owner) if owner else module
        if hasattr(target, name):
            setattr(target, name, _timed(clock, what, getattr(target, name)))


def load(url: str, state: str, limit: int = LIMIT, timers: bool = True) -> dict[str, Any]:
    """One `load_loki` (the `run_source` path `pulse load loki` runs) of QUERY; the lines
    and parsed rows dlt normalized, its stages, and the time of each part (TIMERS)."""
    from pipelines.loki import load_loki, loki_pipeline

    clock: dict[str, float] = {}
    if timers:
        _install_timers(clock)
    loki_pipeline(state)  # dlt's imports and configuration, before the clock
    started = time.perf_counter()
    load_loki(state, base_url=url, query=QUERY, limit=limit, backfill_hours=BACKFILL_HOURS,
              overlap_seconds=OVERLAP_S)
    seconds = time.perf_counter() - started
    pipeline = loki_pipeline(state)
    counts = pipeline.last_trace.last_normalize_info.row_counts
    stages = {}
    for traced in pipeline.last_trace.steps:  # dlt's own clock: extract, normalize, load
        if traced.step != "run" and traced.finished_at:
            stages[traced.step] = round((traced.finished_at - traced.started_at).total_seconds(), 3)
    return {"seconds": seconds, "lines": counts.get("lines", 0),
            "requests": counts.get("requests", 0), "rejects": counts.get("request_rejects", 0),
            "stages": stages, "parts": {k: round(v, 3) for k, v in clock.items()},
            "peak_rss_mb": _peak_rss_mb()}


def child(name: str, **args: Any) -> dict[str, Any]:
    """Runs step `name` (fetch, load) in its own process; returns its JSON result."""
    run = subprocess.run([sys.executable, "-m", "bench.logs", name, json.dumps(args)],
                         capture_output=True, text=True, cwd=PROJECT_ROOT)
    if run.returncode != 0:
        raise RuntimeError(f"bench logs step {name} failed:\n{run.stderr[-3000:]}")
    result = json.loads(run.stdout.strip().splitlines()[-1])
    shown = {k: v for k, v in result.items() if k not in ("seconds", "peak_rss_mb", "stages", "parts")}
    print(f"  {name:<18} {result['seconds']:8.2f} s  {result['peak_rss_mb']:7.1f} MB  {shown}",
          flush=True)
    return result


# -- the section ----------------------------------------------------------------------------

@contextmanager
def scratch_database(name: str) -> Iterator[None]:
    """A database of its own (no dbt: nothing here builds models); dropped after."""
    from pulse import roles, warehouse

    saved = dict(os.environ)
    roles.drop_database(name)
    conn = warehouse.create_database(name)
    os.environ["WAREHOUSE_URL"] = conn.url()
    os.environ.update(conn.libpq_env())
    try:
        yield
    finally:
        roles.drop_database(name)
        os.environ.clear()
        os.environ.update(saved)


def reset_schemas() -> None:
    from pulse import warehouse

    with warehouse.connect() as conn, conn.cursor() as cur:
        for schema in SCHEMAS:
            cur.execute(f"drop schema if exists {schema} cascade")  # names are constants


def table_lines() -> int:
    from pulse import warehouse

    with warehouse.connect() as conn, conn.cursor() as cur:
        cur.execute("select count(*), count(distinct line_id) from raw_logs.lines")
        rows, ids = cur.fetchone()
    return rows if rows == ids else -1


def run_section(repeat: int = 3, lines: int = 500_000, limit: int = LIMIT) -> dict[str, list]:
    """{figure key: [a result per repetition]}, in the database the caller made current."""
    runs: dict[str, list[dict[str, Any]]] = {}

    def record(key: str, result: dict[str, Any]) -> dict[str, Any]:
        runs.setdefault(key, []).append(result)
        return result

    print(f"logs: the local Loki with {lines:,} generated lines", flush=True)
    loki = LokiProcess(lines)
    try:
        print(f"  local Loki: {loki.started['lines']:,} lines at {loki.url}", flush=True)
        for r in range(repeat):
            print(f"repetition {r + 1}/{repeat}: Loki to raw_logs", flush=True)
            reset_schemas()
            loki.ask("restore")
            loki.ask("counts")
            record("loki_alone", child("fetch", url=loki.url, limit=limit))
            loki.ask("counts")
            record("plain_copy", child("fetch", url=loki.url, limit=limit, copy=True))
            loki.ask("counts")
            with tempfile.TemporaryDirectory(prefix="pulse-bench-logs-") as state:
                backfill = record("backfill", child("load", url=loki.url, state=state, limit=limit))
                backfill["served"] = loki.ask("counts")
                pushed = loki.ask("push")
                refresh = record("refresh", child("load", url=loki.url, state=state, limit=limit))
                refresh["served"] = loki.ask("counts")
                refresh["pushed"] = pushed
                refresh["table_lines"] = table_lines()
                print(f"  refresh read {refresh['served']['lines']:,} lines in "
                      f"{refresh['served']['requests']} requests: {pushed['new']:,} new, "
                      f"{pushed['overlap']:,} in the overlap; raw_logs.lines holds "
                      f"{refresh['table_lines']:,} of {pushed['lines']:,}", flush=True)
    finally:
        loki.stop()
    return runs


def summary(values: list[float], digits: int = 2) -> dict[str, float]:
    return {"median": round(statistics.median(values), digits), "min": round(min(values), digits),
            "max": round(max(values), digits), "n": len(values)}


def report(lines: int, runs: dict[str, list[dict[str, Any]]], when: str) -> dict[str, Any]:
    """Medians with their spread; ratios per repetition, then their median."""
    def rate(run: dict) -> float:
        return run["lines"] / run["seconds"]

    backfill, refresh = runs["backfill"], runs["refresh"]
    figures = {
        key: {"seconds": summary([r["seconds"] for r in runs[key]]),
              "lines_per_s": summary([rate(r) for r in runs[key]], 0),
              "lines": runs[key][-1]["lines"],
              "peak_rss_mb": round(max(r["peak_rss_mb"] for r in runs[key]), 1)}
        for key in ("loki_alone", "plain_copy", "backfill", "refresh")
    }
    read = [r["served"]["lines"] for r in refresh]
    expected = [r["pushed"]["new"] + r["pushed"]["overlap"] for r in refresh]
    figures["refresh"] |= {
        "lines_read": summary(read, 0), "requests": summary([r["served"]["requests"] for r in refresh], 0),
        "new_lines": refresh[-1]["pushed"]["new"], "overlap_lines": refresh[-1]["pushed"]["overlap"],
        "table_lines": [r["table_lines"] for r in refresh],
        "store_lines": [r["pushed"]["lines"] for r in refresh]}
    figures["backfill"] |= {"requests": summary([r["served"]["requests"] for r in backfill], 0),
                            "parsed": backfill[-1]["requests"], "rejects": backfill[-1]["rejects"]}
    # where the backfill's time goes: each part's median, the rest of extract, dlt's stages
    parts: dict[str, list[float]] = {}
    for run in backfill:
        measured = run["parts"]
        extract = run["stages"].get("extract", 0.0)
        for part in ("http", "json", "rows", "parse"):
            parts.setdefault(part, []).append(measured.get(part, 0.0))
        # HTTP and the JSON decode run in the source's read-ahead thread, beside the rest
        parts.setdefault("extract_other", []).append(
            max(0.0, extract - sum(measured.get(p, 0.0) for p in ("rows", "parse"))))
        for stage in ("normalize", "load"):
            parts.setdefault(stage, []).append(run["stages"].get(stage, 0.0))
        parts.setdefault("outside_stages", []).append(
            max(0.0, run["seconds"] - sum(run["stages"].values())))
    shares = {part: {"seconds": round(statistics.median(v), 2),
                     "share": round(statistics.median(x / r["seconds"] for x, r in zip(v, backfill,
                                                                                     strict=True)), 3)}
              for part, v in parts.items()}

    def per_run(a: str, b: str) -> dict[str, float]:
        return summary([rate(x) / rate(y) for x, y in zip(runs[a], runs[b], strict=True)], 3)

    ratios = {
        "backfill_vs_loki_alone": per_run("backfill", "loki_alone"),
        "backfill_vs_plain_copy": per_run("backfill", "plain_copy"),
        "refresh_read_vs_new_and_overlap": summary([a / b for a, b in zip(read, expected, strict=True)], 3),
        "refresh_read_vs_backfill_lines": summary(
            [a / r["lines"] for a, r in zip(read, backfill, strict=True)], 4),
        "refresh_vs_backfill_seconds": summary([f["seconds"] / b["seconds"] for f, b in
                                                zip(refresh, backfill, strict=True)], 3),
    }
    complete = all(r["table_lines"] == r["pushed"]["lines"] for r in refresh)
    targets = {
        f"Loki backfill >= {TARGET_LINES_PER_S:,} lines/s": figures["backfill"]["lines_per_s"]["median"]
        >= TARGET_LINES_PER_S,
        # the new lines, the overlap window and each page boundary's timestamp read again:
        # within 5% of new + overlap, and every line in the table once
        "a refresh reads only new lines (and the overlap)": complete and
        ratios["refresh_read_vs_new_and_overlap"]["max"] <= 1.05,
    }
    return {"when": when, "lines": lines, "limit": LIMIT, "figures": figures, "parts": shares,
            "ratios": ratios, "targets": targets}


def markdown(data: dict[str, Any]) -> str:
    f, r, t = data["figures"], data["ratios"], data["targets"]

    def span(s: dict, digits: int = 2) -> str:
        return f"{s['median']:,.{digits}f} ({s['min']:,.{digits}f}–{s['max']:,.{digits}f})"

    def met(name: str) -> str:
        return "yes" if t[name] else "**no**"

    target_rate, target_refresh = list(t)
    refresh = f["refresh"]
    lines = [
        f"Logs: {data['lines']:,} generated combined lines in 4 streams, {data['limit']:,} a page, "
        f"median of {f['backfill']['seconds']['n']} runs (min–max), {data.get('machine', '')}, "
        f"{data['when']}.",
        "",
        "| figure (issue #16) | measured, median (min–max) | target | met |",
        "|---|---:|---|---|",
        f"| Loki to raw_logs (lines, requests, rejects), backfill: lines/s | "
        f"{span(f['backfill']['lines_per_s'], 0)} | >= {TARGET_LINES_PER_S:,} | {met(target_rate)} |",
        f"| 1% refresh: lines Loki answered / (new lines + the overlap window's) | "
        f"{span(r['refresh_read_vs_new_and_overlap'], 3)} ({refresh['lines_read']['median']:,.0f} read; "
        f"{refresh['new_lines']:,} new, {refresh['overlap_lines']:,} in the "
        f"{OVERLAP_S:.0f} s overlap) | only new + overlap | {met(target_refresh)} |",
        "",
        "| step | wall time | lines | lines/s | peak RSS |",
        "|---|---:|---:|---:|---:|",
    ]
    for key, label in (("loki_alone", "the local Loki alone: every page fetched, decoded (orjson)"),
                       ("plain_copy", "plain loader: the pages decoded, one psycopg COPY"),
                       ("backfill", "Pulse backfill (`load_loki`: lines, parsed requests, merge)"),
                       ("refresh", "Pulse 1% refresh")):
        x = f[key]
        lines.append(f"| {label} | {span(x['seconds'])} s | {x['lines']:,} | "
                     f"{span(x['lines_per_s'], 0)} | {x['peak_rss_mb']:.0f} MB |")
    lines += [
        "",
        "| ratio (same repetition) | median (min–max) |",
        "|---|---:|",
        f"| Pulse backfill / the local Loki alone (lines/s) | {span(r['backfill_vs_loki_alone'], 3)} |",
        f"| Pulse backfill / plain loader (lines/s) | {span(r['backfill_vs_plain_copy'], 3)} |",
        f"| 1% refresh: lines read / the backfill's lines | {span(r['refresh_read_vs_backfill_lines'], 4)} |",
        f"| 1% refresh / backfill (wall time) | {span(r['refresh_vs_backfill_seconds'], 3)} |",
        "",
        "Where the backfill's time goes (medians, shares of its wall time). HTTP and the JSON "
        "decode run in the source's read-ahead thread while the page before is turned into "
        "rows, parsed and written in dlt's extract: they overlap, and the shares add up to more "
        "than 100%.",
        "",
        "| part | seconds | share |",
        "|---|---:|---:|",
    ]
    names = {"http": "read-ahead: HTTP, request to last byte (Loki's answer time)",
             "json": "read-ahead: JSON decode of the pages (orjson)",
             "rows": "the lines' rows: line ids, Arrow table",
             "parse": "access-log parse (Arrow RE2)",
             "extract_other": "dlt extract, other (Parquet, incremental, waiting for a page)",
             "normalize": "dlt normalize", "load": "dlt load: COPY to staging, merge",
             "outside_stages": "outside dlt's stages (lock, state, setup)"}
    for part, value in data["parts"].items():
        lines.append(f"| {names.get(part, part)} | {value['seconds']:.2f} | {value['share']:.1%} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    name, args = argv[0], json.loads(argv[1]) if len(argv) > 1 else {}
    if name == "serve":
        serve(**args)
        return 0
    result = {"fetch": fetch, "load": load}[name](**args)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
