"""`python -m pipelines.oecd [dataflow ...]`: one incremental load of the OECD source."""

import logging
import sys

from . import load_oecd

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    print(load_oecd(sys.argv[1:] or None))
