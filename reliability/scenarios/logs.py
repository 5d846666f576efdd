"""Logs: the `loki` source (pipelines/loki, `load_loki`: run_source as the loader, as `pulse
load loki` runs it) against the local Loki (sample_api/loki.py) filled with a web shop's
generated access logs (sample_api/weblogs.py `WebTraffic`), under kills, Loki's faults and
lines that share one nanosecond across page boundaries.

The truth is every line the local Loki holds that the query selects (`{job="nginx"}`, two
hosts' streams) inside the loaded range (from the first run's `backfill_hours` on); a
`syslog` stream beside them and lines older than the backfill must never be loaded. Every
check reads `raw_logs.lines` whole and compares `line_id` sets (the key as the source
computes it from Loki's answer, `pipelines.loki.page_rows`): rows lost are truth lines
missing or held with another timestamp, stream or text; duplicates are rows beyond one per
`line_id` (and beyond one per timestamp, stream and text). Each loaded line must also be
in `raw_logs.requests` or `raw_logs.request_rejects`, once: the generated access lines in
the first, the planted non-access lines (an nginx error log line, an impossible date) in
the second.

Every trial first adds lines to the local Loki: new ones up to a second ago, and late ones
inside the overlap window (`overlap_seconds` before the saved cursor), some on the very
nanosecond of the cursor or of a line already loaded. Then:

- kills: `python -m reliability.child loki` (the markers of reliability.child) is
  SIGKILLed at seeded points of extract, normalize and load (aimed as load_killed aims,
  calibrated on two unkilled runs); right after, `raw_logs.lines` holds what it held before
  or the whole new truth; then a normal run, and raw equal to the truth;
- Loki's faults: scripted 429 and 500 answers (LokiFaults), answers held past the client's
  timeout, slow answers within it and connections reset, in bursts at a page in the middle
  of a run. A burst shorter than `max_attempts` must be retried through; a run that fails
  must fail with a LokiError saying nothing was saved, and leave raw, the saved cursor
  (local and in the warehouse) and `_dlt_loads` as they were. Each round loads until a run
  completes; then raw equal to the truth;
- shared timestamps: a small `limit` (20) and short windows, crowds of lines on one
  nanosecond placed so that page boundaries and window boundaries fall inside them, lines
  added between runs on the nanoseconds of the cursor and of crowds already loaded; and a
  crowd larger than a page, which must stop the run clearly with nothing saved until
  `limit` is raised.
"""

from __future__ import annotations

import hashlib
import random
import socket
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipelines.loki import LokiError, load_loki, loki_pipeline, page_rows
from pulse import roles
from reliability import verify
from reliability.kill import Child, strike
from reliability.outcome import Outcome, Trial
from reliability.scenarios import Context, scenario
from reliability.scenarios.crash import LOAD_AIMS, LOAD_PHASES, aim, kills_note, record_child, timed
from reliability.workspace import Workspace, workspace
from sample_api.loki import Entry, LocalLoki, LogStore, LokiHandler, LokiHttpServer
from sample_api.weblogs import WebTraffic

QUERY = '{job="nginx"}'
HOSTS = ("web-1", "web-2")
SECOND = 10**9
LINES, REQUESTS, REJECTS = "raw_logs.lines", "raw_logs.requests", "raw_logs.request_rejects"
# Fast client settings: a 1 s timeout (a held answer waits 1.6 s), 3 attempts, no backoff.
MAX_ATTEMPTS = 3
CLIENT = {"request_timeout": 1.0, "max_attempts": MAX_ATTEMPTS, "backoff_factor": 0}
FAULT_KINDS = ("rate_limit", "server_error", "timeout", "slow", "reset")
CROWD_LIMIT = 20  # lines per page in the shared-timestamps trial


@dataclass(frozen=True)
class Size:
    lines: int  # the backfill's lines
    new_lines: int  # lines added before each trial (besides the late ones)
    limit: int  # lines per page of the kill and fault trials
    kills: int  # per phase
    max_kill_attempts: int
    fault_rounds: int  # rounds under faults after the first (each kind once)
    max_runs: int  # runs per fault round at most
    crowd_rounds: int  # runs of the shared-timestamps trial
    crowd_lines: int  # lines per crowd round
    backfill_hours: float = 3.0


