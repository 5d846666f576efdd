"""The collector's HTTP API, over real HTTP against `pulse collect`: what SDKs send is
accepted and lands typed, every bad input has its defined answer, nothing is dropped."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import REALDATA

from .conftest import start_collector

EVENTS = REALDATA / "events"


def recorded_requests() -> list[tuple[str, str, object]]:
    """(file, path, body) of every recorded SDK payload: analytics-go's /v1/batch bodies,
    and analytics-php's file consumer output, one call per line."""
    requests = [(p.name, "/v1/batch", json.loads(p.read_text()))
                for p in sorted(EVENTS.glob("*.json"))]
    for log in sorted(EVENTS.glob("*.log")):
        for line in log.read_text().splitlines():
            call = json.loads(line)
            requests.append((log.name, f"/v1/{call['type']}", call))
    return requests


def test_every_recorded_sdk_payload_is_accepted_and_lands_typed(collector):
    requests = recorded_requests()
    assert len(requests) >= 15
    sent = 0
    for name, path, body in requests:
        answer = collector.post(path, body)
        expected = len(body["batch"]) if path == "/v1/batch" else 1
        assert answer.status == 200, (name, answer.body)
        assert answer.body == {"success": True, "accepted": expected}, name
        sent += expected
    collector.stop()  # seals the open segment
    events, bad = collector.spooled()
    assert bad == []
    assert len(events) == sent
    assert {e["type"] for e in events} == {"track", "identify", "page", "screen", "group", "alias"}
    assert all(e["source"] == "web" and e["received_at"] and e["event_at"] for e in events)

    # the clients' own ids are kept; analytics-go's batch context reaches each message
    assert "I'm unique" in {e["message_id"] for e in events}
    go_track = next(e for e in events if e["event"] == "Download")
    assert go_track["context"]["library"]["name"] == "analytics-go"
    # analytics-php sends an empty PHP array for no properties: an empty object here
    php = [e for e in events if (e["context"] or {}).get("library", {}).get("name") == "analytics-php"]
    assert len(php) == 6
    assert all(e["properties"] in (None, {}) or isinstance(e["properties"], dict) for e in php)
    alias = next(e for e in events if e["type"] == "alias")
    assert alias["previous_id"] and alias["user_id"]


def test_the_event_time_is_corrected_for_the_clients_clock(collector):
    now = datetime.now(UTC)
    # a client whose clock runs an hour fast: it stamps both times an hour ahead
    sent_at = now + timedelta(hours=1)
    timestamp = sent_at - timedelta(minutes=5)
    answer = collector.post("/v1/track", {"userId": "u1", "event": "Clicked",
                                          "timestamp": timestamp.isoformat(),
                                          "sentAt": sent_at.isoformat()})
    assert answer.status == 200
    collector.stop()
    (event,), _ = collector.spooled()
    event_at = datetime.fromisoformat(event["event_at"])
    received_at = datetime.fromisoformat(event["received_at"])
    assert abs((received_at - event_at) - timedelta(minutes=5)) < timedelta(seconds=1)


def test_the_seeds_event_api_checks_each_event_and_keeps_the_bad_ones(collector):
    body = [
        {"event_type_id": 0, "user_id": "u1", "timestamp": "2026-12-01T10:00:00Z"},
        {"event_type_id": 2, "user_id": 42},
        {"event_type_id": 3, "user_id": "u2"},
        {"user_id": "u3"},
        {"event_type_id": 1},
        "not an object",
    ]
    answer = collector.post("/v1/event", body)
    assert answer.status == 200
    assert answer.body["accepted"] == 2
    assert [(r["index"], r["reason"]) for r in answer.body["rejected"]] == [
        (2, "invalid_event_type_id"), (3, "missing_event_type_id"), (4, "missing_user"),
        (5, "not_an_object")]
    collector.stop()
    events, bad = collector.spooled()
    assert [(e["event_type_id"], e["user_id"]) for e in events] == [(0, "u1"), (2, "42")]
    assert [json.loads(b["payload"]) for b in bad] == body[2:]


