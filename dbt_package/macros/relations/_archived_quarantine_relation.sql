{#- Where an older quarantine is moved when a newer run of the same model fails its
    audit too: `<identifier>__sutura_quarantine_<run started, UTC, YYYYMMDDHHMMSS>`.
    Nothing held is dropped without `sutura.discard`. -#}
{% macro _archived_quarantine_relation(relation) -%}
  {%- set stamp = run_started_at.strftime('%Y%m%d%H%M%S') -%}
  {%- set archived = sutura._suffixed_relation(relation, '__sutura_quarantine_' ~ stamp, 'table') -%}
  {%- if target.type == 'postgres' -%}
    {%- do sutura._check_identifier_length(archived, 63) -%}
  {%- endif -%}
  {{ return(archived) }}
{%- endmacro %}
