"""Simulated SDK traffic for the collector, with the ground truth kept for the tests.

Like the Segment SDKs: single calls (/v1/track, /v1/identify, /v1/page, ...) and batches
(/v1/batch), and the seed's /v1/event arrays; a request that timed out is sent again with
the same messageIds (here: resent after a 200 with probability `retry_rate`, the case
where the client never heard the answer); each client's clock is off by its own skew;
invalid events at `invalid_rate`. A 503 is retried after its Retry-After, as SDKs do.

`Truth` is what the warehouse must show: every acknowledged valid message once, with the
event time the server will compute (the true time: skew correction removes the client's
offset), and the bad events by reason.
"""

from __future__ import annotations

import base64
import http.client
import json
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import urlparse

PAGES = ["/", "/pricing", "/docs", "/blog", "/signup"]
TRACK_EVENTS = ["Signed Up", "Viewed Product", "Added to Cart", "Checked Out", "Searched"]


@dataclass(frozen=True)
class Sent:
    message_id: str
    call_type: str
    event_name: str | None
    actor_id: str
    event_at: datetime  # the true time; the collector's event_at is this + network delay


@dataclass
class Truth:
    events: dict[str, Sent] = field(default_factory=dict)  # acknowledged valid, by message_id
    bad_reasons: Counter = field(default_factory=Counter)  # acknowledged bad events
    requests: int = 0
    retried: int = 0
    delivered: list = field(default_factory=list, repr=False)  # (path, body, calls) of each 200
    refused: int = 0  # 503s (sent again later)
    reconnects: int = 0  # requests sent again after a connection failed
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def per_day(self) -> Counter:
        return Counter((s.event_at.date(), s.call_type, s.event_name or s.call_type)
                       for s in self.events.values())


class Client:
    """One SDK instance: a keep-alive connection, a write key and a skewed clock."""

    def __init__(self, url: str, write_key: str, rng: random.Random, skew: timedelta):
        parsed = urlparse(url)
        self.host, self.port = parsed.hostname, parsed.port
        self.auth = "Basic " + base64.b64encode(f"{write_key}:".encode()).decode()
        self.rng, self.skew = rng, skew
        self.reconnects = 0
        self.connection = http.client.HTTPConnection(self.host, self.port, timeout=30)

    def post(self, path: str, body, give_up_after: float = 60.0) -> tuple[int, dict, dict]:
        """POST `body`; a connection that fails (the collector down or restarting) is
        retried with the same body, so the same messageIds, with backoff, as SDKs do."""
        data = json.dumps(body).encode()
        deadline, wait = time.monotonic() + give_up_after, 0.05
        while True:
            try:
                self.connection.request("POST", path, body=data, headers={
                    "content-type": "application/json", "authorization": self.auth})
                response = self.connection.getresponse()
                return response.status, json.loads(response.read() or b"{}"), dict(response.headers)
            except (ConnectionError, http.client.HTTPException, OSError):
                self.connection.close()
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
                if time.monotonic() > deadline:
                    raise
                self.reconnects += 1
                time.sleep(wait)
                wait = min(wait * 2, 1.0)

    def clock(self, true_time: datetime) -> str:
        return (true_time + self.skew).isoformat()


