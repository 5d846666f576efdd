{#
    Traffic crashes (85ca-t3if), one row per crash. Injury counts arrive as
    text; a count that does not parse becomes NULL (flagged by a warn test on
    the source). A crash without a parsable crash_date is rejected.
#}

with

source as (
    select * from {{ source('chicago', 'traffic_crashes') }}
),

renamed as (
    select
        -- ids
        nullif(trim(crash_record_id), '') as crash_id,

        -- circumstances
        {{ cast_or_null('posted_speed_limit', 'integer') }} as posted_speed_limit,
        nullif(trim(traffic_control_device), '') as traffic_control_device,
        nullif(trim(weather_condition), '') as weather_condition,
        nullif(trim(lighting_condition), '') as lighting_condition,
        nullif(trim(first_crash_type), '') as first_crash_type,
        nullif(trim(trafficway_type), '') as trafficway_type,
        nullif(trim(crash_type), '') as crash_type,
        nullif(trim(damage), '') as damage,
        nullif(trim(prim_contributory_cause), '') as primary_cause,
        coalesce(upper(trim(hit_and_run_i)) = 'Y', false) as is_hit_and_run,
        {{ cast_or_null('num_units', 'integer') }} as units_involved,

        -- injuries
        nullif(trim(most_severe_injury), '') as most_severe_injury,
        {{ cast_or_null('injuries_total', 'integer') }} as injuries_total,
        {{ cast_or_null('injuries_fatal', 'integer') }} as injuries_fatal,
        {{ cast_or_null('injuries_incapacitating', 'integer') }} as injuries_incapacitating,
        {{ cast_or_null('injuries_non_incapacitating', 'integer') }}
            as injuries_non_incapacitating,

        -- place
        nullif(trim(street_no), '') as street_number,
        nullif(trim(street_direction), '') as street_direction,
        nullif(trim(street_name), '') as street_name,
        nullif(trim(beat_of_occurrence), '') as beat,
        {{ cast_or_null('latitude', 'double precision') }} as latitude,
        {{ cast_or_null('longitude', 'double precision') }} as longitude,

        -- time
        {{ cast_or_null('crash_date', 'timestamp') }}
        at time zone '{{ var("chicago_timezone") }}' as crashed_at,
        {{ cast_or_null('date_police_notified', 'timestamp') }}
        at time zone '{{ var("chicago_timezone") }}' as police_notified_at,

        -- platform and load metadata
        socrata_updated_at as updated_at,
        to_timestamp(_dlt_load_id::double precision) as loaded_at,

        case
            {{ reject_unless_castable('crash_date', 'timestamp') }}
        end as reject_reason
    from source
)

select * from renamed
