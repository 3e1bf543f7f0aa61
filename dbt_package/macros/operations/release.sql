{#- Publish a model's quarantine as it is (a human accepted it, or the data was fixed in
    place):  dbt run-operation sutura.release --args '{model_name: orders}'
    An increment is merged into the published table, a whole result swapped in, in one
    transaction. Records a `release` row in the results table. Dependants are not run:
    build them next, e.g. dbt build --select orders+ --exclude orders. -#}
{% macro release(model_name, package_name=none) -%}
  {{ return(adapter.dispatch('release', 'sutura')(model_name, package_name)) }}
{%- endmacro %}

{% macro default__release(model_name, package_name=none) -%}
  {%- if not execute -%}{{ return('') }}{%- endif -%}
  {%- set node = sutura._find_model(model_name, package_name) -%}
  {%- set target_relation = sutura._model_relation(node) -%}
  {%- set quarantine = sutura.quarantine_relation(target_relation) -%}
  {%- set held = adapter.get_relation(quarantine.database, quarantine.schema, quarantine.identifier) -%}
  {%- if held is none -%}
    {%- do exceptions.raise_compiler_error("Sutura: " ~ node.unique_id ~ " has no quarantine " ~ quarantine ~ " to release.") -%}
  {%- endif -%}
  {%- set marker = sutura._quarantine_marker(held) or {} -%}
  {%- set settings = marker.get('settings') if marker.get('holds') == 'increment' else none -%}
  {%- set started_at = modules.datetime.datetime.utcnow() -%}
  {%- call statement('sutura_release_begin') -%}select 1{%- endcall -%}
  {%- set dropped_after_commit = sutura._publish(held, target_relation, settings) -%}
  {%- if settings is none -%}
    {%- do sutura._set_relation_comment(target_relation, none) -%}
  {%- endif -%}
  {%- do adapter.commit() -%}
  {%- do drop_relation_if_exists(dropped_after_commit) -%}
  {%- set row = sutura._common_result_fields() -%}
  {%- do row.update({
      'result_id': invocation_id ~ ':release:' ~ node.unique_id, 'result_kind': 'release',
      'node_id': node.unique_id, 'resource_type': 'model', 'node_name': node.name,
      'package_name': node.package_name, 'materialization': node.config.get('materialized'),
      'database_name': node.database, 'schema_name': node.schema,
      'relation_name': target_relation | string, 'status': 'success', 'failures': 0,
      'message': 'released ' ~ quarantine ~ ' into ' ~ target_relation
                 ~ (' (merged increment)' if settings is not none else ' (swapped in)'),
      'started_at': started_at, 'completed_at': modules.datetime.datetime.utcnow(),
      'audit_outcome': 'released', 'quarantine_relation': quarantine | string,
      'failed_checks': marker.get('failed_checks') or none}) -%}
  {%- do sutura._insert_result_rows([row]) -%}
  {{ log("Sutura: released " ~ quarantine ~ " into " ~ target_relation, info=True) }}
  {{ return('') }}
{%- endmacro %}
