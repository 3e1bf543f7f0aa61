{#- What a quarantine holds, read from its comment: {'holds': 'increment'|'full',
    'settings': {...}|none, 'invocation_id', 'failed_checks', 'model'}; none if unmarked. -#}
{% macro _quarantine_marker(relation) -%}
  {%- set comment = sutura._get_relation_comment(relation) -%}
  {%- if comment and comment.startswith('{') -%}
    {%- set marker = fromjson(comment) -%}
    {%- if marker and marker.get('sutura') == 'quarantine' -%}
      {{ return(marker) }}
    {%- endif -%}
  {%- endif -%}
  {{ return(none) }}
{%- endmacro %}
