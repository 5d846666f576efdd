"""The collector's disk really full and the Postgres sink down for minutes, under load:
every acknowledged message in the marts exactly once.

- events_disk_full_sink_down: the collector's spool is a small tmpfs mounted for the
  scenario (`mount -t tmpfs -o size=...`; root only), with the collector's own checks out
  of the way (PULSE_COLLECTOR_MIN_FREE_BYTES=0, a spool cap above the tmpfs), so what
  stops it is the kernel's ENOSPC on write(). Simulated SDKs (sample_api/traffic.py) send
  without pause; each 503 is retried after its Retry-After, as SDKs do. Meanwhile the
  Postgres sink is unreachable (the drain's WAREHOUSE_URL, PULSE_LOADER_URL and PG* at a
  127.0.0.1 port where nothing listens) for a stretch (small: 10 s, full: 3 min): drains
  run again and again in a child process, and each must fail with the DrainError and keep
  every segment. The disk fills, clients get 503s (never a 500), the collector is
  SIGKILLed on the full disk with a torn record left on its open segment (a write the
  kernel cut short at ENOSPC, in the room another file on the disk left as it was
  deleted: what a kill between such a write and the collector's cut leaves) and must
  start again there, on the full disk. Then the sink comes back, the drain frees the disk, clients get 200s
  again, traffic stops, a last drain, dbt, and collector_killed's check: the messages in
  `staging.stg_events__events` are exactly those some client heard a 200 for, once, and
  the marts count each once.

Without root (mount refused) the disk is full by the spool's cap alone, and the notes say so.
With --keep the workspace stays, but not the spool: it was on the tmpfs, unmounted at the end.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import threading
import time
import uuid
import zlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from collector.spool import HEADER, OPEN, segment_paths
from pulse import roles, warehouse
from reliability.kill import machine_free
from reliability.outcome import Outcome, Trial
from reliability.scenarios import Context, scenario
from reliability.scenarios.collector_killed import WRITE_KEY, check
from reliability.workspace import Workspace, dbt_failure, workspace
from sample_api.collector_process import CollectorProcess, free_port, start_collector
from sample_api.traffic import Client, TrafficGenerator

OTHER_FILE_BYTES = 256 * 1024

DRAIN_CHILD = """
import sys
from pathlib import Path
from pipelines.events import DrainError, DrainSettings, PostgresSink, drain
settings = DrainSettings(Path(sys.argv[1]), retries=3, backoff_seconds=0.1,
                         max_batch_bytes=2_000_000)
try:
    result = drain(settings, [PostgresSink(Path(sys.argv[2]))])
except DrainError as err:
    print(f"DrainError: {err}", flush=True)
    sys.exit(3)
print("drained", result.segments, result.events, result.skipped or "", flush=True)
"""


def _drain(ws: Workspace, spool: Path, env: dict[str, str]) -> tuple[int, str]:
    """One drain of `spool` into the Postgres sink, in a child process; (exit code, output)."""
    child = subprocess.Popen([sys.executable, "-c", DRAIN_CHILD, str(spool), str(ws.pipelines_dir)],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = child.communicate(timeout=600)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return child.returncode, out


def _sink_down_env(ws: Workspace, port: int) -> dict[str, str]:
    """The drain's environment with every way to the warehouse (WAREHOUSE_URL, each role's
    PULSE_<ROLE>_URL, PG*) at 127.0.0.1:`port`, where nothing listens. The loader gets its
    own URL there, as a deployment against a remote server has it; else the drain would
    stop at the missing password, not at the server."""
    env = ws.env()

    def moved(url: str) -> str:
        return replace(warehouse.Connection.from_url(url), host="127.0.0.1", port=port).url()

    env["PULSE_LOADER_URL"] = roles.url("loader", ws.database, raw_dataset="raw_events")
    for key, value in list(env.items()):
        if key == "WAREHOUSE_URL" or (key.startswith("PULSE_") and key.endswith("_URL")
                                      and value.startswith("postgres")):
            env[key] = moved(value)
    env.update(PGHOST="127.0.0.1", PGPORT=str(port))
    return env


def _mount_tmpfs(folder: Path, size_bytes: int) -> str | None:
    """Mounts a tmpfs of `size_bytes` on `folder`; None, or why it could not."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        run = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_bytes // (1 << 20)}M,mode=0700",
                              "tmpfs", str(folder)], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as err:
        return str(err)
    return None if run.returncode == 0 else (run.stderr.strip() or f"mount exited {run.returncode}")


