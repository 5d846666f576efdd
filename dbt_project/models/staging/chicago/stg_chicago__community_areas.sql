{#
    Community area boundaries (igwz-8jzy): numbers, names and the GeoJSON
    outline the portal's maps draw. The layer's own spelling of a name is source_*: every model's
    community_area_name is the official one of the chicago_community_areas seed.
#}

with

source as (
    select * from {{ source('chicago', 'community_areas') }}
),

renamed as (
    select
        {{ cast_or_null('area_numbe', 'integer') }} as community_area_number,
        initcap(nullif(trim(community), '')) as source_community_area_name,
        {{ cast_or_null('shape_area', 'double precision') }} as shape_area,
        the_geom::jsonb as boundary,
        to_timestamp(_dlt_load_id::double precision) as loaded_at
    from source
)

select * from renamed
