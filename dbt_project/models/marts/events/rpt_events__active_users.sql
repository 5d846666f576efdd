{#
    Daily, weekly and monthly active actors (a user id, else an anonymous id)
    per UTC day: distinct actors with an event that day, in the 7 days and in
    the 30 days ending that day. A day's weekly and monthly counts depend on
    the 29 days before it, so new events reopen the days from their own to 29
    days later (within the days that have events), and only those.

    A day gets a row when some actor was active in the 30 days ending that day, as
    in a full build.
#}
{{
    config(
        materialized='incremental',
        unique_key=['activity_date'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}

with

fresh as (
    {{ events_since_mart() }}
),

{# From the first new event's day, or the day after the mart's last when that is
    earlier: days without events of their own still get their weekly and monthly
    counts, as in a full build. #}
reopened as (
    select generate_series(
        {% if is_incremental() -%}
            least(
                (select min({{ utc_period('day', 'event_at') }}) from fresh),
                (select max(kept.activity_date) + 1 from {{ this }} as kept)
            ),
        {%- else -%}
            (select min({{ utc_period('day', 'event_at') }}) from fresh),
        {%- endif %}
        least(
            (select max({{ utc_period('day', 'event_at') }}) from fresh) + interval '29 days',
            (select max({{ utc_period('day', 'event_at') }}) from {{ ref('stg_events__events') }})
        ),
        interval '1 day'
    )::date as activity_date
),

daily_actors as (
    select distinct
        {{ utc_period('day', 'event_at') }}::date as activity_date,
        actor_id
    from {{ ref('stg_events__events') }}
    where event_at >= (select min(r.activity_date) from reopened as r) - interval '30 days'
),

final as (
    select
        reopened.activity_date::date as activity_date,
        count(distinct daily_actors.actor_id) filter (
            where daily_actors.activity_date = reopened.activity_date
        )::bigint as daily_active_actors,
        count(distinct daily_actors.actor_id) filter (
            where daily_actors.activity_date > reopened.activity_date - 7
        )::bigint as weekly_active_actors,
        count(distinct daily_actors.actor_id)::bigint as monthly_active_actors,
        (select max(f.load_id) from fresh as f)::text as newest_load_id
    from reopened
    inner join daily_actors
        on daily_actors.activity_date between reopened.activity_date - 29 and reopened.activity_date
    group by reopened.activity_date
)

select * from final
