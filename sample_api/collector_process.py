"""A real `pulse collect` in its own process, for the demo, the tests and the benchmark."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

PULSE = str(Path(sys.executable).with_name("pulse"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class CollectorProcess:
    url: str
    spool: Path
    process: subprocess.Popen
    log: Path

    def stop(self) -> None:
        """SIGTERM: the collector finishes its requests and seals its open segment."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)

    def kill(self) -> None:
        """SIGKILL: a crash; the next start (or the drain) recovers the spool."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def __enter__(self) -> CollectorProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_collector(spool: Path, log: Path, *, write_keys: str, port: int | None = None,
                    cpu: int | None = None, **env: str) -> CollectorProcess:
    """Start `pulse collect` on 127.0.0.1 (a free port unless given) writing `spool`; wait
    until it answers /health. `cpu` pins it to one core (the benchmark)."""
    port = port or free_port()
    environment = {**os.environ, "PULSE_COLLECTOR_WRITE_KEYS": write_keys,
                   "PULSE_COLLECTOR_SPOOL": str(spool), **env}
    command = [PULSE, "collect", "--port", str(port)]
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command]
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        process = subprocess.Popen(command, env=environment, stdout=out, stderr=subprocess.STDOUT)
    running = CollectorProcess(f"http://127.0.0.1:{port}", Path(spool), process, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pulse collect exited ({process.returncode}): {log.read_text()}")
        try:
            with urllib.request.urlopen(running.url + "/health", timeout=2):
                return running
        except urllib.error.HTTPError:
            return running  # 503: up, but full
        except OSError:
            time.sleep(0.1)
    running.kill()
    raise RuntimeError(f"pulse collect did not answer in 30 s: {log.read_text()}")
