{#- The comment of a table, or none. -#}
{% macro _get_relation_comment(relation) -%}
  {{ return(adapter.dispatch('_get_relation_comment', 'sutura')(relation)) }}
{%- endmacro %}

{% macro default___get_relation_comment(relation) -%}
  {{ return(none) }}
{%- endmacro %}

{% macro postgres___get_relation_comment(relation) -%}
  {%- set query -%}
    select obj_description(c.oid, 'pg_class')
    from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
    where n.nspname = '{{ relation.schema }}' and c.relname = '{{ relation.identifier }}'
  {%- endset -%}
  {%- set rows = run_query(query).rows -%}
  {{ return(rows[0][0] if rows else none) }}
{%- endmacro %}

{% macro duckdb___get_relation_comment(relation) -%}
  {%- set query -%}
    select comment from duckdb_tables()
    where database_name = '{{ relation.database }}' and schema_name = '{{ relation.schema }}'
      and table_name = '{{ relation.identifier }}'
  {%- endset -%}
  {%- set rows = run_query(query).rows -%}
  {{ return(rows[0][0] if rows else none) }}
{%- endmacro %}
