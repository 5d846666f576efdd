{#
    Refused events per UTC day received, source and reason code
    (docs/events.md#bad-events), with one payload as an example. Rebuilt
    whole: bad events are few (the collector refuses a share of a percent on
    ordinary traffic) and the table small.
#}

with

bad as (
    select * from {{ ref('stg_events__bad_events') }}
),

final as (
    select
        {{ utc_period('day', 'received_at') }}::date as received_date,
        source_name::text as source_name,
        reason::text as reason,
        count(*)::bigint as bad_events,
        min(payload)::text as example_payload
    from bad
    group by 1, 2, 3
)

select * from final
