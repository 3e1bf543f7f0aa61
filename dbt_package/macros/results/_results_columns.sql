{#- The columns of the results table, in order, as (name, type). Documented in README.md. -#}
{% macro _results_columns() -%}
  {%- set text = dbt.type_string() -%}
  {%- set ts = dbt.type_timestamp() -%}
  {{ return([
      ('result_id', text), ('invocation_id', text), ('result_kind', text),
      ('node_id', text), ('parent_node_id', text), ('resource_type', text),
      ('node_name', text), ('package_name', text), ('materialization', text),
      ('database_name', text), ('schema_name', text), ('relation_name', text),
      ('status', text), ('failures', dbt.type_bigint()), ('message', text),
      ('execution_time_s', dbt.type_float()), ('rows_affected', dbt.type_bigint()),
      ('started_at', ts), ('completed_at', ts),
      ('audit_outcome', text), ('audit_relation', text), ('quarantine_relation', text),
      ('failed_checks', text),
      ('dbt_command', text), ('target_name', text), ('adapter_type', text), ('dbt_version', text),
      ('thread_id', text), ('run_started_at', ts), ('recorded_at', ts)]) }}
{%- endmacro %}
