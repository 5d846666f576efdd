"""What the collector accepts: Segment's HTTP API and the seed's `/v1/event`, checked per event.

A request either fails as a whole (401, 400, 413, 415; nothing is stored) or is split into
valid events and bad events. Both are spooled: a bad event keeps its raw payload and a
reason code (docs/events.md lists them), as Snowplow keeps bad rows, so nothing a client
sent is dropped silently. Unknown fields are kept in the payload, not refused.

Each event gets the server's fields: `received_at`, the source (the write key's name), a
`message_id` (the client's, or a new UUID) and `event_at`, the event time corrected for
the client's clock as Segment does: `timestamp + (received_at - sent_at)`.
"""

from __future__ import annotations

import json
import random
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from . import fastjson

MAX_EVENT_BYTES = 32 * 1024  # Segment's limits
MAX_REQUEST_BYTES = 500 * 1024
MAX_BATCH_CONTEXT_BYTES = 4 * 1024  # a batch's context is copied into each of its calls
MAX_DEPTH = 32  # nesting levels inside one event; deeper is a bad event, not a crash
MAX_ID_CHARS = 256
FUTURE_LIMIT = timedelta(days=1)  # an event time further ahead than this is refused
# An event time before this is a client clock that was never set (epoch 0 and the like).
# Older times after it are kept: SDKs replay old files (the recorded analytics-php file
# is from 2014) and Segment's API takes historical data.
EARLIEST_EVENT_AT = datetime(2000, 1, 1, tzinfo=UTC)

_random = random.Random()  # generated message ids: unique, not secret (seeded by the OS)

SEGMENT_TYPES = ("track", "identify", "page", "screen", "group", "alias")
SEED_EVENT_TYPE_IDS = (0, 1, 2)

# reason code -> what it means; docs/events.md is written from the same list
REASONS = {
    "not_an_object": "the item is not a JSON object",
    "unknown_type": "`type` is missing or not one of track, identify, page, screen, group, alias",
    "missing_user": "neither `userId` nor `anonymousId` is set (a non-empty string or number)",
    "missing_event": "a track call without an `event` name",
    "missing_group_id": "a group call without `groupId`",
    "missing_previous_id": "an alias call without `previousId`",
    "missing_event_type_id": "a /v1/event item without `event_type_id`",
    "invalid_event_type_id": "`event_type_id` is not 0, 1 or 2",
    "wrong_type": "a field has the wrong JSON type (the detail names it)",
    "bad_timestamp": "`timestamp`, `sentAt` or `originalTimestamp` is not an ISO 8601 time",
    "timestamp_in_future": "the corrected event time is more than a day after received_at",
    "timestamp_too_old": "the corrected event time is before 2000-01-01 (an unset client clock)",
    "event_too_large": "the event is over 32 KB of JSON",
    "too_deep": f"the event nests objects or arrays more than {MAX_DEPTH} levels deep",
    "null_character": "a string or key holds a NUL character (\\u0000), which PostgreSQL cannot store",
    "invalid_unicode": "a string holds a lone UTF-16 surrogate (\\ud800-\\udfff), which is not text",
}


class RequestError(Exception):
    """The whole request is refused: `status` and a message saying what to fix."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def parse_body(body: bytes) -> Any:
    """The request's JSON, or a 400 that says where it broke."""
    try:
        return fastjson.loads(body)
    except UnicodeDecodeError as err:
        raise RequestError(400, f"the body is not UTF-8: byte {err.start} "
                           f"(0x{body[err.start]:02x}) cannot be decoded") from None
    except json.JSONDecodeError as err:
        raise RequestError(400, f"malformed JSON at line {err.lineno} column {err.colno} "
                           f"(char {err.pos}): {err.msg}") from None
    except ValueError as err:  # NaN or Infinity
        raise RequestError(400, f"malformed JSON: {err}") from None
    except RecursionError:
        raise RequestError(400, "malformed JSON: nested too deeply to parse") from None


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 string (or epoch seconds/milliseconds) as an aware UTC time; ValueError
    when it is not one."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float):
        seconds = value / 1000 if abs(value) > 1e11 else value
        return datetime.fromtimestamp(seconds, UTC)
    if not isinstance(value, str):
        raise ValueError(value)
    parsed = datetime.fromisoformat(value.strip())
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


