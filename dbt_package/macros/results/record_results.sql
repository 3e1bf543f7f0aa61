{#- on-run-end hook: record every node result of this invocation, and every audit check
    a write_audit_publish model ran, in the results table (see README.md for columns).
      on-run-end: ["{{ sutura.record_results(results) }}"]
    Renders to no SQL of its own; never records for compile/docs/list/parse. -#}
{% macro record_results(results) -%}
  {{ return(adapter.dispatch('record_results', 'sutura')(results)) }}
{%- endmacro %}

{% macro default__record_results(results) -%}
  {%- if not execute or invocation_args_dict.get('which') not in ['run', 'build', 'test', 'seed', 'snapshot', 'run-operation', 'retry'] -%}
    {{ return('') }}
  {%- endif -%}
  {%- set common = sutura._common_result_fields() -%}
  {%- set rows = [] -%}
  {%- for result in results if result.node is defined and result.node.resource_type in ['model', 'seed', 'snapshot', 'test', 'unit_test'] -%}
    {%- set node = result.node -%}
    {%- set row = sutura._node_result_row(result) -%}
    {%- do row.update(common) -%}
    {%- do rows.append(row) -%}
    {%- for check in sutura._stash_get('checks', node.unique_id, []) -%}
      {%- set outcome = sutura._stash_get('outcomes', node.unique_id, {}) -%}
      {%- set check_row = {
          'result_id': invocation_id ~ ':' ~ node.unique_id ~ ':' ~ check.check_id,
          'result_kind': 'audit_check', 'node_id': check.check_id, 'parent_node_id': node.unique_id,
          'resource_type': 'test' if check.kind == 'dbt_test' else 'sutura_check',
          'node_name': check.name, 'package_name': node.package_name,
          'database_name': node.database, 'schema_name': node.schema,
          'relation_name': node.relation_name, 'status': check.status, 'failures': check.failures,
          'message': check.kind ~ ' ' ~ check.name ~ ' ' ~ check.status ~ ' with ' ~ check.failures
                     ~ ' failing on the audited data (severity ' ~ check.severity ~ ')',
          'audit_outcome': outcome.get('outcome'), 'audit_relation': outcome.get('audit_relation'),
          'quarantine_relation': outcome.get('quarantine_relation'),
          'thread_id': result.thread_id} -%}
      {%- do check_row.update(common) -%}
      {%- do rows.append(check_row) -%}
    {%- endfor -%}
  {%- endfor -%}
  {%- set written = sutura._insert_result_rows(rows) -%}
  {{ log("Sutura: recorded " ~ written ~ " results in " ~ sutura.results_relation(), info=False) }}
  {{ return('') }}
{%- endmacro %}
