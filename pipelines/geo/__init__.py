"""Point-in-polygon enrichment without PostGIS: the ZIP code and community area of every
coordinate pair the Chicago point datasets carry (shapely, exact, vectorised).

`python -m pipelines.geo` runs it on the warehouse and prints what it did.
"""

from pipelines.geo.boundaries import Boundaries, Layer
from pipelines.geo.geocode import OUTPUT_TABLE, BoundariesMissingError, GeocodeStats, geocode, point_tables

__all__ = ["OUTPUT_TABLE", "Boundaries", "BoundariesMissingError", "GeocodeStats", "Layer", "geocode",
           "point_tables"]
