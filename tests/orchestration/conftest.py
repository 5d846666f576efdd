"""The code location, loaded once per test module."""

import dagster as dg
import pytest


@pytest.fixture(scope="module")
def defs(dbt_manifest) -> dg.Definitions:
    from orchestration.definitions import defs

    return defs()
