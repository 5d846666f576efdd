{# Crashes with their ZIP code and community area (the portal has no area field). #}

{{
    config(
        materialized='incremental',
        unique_key='crash_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        pre_hook=[
            "{{ note_vacated_months(ref('stg_chicago__traffic_crashes'), 'crash_id', 'crashed_month') }}",
            "{{ drop_newly_rejected(ref('stg_chicago__traffic_crashes'), 'crash_id') }}",
        ],
        indexes=[
            {'columns': ['crash_id'], 'unique': true},
            {'columns': ['loaded_at']},
            {'columns': ['geocoded_at']},
            {'columns': ['latitude', 'longitude']},
            {'columns': ['crashed_month']},
        ],
    )
}}

with

crashes as (
    {{ new_or_relocated(ref('stg_chicago__traffic_crashes'), 'crash_id') }}
),

enriched as (
    select
        crashes.crash_id,
        crashes.crash_type,
        crashes.first_crash_type,
        crashes.primary_cause,
        crashes.weather_condition,
        crashes.lighting_condition,
        crashes.posted_speed_limit,
        crashes.is_hit_and_run,
        crashes.units_involved,
        crashes.damage,
        crashes.most_severe_injury,
        coalesce(crashes.injuries_total, 0) as injuries_total,
        coalesce(crashes.injuries_fatal, 0) as injuries_fatal,
        coalesce(crashes.injuries_incapacitating, 0) as injuries_incapacitating,
        coalesce(crashes.injuries_total, 0) > 0 as has_injuries,
        coalesce(crashes.injuries_fatal, 0) > 0 as is_fatal,
        crashes.beat,
        crashes.latitude,
        crashes.longitude,
        {{ geo_columns('crashes') }},
        crashes.crashed_at,
        date_trunc(
            'month', crashes.crashed_at at time zone '{{ var("chicago_timezone") }}'
        )::date as crashed_month,
        crashes.updated_at,
        crashes.loaded_at
    from crashes
    {{ geo_joins('crashes') }}
)

select * from enriched
