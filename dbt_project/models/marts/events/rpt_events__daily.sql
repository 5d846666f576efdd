{#
    Events per UTC day of their (clock-corrected) event time, per source, call
    type and event name, with the distinct actors (user id, else anonymous
    id). Identify, alias and group calls have no event name: they are named
    by their call type. Recomputed per touched day (macros/events.sql).
#}
{{
    config(
        materialized='incremental',
        unique_key=['event_date'],
        incremental_strategy='delete+insert',
        on_schema_change='fail',
    )
}}

{{ events_per_period('day', 'event_date', 'date') }}
