{#
    The ZIP code and community area of every distinct coordinate pair in the
    raw point tables, found by point-in-polygon against the boundary layers
    (pipelines/geo, shapely). Enriched models join on (latitude, longitude):
    both sides are the same text cast to double precision, so equality is exact.
#}

select
    latitude,
    longitude,
    zip_code,
    community_area_number,
    boundaries_version,
    geocoded_at
from {{ source('chicago', 'geocoded_points') }}
