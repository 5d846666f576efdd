{#
    311 service requests (v6vf-nfxy). Text as the API sends it, cast with
    cast_or_null so one malformed value cannot fail the build; floating
    timestamps are Chicago wall-clock time, made absolute here. A request
    without a parsable created_date cannot be placed in time: reject_reason
    keeps it out of the enriched model and lists it in rpt_chicago__rejected_rows.
#}

with

source as (
    select * from {{ source('chicago', 'service_requests') }}
),

renamed as (
    select
        -- ids
        nullif(trim(sr_number), '') as service_request_id,
        nullif(trim(parent_sr_number), '') as parent_service_request_id,

        -- classification
        nullif(trim(sr_type), '') as request_type,
        nullif(trim(sr_short_code), '') as request_code,
        nullif(trim(owner_department), '') as owner_department,
        nullif(trim(status), '') as status,
        nullif(trim(origin), '') as origin,
        coalesce(duplicate, false) as is_duplicate,
        coalesce(legacy_record, false) as is_legacy,

        -- place
        nullif(trim(street_address), '') as street_address,
        nullif(trim(zip_code), '') as source_zip_code,
        {{ cast_or_null('community_area', 'integer') }} as source_community_area,
        {{ cast_or_null('ward', 'integer') }} as ward,
        nullif(trim(police_district), '') as police_district,
        {{ cast_or_null('latitude', 'double precision') }} as latitude,
        {{ cast_or_null('longitude', 'double precision') }} as longitude,

        -- time
        {{ cast_or_null('created_date', 'timestamp') }}
        at time zone '{{ var("chicago_timezone") }}' as created_at,
        {{ cast_or_null('last_modified_date', 'timestamp') }}
        at time zone '{{ var("chicago_timezone") }}' as last_modified_at,
        {{ cast_or_null('closed_date', 'timestamp') }}
        at time zone '{{ var("chicago_timezone") }}' as closed_at,

        -- platform and load metadata
        socrata_updated_at as updated_at,
        to_timestamp(_dlt_load_id::double precision) as loaded_at,

        case
            {{ reject_unless_castable('created_date', 'timestamp') }}
        end as reject_reason
    from source
)

select * from renamed
