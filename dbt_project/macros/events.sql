{#
    The event marts are incremental by period: a build recomputes only the
    periods (UTC hours or days of event_at or received_at) that hold events
    loaded after the mart's newest (newest_load_id, kept on every mart row),
    from every event of those periods, and replaces them (delete+insert on the
    period's key). A late event, one whose event time is days old, reopens its
    own period and nothing else. A full build computes every period.
#}

{# Events loaded after what `this` mart counted (all events on a full build). #}
{% macro events_since_mart() %}
    select * from {{ ref('stg_events__events') }}
    {% if is_incremental() %}
        where load_id > (select coalesce(max(newest_load_id), '') from {{ this }})
    {% endif %}
{% endmacro %}

{# The UTC hour or day (`grain`) of a timestamptz `column`, as a timestamp. #}
{% macro utc_period(grain, column) -%}
    date_trunc('{{ grain }}', {{ column }} at time zone 'UTC')
{%- endmacro %}

{#
    Every event of the periods the new loads touched. The range test on the
    column is what the index on it serves; the period test then keeps exactly
    the touched periods.
#}
{% macro events_of_touched_periods(grain, column) %}
    select events.*
    from {{ ref('stg_events__events') }} as events
    {% if is_incremental() %}
        inner join (
            select
                min({{ column }}) - interval '1 {{ grain }}' as low,
                max({{ column }}) + interval '1 {{ grain }}' as high
            from ({{ events_since_mart() }}) as fresh
        ) as span
            on events.{{ column }} between span.low and span.high
        where {{ utc_period(grain, 'events.' ~ column) }} in (
            select distinct {{ utc_period(grain, 'fresh.' ~ column) }}
            from ({{ events_since_mart() }}) as fresh
        )
    {% endif %}
{% endmacro %}

{#
    Events per UTC `grain` ('hour' or 'day') of their clock-corrected event
    time, per source, call type and event name, with the distinct actors.
    The period column is `period_column`, of type `period_type`.
#}
{% macro events_per_period(grain, period_column, period_type) %}
    with

    events as (
        {{ events_of_touched_periods(grain, 'event_at') }}
    ),

    final as (
        select
            {{ utc_period(grain, 'event_at') }}::{{ period_type }} as {{ period_column }},
            source_name::text as source_name,
            call_type::text as call_type,
            coalesce(event_name, call_type)::text as event_name,
            count(*)::bigint as events,
            count(distinct actor_id)::bigint as actors,
            max(load_id)::text as newest_load_id
        from events
        group by 1, 2, 3, 4
    )

    select * from final
{% endmacro %}
