{#- A predicate matching rows of `left_alias` and `right_alias` on every unique key column. -#}
{% macro _key_match_sql(unique_key, left_alias, right_alias) -%}
  {%- set parts = [] -%}
  {%- for key in unique_key -%}
    {%- do parts.append(left_alias ~ '.' ~ adapter.quote(key) ~ ' = ' ~ right_alias ~ '.' ~ adapter.quote(key)) -%}
  {%- endfor -%}
  {{ return(parts | join(' and ')) }}
{%- endmacro %}