# A NUL escaped in JSON text: `\u0000` not itself escaped (preceded by an even run of
# backslashes).
_NUL = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def _too_deep(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _id(value: Any) -> str | None:
    """Segment ids may be strings or numbers; anything else (or empty) is no id."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    return None


class Invalid(Exception):
    def __init__(self, reason: str, detail: str = ""):
        super().__init__(reason)
        self.reason, self.detail = reason, detail


def _object_or_none(item: dict, key: str) -> dict | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, list) and not value:
        return {}  # PHP's empty array: analytics-php sends "properties": [] for no properties
    if not isinstance(value, dict):
        raise Invalid("wrong_type", f"`{key}` must be an object")
    return value


def normalize(item: Any, *, kind: str | None, source: str, received_at: datetime,
              batch_context: dict | None = None, batch_sent_at: Any = None,
              received_iso: str | None = None) -> dict:
    """One event as the collector stores it; Invalid(reason) when it cannot be.

    `kind` is the call's type for /v1/track etc., None for /v1/batch (each item says its
    own), and "event" for the seed's /v1/event.
    """
    if not isinstance(item, dict):
        raise Invalid("not_an_object")
    received_iso = received_iso or received_at.isoformat()
    try:
        raw = fastjson.dumps(item)
    except UnicodeEncodeError:  # a lone UTF-16 surrogate ("\ud800"): not Unicode text
        raise Invalid("invalid_unicode") from None
    except RecursionError:
        raise Invalid("too_deep") from None
    except ValueError:  # a number JSON cannot hold, such as 1e400 (infinite)
        raise Invalid("wrong_type", "a number too large for JSON (infinite)") from None
    if len(raw) > MAX_EVENT_BYTES:
        raise Invalid("event_too_large", f"{len(raw):,} bytes")
    # a walk only when there are enough brackets to nest that deep
    if raw.count(b"{") + raw.count(b"[") > MAX_DEPTH and _too_deep(item, MAX_DEPTH):
        raise Invalid("too_deep")
    if b"\\u0000" in raw and _NUL.search(raw):
        raise Invalid("null_character")

    # /v1/track etc. say the type by their path, /v1/batch items by their own `type`
    message_type = item.get("type") if kind is None else kind
    if message_type not in SEGMENT_TYPES + ("event",):
        raise Invalid("unknown_type", repr(item.get("type"))[:80])

    for key in ("messageId", "userId", "anonymousId", "groupId", "previousId", "user_id"):
        value = item.get(key)
        if value is not None and (_id(value) is None or len(str(value)) > MAX_ID_CHARS):
            raise Invalid("wrong_type", f"`{key}` must be a non-empty string or number "
                          f"of at most {MAX_ID_CHARS} characters")
    user_id = _id(item.get("userId", item.get("user_id")))
    anonymous_id = _id(item.get("anonymousId"))
    event_name = item.get("event") if message_type == "track" else item.get("name")
    if event_name is not None and not isinstance(event_name, str):
        raise Invalid("wrong_type", "`event` and `name` must be strings")

    event_type_id = None
    if message_type == "event":
        if "event_type_id" not in item:
            raise Invalid("missing_event_type_id")
        event_type_id = item["event_type_id"]
        if isinstance(event_type_id, bool) or event_type_id not in SEED_EVENT_TYPE_IDS:
            raise Invalid("invalid_event_type_id", repr(event_type_id)[:40])
        event_name = str(event_type_id)
    elif message_type == "track" and not event_name:
        raise Invalid("missing_event")
    if message_type == "group" and _id(item.get("groupId")) is None:
        raise Invalid("missing_group_id")
    if message_type == "alias" and _id(item.get("previousId")) is None:
        raise Invalid("missing_previous_id")
    if user_id is None and anonymous_id is None:
        raise Invalid("missing_user")

    properties = _object_or_none(item, "properties")
    traits = _object_or_none(item, "traits")
    context = _object_or_none(item, "context")
    if batch_context:
        context = {**batch_context, **(context or {})}

    try:
        timestamp = parse_time(item.get("timestamp", item.get("originalTimestamp")))
        sent_at = parse_time(item.get("sentAt", batch_sent_at))
        if timestamp is None:
            event_at = received_at
        elif sent_at is None:
            event_at = timestamp
        else:  # years apart, this can leave the calendar (OverflowError)
            event_at = timestamp + (received_at - sent_at)
    except (ValueError, OverflowError, OSError):
        raise Invalid("bad_timestamp") from None
    if event_at - received_at > FUTURE_LIMIT:
        raise Invalid("timestamp_in_future", event_at.isoformat())
    if event_at < EARLIEST_EVENT_AT:
        raise Invalid("timestamp_too_old", event_at.isoformat())

    return {
        "message_id": _id(item.get("messageId")) or new_message_id(),
        "source": source,
        "type": message_type,
        "event": event_name,
        "event_type_id": event_type_id,
        "user_id": user_id,
        "anonymous_id": anonymous_id,
        "group_id": _id(item.get("groupId")),
        "previous_id": _id(item.get("previousId")),
        "timestamp": timestamp.isoformat() if timestamp else None,
        "sent_at": sent_at.isoformat() if sent_at else None,
        "received_at": received_iso,
        "event_at": event_at.isoformat() if event_at is not received_at else received_iso,
        # as JSON text: exact (integers past 64 bits too), and the drain passes it through
        "properties": _json_text(properties),
        "traits": _json_text(traits),
        "context": _json_text(context),
        "payload": raw.decode("utf-8"),
    }


_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_UUID4_SET = (0x4000 << 64) | (0x8000 << 48)  # version 4, RFC 4122 variant


def new_message_id() -> str:
    """A random (version 4) UUID as text, for a call without messageId: the same as
    str(uuid.UUID(int=..., version=4)), in under half its time (it runs per event)."""
    h = f"{(_random.getrandbits(128) & _UUID4_CLEAR) | _UUID4_SET:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _storable(text: str) -> bool:
    """Whether PostgreSQL's text holds `text` as is: no NUL, no lone surrogate, short."""
    if "\x00" in text or len(text) > MAX_ID_CHARS:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _json_text(value: dict | None) -> str | None:
    return None if value is None else fastjson.dumps(value).decode("utf-8")