def deep(levels: int) -> dict:
    value: dict = {}
    for _ in range(levels):
        value = {"a": value}
    return value


@pytest.mark.parametrize(("item", "reason"), [
    ({"userId": "u", "event": "x" * 40_000}, "event_too_large"),
    ({"userId": "u", "event": "Deep", "properties": deep(100)}, "too_deep"),
    ({"userId": "u", "event": "Future", "timestamp": "2099-01-01T00:00:00Z"}, "timestamp_in_future"),
    ({"userId": "u", "event": "Past", "timestamp": "1970-01-02T00:00:00Z"}, "timestamp_too_old"),
    ({"userId": "u", "event": "When", "timestamp": "yesterday"}, "bad_timestamp"),
    ({"userId": ["u"], "event": "Ids"}, "wrong_type"),
    ({"userId": "u", "event": "Props", "properties": "not an object"}, "wrong_type"),
    ({"event": "Nobody"}, "missing_user"),
    ({"userId": "u"}, "missing_event"),
    ({"type": "launch", "userId": "u"}, "unknown_type"),
    ({"userId": "u", "event": "Nul", "properties": {"note": "a\x00b"}}, "null_character"),
    ({"userId": "u", "event": "Half \ud800 a pair"}, "invalid_unicode"),
    ({"userId": "u", "event": "Apart", "timestamp": "9999-12-31T00:00:00Z",
      "sentAt": "0001-01-02T00:00:00Z"}, "bad_timestamp"),
    ({"userId": "u", "event": "Nul id", "messageId": "a\x00b", "properties": {"n": "\x00"}},
     "null_character"),
])
def test_a_bad_event_is_kept_with_its_reason_beside_the_good_ones(collector, item, reason):
    good = {"type": "track", "userId": "u", "event": "Fine", "someUnknownField": [1, 2]}
    item = {"type": "track", **item}
    answer = collector.post("/v1/batch", {"batch": [good, item]})
    assert answer.status == 200
    assert answer.body["accepted"] == 1
    assert [(r["index"], r["reason"]) for r in answer.body["rejected"]] == [(1, reason)]
    collector.stop()
    events, bad = collector.spooled()
    assert json.loads(events[0]["payload"])["someUnknownField"] == [1, 2]  # kept, not refused
    assert bad[0]["reason"] == reason and bad[0]["payload"]


@pytest.mark.parametrize(("request_kwargs", "status", "says"), [
    ({"key": None}, 401, "write key"),
    ({"key": "not-a-key"}, 401, "unknown write key"),
    ({"raw": b'{"batch": [{"type": "track",'}, 400, "line 1 column"),
    ({"raw": b'{"batch": "\xff\xfe"}'}, 400, "not UTF-8: byte 11"),
    ({"raw": b'{"batch": 5}'}, 400, '"batch" array'),
    ({"raw": b"[" * 100_000 + b"]" * 100_000}, 400, "malformed JSON"),
    ({"raw": b" " * (500 * 1024 + 1)}, 413, "at most 512,000"),
    ({"raw": b'{"batch": [{"type": "track", "userId": "u", "event": "E", "properties": '
             b'{"x": NaN}}]}'}, 400, "NaN is not JSON"),
    ({"content_type": "application/x-www-form-urlencoded"}, 415, "not application/json"),
    ({"raw": b'{"batch": [{"type": "track", "userId": "u", "event": "E"}], "context": {"pad": "'
             + b"p" * 5000 + b'"}}'}, 413, "copied into every call"),
    ({"raw": b'{"batch": [{"type": "track", "userId": "u", "event": "E"}], "context": '
             b'{"a": "\\u0000"}}'}, 400, "holds a NUL"),
    ({"key": None, "raw": b'{"writeKey": "\\ud800", "batch": []}'}, 401, "no valid write key"),
])
def test_a_request_refused_as_a_whole_says_why_and_keeps_nothing(collector, request_kwargs,
                                                                  status, says):
    answer = collector.post("/v1/batch", {"batch": [{"type": "track", "userId": "u",
                                                     "event": "E"}]}, **request_kwargs)
    assert answer.status == status, answer.body
    assert says in answer.body["error"]
    if status == 401:
        assert answer.headers.get("www-authenticate", "").startswith("Basic")
    collector.stop()
    assert collector.spooled() == ([], [])


