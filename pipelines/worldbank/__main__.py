"""`python -m pipelines.worldbank`: one incremental load of the World Bank source."""

import logging

from . import load_worldbank

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    print(load_worldbank())