SIZES = {
    "small": Size(lines=4_000, new_lines=1_000, limit=200, kills=1, max_kill_attempts=8,
                  fault_rounds=1, max_runs=4, crowd_rounds=2, crowd_lines=300),
    "full": Size(lines=80_000, new_lines=4_000, limit=1_000, kills=3, max_kill_attempts=24,
                 fault_rounds=6, max_runs=4, crowd_rounds=3, crowd_lines=1_000),
}


# --- the local Loki, with faults in the middle of a run -------------------------------------


class FaultyHandler(LokiHandler):
    """The local Loki's handler; the query_range request of ordinal n (counted since the
    plan was set) gets `schedule[n]`: LokiFaults' scripted 429 or 500, an answer held past
    the client's timeout, a slow answer within it, or the connection closed unanswered."""

    server: LokiHttpServer

    def _query_range(self, params: dict[str, str], tenant: str) -> None:
        loki: FaultyLoki = self.server.loki  # type: ignore[assignment]
        kind = loki.next_fault()
        try:
            if kind == "reset":
                loki.faults.requests.append(dict(params))
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if kind == "timeout":
                time.sleep(loki.held_seconds)
            elif kind == "slow":
                time.sleep(loki.slow_seconds)
            elif kind == "rate_limit":
                loki.faults.rate_limit += 1
            elif kind == "server_error":
                loki.faults.server_error += 1
            super()._query_range(params, tenant)
        except OSError:  # the client gave up (timeout) or was killed: nobody to answer
            self.close_connection = True


@dataclass
class FaultyLoki(LocalLoki):
    held_seconds: float = 1.6  # past the client's 1 s timeout
    slow_seconds: float = 0.4  # within it
    schedule: dict[int, str] = field(default_factory=dict)
    served: int = 0
    injected: Counter = field(default_factory=Counter)
    _plan_lock: threading.Lock = field(default_factory=threading.Lock)

    def plan(self, schedule: dict[int, str]) -> None:
        with self._plan_lock:
            self.schedule, self.served = dict(schedule), 0

    def next_fault(self) -> str | None:
        with self._plan_lock:
            kind = self.schedule.pop(self.served, None)
            self.served += 1
            if kind:
                self.injected[kind] += 1
            return kind

    def start(self, port: int = 0) -> FaultyLoki:
        self._server = LokiHttpServer(("127.0.0.1", port), FaultyHandler)
        self._server.loki = self
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self


# --- the truth ------------------------------------------------------------------------------


def labels_of(host: str, job: str = "nginx") -> tuple[tuple[str, str], ...]:
    log = "/var/log/nginx/access.log" if job == "nginx" else "/var/log/syslog"
    return (("filename", log), ("host", host), ("job", job))


