{#- Where a write_audit_publish model writes its new result before the audit:
    `<identifier>__sutura_audit`, in the model's own schema (so publishing is a rename). -#}
{% macro audit_relation(relation) -%}
  {{ return(adapter.dispatch('audit_relation', 'sutura')(relation)) }}
{%- endmacro %}

{% macro default__audit_relation(relation) -%}
  {{ return(sutura._suffixed_relation(relation, '__sutura_audit', 'table')) }}
{%- endmacro %}

{% macro postgres__audit_relation(relation) -%}
  {{ return(sutura._check_identifier_length(sutura.default__audit_relation(relation), 63)) }}
{%- endmacro %}