class TrafficGenerator:
    def __init__(self, url: str, write_key: str, *, seed: int = 1, clients: int = 4,
                 invalid_rate: float = 0.02, retry_rate: float = 0.03, batch_share: float = 0.5,
                 seed_api_share: float = 0.1, max_skew: timedelta = timedelta(minutes=10),
                 spread: timedelta = timedelta(days=3)):
        self.url, self.write_key, self.seed = url, write_key, seed
        self.clients, self.invalid_rate, self.retry_rate = clients, invalid_rate, retry_rate
        self.batch_share, self.seed_api_share = batch_share, seed_api_share
        self.max_skew, self.spread = max_skew, spread
        self.truth = Truth()
        self.stop = threading.Event()  # set: every client ends after its current request
        self.sends = 0  # calls of send(): each draws other events, the same for a seed

    def send(self, events: int) -> Truth:
        """Send about `events` events over `clients` threads; returns the truth so far."""
        per_client = max(1, events // self.clients)
        failures: list[BaseException] = []
        self.sends += 1

        def run(number: int) -> None:
            try:
                self._run_client(number, per_client)
            except BaseException as err:  # noqa: BLE001 - raised in the caller's thread below
                failures.append(err)

        threads = [threading.Thread(target=run, args=(number,)) for number in range(self.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            raise RuntimeError(f"{len(failures)} of {self.clients} clients failed") from failures[0]
        return self.truth

    def _run_client(self, number: int, events: int) -> None:
        # Seeded by the call, not by the events so far: other clients' threads add to
        # those at their own pace, and the same seed must send the same traffic.
        rng = random.Random(f"{self.seed}-{number}-{self.sends}")
        skew = timedelta(seconds=rng.uniform(-1, 1) * self.max_skew.total_seconds())
        client = Client(self.url, self.write_key, rng, skew)
        now = datetime.now(UTC)
        sent = 0
        while sent < events and not self.stop.is_set():
            if rng.random() < self.seed_api_share:
                path, body, calls = self._seed_request(client, now, rng.randint(1, 20))
            elif rng.random() < self.batch_share:
                path, body, calls = self._batch_request(client, now, rng.randint(2, 50))
            else:
                path, body, calls = self._single_request(client, now)
            self._deliver(client, path, body, calls)
            if rng.random() < self.retry_rate:  # the answer was lost: the SDK sends it again
                with self.truth.lock:
                    self.truth.retried += 1
                self._deliver(client, path, body, calls)
            sent += len(calls)
        with self.truth.lock:
            self.truth.reconnects += client.reconnects
        client.connection.close()

    def _deliver(self, client: Client, path: str, body, calls: list[Sent | str]) -> None:
        while True:
            status, answer, headers = client.post(path, body)
            with self.truth.lock:
                self.truth.requests += 1
            if status != 503:
                break
            with self.truth.lock:
                self.truth.refused += 1
            time.sleep(float(headers.get("Retry-After", headers.get("retry-after", 1))))
        if status != 200:
            raise RuntimeError(f"{path}: {status} {answer}")
        rejected = {item["index"]: item["reason"] for item in answer.get("rejected", [])}
        with self.truth.lock:
            if (path, body, calls) not in self.truth.delivered[-1:]:
                self.truth.delivered.append((path, body, calls))
            for index, call in enumerate(calls):
                if index in rejected:
                    self.truth.bad_reasons[rejected[index]] += 1
                elif isinstance(call, Sent):
                    self.truth.events[call.message_id] = call
                else:
                    raise AssertionError(f"{path}: item {index} ({call}) was accepted")

    def replay(self, requests: int, seed: int = 0) -> Truth:
        """Send `requests` requests already acknowledged again, as clients whose answer
        was lost retry them later (after a drain has loaded the first copy)."""
        rng = random.Random(seed)
        client = Client(self.url, self.write_key, rng, timedelta(0))
        for path, body, calls in rng.sample(self.truth.delivered, min(requests, len(self.truth.delivered))):
            self._deliver(client, path, body, calls)
        client.connection.close()
        return self.truth

    # -- the calls ----------------------------------------------------------------------

    def _true_time(self, rng: random.Random, now: datetime) -> datetime:
        # whole minutes plus 30 s: the few ms of network delay never move an event across
        # an hour or a day
        minutes = rng.randrange(int(self.spread.total_seconds() // 60))
        return (now - timedelta(minutes=minutes + 1)).replace(second=30, microsecond=0)

    def _call(self, client: Client, now: datetime) -> tuple[dict, Sent | str]:
        rng = client.rng
        true_time = self._true_time(rng, now)
        message_id = str(uuid.UUID(int=rng.getrandbits(128)))
        user = f"user-{rng.randrange(500)}"
        kind = rng.choices(["track", "page", "identify", "screen", "group", "alias"],
                           weights=[60, 25, 8, 4, 2, 1])[0]
        call: dict = {"type": kind, "messageId": message_id, "userId": user,
                      "timestamp": client.clock(true_time)}
        name = None
        if kind == "track":
            name = call["event"] = rng.choice(TRACK_EVENTS)
            call["properties"] = {"value": rng.randrange(100), "currency": "USD"}
        elif kind in ("page", "screen"):
            name = call["name"] = rng.choice(PAGES)
        elif kind == "identify":
            call["traits"] = {"plan": rng.choice(["free", "pro"])}
        elif kind == "group":
            call["groupId"] = f"org-{rng.randrange(20)}"
        else:
            call["previousId"] = f"anon-{rng.randrange(10_000)}"
        if rng.random() < self.invalid_rate:
            broken = rng.choice(["missing_user", "missing_event", "bad_timestamp", "timestamp_in_future"])
            if broken == "missing_user" or kind != "track" and broken == "missing_event":
                call.pop("userId")
                return call, "missing_user"
            if broken == "missing_event":
                call.pop("event")
            elif broken == "bad_timestamp":
                call["timestamp"] = "not a time"
            else:
                call["timestamp"] = client.clock(now + timedelta(days=30))
            return call, broken
        return call, Sent(message_id, kind, name, user, true_time)

    def _single_request(self, client: Client, now: datetime):
        call, sent = self._call(client, now)
        call["sentAt"] = client.clock(datetime.now(UTC))
        kind = call["type"]
        return f"/v1/{kind}", call, [sent]

    def _batch_request(self, client: Client, now: datetime, size: int):
        pairs = [self._call(client, now) for _ in range(size)]
        body = {"batch": [call for call, _ in pairs], "sentAt": client.clock(datetime.now(UTC)),
                "context": {"library": {"name": "pulse-traffic", "version": "1"}}}
        return "/v1/batch", body, [sent for _, sent in pairs]

    def _seed_request(self, client: Client, now: datetime, size: int):
        """The seed's /v1/event: event_type_id 0/1/2, user_id, timestamp; no sentAt, so
        the client's own clock stands (its skew is not corrected)."""
        rng = client.rng
        items, calls = [], []
        for _ in range(size):
            true_time = self._true_time(rng, now)
            message_id = str(uuid.UUID(int=rng.getrandbits(128)))
            type_id = rng.choice([0, 1, 2])
            item = {"event_type_id": type_id, "user_id": f"user-{rng.randrange(500)}",
                    "timestamp": true_time.isoformat(), "messageId": message_id}
            if rng.random() < self.invalid_rate:
                item["event_type_id"] = 7
                calls.append("invalid_event_type_id")
            else:
                calls.append(Sent(message_id, "event", str(type_id), item["user_id"], true_time))
            items.append(item)
        return "/v1/event", items, calls


def send_recorded(url: str, write_key: str, folder) -> int:
    """Send every recorded SDK payload in `folder` (../shared/realdata/events: analytics-go's
    /v1/batch bodies, analytics-php's file-consumer lines); returns the events accepted."""
    from pathlib import Path

    client = Client(url, write_key, random.Random(0), timedelta(0))
    accepted = 0
    requests = [("/v1/batch", json.loads(p.read_text())) for p in sorted(Path(folder).glob("*.json"))]
    for log in sorted(Path(folder).glob("*.log")):
        requests += [(f"/v1/{call['type']}", call) for call in map(json.loads, log.read_text().splitlines())]
    for path, body in requests:
        status, answer, _ = client.post(path, body)
        if status != 200:
            raise RuntimeError(f"{path}: {status} {answer}")
        accepted += answer["accepted"]
    client.connection.close()
    return accepted
