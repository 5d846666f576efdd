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
),

{# The published types, as the contract declares them (_chicago__models.yml). #}
final as (
    select
        facility_type::text as facility_type,
        zip_code::text as zip_code,
        inspection_count::bigint as inspection_count,
        graded_count::bigint as graded_count,
        passed_count::bigint as passed_count,
        pass_rate::numeric as pass_rate
    from summarised
)

select * from final
