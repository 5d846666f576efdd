{#
    Every accepted event once: one row per message_id, the earliest received
    wins. SDKs retry with the same messageId after a timeout, and the drain may
    deliver a segment again after a crash; neither may count twice.

    Incremental in the pattern of the enriched Chicago models: a build reads
    only the dlt loads it has not seen (after its newest seen_load_id; the
    index on raw_events.events._dlt_load_id makes that a range scan), joined
    to the rows already kept for the same message_ids, and keeps the earliest
    of each. seen_load_id is the newest load that held the message, so a load
    of nothing but retries still moves the watermark.
    A table, not a view: the marts would otherwise de-duplicate every event on
    every build.
#}
{{
    config(
        materialized='incremental',
        unique_key='message_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        indexes=[
            {'columns': ['message_id'], 'unique': true},
            {'columns': ['load_id']},
            {'columns': ['seen_load_id']},
            {'columns': ['event_at']},
        ],
    )
}}

with

source as (
    {{ loaded_source('events', 'events', {
        'message_id': 'text',
        'source': 'text',
        'type': 'text',
        'event': 'text',
        'event_type_id': 'smallint',
        'user_id': 'text',
        'anonymous_id': 'text',
        'group_id': 'text',
        'previous_id': 'text',
        'timestamp': 'timestamptz',
        'sent_at': 'timestamptz',
        'received_at': 'timestamptz',
        'event_at': 'timestamptz',
        'properties': 'text',
        'traits': 'text',
        'context': 'text',
        'segment': 'text',
        '_dlt_load_id': 'text',
    }) }}
),

new_loads as (
    select * from source
    {% if is_incremental() %}
        where source._dlt_load_id > (
                select coalesce(max(kept.seen_load_id), '') from {{ this }} as kept
            )
    {% endif %}
),

typed as (
    select
        message_id,
        source as source_name,
        type as call_type,
        event as event_name,
        event_type_id,
        user_id,
        anonymous_id,
        coalesce(user_id, 'anonymous:' || anonymous_id) as actor_id,
        group_id,
        previous_id,
        "timestamp" as client_timestamp,  -- noqa: RF06
        sent_at,
        received_at,
        event_at,
        -- the collector wrote these as JSON and refused what jsonb cannot hold
        properties::jsonb as properties,
        traits::jsonb as traits,
        context::jsonb as context,
        segment,
        _dlt_load_id as load_id,
        to_timestamp(_dlt_load_id::double precision) as loaded_at,
        _dlt_load_id as seen_load_id
    from new_loads
),

candidates as (
    select * from typed
    {% if is_incremental() %}
        union all
        select kept.*
        from {{ this }} as kept
        where kept.message_id in (select typed.message_id from typed)
    {% endif %}
),

ranked as (
    select
        *,
        max(seen_load_id) over (partition by message_id) as newest_seen_load_id
    from candidates
),

earliest as (
    select distinct on (message_id)
        message_id,
        source_name,
        call_type,
        event_name,
        event_type_id,
        user_id,
        anonymous_id,
        actor_id,
        group_id,
        previous_id,
        client_timestamp,
        sent_at,
        received_at,
        event_at,
        properties,
        traits,
        context,
        segment,
        load_id,
        loaded_at,
        newest_seen_load_id as seen_load_id
    from ranked
    order by message_id asc, received_at asc, segment asc
)

select * from earliest
