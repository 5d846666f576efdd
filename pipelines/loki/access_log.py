"""Web server access-log lines as typed requests: Apache and nginx `common` and `combined`,
and their usual extensions, by format name or by a regular expression of your own.

| format | a line |
|---|---|
| `common` | `host ident user [time] "request" status bytes` |
| `combined` | common + `"referrer" "user agent"` |
| `combined_xff` | combined + `"X-Forwarded-For"` (nginx's `$http_x_forwarded_for`) |
| `combined_rt` | combined + `request_time [upstream_response_time]` (nginx, seconds) |
| `combined_xff_rt` | combined_xff + the times |
| `vhost_combined`, `vhost_common` | the virtual host first (Apache's `%v`, with or without `:port`) |
| `auto` | each of the above, longest first |

A pattern of your own is a Python regular expression with named groups, among them at
least `client_ip`, `time` and `request` (and `status`); the others (`bytes`, `referrer`,
`user_agent`, `forwarded_for`, `request_time`, `upstream_time`, `host`, `ident`, `user`)
are optional. A line that matches no format, or whose time or numbers do not read, is a
reject with its reason: it is kept, never dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

_Q = r'(?:[^"\\]|\\.)*'  # the inside of a quoted field, escapes included
_COMMON = (r'(?P<client_ip>\S+) (?P<ident>\S+) (?P<user>\S+) \[(?P<time>[^\]]*)\] '
           rf'"(?P<request>{_Q})" (?P<status>\d{{3}}) (?P<bytes>\d+|-)')
_AGENT = rf' "(?P<referrer>{_Q})" "(?P<user_agent>{_Q})"'
_XFF = rf' "(?P<forwarded_for>{_Q})"'
_TIMES = r' (?P<request_time>\d+(?:\.\d+)?|-)(?: (?P<upstream_time>[\d.,: ]*\d|-))?'
_VHOST = r'(?P<host>[^\s:"]+)(?::\d+)? '

FORMATS: dict[str, str] = {
    "combined_xff_rt": _COMMON + _AGENT + _XFF + _TIMES,
    "combined_xff": _COMMON + _AGENT + _XFF,
    "combined_rt": _COMMON + _AGENT + _TIMES,
    "vhost_combined": _VHOST + _COMMON + _AGENT,
    "combined": _COMMON + _AGENT,
    "vhost_common": _VHOST + _COMMON,
    "common": _COMMON,
}
_COMPILED = {name: re.compile(f"^{pattern}\\s*$") for name, pattern in FORMATS.items()}
_REQUEST = re.compile(r"^(?P<method>[A-Z][A-Z_-]*) (?P<target>\S+)(?: (?P<protocol>[A-Z]+/[\d.]+))?$")
_TIME_FORMAT = "%d/%b/%Y:%H:%M:%S %z"
REQUIRED_GROUPS = {"client_ip", "time", "request", "status"}


class LogFormatError(ValueError):
    pass


@dataclass(frozen=True)
class Parser:
    """One configured format: `parse(line)` gives (fields, None) or (None, reason)."""
    name: str
    patterns: tuple[tuple[str, re.Pattern], ...]

    def parse(self, line: str) -> tuple[dict | None, str | None]:
        for name, pattern in self.patterns:
            match = pattern.match(line)
            if match:
                return _fields(name, match.groupdict())
        tried = ", ".join(name for name, _ in self.patterns)
        return None, f"no_format_matched: the line is not {tried}"


def parser(log_format: str) -> Parser:
    """The parser of a format name (FORMATS, or `auto`) or of a regular expression."""
    if log_format == "auto":
        return Parser("auto", tuple(_COMPILED.items()))
    if log_format in _COMPILED:
        return Parser(log_format, ((log_format, _COMPILED[log_format]),))
    try:
        pattern = re.compile(log_format)
    except re.error as err:
        raise LogFormatError(
            f"log_format {log_format!r} is neither a format name ({', '.join([*FORMATS, 'auto'])}) "
            f"nor a regular expression ({err}); set SOURCES__LOKI__LOG_FORMAT") from None
    missing = REQUIRED_GROUPS - set(pattern.groupindex)
    if missing:
        raise LogFormatError(f"the log_format pattern lacks the named group(s) "
                             f"{', '.join(sorted(missing))}: (?P<client_ip>...), (?P<time>...), "
                             "(?P<request>...) and (?P<status>...) are needed")
    return Parser("pattern", (("pattern", pattern),))


def _fields(name: str, groups: dict) -> tuple[dict | None, str | None]:
    try:
        requested_at = _request_time(groups["time"].strip())
    except ValueError:
        return None, f"bad_time: {groups['time']!r} is not dd/Mon/yyyy:HH:MM:SS +zone"
    request = _unquote(groups.get("request") or "")
    parts = _REQUEST.match(request)
    target = parts["target"] if parts else None
    path, _, query = (target or "").partition("?")
    try:
        status = int(groups["status"])
        size = groups.get("bytes")
        request_time = groups.get("request_time")
        upstream = groups.get("upstream_time")
        fields = {
            "log_format": name,
            "client_ip": groups["client_ip"],
            "ident": _dash(groups.get("ident")),
            "remote_user": _dash(groups.get("user")),
            "requested_at": requested_at,
            "request": request,
            "method": parts["method"] if parts else None,
            "target": target,
            "path": path or None,
            "query_string": query or None,
            "protocol": parts["protocol"] if parts else None,
            "status": status,
            "bytes": int(size) if size not in (None, "-") else None,
            "referrer": _dash(_unquote(groups.get("referrer"))),
            "user_agent": _dash(_unquote(groups.get("user_agent"))),
            # the first address is the client's; proxies append theirs
            "forwarded_for": _dash((groups.get("forwarded_for") or "").split(",")[0].strip()),
            "request_time_s": float(request_time) if request_time not in (None, "-") else None,
            # several upstreams ("0.004, 0.010" or "0.004 : 0.010"): the time of the last
            "upstream_time_s": (float(re.split(r"[,:]\s*", upstream.strip())[-1])
                                if upstream not in (None, "-") else None),
            "host": _dash(groups.get("host")),
        }
    except (TypeError, ValueError) as err:
        return None, f"bad_number: {err}"
    if not 100 <= status <= 599:
        return None, f"bad_status: {status}"
    return fields, None


@lru_cache(maxsize=8192)
def _request_time(text: str) -> datetime:
    """A log's `[10/Oct/2000:13:55:36 -0700]` in UTC. Cached: a busy server writes many
    lines a second, and strptime is most of a line's parse."""
    return datetime.strptime(text, _TIME_FORMAT).astimezone(UTC)


def _dash(value: str | None) -> str | None:
    """`-` is how both servers write "none"."""
    return None if value in (None, "", "-") else value


def _unquote(value: str | None) -> str | None:
    return None if value is None else value.replace('\\"', '"').replace("\\\\", "\\")
