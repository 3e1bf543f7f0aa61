{#- Run every audit of `model_node` against `relation`: its dbt data tests, then the
    Sutura inline checks of its config. Returns one dict per check:
    {check_id, name, kind: dbt_test|sutura_check, status: pass|warn|fail|skipped,
    failures, severity}. A test whose other inputs are not built yet is skipped. -#}
{% macro _run_audit(model_node, relation, checks) -%}
  {%- do sutura._stash_put('audit_targets', model_node.unique_id, relation | string) -%}
  {%- set results = [] -%}
  {%- for test_node in sutura._audit_tests(model_node) -%}
    {%- set cfg = test_node.config -%}
    {%- set missing = sutura._missing_test_inputs(test_node, model_node) -%}
    {%- if missing -%}
      {%- set outcome = {'status': 'skipped', 'failures': none} -%}
      {{ log("Sutura: audit of " ~ model_node.name ~ " skips " ~ test_node.name ~ ": not built yet: " ~ missing | join(', '), info=True) }}
    {%- else -%}
      {%- if test_node.get('test_metadata') -%}
        {%- set main_sql = sutura._generic_test_sql(test_node, relation) -%}
      {%- else -%}
        {%- set main_sql = sutura._singular_test_sql(test_node) -%}
      {%- endif -%}
      {%- set outcome = sutura._evaluate_audit_query(
          main_sql, cfg.get('fail_calc'), cfg.get('warn_if'), cfg.get('error_if'),
          cfg.get('limit'), cfg.get('severity')) -%}
    {%- endif -%}
    {%- do results.append({
        'check_id': test_node.unique_id, 'name': test_node.name, 'kind': 'dbt_test',
        'status': outcome.status, 'failures': outcome.failures,
        'severity': (cfg.get('severity') or 'error') | lower}) -%}
  {%- endfor -%}
  {%- for spec in checks or [] -%}
    {%- set name = sutura._check_name(spec) -%}
    {%- set outcome = sutura._evaluate_audit_query(sutura._check_sql(spec, relation), severity=spec.get('severity', 'error')) -%}
    {%- do results.append({
        'check_id': 'sutura_check.' ~ model_node.package_name ~ '.' ~ model_node.name ~ '.' ~ name,
        'name': name, 'kind': 'sutura_check',
        'status': outcome.status, 'failures': outcome.failures,
        'severity': spec.get('severity', 'error') | lower}) -%}
  {%- endfor -%}
  {{ return(results) }}
{%- endmacro %}
