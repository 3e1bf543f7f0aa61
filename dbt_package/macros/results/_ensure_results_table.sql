{#- Create the results schema and table if they do not exist yet; return the relation. -#}
{% macro _ensure_results_table() -%}
  {%- set relation = sutura.results_relation() -%}
  {%- if adapter.get_relation(relation.database, relation.schema, relation.identifier) is none -%}
    {%- do adapter.create_schema(relation) -%}
    {%- set columns = [] -%}
    {%- for name, type in sutura._results_columns() -%}
      {%- do columns.append(name ~ ' ' ~ type) -%}
    {%- endfor -%}
    {%- call statement('sutura_create_results') -%}
      create table if not exists {{ relation }} ({{ columns | join(', ') }})
    {%- endcall -%}
  {%- endif -%}
  {{ return(relation) }}
{%- endmacro %}
