{# ZIP code boundaries (unjd-c2ca). A ZIP may have several polygons: one row per ZIP. #}

with

source as (
    select * from {{ source('chicago', 'zip_codes') }}
),

renamed as (
    select
        nullif(trim(zip), '') as zip_code,
        {{ cast_or_null('shape_area', 'double precision') }} as shape_area,
        to_timestamp(_dlt_load_id::double precision) as loaded_at
    from source
),

per_zip as (
    select
        zip_code,
        sum(shape_area) as shape_area,
        max(loaded_at) as loaded_at
    from renamed
    where zip_code is not null
    group by zip_code
)

select * from per_zip
