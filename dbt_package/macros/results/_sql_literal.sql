{#- A Python value as a SQL literal of `type`: none -> null, strings quoted and escaped,
    datetimes as timestamps, lists joined with ', '. -#}
{% macro _sql_literal(value, type) -%}
  {%- if value is none -%}
    {{ return('null') }}
  {%- elif value is sameas true or value is sameas false -%}
    {{ return("'" ~ (value | string | lower) ~ "'") }}
  {%- elif type == dbt.type_timestamp() -%}
    {%- set text = value.strftime('%Y-%m-%d %H:%M:%S.%f') if value is not string else value -%}
    {{ return("cast('" ~ text ~ "' as " ~ type ~ ")") }}
  {%- elif type == dbt.type_string() -%}
    {%- set text = value | join(', ') if (value is iterable and value is not string and value is not mapping) else value | string -%}
    {{ return("'" ~ (text | replace("'", "''")) ~ "'") }}
  {%- else -%}
    {{ return(value | string) }}
  {%- endif -%}
{%- endmacro %}
