{#- The relation next to `relation` whose identifier carries `suffix`. -#}
{% macro _suffixed_relation(relation, suffix, type) -%}
  {{ return(relation.incorporate(path={'identifier': relation.identifier ~ suffix}, type=type)) }}
{%- endmacro %}
