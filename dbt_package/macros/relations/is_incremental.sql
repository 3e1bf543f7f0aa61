{#- `is_incremental()` for write_audit_publish models: true when this run only adds an
    increment (the model is configured incremental, its table exists, no --full-refresh).
    dbt's own `is_incremental()` is false for any materialization but `incremental`, so
    audited incremental models filter their new rows with `sutura.is_incremental()`. -#}
{% macro is_incremental() -%}
  {{ return(adapter.dispatch('is_incremental', 'sutura')()) }}
{%- endmacro %}

{% macro default__is_incremental() -%}
  {%- if not execute -%}
    {{ return(false) }}
  {%- endif -%}
  {%- if model.config.materialized == 'incremental' -%}
    {{ return(dbt.is_incremental()) }}
  {%- endif -%}
  {%- if model.config.materialized != 'write_audit_publish' or sutura._incremental_settings(config) is none -%}
    {{ return(false) }}
  {%- endif -%}
  {%- set relation = adapter.get_relation(this.database, this.schema, this.identifier) -%}
  {{ return(relation is not none and relation.type == 'table' and not should_full_refresh()) }}
{%- endmacro %}