def _unmount(folder: Path) -> None:
    if subprocess.run(["umount", str(folder)], capture_output=True).returncode:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)  # still busy: detach


def _leave_torn_record(spool: Path, disk_bytes: int) -> int:
    """What a collector killed between a write the kernel cut short at ENOSPC and its cut
    leaves: a record's header and as much of its payload as the disk took, at the end of
    the open segment (a new one if none is open). The payload is larger than the whole
    disk, so it is never whole. Returns the bytes written (the disk is full after it)."""
    opened = segment_paths(spool, OPEN)
    path = opened[-1] if opened else spool / f"{time.time_ns():020d}{OPEN}"
    payload = b"x" * (disk_bytes + (1 << 20))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        return os.write(fd, HEADER.pack(len(payload), zlib.crc32(payload)) + payload)
    except OSError:  # not a byte of room: nothing torn
        return 0
    finally:
        os.close(fd)


def _probe(url: str) -> tuple[int, str]:
    """What the collector answers on the full disk, to a batch of about 400 KB (more than
    the room a full disk has left) of bad events (no user: stored as bad events if there
    is room after all, never counted as messages)."""
    client = Client(url, WRITE_KEY, random.Random(0), timedelta(0))
    now = datetime.now(UTC).isoformat()
    calls = [{"type": "track", "event": "probe", "messageId": f"probe-{uuid.uuid4()}",
              "timestamp": now, "properties": {"pad": "x" * 24_000}} for _ in range(16)]
    try:
        status, answer, headers = client.post("/v1/batch", {"batch": calls, "sentAt": now})
    finally:
        client.connection.close()
    retry = headers.get("Retry-After") or headers.get("retry-after")
    return status, f"{answer.get('error', '')} (Retry-After {retry})" if status == 503 else str(answer)


@scenario("events_disk_full_sink_down", order=61)
def events_disk_full_sink_down(ctx: Context) -> Outcome:
    """The collector's disk full (a real ENOSPC) and the Postgres sink down for minutes"""
    outcome = Outcome("events_disk_full_sink_down")
    disk_bytes = ctx.pick(small=2, full=16) << 20
    with workspace("events_disk_full_sink_down", keep=ctx.keep) as ws:
        disk = ws.root / "disk"
        why_not = _mount_tmpfs(disk, disk_bytes)
        try:
            DiskFullSinkDown(ctx, ws, disk, disk_bytes, mounted=why_not is None, outcome=outcome).run()
        finally:
            if why_not is None:
                _unmount(disk)
        if why_not is not None:
            outcome.note(f"disk full simulated by the spool cap: could not mount a tmpfs "
                         f"({machine_free(why_not)[:200]})")
    return outcome


