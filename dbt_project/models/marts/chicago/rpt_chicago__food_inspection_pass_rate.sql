{#
    Food inspection pass rate by facility type and ZIP code (from
    coordinates): passed / (passed + failed). Outcomes where nothing was
    inspected (out of business, no entry, not ready) are counted in
    inspection_count but not in the rate.
#}

with

inspections as (
    select * from {{ ref('int_chicago__food_inspections_enriched') }}
),

summarised as (
    select
        coalesce(facility_type, 'Unknown') as facility_type,
        zip_code,
        count(*) as inspection_count,
        count(is_passed) as graded_count,
        count(*) filter (where is_passed) as passed_count,
        round(
            (count(*) filter (where is_passed))::numeric / nullif(count(is_passed), 0), 4
        ) as pass_rate
    from inspections
    group by 1, 2
)

select * from summarised
