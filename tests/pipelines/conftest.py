"""The local World Bank and OECD API for the country source tests."""

import pytest

from sample_api import Faults
from sample_api.countries import CountryApi


@pytest.fixture
def api(universe):
    """The local API over the test module's `universe` fixture, its fault knobs ready. OECD's
    own hourly limit is set high: only the client's budget may stop requests."""
    with CountryApi(universe, faults=Faults(), oecd_requests_per_hour=1000) as server:
        yield server
