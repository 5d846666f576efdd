{#
    Pre-hook of an incremental model fed by a staging model with a
    reject_reason column: deletes this table's rows whose key arrives in a
    newer load as rejected. Runs before the new rows are selected, so
    max(loaded_at) is still the last load this table has seen.
#}
{% macro drop_newly_rejected(staging, key) %}
    {% if is_incremental() %}
        delete from {{ this }}
        where {{ key }} in (
            select {{ key }} from {{ staging }}
            where reject_reason is not null
                and {{ key }} is not null
                and loaded_at > (select max(loaded_at) from {{ this }})
        )
    {% endif %}
{% endmacro %}
