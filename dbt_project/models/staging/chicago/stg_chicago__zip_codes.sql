{#
    ZIP code boundaries (unjd-c2ca). A ZIP may have several polygons: one row
    per ZIP, its polygons gathered into one GeoJSON MultiPolygon.
#}

with

source as (
    select * from {{ source('chicago', 'zip_codes') }}
),

renamed as (
    select
        nullif(trim(zip), '') as zip_code,
        {{ cast_or_null('shape_area', 'double precision') }} as shape_area,
        the_geom::jsonb as the_geom,
        to_timestamp(_dlt_load_id::double precision) as loaded_at
    from source
),

polygons as (
    select
        renamed.zip_code,
        parts.polygon
    from renamed
    cross join
        lateral jsonb_array_elements(
            case
                when renamed.the_geom ->> 'type' = 'Polygon'
                    then jsonb_build_array(renamed.the_geom -> 'coordinates')
                when renamed.the_geom ->> 'type' = 'MultiPolygon'
                    then renamed.the_geom -> 'coordinates'
                else '[]'::jsonb
            end
        ) as parts (polygon)
    where renamed.zip_code is not null
),

boundaries as (
    select
        zip_code,
        jsonb_build_object(
            'type', 'MultiPolygon',
            'coordinates', jsonb_agg(polygon order by polygon::text)
        ) as boundary
    from polygons
    group by zip_code
),

per_zip as (
    select
        zip_code,
        sum(shape_area) as shape_area,
        max(loaded_at) as loaded_at
    from renamed
    where zip_code is not null
    group by zip_code
),

joined as (
    select
        per_zip.zip_code,
        per_zip.shape_area,
        boundaries.boundary,
        per_zip.loaded_at
    from per_zip
    left join boundaries on per_zip.zip_code = boundaries.zip_code
)

select * from joined
