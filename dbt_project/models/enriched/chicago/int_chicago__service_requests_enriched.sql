{#
    311 requests with their ZIP code and community area (from coordinates),
    and how long each took to close. Incremental like the crimes: new loads, and rows whose
    coordinates the geocoder answered anew (new_or_relocated in macros/geo.sql).
#}

{{
    config(
        materialized='incremental',
        unique_key='service_request_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        pre_hook=[
            "{{ note_vacated_months(ref('stg_chicago__service_requests'), 'service_request_id', 'created_month') }}",
            "{{ drop_newly_rejected(ref('stg_chicago__service_requests'), 'service_request_id') }}",
        ],
        indexes=[
            {'columns': ['service_request_id'], 'unique': true},
            {'columns': ['loaded_at']},
            {'columns': ['geocoded_at']},
            {'columns': ['latitude', 'longitude']},
            {'columns': ['created_month']},
        ],
    )
}}

with

requests as (
    {{ new_or_relocated(ref('stg_chicago__service_requests'), 'service_request_id') }}
),

enriched as (
    select
        requests.service_request_id,
        requests.parent_service_request_id,
        requests.request_type,
        requests.request_code,
        requests.owner_department,
        requests.status,
        requests.origin,
        requests.is_duplicate,
        requests.is_legacy,
        requests.street_address,
        requests.ward,
        requests.police_district,
        requests.latitude,
        requests.longitude,
        requests.source_community_area,
        {{ geo_columns('requests', 'source_community_area') }},
        requests.created_at,
        date_trunc(
            'month', requests.created_at at time zone '{{ var("chicago_timezone") }}'
        )::date as created_month,
        requests.closed_at,
        case
            when requests.closed_at >= requests.created_at
                then extract(epoch from requests.closed_at - requests.created_at) / 3600.0
        end as hours_to_close,
        requests.last_modified_at,
        requests.updated_at,
        requests.loaded_at
    from requests
    {{ geo_joins('requests') }}
)

select * from enriched
