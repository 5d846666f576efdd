{#
    Every row Pulse could not use, with the reason, for analysts: rows dlt set
    aside at ingest (raw_chicago.crimes_rejects: no id, a null byte, a value
    not of its column's type) and rows staging could not count (an id that is
    not a number, an occurrence date that does not parse). A log: each
    rejected version stays listed, so it is appended per load (loaded_at).
#}
{{ config(materialized='incremental') }}

{% set ingest_rejects = load_relation(source('chicago', 'crimes_rejects')) %}

with

{% if ingest_rejects is not none %}
ingest as (
    select
        'crimes' as dataset,
        id as record_id,
        'ingest' as stage,
        reject_reason,
        record,
        socrata_updated_at as updated_at,
        to_timestamp(_dlt_load_id::double precision) as loaded_at
    from {{ ingest_rejects }}
),
{% endif %}

staging as (
    select
        'crimes' as dataset,
        crime_id::text as record_id,
        'staging' as stage,
        reject_reason,
        null::text as record,
        updated_at,
        loaded_at
    from {{ ref('stg_chicago__crimes') }}
    where reject_reason is not null
),

rejected as (
    {% if ingest_rejects is not none %}
        select * from ingest
        union all
    {% endif %}
    select * from staging
)

select * from rejected
{% if is_incremental() %}
    where loaded_at > (
        select coalesce(max(loaded_at), '-infinity'::timestamptz) from {{ this }}
    )
{% endif %}
