{#
    Food inspections with their ZIP code and community area (from
    coordinates), and whether the establishment passed. 'Pass' and 'Pass w/
    Conditions' pass; outcomes where nothing was inspected ('Out of Business',
    'No Entry', 'Not Ready', ...) count neither way: is_passed is NULL.
#}

{{
    config(
        materialized='incremental',
        unique_key='inspection_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        pre_hook=[
            "{{ note_vacated_months(ref('stg_chicago__food_inspections'), 'inspection_id', 'inspection_month') }}",
            "{{ drop_newly_rejected(ref('stg_chicago__food_inspections'), 'inspection_id') }}",
        ],
        indexes=[
            {'columns': ['inspection_id'], 'unique': true},
            {'columns': ['loaded_at']},
            {'columns': ['geocoded_at']},
            {'columns': ['latitude', 'longitude']},
            {'columns': ['inspection_month']},
        ],
    )
}}

with

inspections as (
    {{ new_or_relocated(ref('stg_chicago__food_inspections'), 'inspection_id') }}
),

enriched as (
    select
        inspections.inspection_id,
        inspections.license_number,
        inspections.business_name,
        inspections.facility_type,
        inspections.risk,
        inspections.inspection_type,
        inspections.result,
        case
            when inspections.result in ('Pass', 'Pass w/ Conditions') then true
            when inspections.result = 'Fail' then false
        end as is_passed,
        inspections.latitude,
        inspections.longitude,
        inspections.source_zip_code,
        {{ geo_columns('inspections') }},
        inspections.inspection_date,
        date_trunc('month', inspections.inspection_date)::date as inspection_month,
        inspections.updated_at,
        inspections.loaded_at
    from inspections
    {{ geo_joins('inspections') }}
)

select * from enriched
