"""The reliability scenarios at small scale. The one that stops a PostgreSQL server
(test_zz_postgres_restarted.py) runs after every other test of the session."""

from __future__ import annotations

LAST = "test_zz_postgres_restarted.py"


def pytest_collection_modifyitems(session, config, items):
    """Moves the server-restart tests to the end of the whole session (stable otherwise)."""
    items.sort(key=lambda item: item.path.name == LAST)
