{# Building permits with their ZIP code and community area (from coordinates). #}

{{
    config(
        materialized='incremental',
        unique_key='permit_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        pre_hook=[
            "{{ note_vacated_months(ref('stg_chicago__building_permits'), 'permit_id', 'issued_month') }}",
            "{{ drop_newly_rejected(ref('stg_chicago__building_permits'), 'permit_id') }}",
        ],
        indexes=[
            {'columns': ['permit_id'], 'unique': true},
            {'columns': ['loaded_at']},
            {'columns': ['geocoded_at']},
            {'columns': ['latitude', 'longitude']},
            {'columns': ['issued_month']},
        ],
    )
}}

with

permits as (
    {{ new_or_relocated(ref('stg_chicago__building_permits'), 'permit_id') }}
),

enriched as (
    select
        permits.permit_id,
        permits.permit_number,
        permits.permit_type,
        permits.review_type,
        permits.work_description,
        permits.processing_days,
        permits.total_fee,
        permits.reported_cost,
        permits.ward,
        permits.latitude,
        permits.longitude,
        permits.source_community_area,
        {{ geo_columns('permits', 'source_community_area') }},
        permits.applied_at,
        permits.issued_at,
        date_trunc(
            'month', permits.issued_at at time zone '{{ var("chicago_timezone") }}'
        )::date as issued_month,
        permits.updated_at,
        permits.loaded_at
    from permits
    {{ geo_joins('permits') }}
)

select * from enriched
