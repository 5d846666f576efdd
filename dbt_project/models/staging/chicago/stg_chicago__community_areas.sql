{# Community area boundaries (igwz-8jzy): names and numbers; the geometry stays in raw. #}

with

source as (
    select * from {{ source('chicago', 'community_areas') }}
),

renamed as (
    select
        {{ cast_or_null('area_numbe', 'integer') }} as community_area_number,
        initcap(nullif(trim(community), '')) as community_area_name,
        {{ cast_or_null('shape_area', 'double precision') }} as shape_area,
        to_timestamp(_dlt_load_id::double precision) as loaded_at
    from source
)

select * from renamed
