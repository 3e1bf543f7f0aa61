{#- Where Sutura records results: `sutura_run_results` (var `sutura_results_table`) in
    the target database, schema var `sutura_results_schema` (default: the target schema). -#}
{% macro results_relation() -%}
  {{ return(adapter.dispatch('results_relation', 'sutura')()) }}
{%- endmacro %}

{% macro default__results_relation() -%}
  {{ return(api.Relation.create(
      database=var('sutura_results_database', target.database),
      schema=var('sutura_results_schema', target.schema),
      identifier=var('sutura_results_table', 'sutura_run_results'),
      type='table')) }}
{%- endmacro %}
