{#- The view an incremental write_audit_publish model is audited through: the published
    table with the increment applied, exactly as it would be after the merge. -#}
{% macro _candidate_relation(relation) -%}
  {{ return(sutura._suffixed_relation(relation, '__sutura_candidate', 'view')) }}
{%- endmacro %}
