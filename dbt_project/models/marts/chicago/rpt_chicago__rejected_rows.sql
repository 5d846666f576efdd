{#
    Every row Pulse could not use, with the reason, for analysts: rows dlt set
    aside at ingest (raw_chicago.<table>_rejects: no key, a null byte, a value
    not of its column's type) and rows staging could not count (a key that is
    not a number, an event date that does not parse). A log: each rejected
    version stays listed, so it is appended per load (loaded_at).

    The filter on loaded_at sits in every branch, not once above the union:
    there Postgres applied it after computing reject_reason for every staged
    row (12-15 s a refresh at 1.8M raw rows, docs/benchmarks.md); in a branch
    it is a range scan of the raw table's loaded_at index.
#}
{#
    An incremental model with an enforced contract must say what a change of
    its columns does: 'fail', so a build whose columns differ from the
    table's stops instead of altering the published log
    (docs/reports.md#report-marts-are-contracts).
#}
{{ config(materialized='incremental', on_schema_change='fail') }}

{#- (dataset, staging model, its key, the raw key the rejects table keeps) -#}
{% set datasets = [
    ('crimes', 'stg_chicago__crimes', 'crime_id', 'id'),
    ('service_requests', 'stg_chicago__service_requests', 'service_request_id', 'sr_number'),
    ('traffic_crashes', 'stg_chicago__traffic_crashes', 'crash_id', 'crash_record_id'),
    ('building_permits', 'stg_chicago__building_permits', 'permit_id', 'id'),
    ('food_inspections', 'stg_chicago__food_inspections', 'inspection_id', 'inspection_id'),
] %}

{%- set since -%}
    {%- if is_incremental() -%}
        (select coalesce(max(loaded_at), '-infinity'::timestamptz) from {{ this }})
    {%- else -%}
        '-infinity'::timestamptz
    {%- endif -%}
{%- endset %}

with

rejected as (
    {% for dataset, staging, key, raw_key in datasets %}
        {#- a rejects table appears with its dataset's first rejected row -#}
        {% set ingest_rejects = load_relation(source('chicago', dataset ~ '_rejects')) %}
        {% if ingest_rejects is not none %}
            select
                '{{ dataset }}' as dataset,
                {{ adapter.quote(raw_key) }}::text as record_id,
                'ingest' as stage,
                reject_reason,
                record,
                socrata_updated_at as updated_at,
                to_timestamp(_dlt_load_id::double precision) as loaded_at
            from {{ ingest_rejects }}
            where to_timestamp(_dlt_load_id::double precision) > {{ since }}
            union all
        {% endif %}
        select
            '{{ dataset }}' as dataset,
            {{ key }}::text as record_id,
            'staging' as stage,
            reject_reason,
            null::text as record,
            updated_at,
            loaded_at
        from {{ ref(staging) }}
        where reject_reason is not null and loaded_at > {{ since }}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

{# The published types, as the contract declares them (_chicago__models.yml). #}
final as (
    select
        dataset::text as dataset,
        record_id::text as record_id,
        stage::text as stage,
        reject_reason::text as reject_reason,
        record::text as record,
        updated_at::timestamptz as updated_at,
        loaded_at::timestamptz as loaded_at
    from rejected
)

select * from final
