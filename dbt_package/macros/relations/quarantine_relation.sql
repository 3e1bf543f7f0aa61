{#- Where a write_audit_publish model keeps a result that failed its audit:
    `<identifier>__sutura_quarantine`, in the model's own schema, until
    `sutura.release` publishes it or `sutura.discard` drops it. -#}
{% macro quarantine_relation(relation) -%}
  {{ return(adapter.dispatch('quarantine_relation', 'sutura')(relation)) }}
{%- endmacro %}

{% macro default__quarantine_relation(relation) -%}
  {{ return(sutura._suffixed_relation(relation, '__sutura_quarantine', 'table')) }}
{%- endmacro %}

{% macro postgres__quarantine_relation(relation) -%}
  {{ return(sutura._check_identifier_length(sutura.default__quarantine_relation(relation), 63)) }}
{%- endmacro %}
