{#- Publish `source` as `target`: merge it in when the model is incremental and its
    table exists, else swap it into place. Returns a relation to drop after the commit
    (the swapped-out table), or none. Shared by the materialization and `release`. -#}
{% macro _publish(source, target, settings) -%}
  {%- set existing = adapter.get_relation(target.database, target.schema, target.identifier) -%}
  {%- if settings is not none and existing is not none and existing.type == 'table' -%}
    {%- do sutura._merge_into(source, target, settings) -%}
    {%- do adapter.drop_relation(source) -%}
    {{ return(none) }}
  {%- endif -%}
  {{ return(sutura._swap_into_place(source, target)) }}
{%- endmacro %}
