{#
    Every non-NULL value of the column matches the POSIX regular expression
    `pattern` (Postgres `~`). Fails with one row per value that does not.
    For codes that later name files (a country's report): a value such as
    `../x` is flagged here, and the report skips it.
#}
{% test matches_pattern(model, column_name, pattern) %}

select {{ column_name }}
from {{ model }}
where {{ column_name }} is not null
    and {{ column_name }} !~ '{{ pattern }}'

{% endtest %}
