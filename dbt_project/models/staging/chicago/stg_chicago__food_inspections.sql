{#
    Food inspections (4ijn-s7e5), one row per inspection. An inspection
    without a numeric id or a parsable inspection_date is rejected.
#}

with

source as (
    select * from {{ source('chicago', 'food_inspections') }}
),

renamed as (
    select
        -- ids
        {{ cast_or_null("nullif(trim(inspection_id), '')", 'bigint') }} as inspection_id,
        nullif(trim(licensex), '') as license_number,  -- the portal's license_

        -- establishment
        nullif(trim(dba_name), '') as business_name,
        nullif(trim(aka_name), '') as aka_name,
        nullif(trim(facility_type), '') as facility_type,
        nullif(trim(risk), '') as risk,

        -- place
        nullif(trim(address), '') as address,
        nullif(trim(zip), '') as source_zip_code,
        {{ cast_or_null('latitude', 'double precision') }} as latitude,
        {{ cast_or_null('longitude', 'double precision') }} as longitude,

        -- inspection
        nullif(trim(inspection_type), '') as inspection_type,
        nullif(trim(results), '') as result,
        nullif(trim(violations), '') as violations,
        {{ cast_or_null('inspection_date', 'timestamp') }}::date as inspection_date,

        -- platform and load metadata
        socrata_updated_at as updated_at,
        to_timestamp(_dlt_load_id::double precision) as loaded_at,

        case
            {{ reject_unless_castable('inspection_id', 'bigint') }}
            {{ reject_unless_castable('inspection_date', 'timestamp') }}
        end as reject_reason
    from source
)

select * from renamed
