"""The two boundary layers as shapely polygons, and the vectorised point lookup.

Exact: a point is inside a polygon or not, with no tolerance. A point on an edge is
inside neither neighbour (GEOS `contains` excludes the boundary), so it gets no answer;
real coordinates almost never land exactly on an edge.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import shapely


@dataclass(frozen=True)
class Layer:
    """One boundary layer: a label and a prepared (Multi)Polygon per feature."""

    labels: np.ndarray  # object array, one label per polygon
    polygons: np.ndarray  # shapely geometries, prepared
    bounds: np.ndarray  # (n, 4): lon_min, lat_min, lon_max, lat_max

    @classmethod
    def from_geojson(cls, labels: Sequence[object], geometries: Sequence[str]) -> Layer:
        """From GeoJSON geometry texts (what `the_geom::text` returns)."""
        if not labels:
            raise ValueError("a boundary layer needs at least one polygon")
        polygons = shapely.from_geojson(np.asarray(geometries, dtype=object))
        shapely.prepare(polygons)
        return cls(np.asarray(labels, dtype=object), polygons, shapely.bounds(polygons))

    def polygon_of(self, lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
        """Index of the polygon holding each point, -1 for none.

        A bounding-box mask, then GEOS on the candidates with raw coordinates: with a
        few dozen polygons this beats an STRtree query, which needs a shapely Point per
        coordinate (measured: 0.3 s against 2.6 s per layer for a million points).
        Should polygons overlap (a sliver in a real layer), the first one in the
        layer's order wins.
        """
        found = np.full(len(lats), -1, dtype=np.int64)
        for index, (polygon, (lon_min, lat_min, lon_max, lat_max)) in enumerate(
                zip(self.polygons, self.bounds, strict=True)):
            candidates = np.flatnonzero((lons >= lon_min) & (lons <= lon_max)
                                        & (lats >= lat_min) & (lats <= lat_max) & (found < 0))
            inside = shapely.contains_xy(polygon, lons[candidates], lats[candidates])
            found[candidates[inside]] = index
        return found


@dataclass(frozen=True)
class Boundaries:
    """Community areas and ZIP codes; `version` changes whenever any geometry or label does."""

    community_areas: Layer  # labels are the area numbers (int)
    zip_codes: Layer  # labels are the ZIP codes (str)
    version: str

    @classmethod
    def from_geojson(cls, community_areas: Iterable[tuple[object, str]],
                     zip_codes: Iterable[tuple[object, str]]) -> Boundaries:
        """From (label, GeoJSON geometry text) pairs of each layer, in any order."""
        areas = sorted((int(number), geometry) for number, geometry in community_areas)
        zips = sorted((str(zip_code), geometry) for zip_code, geometry in zip_codes)
        digest = hashlib.md5(json.dumps([areas, zips]).encode(), usedforsecurity=False)
        return cls(Layer.from_geojson(*_unzip(areas)), Layer.from_geojson(*_unzip(zips)),
                   digest.hexdigest())

    @classmethod
    def from_features(cls, community_area_features: Iterable[dict],
                      zip_code_features: Iterable[dict]) -> Boundaries:
        """From GeoJSON Feature dicts shaped like the portal's exports."""
        return cls.from_geojson(
            ((f["properties"]["area_numbe"], json.dumps(f["geometry"])) for f in community_area_features),
            ((f["properties"]["zip"], json.dumps(f["geometry"])) for f in zip_code_features),
        )

    def polygons_of(self, lats: np.ndarray, lons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ZIP polygon index, community-area polygon index) per point, -1 for none."""
        lats, lons = np.asarray(lats, dtype=float), np.asarray(lons, dtype=float)
        return self.zip_codes.polygon_of(lats, lons), self.community_areas.polygon_of(lats, lons)

    def locate(self, lats: np.ndarray, lons: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(ZIP codes, community area numbers) per point: object arrays, None outside."""
        zip_index, area_index = self.polygons_of(lats, lons)
        return _labels(self.zip_codes, zip_index), _labels(self.community_areas, area_index)


def _unzip(pairs: list[tuple[object, str]]) -> tuple[list[object], list[str]]:
    return [label for label, _ in pairs], [geometry for _, geometry in pairs]


def _labels(layer: Layer, index: np.ndarray) -> np.ndarray:
    labels = np.append(layer.labels, None)  # index -1 picks the trailing None
    return labels[index]
