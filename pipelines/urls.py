"""URLs as the sources show and send them: never with a secret in them.

A base URL may carry credentials, e.g. a proxy's `https://user:password@proxy/...`, and
a Socrata URL an app token in its query. `safe_url` is the one way a URL reaches an error
message, a log line or dlt state; `split_credentials` takes the user and password out of
a base URL before any request, so they travel as an Authorization header and never in
a URL that requests, urllib3 or dlt might log or put in an exception.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from requests.auth import HTTPBasicAuth

# Query parameters that carry a secret (Socrata accepts its app token as one).
SECRET_PARAMS = {"$$app_token", "app_token", "token"}


def _without_userinfo(netloc: str) -> str:
    # rpartition, not hostname: hostname lower-cases and drops an IPv6 address's brackets
    return netloc.rpartition("@")[2]


def safe_url(url: str) -> str:
    """`url` without its user:password part and without token-like query parameters."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
             if k.lower() not in SECRET_PARAMS]
    return urlunsplit(parts._replace(netloc=_without_userinfo(parts.netloc),
                                     query=urlencode(query, safe=":$,*'")))


def basic_auth_header(auth: HTTPBasicAuth) -> dict[str, str]:
    """`auth` as a session header: it then rides along with a request's own auth (the
    Socrata token is dlt's request-level auth, which would replace a session's `auth`)."""
    from requests import PreparedRequest

    request = PreparedRequest()
    request.prepare_headers({})
    return {"Authorization": auth(request).headers["Authorization"]}


def split_credentials(url: str) -> tuple[str, HTTPBasicAuth | None]:
    """`url` without its user:password part, and that part as HTTP basic auth (None when
    the URL has none). Percent-escapes in the user or password are decoded, as a browser
    or requests would."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    auth = HTTPBasicAuth(unquote(parts.username or ""), unquote(parts.password or ""))
    return urlunsplit(parts._replace(netloc=_without_userinfo(parts.netloc))), auth
