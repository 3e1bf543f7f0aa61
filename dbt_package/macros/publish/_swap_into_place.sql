{#- Publish a whole new table: rename the published relation aside and `source` into its
    place. Call inside the node's transaction and commit after: both renames land together
    (PostgreSQL and DuckDB both run DDL transactionally). Returns the renamed-aside
    relation, for the caller to drop after the commit, or none. -#}
{% macro _swap_into_place(source, target) -%}
  {%- set existing = adapter.get_relation(target.database, target.schema, target.identifier) -%}
  {%- set backup = none -%}
  {%- if existing is not none -%}
    {%- set backup = make_backup_relation(target, existing.type) -%}
    {%- do drop_relation_if_exists(adapter.get_relation(backup.database, backup.schema, backup.identifier)) -%}
    {%- do adapter.rename_relation(existing, backup) -%}
  {%- endif -%}
  {%- do adapter.rename_relation(source, target.incorporate(type='table')) -%}
  {{ return(backup) }}
{%- endmacro %}