class DiskFullSinkDown:
    """One run of the scenario: the collector, the clients, the drains, what was seen."""

    def __init__(self, ctx: Context, ws: Workspace, disk: Path, disk_bytes: int, *, mounted: bool,
                 outcome: Outcome):
        self.ctx, self.ws, self.outcome = ctx, ws, outcome
        self.spool = disk / "spool"
        # another file on the disk, deleted when the collector is killed: a write the
        # kernel cuts short at ENOSPC needs a little room to start in
        self.other_file = disk / "other-file"
        if mounted:
            self.other_file.write_bytes(b"o" * OTHER_FILE_BYTES)
        self.disk_bytes, self.mounted = disk_bytes, mounted
        self.disk = f"a {disk_bytes >> 20} MB tmpfs" if mounted else f"a spool cap of {disk_bytes:,} bytes"
        self.down_seconds = ctx.pick(small=10.0, full=180.0)
        self.log = ws.root / "collector.log"
        self.port = free_port()
        self.collector_env = {
            **ws.env(), "PULSE_COLLECTOR_MIN_FREE_BYTES": "0",
            # above the tmpfs: the kernel's ENOSPC, not the collector's own check, says
            # full; without a tmpfs the cap is all there is
            "PULSE_COLLECTOR_SPOOL_CAP_BYTES": str(disk_bytes * 4 if mounted else disk_bytes)}
        self.real_env = ws.env()
        self.down_env = _sink_down_env(ws, free_port())
        self.failures: list[BaseException] = []
        self.trial = 0
        self.torn: int | None = None  # bytes of the torn record, once the collector was killed
        self.began = time.monotonic()

    def say(self, text: str) -> None:
        self.ctx.log(f"  {time.monotonic() - self.began:5.1f} s: {text}")

    def seed(self) -> int:
        self.trial += 1
        return self.ctx.trial_seed(self.trial)

    def start(self) -> CollectorProcess:
        return start_collector(self.spool, self.log, port=self.port,
                               write_keys=f"{WRITE_KEY}=reliability", **self.collector_env)

    def send(self) -> None:
        try:
            self.traffic.send(10**9)
        except BaseException as err:  # noqa: BLE001 - reported as a failed check
            self.failures.append(err)

    def run(self) -> None:
        outcome = self.outcome
        self.collector = self.start()
        self.traffic = TrafficGenerator(self.collector.url, WRITE_KEY, seed=self.ctx.seed, clients=4,
                                        retry_rate=0.05)
        truth = self.traffic.truth
        sender = threading.Thread(target=self.send, daemon=True)
        sender.start()
        self.say(f"collector on {self.disk}, traffic on")
        finished = False
        try:
            finished = self.sink_down() and self.sink_back()
        finally:
            self.traffic.stop.set()
            # each client ends after its request, and one refused on a full disk is sent
            # again until it is stored: the drain goes on until they have all ended
            deadline = time.monotonic() + (120 if finished else 10)
            while sender.is_alive() and time.monotonic() < deadline:
                if finished:
                    _drain(self.ws, self.spool, self.real_env)
                sender.join(timeout=1)
            self.collector.stop()
            self.say(f"traffic stopped: {len(truth.events):,} messages acknowledged")
        if sender.is_alive():
            outcome.errors.append("the clients did not end after traffic stopped")
        if self.failures:  # a 500, or any answer but 200 and 503
            cause = self.failures[0].__cause__ or self.failures[0]
            outcome.errors.append(f"a client failed: {cause}")
        if "Traceback" in self.log.read_text(errors="replace"):
            outcome.errors.append("the collector logged an exception: see collector.log (--keep)")
        if not finished:
            return
        outcome.detail.update(refused=truth.refused, requests=truth.requests,
                              reconnects=truth.reconnects, torn_bytes=self.torn)
        outcome.note(
            f"{self.disk} full (PULSE_COLLECTOR_MIN_FREE_BYTES=0): {truth.refused} answered 503 "
            f"({self.refused_down} while the sink was down), "
            f"{'no 500' if not outcome.errors else 'see the errors'}; the Postgres sink down "
            f"{self.down_for:.0f} s: {outcome.detail['failed_drains']} drains failed with the "
            f"DrainError, every segment kept; {self.acked_down:,} messages acknowledged while "
            f"down, 200s again {outcome.detail['acknowledged_again_after_seconds']:.0f} s after "
            f"it came back; {truth.requests:,} requests ({truth.reconnects} resent after a "
            "broken connection); "
            + (f"the collector SIGKILLed on the full disk, {self.torn:,} torn bytes cut at its restart"
               if self.torn is not None else "the disk never full: the collector was not killed"))
        code, out = _drain(self.ws, self.spool, self.real_env)
        self.say(f"last drain: {out.strip()[-80:]}")
        if code:
            outcome.errors.append(f"the last drain failed: {machine_free(out[-2000:])}")
            return
        left = [p.name for p in segment_paths(self.spool)] + [p.name for p in self.spool.glob("corrupt/*")]
        if left:
            outcome.errors.append(f"segments left after the last drain: {left[:5]}")
        build = self.ws.dbt_build("--select", "staging.events+")
        if build.returncode:
            outcome.errors.append(f"dbt build failed: {dbt_failure(build)}")
            return
        self.say("dbt built")
        check(self.ws, self.traffic, outcome)

    def sink_down(self) -> bool:
        """Drains against the dead sink, again and again, for `down_seconds` and until the
        disk was full and the collector was killed on it. False: the scenario stops."""
        truth, spool = self.traffic.truth, self.spool
        most = (0, shutil.disk_usage(spool).free)  # bytes spooled at the most, the disk's free then
        started = time.monotonic()
        killed, probe = False, ""
        while not self.failures:
            elapsed = time.monotonic() - started
            # the trial "disk-full" below fails if it never was (no 503)
            if elapsed >= self.down_seconds and (killed or elapsed >= self.down_seconds + 30):
                break
            if truth.refused and not killed:
                status, answer = _probe(self.collector.url)
                probe = f"; a probe answered {status}: {machine_free(answer)[:200]}"
                killed = True
                if not self.kill_on_full_disk():
                    return False
                continue
            before = {p.name for p in segment_paths(spool)}
            if not before:  # nothing sealed yet (a slow machine): a drain would have no sink to fail
                time.sleep(0.5)
                continue
            code, out = _drain(self.ws, spool, self.down_env)
            deleted = before - {p.name for p in segment_paths(spool)}
            spooled = sum(p.stat().st_size for p in spool.glob("*.*") if p.suffix in (OPEN, ".sealed"))
            most = max(most, (spooled, shutil.disk_usage(spool).free))
            trial = Trial(self.seed(), "sink-down",
                          target="drain: the Postgres sink at a port where nothing listens",
                          landed=f"exit {code}, {len(before)} segments waiting, {len(deleted)} deleted; "
                                 f"{truth.refused} answered 503 so far")
            if code != 3 or not all(text in out for text in (
                    "DrainError: the postgres sink failed 4 times", "Connection refused",
                    "The segments stay in the spool")):
                trial.errors.append(f"the drain did not fail with the DrainError: "
                                    f"{machine_free(out[-800:])}")
            if deleted:
                trial.errors.append(f"the failed drain deleted {len(deleted)} segments")
            self.outcome.add(trial)
            self.say(f"drain against the dead sink: {trial.landed}")
        self.down_for = time.monotonic() - started
        self.refused_down, self.acked_down = truth.refused, len(truth.events)
        self.outcome.add(Trial(
            self.ctx.trial_seed(0), "disk-full",
            target=f"the spool on {self.disk}" if self.mounted else f"the spool at {self.disk}",
            landed=f"{self.refused_down} answered 503 while the sink was down; {most[0]:,} bytes "
                   f"spooled at the most ({most[1]:,} bytes free then){probe}",
            counted=self.refused_down > 0, errors=[] if self.refused_down else ["no client got a 503"]))
        return not self.failures

    def kill_on_full_disk(self) -> bool:
        """SIGKILL the collector on the full disk, leave a torn record, start it again there."""
        self.collector.kill()
        self.torn = 0
        if self.mounted:
            self.other_file.unlink()
            self.torn = _leave_torn_record(self.spool, self.disk_bytes)
        trial = Trial(self.seed(), "sigkill", target="the collector on the full disk")
        try:
            self.collector = self.start()
        except RuntimeError as err:
            trial.errors.append(f"the collector did not start again on the full disk: "
                                f"{machine_free(str(err))[-800:]}")
            self.outcome.add(trial)
            return False
        copied = sum(p.stat().st_size for p in self.spool.glob("torn/*"))
        trial.landed = (f"{self.torn:,} torn bytes left on the open segment, cut at the restart "
                        f"({copied:,} copied to torn/); started again")
        self.outcome.add(trial)
        self.say(f"collector killed on the full disk: {trial.landed}")
        return True

    def sink_back(self) -> bool:
        """Drains with the real sink until clients are acknowledged again."""
        truth = self.traffic.truth
        back = time.monotonic()
        drains = 0
        while not self.failures:
            code, out = _drain(self.ws, self.spool, self.real_env)
            drains += 1
            self.say(f"drain with the sink back: {out.strip()[-80:]}; "
                     f"{len(truth.events) - self.acked_down} acknowledged since")
            if code:
                self.outcome.errors.append(f"a drain after the sink came back failed: "
                                           f"{machine_free(out[-1500:])}")
                return False
            if len(truth.events) > self.acked_down + 1000:
                break
            if time.monotonic() - back > 120:
                self.outcome.errors.append(
                    f"no 200 in 120 s after the sink came back ({len(truth.events) - self.acked_down} "
                    "messages acknowledged since)")
                return False
            time.sleep(0.5)
        else:
            return False
        self.outcome.detail.update(
            disk=self.disk, sink_down_seconds=round(self.down_for, 1),
            failed_drains=sum(t.fault == "sink-down" for t in self.outcome.trial_log),
            refused_while_down=self.refused_down, acknowledged_while_down=self.acked_down,
            drains_after_sink_back=drains,
            acknowledged_again_after_seconds=round(time.monotonic() - back, 1))
        return True
