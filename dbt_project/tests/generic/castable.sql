{#
    Every non-blank value of the column parses as `type` (see cast_or_null).
    Staging turns a value that does not into NULL; this test counts them.
#}
{% test castable(model, column_name, type) %}

select {{ column_name }}
from {{ model }}
where nullif(trim({{ column_name }}), '') is not null
    and not {{ is_castable(column_name, type) }}

{% endtest %}
