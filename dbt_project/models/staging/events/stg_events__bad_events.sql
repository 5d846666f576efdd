{#
    Every event the collector refused, typed: the reason code
    (docs/events.md#bad-events), its detail, the item's place in its request
    and the payload as sent (JSON text; not jsonb, which cannot hold every
    payload a client can send, such as a \u0000).
#}

with

source as (
    {{ loaded_source('events', 'bad_events', {
        'message_id': 'text',
        'source': 'text',
        'reason': 'text',
        'detail': 'text',
        'item_index': 'integer',
        'received_at': 'timestamptz',
        'payload': 'text',
        'segment': 'text',
        '_dlt_load_id': 'text',
    }) }}
),

renamed as (
    select
        message_id,
        source as source_name,
        reason,
        nullif(detail, '') as reason_detail,
        item_index,
        received_at,
        payload,
        segment,
        _dlt_load_id as load_id,
        to_timestamp(_dlt_load_id::double precision) as loaded_at
    from source
),

{# A load retried after it half committed could write a segment's bad events twice. #}
deduplicated as (
    select distinct on (segment, received_at, item_index, reason) *
    from renamed
    order by segment asc, received_at asc, item_index asc, reason asc, load_id asc
)

select * from deduplicated
