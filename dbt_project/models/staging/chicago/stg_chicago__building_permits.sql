{#
    Building permits (ydr8-5enu). Fees and costs are decimal text. A permit
    without a numeric id or a parsable issue_date is rejected: the reports
    count permits by the month they were issued.
#}

with

source as (
    select * from {{ source('chicago', 'building_permits') }}
),

renamed as (
    select
        -- ids
        {{ cast_or_null("nullif(trim(id), '')", 'bigint') }} as permit_id,
        -- the portal's permit_ (dlt drops a trailing _)
        nullif(trim(permitx), '') as permit_number,

        -- what
        nullif(trim(permit_type), '') as permit_type,
        nullif(trim(review_type), '') as review_type,
        nullif(trim(work_description), '') as work_description,
        {{ cast_or_null('processing_time', 'integer') }} as processing_days,
        {{ cast_or_null('total_fee', 'numeric') }} as total_fee,
        {{ cast_or_null('reported_cost', 'numeric') }} as reported_cost,

        -- place
        nullif(trim(street_number), '') as street_number,
        nullif(trim(street_direction), '') as street_direction,
        nullif(trim(street_name), '') as street_name,
        {{ cast_or_null('community_area', 'integer') }} as source_community_area,
        {{ cast_or_null('ward', 'integer') }} as ward,
        {{ cast_or_null('latitude', 'double precision') }} as latitude,
        {{ cast_or_null('longitude', 'double precision') }} as longitude,

        -- time
        {{ cast_or_null('application_start_date', 'timestamp') }}
        at time zone '{{ var("chicago_timezone") }}' as applied_at,
        {{ cast_or_null('issue_date', 'timestamp') }}
        at time zone '{{ var("chicago_timezone") }}' as issued_at,

        -- platform and load metadata
        socrata_updated_at as updated_at,
        to_timestamp(_dlt_load_id::double precision) as loaded_at,

        case
            {{ reject_unless_castable('id', 'bigint') }}
            {{ reject_unless_castable('issue_date', 'timestamp') }}
        end as reject_reason
    from source
)

select * from renamed
