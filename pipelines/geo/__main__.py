"""`python -m pipelines.geo [TABLE ...]`: geocode the new coordinate pairs on the warehouse."""

import argparse
import logging
import sys

from pipelines.geo import BoundariesMissingError, geocode, point_tables

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("tables", nargs="*", metavar="TABLE",
                        help=f"point tables to read (default: all of {', '.join(point_tables())})")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        print(geocode(tables=args.tables or None))
    except ValueError as err:
        parser.error(str(err))
    except BoundariesMissingError as err:
        sys.exit(f"geocode: {err}")