def bad_event(item: Any, *, index: int, reason: str, detail: str, source: str,
              received_at: datetime) -> dict:
    try:  # ASCII: a NUL or a lone surrogate stays an escape, which text columns hold
        raw = json.dumps(item, separators=(",", ":"))
    except (ValueError, RecursionError):
        raw = repr(item)[:MAX_EVENT_BYTES]
    message_id = _id(item.get("messageId")) if isinstance(item, dict) else None
    if message_id is not None and not _storable(message_id):
        message_id = None  # the payload keeps it, escaped
    return {
        "message_id": message_id,
        "source": source,
        "reason": reason,
        "detail": detail,
        "item_index": index,
        "received_at": received_at.isoformat(),
        "payload": raw[: 4 * MAX_EVENT_BYTES],  # an oversize event is kept, cut to 128 KB
    }


def _batch_context(context: Any) -> dict | None:
    """A batch's `context`, which is copied into every call of the batch: so it must be
    small (MAX_BATCH_CONTEXT_BYTES) and storable, or the whole request is refused."""
    if context is None:
        return None
    if not isinstance(context, dict):
        raise RequestError(400, 'the batch\'s "context" must be an object')
    try:
        raw = fastjson.dumps(context)
    except (ValueError, RecursionError, UnicodeEncodeError):
        raise RequestError(400, 'the batch\'s "context" holds a value JSON text cannot '
                                "(a lone surrogate, an infinite number)") from None
    if len(raw) > MAX_BATCH_CONTEXT_BYTES:
        raise RequestError(413, f'the batch\'s "context" is {len(raw):,} bytes; it is copied '
                                f"into every call, so it may be {MAX_BATCH_CONTEXT_BYTES:,} at "
                                "most (send per-call context instead)")
    if _too_deep(context, MAX_DEPTH) or (b"\\u0000" in raw and _NUL.search(raw)):
        raise RequestError(400, 'the batch\'s "context" nests too deeply or holds a NUL (\\u0000)')
    return context


def split_request(path_kind: str | None, body: Any, *, source: str,
                  received_at: datetime | None = None) -> tuple[list[dict], list[dict]]:
    """(valid events, bad events) of one request's parsed body; RequestError when the
    body's shape is wrong for the endpoint (not an array for /v1/event, no `batch` list)."""
    received_at = received_at or datetime.now(UTC)
    batch_context, batch_sent_at = None, None
    if path_kind == "event":
        if not isinstance(body, list):
            raise RequestError(400, "/v1/event takes a JSON array of events")
        items = body
    elif path_kind is None:  # /v1/batch
        if not isinstance(body, dict) or not isinstance(body.get("batch"), list):
            raise RequestError(400, '/v1/batch takes an object with a "batch" array')
        items = body["batch"]
        batch_context = _batch_context(body.get("context"))
        batch_sent_at = body.get("sentAt")
    else:
        if not isinstance(body, dict):
            raise RequestError(400, f"/v1/{path_kind} takes one JSON object")
        items = [body]
    events, bad = [], []
    received_iso = received_at.isoformat()
    for index, item in enumerate(items):
        try:
            events.append(normalize(item, kind=path_kind, source=source, received_at=received_at,
                                    batch_context=batch_context, batch_sent_at=batch_sent_at,
                                    received_iso=received_iso))
        except Invalid as err:
            bad.append(bad_event(item, index=index, reason=err.reason, detail=err.detail,
                                 source=source, received_at=received_at))
    return events, bad
