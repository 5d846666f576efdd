"""The local Socrata API in its own process, as the real portal is remote."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def sample_api(rows: int, revisions: int = 0, seed: int = 1) -> Iterator[str]:
    """Serves `rows` synthetic crimes plus `revisions` 1% revision batches; yields the URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "pulse.sample_api", "--rows", str(rows), "--seed", str(seed),
         "--port", str(port), "--revisions", str(revisions)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
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
        proc.wait(timeout=10)
