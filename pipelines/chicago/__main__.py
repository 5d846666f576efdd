"""`python -m pipelines.chicago`: one incremental load of the Chicago source."""

import logging

from . import load_chicago

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    print(load_chicago())
