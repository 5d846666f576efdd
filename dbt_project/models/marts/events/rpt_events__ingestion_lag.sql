{#
    How long events took from the collector to the warehouse, per UTC hour
    they were received: received_at (the collector's clock, when the event
    was fsynced and acknowledged) to loaded_at (the drain's dlt load that
    committed it). The Dagster freshness check on this mart warns when the
    newest hour's p95 passes its limit.
#}
{{
    config(
        materialized='incremental',
        unique_key=['received_hour'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}

with

events as (
    {{ events_of_touched_periods('hour', 'received_at') }}
),

final as (
    select
        {{ utc_period('hour', 'received_at') }}::timestamp as received_hour,
        count(*)::bigint as events,
        -- seconds to the millisecond, plenty for a lag, so a report shows
        -- 0.843, not 0.84299993515 (docs/reports.md#numbers); the type stays, so a
        -- warehouse built before keeps building incrementally
        {{ rounded(
            "percentile_cont(0.5) within group (order by extract(epoch from loaded_at - received_at))",
            3) }}::double precision as lag_p50_seconds,
        {{ rounded(
            "percentile_cont(0.95) within group (order by extract(epoch from loaded_at - received_at))",
            3) }}::double precision as lag_p95_seconds,
        {{ rounded("max(extract(epoch from loaded_at - received_at))", 3) }}::double precision
            as lag_max_seconds,
        max(load_id)::text as newest_load_id
    from events
    group by 1
)

select * from final
