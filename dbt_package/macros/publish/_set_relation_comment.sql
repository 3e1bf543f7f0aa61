{#- Set (or clear, with none) the comment of a table. Sutura marks a quarantine with a
    JSON comment saying what it holds, so `release` knows whether to merge or swap. -#}
{% macro _set_relation_comment(relation, text) -%}
  {{ return(adapter.dispatch('_set_relation_comment', 'sutura')(relation, text)) }}
{%- endmacro %}

{% macro default___set_relation_comment(relation, text) -%}
  {%- call statement('sutura_comment') -%}
    comment on table {{ relation }} is {{ "null" if text is none else "'" ~ (text | replace("'", "''")) ~ "'" }}
  {%- endcall -%}
{%- endmacro %}