class Truth:
    """The local Loki's store and what a load must find of it: every selected line from
    `loaded_from_ns` on, by the `line_id` the source computes from Loki's answer."""

    def __init__(self, seed: int, loaded_from_ns: int) -> None:
        self.store = LogStore()
        self.rng = random.Random(seed)
        self.web = WebTraffic(seed)
        self.loaded_from_ns = loaded_from_ns
        self.lines: dict[str, tuple[int, str, str]] = {}  # line_id -> (ts, labels, line)
        self.rejects: set[str] = set()  # line_ids the parser must reject
        self.outside = 0  # lines pushed that no load may take (other stream, before the range)
        self.newest_ns = 0

    def push(self, entries: list[Entry], rejects: set[Entry] = frozenset()) -> int:
        """Adds `entries` to Loki; returns how many of them the truth did not hold."""
        self.store.push(entries)
        grouped: dict[tuple, list[Entry]] = defaultdict(list)
        for entry in entries:
            grouped[entry.labels].append(entry)
        added = 0
        for labels, group in grouped.items():
            stream = {"stream": dict(labels), "values": [[str(e.ts_ns), e.line] for e in group]}
            for entry, (key, ts, labels_text, line) in zip(group, page_rows([stream]), strict=True):
                if dict(labels).get("job") != "nginx" or ts < self.loaded_from_ns:
                    self.outside += 1
                    continue
                added += key not in self.lines
                self.lines[key] = (ts, labels_text, line)
                if entry in rejects:
                    self.rejects.add(key)
                self.newest_ns = max(self.newest_ns, ts)
        return added

    def traffic(self, count: int, start_ns: int, end_ns: int, share: float = 0.08) -> list[Entry]:
        """`count` access lines of WebTraffic between the two times; a share of them on the
        nanosecond of the line before (often on the other host), and 1% that are no access
        line (an nginx error log line, an impossible date), which the parser rejects."""
        rng = self.rng
        seconds = max(1.0, (end_ns - start_ns) / SECOND)
        start = datetime.fromtimestamp(start_ns // SECOND, UTC)
        out, rejects, last = [], set(), None
        for visit in self.web.generate(count, start, seconds):
            at = int(visit.requested_at.timestamp()) * SECOND
            ts = at + rng.randrange(SECOND)
            if not start_ns <= ts < end_ns:  # the visit's second is cut by the range
                ts = rng.randrange(start_ns, end_ns)
            if last is not None and rng.random() < share:
                ts = last
            line = visit.line("combined")
            roll = rng.random()
            bad = roll < 0.01
            if roll < 0.005:
                line = (f"{visit.requested_at:%Y/%m/%d %H:%M:%S} [error] 31#31: *{rng.randrange(10**6)} "
                        f'open() "/usr/share/nginx/html{visit.target}" failed (2: No such file or directory)')
            elif bad:
                line = line.replace(f"{visit.requested_at:%d/%b}", "31/Feb", 1)
            entry = Entry(ts, line, labels_of(rng.choice(HOSTS)))
            out.append(entry)
            if bad:
                rejects.add(entry)
            last = ts
        self.push(out, rejects)
        return out

    def late(self, cursor_ns: int, overlap_ns: int, count: int) -> int:
        """Lines Loki took late, inside the overlap window before the saved cursor: some on
        the cursor's own nanosecond, some on the nanosecond of a line already held (on
        another host or with other text). Returns how many."""
        rng = self.rng
        low = cursor_ns - int(overlap_ns * 0.8)
        near = sorted({ts for ts, _, _ in self.lines.values() if low <= ts <= cursor_ns})
        out = []
        for i in range(count):
            if i == 0:
                ts = cursor_ns
            elif near and rng.random() < 0.4:
                ts = rng.choice(near)
            else:
                ts = rng.randrange(low, cursor_ns + 1)
            visit = self.web.generate(1, datetime.fromtimestamp(ts // SECOND, UTC), 1)[0]
            out.append(Entry(ts, visit.line("combined"), labels_of(rng.choice(HOSTS))))
        return self.push(out)

    def noise(self, count: int, start_ns: int, end_ns: int) -> None:
        """Lines the query must never load: another job's stream in the range, and nginx
        lines from before the first run's range."""
        rng = self.rng
        before = self.loaded_from_ns - 3600 * SECOND
        entries = [Entry(rng.randrange(start_ns, end_ns), f"sshd[{rng.randrange(9999)}]: session opened",
                         labels_of("web-1", "syslog")) for _ in range(count)]
        entries += [Entry(rng.randrange(before - 3600 * SECOND, before), f"old line {i}",
                          labels_of(rng.choice(HOSTS))) for i in range(count)]
        self.push(entries)


# --- checks ---------------------------------------------------------------------------------


def _digest(labels: str, line: str) -> str:
    return hashlib.md5(f"{labels}\x01{line}".encode()).hexdigest()


def raw_ids(ws: Workspace) -> set[str]:
    if not verify.table_exists(ws.conn, LINES):
        return set()
    return {key for (key,) in verify.query(ws.conn, f"select line_id from {LINES}")}


def ids_of(ws: Workspace, table: str) -> list[str]:
    if not verify.table_exists(ws.conn, table):
        return []
    return [key for (key,) in verify.query(ws.conn, f"select line_id from {table}")]


def check(ws: Workspace, truth: Truth, trial: Trial, what: str) -> dict[str, int]:
    """raw_logs.lines against the truth, and requests + request_rejects against lines;
    adds the lost and duplicated rows to `trial`. Returns the counts."""
    with timed(trial, f"verify {what}"):
        rows = (verify.query(ws.conn, f"select line_id, ts_ns, md5(labels || E'\\x01' || line) "
                                      f"from {LINES}")
                if verify.table_exists(ws.conn, LINES) else [])
        # rows beyond one per line_id, or beyond one per timestamp, stream and text
        duplicates = len(rows) - min(len({key for key, _, _ in rows}),
                                     len({(ts, d) for _, ts, d in rows}))
        content = {key: (ts, d) for key, ts, d in rows}
        lost = [k for k in truth.lines if k not in content]
        differ = [k for k, (ts, labels, line) in truth.lines.items()
                  if k in content and content[k] != (ts, _digest(labels, line))]
        stray = [k for k in content if k not in truth.lines]
        requests, rejects = ids_of(ws, REQUESTS), ids_of(ws, REJECTS)
        parsed = Counter(requests) + Counter(rejects)
        parsed_dup = sum(n - 1 for n in parsed.values())
        parsed_lost = [k for k in content if k not in parsed]
        parsed_stray = [k for k in parsed if k not in content]
        misparsed = len(set(rejects) ^ (truth.rejects & set(content)))
    lost_n = len(lost) + len(differ) + len(parsed_lost)
    trial.lost += lost_n
    trial.duplicates += duplicates + parsed_dup
    if lost or differ or duplicates or stray:
        trial.errors.append(f"{what}: {LINES} differs from Loki's lines: {len(lost)} missing "
                            f"(e.g. {lost[:3]}), {len(differ)} with other content, {duplicates} "
                            f"duplicated, {len(stray)} never served by the query in range "
                            f"(e.g. {stray[:3]})")
    if parsed_lost or parsed_dup or parsed_stray:
        trial.errors.append(f"{what}: requests + request_rejects != lines: {len(parsed_lost)} lines "
                            f"in neither, {parsed_dup} twice, {len(parsed_stray)} not in lines")
    if misparsed:
        trial.errors.append(f"{what}: {misparsed} lines parsed otherwise than generated "
                            "(a rejected access line or an accepted error line)")
    counts = {"expected": len(truth.lines), "raw": len(rows), "lost": lost_n,
              "duplicates": duplicates + parsed_dup, "requests": len(requests), "rejects": len(rejects)}
    trial.detail.setdefault("checks", {})[what] = counts
    return counts


def cursor(ws: Workspace) -> dict[str, Any]:
    """What a failed run must not move: the local cursor, the warehouse's newest state
    version and its loads."""
    state = loki_pipeline(ws.pipelines_dir).state
    last = (state.get("sources", {}).get("loki", {}).get("resources", {}).get("lines", {})
            .get("incremental", {}).get("ts_ns", {}).get("last_value"))
    version = loads = None
    if verify.table_exists(ws.conn, "raw_logs._dlt_pipeline_state"):
        version = verify.query(ws.conn, "select max(version) from raw_logs._dlt_pipeline_state "
                                        "where pipeline_name = 'loki'")[0][0]
        loads = verify.query(ws.conn, "select count(*) from raw_logs._dlt_loads")[0][0]
    return {"last_value": last, "state_version": version, "loads": loads}


def newest_loaded(ws: Workspace) -> int:
    return int(verify.query(ws.conn, f"select max(ts_ns) from {LINES}")[0][0])


# --- the scenario ---------------------------------------------------------------------------


@dataclass
class Run:
    ws: Workspace
    loki: FaultyLoki
    truth: Truth
    size: Size
    ctx: Context
    outcome: Outcome

    def args(self, **more: object) -> dict[str, object]:
        return {"base_url": self.loki.url, "query": QUERY, "log_format": "combined",
                "limit": self.size.limit, "backfill_hours": self.size.backfill_hours,
                **CLIENT, **more}

    def load(self, **more: object) -> None:
        """One run of `load_loki` in this process, on the workspace's dlt folder."""
        load_loki(self.ws.pipelines_dir, **self.args(**more))

    def child(self, name: str) -> Child:
        args = {"pipelines_dir": str(self.ws.pipelines_dir), "database": self.ws.database,
                **self.args()}
        env = {**self.ws.env(), "RUNTIME__LOG_LEVEL": "INFO"}  # dlt's log marks the load's steps
        return Child.python("loki", args, env, self.ws.root / f"{name}.log")

    def add_lines(self, count: int, late: int = 0) -> int:
        """New lines up to a second ago, and `late` ones inside the overlap window."""
        now = time.time_ns()
        start = max(self.truth.newest_ns + 1, now - 30 * SECOND)
        added = len(self.truth.traffic(count, start, now - SECOND))
        if late and raw_ids(self.ws):
            added += self.truth.late(newest_loaded(self.ws), 300 * SECOND, late)
        return added


@scenario("logs", order=30)
def logs(ctx: Context) -> Outcome:
    """The loki source under kills in every phase, Loki's 429/500/timeouts/resets mid-run,
    and lines sharing a nanosecond across pages and runs: raw_logs equals Loki's lines."""
    size = SIZES[ctx.scale]
    outcome = Outcome("logs")
    now = time.time_ns()
    # lines from half an hour inside the first run's range: the range starts when it runs
    truth = Truth(ctx.seed, now - int((size.backfill_hours - 0.5) * 3600 * SECOND))
    truth.traffic(size.lines, truth.loaded_from_ns, now - 60 * SECOND)
    truth.noise(50, truth.loaded_from_ns, now)
    with workspace("logs", keep=ctx.keep) as ws, FaultyLoki(truth.store) as loki:
        run = Run(ws, loki, truth, size, ctx, outcome)
        first = Trial(ctx.trial_seed(0), "none", target="backfill", counted=False)
        with timed(first, "load"):
            run.load()
        check(ws, truth, first, "backfill")
        outcome.add(first)
        outcome.trials -= 1  # the backfill is no trial
        crowd_trials(run)  # first: its small pages re-read the fewest lines in the overlap
        kill_trials(run)
        fault_trials(run)
        final = Trial(ctx.trial_seed(999), "none", target="final", counted=False)
        run.load()
        counts = check(ws, truth, final, "final")
        owner = verify.query(ws.conn, "select tableowner from pg_tables where schemaname = 'raw_logs' "
                                      "and tablename = 'lines'")[0][0]
        loader = roles.connection("loader", ws.database).user
        final.detail["owner"] = owner
        if owner != loader:
            final.errors.append(f"{LINES} is owned by {owner}, not the loader {loader}")
        outcome.add(final)
        outcome.trials -= 1
    outcome.rows_expected, outcome.rows_raw = counts["expected"], counts["raw"]
    outcome.note(f"{counts['requests']:,} requests + {counts['rejects']:,} rejects = lines; "
                 f"{truth.outside} lines outside the query or range, none loaded; no marts yet")
    outcome.note(trials_note(outcome))
    outcome.note("faults " + ", ".join(f"{k} {loki.injected[k]}" for k in FAULT_KINDS))
    return outcome


def trials_note(outcome: Outcome) -> str:
    """Per trial kind: trials, rows lost, duplicated."""
    parts = []
    for kind in ("sigkill", "loki", "crowd"):
        trials = [t for t in outcome.trial_log if t.fault.startswith(kind)]
        parts.append(f"{kind} {len(trials)} trials, lost {sum(t.lost for t in trials)}, "
                     f"dup {sum(t.duplicates for t in trials)}")
    return "; ".join(parts)


# --- kills ----------------------------------------------------------------------------------


def kill_trials(run: Run) -> None:
    ws, truth, size, ctx, outcome = run.ws, run.truth, run.size, run.ctx, run.outcome
    durations: dict[str, float] = {}
    for n in range(2):  # calibration: unkilled children, each of new and late lines
        run.add_lines(size.new_lines, late=20)
        child = run.child(f"calibration-{n}").finish()
        if child.returncode != 0:
            raise RuntimeError(f"the calibration load failed: {child.error or child.stderr[-800:]}")
        for name, seconds in {**child.durations(), **child.durations(steps=True)}.items():
            durations[name] = max(seconds, durations.get(name, 0.0))
        calibration = Trial(ctx.trial_seed(900 + n), "none", target="calibration", counted=False)
        check(ws, truth, calibration, f"calibration {n}")
        outcome.errors += [f"calibration: {e}" for e in calibration.errors]
    outcome.detail["calibration_seconds"] = {k: round(v, 3) for k, v in durations.items()}
    wanted = list(LOAD_PHASES) * size.kills
    attempt = 0
    while wanted and attempt < size.max_kill_attempts:
        seed = ctx.trial_seed(100 + attempt)
        attempt += 1
        phase = wanted[0]
        so_far = sum(1 for t in outcome.trial_log if t.counted and t.fault == "sigkill" and t.landed == phase)
        target, delay = aim(phase, so_far, durations, random.Random(seed), LOAD_AIMS)
        trial = Trial(seed, "sigkill", target=target, delay=round(delay, 4), dataset="loki.lines")
        before = raw_ids(ws)
        trial.detail["lines_added"] = run.add_lines(size.new_lines, late=20)
        after = set(truth.lines)
        with timed(trial, "fault"):
            child = strike(run.child(f"trial-{seed}"), target, delay)
        record_child(trial, child)
        if trial.landed in wanted:
            wanted.remove(trial.landed)
        elif trial.counted:
            wanted.append(wanted.pop(0))
        held = raw_ids(ws)
        state = "before" if held == before else "after" if held == after else "partial"
        trial.detail["raw_after_fault"] = state
        if state == "partial":
            trial.errors.append(f"{LINES} partially loaded after a kill in {child.landed}: "
                                f"{len(held - before)} of {len(after - before)} new lines, "
                                f"{len(held - after)} not in the truth")
        with timed(trial, "rerun"):
            try:
                run.load()
            except Exception as err:  # the rerun must recover on its own
                trial.errors.append(f"the rerun failed: {type(err).__name__}: {str(err)[:300]}")
        check(ws, truth, trial, "rerun")
        outcome.add(trial)
        ctx.log(f"  logs seed {seed}: kill aimed at {target} +{delay:.3f}s, landed {child.landed}, "
                f"raw {state}, lost {trial.lost}, dup {trial.duplicates}"
                + (f", errors {trial.errors}" if trial.errors else ""))
    if wanted:
        outcome.errors.append(f"kills that never landed after {attempt} attempts: {wanted}")
    kills = [t for t in outcome.trial_log if t.fault == "sigkill"]
    outcome.note(kills_note(outcome).replace("kills: loki.lines ", "kills: ")
                 + f", raw already merged at {sum(t.detail['raw_after_fault'] == 'after' for t in kills)}")


# --- Loki's faults --------------------------------------------------------------------------


def fault_plan(rng: random.Random, pages: int, round_no: int, attempt: int) -> list[tuple[int, str, int]]:
    """(page, kind, burst) of a run: the first run of round 0 gets every kind once on pages
    1 to 5 (bursts of one: retried through); the first run of round 1 a burst of
    MAX_ATTEMPTS failures at a page mid-run, which must end the run (a slow answer within the
    timeout is no failure); other first runs one or two
    faults of a random kind at a random page, in bursts of 1 to MAX_ATTEMPTS; the runs
    after a failed one bursts shorter than MAX_ATTEMPTS only."""
    if (round_no, attempt) == (0, 0):
        return [(1 + i, kind, 1) for i, kind in enumerate(FAULT_KINDS)]
    at = rng.randrange(1, max(2, pages - 1))
    if (round_no, attempt) == (1, 0):
        return [(at, rng.choice([k for k in FAULT_KINDS if k != "slow"]), MAX_ATTEMPTS)]
    bursts = (1, 2, MAX_ATTEMPTS) if attempt == 0 else tuple(range(1, MAX_ATTEMPTS))
    out = []
    for _ in range(rng.choice((1, 1, 2))):
        out.append((at, rng.choice(FAULT_KINDS), rng.choice(bursts)))
        at += rng.randrange(1, 3)
    return out


def schedule_of(plan: list[tuple[int, str, int]]) -> dict[int, str]:
    """Request ordinals: a burst's retries are the requests that follow it."""
    schedule, shift = {}, 0
    for page, kind, burst in plan:
        for i in range(burst):
            schedule[page + shift + i] = kind
        shift += burst  # the faulted requests come before the page's answer
    return schedule


def fault_trials(run: Run) -> None:
    ws, loki, truth, size, ctx, outcome = run.ws, run.loki, run.truth, run.size, run.ctx, run.outcome
    for round_no in range(size.fault_rounds + 1):
        seed = ctx.trial_seed(300 + round_no)
        rng = random.Random(seed)
        run.add_lines(size.new_lines, late=10)
        completed = False
        for attempt in range(size.max_runs):
            last = attempt == size.max_runs - 1
            plan = [] if last else fault_plan(rng, max(3, size.new_lines // size.limit), round_no, attempt)
            trial = Trial(seed * 100 + attempt, "loki", dataset="loki.lines",
                          target=", ".join(f"{kind} x{burst} at page {page}" for page, kind, burst in plan)
                          or "no fault")
            before, was = raw_ids(ws), cursor(ws)
            injected = sum(loki.injected.values())
            loki.plan(schedule_of(plan))
            try:
                with timed(trial, "load"):
                    run.load()
                trial.landed = "completed"
            except LokiError as err:
                trial.landed = "failed clearly"
                message = str(err)
                trial.detail["error"] = message[:300]
                if "othing of this run was saved" not in message or loki.url not in message:
                    trial.errors.append(f"an unclear error: {message[:200]}")
                if raw_ids(ws) != before:
                    trial.errors.append(f"a failed run changed {LINES}")
                if (now := cursor(ws)) != was:
                    trial.errors.append(f"a failed run moved the cursor: {was} -> {now}")
            except Exception as err:  # anything else is a bug: reported, never raised
                trial.landed = "crashed"
                trial.errors.append(f"unexplained failure: {type(err).__name__}: {str(err)[:300]}")
            loki.plan({})
            trial.detail["faults"] = sum(loki.injected.values()) - injected
            trial.counted = trial.detail["faults"] > 0
            ended_by = [k for _, k, burst in plan if burst >= MAX_ATTEMPTS and k != "slow"]
            if trial.landed == "failed clearly" and not ended_by and trial.counted:
                trial.errors.append(f"faults in bursts shorter than max_attempts ({MAX_ATTEMPTS}) "
                                    f"were not retried through: {trial.target}")
            if trial.landed == "completed":
                check(ws, truth, trial, "completed run")
            if trial.counted or trial.landed != "completed" or last:
                outcome.add(trial)
            ctx.log(f"  logs seed {trial.seed}: {trial.target}: {trial.landed}, "
                    f"{trial.detail['faults']} faults" + (f", errors {trial.errors}" if trial.errors else ""))
            if trial.landed == "completed":
                completed = True
                break
        if not completed:
            outcome.errors.append(f"no run of fault round {round_no} completed (seed {seed})")
    runs = [t for t in outcome.trial_log if t.fault == "loki"]
    outcome.note(f"runs under faults: {sum(t.landed == 'completed' for t in runs)} retried through, "
                 f"{sum(t.landed == 'failed clearly' for t in runs)} failed clearly with nothing saved")


# --- lines sharing one nanosecond -----------------------------------------------------------


def crowd_entries(rng: random.Random, start_ns: int, end_ns: int, count: int, limit: int,
                  window_ns: int, window_start_ns: int, web: WebTraffic) -> list[Entry]:
    """`count` lines in crowds of 2 to limit - 6 on one nanosecond (room for late lines), between
    the times; crowds on every window's first nanosecond and its last (`window_start_ns` + k *
    `window_ns`) first."""
    edges = [t for k in range(1, 1 + (end_ns - window_start_ns) // window_ns)
             for t in (window_start_ns + k * window_ns, window_start_ns + k * window_ns - 1)
             if start_ns <= t < end_ns]
    others = sorted({rng.randrange(start_ns, end_ns) for _ in range(max(1, count // 6))} - set(edges))
    out: list[Entry] = []
    for ts in [*edges, *others]:
        crowd = rng.randrange(2, limit - 5)
        visits = web.generate(crowd, datetime.fromtimestamp(ts // SECOND, UTC), 1)
        out += [Entry(ts, v.line("combined"), labels_of(HOSTS[i % 2])) for i, v in enumerate(visits)]
        if len(out) >= count:
            break
    return out


def split_crowds(store: LogStore, requests: list[dict]) -> int:
    """How many pages of `requests` (query_range parameters, in order; replayed on `store`
    as it was) ended inside a crowd: the page's newest nanosecond has lines beyond it."""
    selector = {"job": "nginx"}
    split = 0
    for params in requests:
        limit = int(params["limit"])
        page = store.query(selector, int(params["start"]), int(params["end"]), limit)
        if len(page) == limit:
            newest = page[-1].ts_ns
            held = sum(e.ts_ns == newest for e in page)
            split += len(store.query(selector, newest, newest + 1, 10**6)) > held
    return split


def crowd_trials(run: Run) -> None:
    """A limit of CROWD_LIMIT lines a page and windows of a minute; each round adds crowds
    of lines on one nanosecond (page and window boundaries fall inside them) and late lines
    on the nanoseconds of the cursor and of crowds already loaded, then loads."""
    ws, loki, truth, ctx, outcome = run.ws, run.loki, run.truth, run.ctx, run.outcome
    window_ns = 60 * SECOND
    overlap_ns = 300 * SECOND
    for round_no in range(run.size.crowd_rounds):
        seed = ctx.trial_seed(500 + round_no)
        rng = random.Random(seed)
        trial = Trial(seed, "crowd", target=f"limit {CROWD_LIMIT}", dataset="loki.lines")
        cursor_ns = newest_loaded(ws)
        start = cursor_ns - overlap_ns  # where the run's first window starts
        now = time.time_ns()
        entries = crowd_entries(rng, cursor_ns + 1, now - SECOND, run.size.crowd_lines, CROWD_LIMIT,
                                window_ns, start, truth.web)
        # late: a crowd of new lines on the cursor's nanosecond and on loaded crowds' ones
        # (at most CROWD_LIMIT - 1 on one nanosecond: a page must get past each)
        at = Counter(ts for ts, _, _ in truth.lines.values() if start < ts <= cursor_ns)
        for ts in [cursor_ns, *rng.sample(sorted(at), min(3, len(at)))]:
            late = min(rng.randrange(1, 6), CROWD_LIMIT - 1 - at[ts])
            visits = truth.web.generate(late, datetime.fromtimestamp(ts // SECOND, UTC), 1)
            entries += [Entry(ts, v.line("combined"), labels_of(rng.choice(HOSTS))) for v in visits]
        trial.detail["lines_added"] = truth.push(entries)
        shared = Counter(e.ts_ns for e in entries)
        trial.detail["largest_crowd"] = max(shared.values())
        requests_before = len(loki.faults.requests)
        try:
            with timed(trial, "load"):
                run.load(limit=CROWD_LIMIT, window_hours=window_ns / 3600 / SECOND)
            trial.landed = "completed"
        except Exception as err:
            trial.landed = "failed"
            trial.errors.append(f"the run failed: {type(err).__name__}: {str(err)[:300]}")
        trial.detail["pages"] = len(loki.faults.requests) - requests_before
        trial.detail["pages_ending_in_a_crowd"] = split_crowds(truth.store,
                                                               loki.faults.requests[requests_before:])
        if not trial.detail["pages_ending_in_a_crowd"]:
            trial.errors.append("no page boundary fell inside a crowd: the trial proved nothing")
        check(ws, truth, trial, "crowds")
        outcome.add(trial)
        ctx.log(f"  logs seed {seed}: {trial.detail['lines_added']} lines in crowds up to "
                f"{trial.detail['largest_crowd']} on one ns, {trial.detail['pages']} pages, "
                f"{trial.detail['pages_ending_in_a_crowd']} ending inside a crowd: "
                f"lost {trial.lost}, dup {trial.duplicates}"
                + (f", errors {trial.errors}" if trial.errors else ""))
    crowds = [t for t in outcome.trial_log if t.fault == "crowd"]
    outcome.note(f"{sum(t.detail['pages_ending_in_a_crowd'] for t in crowds)} of "
                 f"{sum(t.detail['pages'] for t in crowds)} pages (limit {CROWD_LIMIT}) ended inside "
                 "a crowd of lines on one nanosecond")
    # a crowd larger than a page: the run must stop, clearly, nothing saved, until limit is raised
    seed = ctx.trial_seed(599)
    trial = Trial(seed, "crowd-over-limit", target=f"{CROWD_LIMIT + 5} lines on one ns, limit {CROWD_LIMIT}",
                  dataset="loki.lines")
    ts = max(truth.newest_ns + 1, time.time_ns() - 2 * SECOND)
    visits = truth.web.generate(CROWD_LIMIT + 5, datetime.fromtimestamp(ts // SECOND, UTC), 1)
    trial.detail["lines_added"] = truth.push([Entry(ts, v.line("combined"), labels_of(HOSTS[i % 2]))
                                              for i, v in enumerate(visits)])
    before, was = raw_ids(ws), cursor(ws)
    try:
        run.load(limit=CROWD_LIMIT)
        trial.errors.append(f"a crowd of {CROWD_LIMIT + 5} lines on one nanosecond was paged past "
                            f"with limit {CROWD_LIMIT}")
        trial.landed = "completed"
    except LokiError as err:
        trial.landed = "failed clearly"
        trial.detail["error"] = str(err)[:300]
        if "Raise SOURCES__LOKI__LIMIT" not in str(err):
            trial.errors.append(f"an unclear error: {str(err)[:200]}")
        if raw_ids(ws) != before or cursor(ws) != was:
            trial.errors.append("the stopped run saved lines or moved the cursor")
    run.load(limit=CROWD_LIMIT * 2)
    check(ws, truth, trial, "limit raised")
    outcome.add(trial)
    ctx.log(f"  logs seed {seed}: {trial.target}: {trial.landed}, then limit {CROWD_LIMIT * 2}: "
            f"lost {trial.lost}, dup {trial.duplicates}"
            + (f", errors {trial.errors}" if trial.errors else ""))