def test_wrong_method_and_path_get_405_and_404(collector):
    assert collector.get("/v1/track").status == 405
    assert collector.post("/v2/track", {}).status == 404


def test_write_keys_are_never_logged_and_sources_are_counted(collector):
    collector.post("/v1/track", {"userId": "u", "event": "E"})
    collector.post("/v1/track", {"userId": "u", "event": "E"}, key="test-key-app")
    collector.post("/v1/track", {"userId": "u", "event": "E"}, key="a-wrong-key")
    metrics = collector.get("/metrics").body["text"]
    assert 'pulse_collector_events_accepted_total{source="web"} 1' in metrics
    assert 'pulse_collector_events_accepted_total{source="app"} 1' in metrics
    assert 'pulse_collector_requests_total{path="/v1/track",status="401"} 1' in metrics
    assert "pulse_collector_fsync_seconds_count" in metrics
    collector.stop()
    log = collector.log.read_text()
    assert "test-key" not in log and "a-wrong-key" not in log
    assert "sources app, web" in log


def test_a_full_spool_answers_503_with_retry_after_and_loses_nothing(tmp_path):
    collector = start_collector(tmp_path / "spool", tmp_path / "log",
                                PULSE_COLLECTOR_SPOOL_CAP_BYTES="20000")
    try:
        # The collector reads the spool's size at most 4 times a second, so the cap is
        # soft: post until it refuses (a fast disk takes 200 posts in under 0.25 s).
        accepted, refused, i = 0, 0, 0
        deadline = time.monotonic() + 30
        while refused < 3 and time.monotonic() < deadline:
            i += 1
            answer = collector.post("/v1/track", {"userId": "u", "event": f"E{i}",
                                                  "properties": {"pad": "p" * 500}})
            if answer.status == 200:
                accepted += answer.body["accepted"]
            else:
                assert answer.status == 503, answer.body
                assert answer.headers["retry-after"] == "5"
                assert "cap" in answer.body["error"]
                refused += 1
        health = collector.get("/health")
        assert health.status == 503 and health.body["status"] == "full"
    finally:
        collector.stop()
    events, _ = collector.spooled()
    assert refused > 0 and accepted > 0, (accepted, refused)
    assert len(events) == accepted, "every 200 is in the spool, every 503 is not"


def test_integers_past_64_bits_are_kept_exact(collector):
    body = b'{"userId": 12345678901234567890123, "event": "Big", "properties": {"n": 98765432109876543210}}'
    answer = collector.post("/v1/track", None, raw=body)
    assert answer.status == 200 and answer.body["accepted"] == 1
    collector.stop()
    (event,), _ = collector.spooled()
    assert event["user_id"] == "12345678901234567890123"
    assert "98765432109876543210" in event["payload"]


def test_a_write_key_in_the_body_is_never_stored_and_an_infinite_number_is_refused(collector):
    body = (b'{"writeKey": "test-key-web", "batch": [{"type": "track", "userId": "u", '
            b'"event": "Fine", "messageId": "m-1"}, {"type": "track", "event": "No user", '
            b'"messageId": "a\\u0000b"}]}')
    answer = collector.post("/v1/batch", None, key=None, raw=body)
    assert answer.status == 200 and answer.body["accepted"] == 1
    inf = b'{"batch": [{"type": "track", "userId": "u", "event": "E", "properties": {"x": 1e400}}]}'
    refused = collector.post("/v1/batch", None, raw=inf)
    assert refused.status == 400 and "out of range" in refused.body["error"]
    collector.stop()
    events, bad = collector.spooled()
    spooled = b"".join(p.read_bytes() for p in collector.spool.glob("*.sealed"))
    assert b"test-key-web" not in spooled
    assert [e["message_id"] for e in events] == ["m-1"]
    assert bad[0]["message_id"] is None  # a NUL cannot be stored as text: kept in the payload
