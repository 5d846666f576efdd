{#
    Events per UTC hour of their (clock-corrected) event time, per source, call
    type and event name, with the distinct actors (user id, else anonymous
    id). Identify, alias and group calls have no event name: they are named
    by their call type. Recomputed per touched hour (macros/events.sql).
#}
{{
    config(
        materialized='incremental',
        unique_key=['event_hour'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}

{{ events_per_period('hour', 'event_hour', 'timestamp') }}
