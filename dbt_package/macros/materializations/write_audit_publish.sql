{#-
  write_audit_publish: write the new result to an audit relation, audit it with the
  model's own data tests and Sutura inline checks, and publish it only if it passes.

  - pass: the audit relation replaces the published table in one transaction (whole
    rebuild), or the increment is merged in one transaction (incremental models);
  - fail: the new data is kept as `<model>__sutura_quarantine`, the published table is
    left untouched, and the node fails, naming the failed checks, so dbt skips everything
    downstream. `dbt run-operation sutura.release` publishes a quarantine,
    `sutura.discard` drops it.
-#}
{% materialization write_audit_publish, default %}
  {%- set target_relation = this.incorporate(type='table') -%}
  {%- set existing_relation = load_cached_relation(this) -%}
  {%- set audit_relation = sutura.audit_relation(target_relation) -%}
  {%- set quarantine_relation = sutura.quarantine_relation(target_relation) -%}
  {%- set candidate_relation = sutura._candidate_relation(target_relation) -%}
  {%- set grant_config = config.get('grants') -%}
  {%- set checks = sutura._config_value(config, 'sutura_checks', []) -%}

  {%- set settings = sutura._incremental_settings(config) -%}
  {%- set is_increment = settings is not none and existing_relation is not none
        and existing_relation.type == 'table' and not should_full_refresh() -%}

  {#- leftovers of an interrupted run are scratch: a quarantine is never named like these -#}
  {{ drop_relation_if_exists(load_cached_relation(audit_relation)) }}
  {{ drop_relation_if_exists(load_cached_relation(candidate_relation)) }}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {#- write -#}
  {% call statement('main') -%}
    {{ get_create_table_as_sql(False, audit_relation, sql) }}
  {%- endcall %}

  {#- audit -#}
  {%- if is_increment -%}
    {% call statement('sutura_candidate') -%}
      {{ get_create_view_as_sql(candidate_relation, sutura._merged_sql(target_relation, audit_relation, settings)) }}
    {%- endcall %}
    {%- set audited_relation = candidate_relation -%}
  {%- else -%}
    {%- set audited_relation = audit_relation -%}
  {%- endif -%}
  {%- set results = sutura._run_audit(model, audited_relation, checks) -%}
  {%- if is_increment -%}
    {%- do adapter.drop_relation(candidate_relation) -%}
  {%- endif -%}
  {%- set failed = results | selectattr('status', 'equalto', 'fail') | list -%}
  {%- set warned = results | selectattr('status', 'equalto', 'warn') | list -%}
  {%- do sutura._stash_put('checks', model.unique_id, results) -%}

  {%- if failed | length == 0 -%}
    {#- publish -#}
    {%- set dropped_after_commit = sutura._publish(audit_relation, target_relation, settings if is_increment else none) -%}
    {{ run_hooks(post_hooks, inside_transaction=True) }}
    {%- set should_revoke = should_revoke(existing_relation, full_refresh_mode=not is_increment) -%}
    {%- do apply_grants(target_relation, grant_config, should_revoke=should_revoke) -%}
    {%- do persist_docs(target_relation, model) -%}
    {{ adapter.commit() }}
    {{ drop_relation_if_exists(dropped_after_commit) }}
    {{ run_hooks(post_hooks, inside_transaction=False) }}
    {%- do sutura._stash_put('outcomes', model.unique_id, {
        'outcome': 'published', 'holds': 'increment' if is_increment else 'full',
        'audit_relation': audit_relation | string, 'quarantine_relation': none,
        'failed_checks': [], 'warned_checks': warned | map(attribute='name') | list,
        'checks_run': results | length}) -%}
    {%- set skipped = results | selectattr('status', 'equalto', 'skipped') | list -%}
    {{ log("Sutura: published " ~ target_relation ~ " after its audit: "
           ~ (results | length - warned | length - skipped | length) ~ " checks passed, "
           ~ (warned | length) ~ " warned, " ~ (skipped | length) ~ " skipped", info=True) }}
    {{ return({'relations': [target_relation]}) }}
  {%- endif -%}

  {#- quarantine: keep the new data, leave the published table alone, fail the node -#}
  {%- set older_quarantine = adapter.get_relation(quarantine_relation.database, quarantine_relation.schema, quarantine_relation.identifier) -%}
  {%- set archived_relation = none -%}
  {%- if older_quarantine is not none -%}
    {%- set archived_relation = sutura._archived_quarantine_relation(target_relation) -%}
    {%- do adapter.rename_relation(older_quarantine, archived_relation) -%}
  {%- endif -%}
  {%- do adapter.rename_relation(audit_relation, quarantine_relation) -%}
  {%- set failed_names = failed | map(attribute='name') | list -%}
  {%- do sutura._set_relation_comment(quarantine_relation, tojson({
      'sutura': 'quarantine', 'model': model.unique_id,
      'holds': 'increment' if is_increment else 'full',
      'settings': settings if is_increment else none,
      'invocation_id': invocation_id, 'failed_checks': failed_names,
      'quarantined_at': run_started_at.strftime('%Y-%m-%dT%H:%M:%SZ')})) -%}
  {{ adapter.commit() }}
  {%- do sutura._stash_put('outcomes', model.unique_id, {
      'outcome': 'quarantined', 'holds': 'increment' if is_increment else 'full',
      'audit_relation': audit_relation | string, 'quarantine_relation': quarantine_relation | string,
      'failed_checks': failed_names, 'warned_checks': warned | map(attribute='name') | list,
      'checks_run': results | length}) -%}
  {%- set lines = [] -%}
  {%- for check in failed -%}
    {%- do lines.append('  - ' ~ check.name ~ ' (' ~ check.failures ~ ' failing)') -%}
  {%- endfor -%}
  {%- set message -%}
Sutura quarantined {{ model.unique_id }}: {{ failed | length }} of {{ results | length }} audit checks failed:
{{ lines | join('\n') }}
The new data is held in {{ quarantine_relation }}{{ " (the older quarantine moved to " ~ archived_relation ~ ")" if archived_relation is not none else "" }}; {{ target_relation }} is unchanged and its dependants are skipped.
Fix the data and run again, or publish the held data as it is with
  dbt run-operation sutura.release --args '{model_name: {{ model.name }}}'
or drop it with
  dbt run-operation sutura.discard --args '{model_name: {{ model.name }}}'
  {%- endset -%}
  {%- do exceptions.raise_compiler_error(message) -%}
{% endmaterialization %}
