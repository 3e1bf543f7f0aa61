{#- Read the last published version of an audited model, and say so when newer data is
    held in quarantine (so its readers know how stale it is):
      select * from {{ sutura.last_published(ref('orders')) }}
    Returns the relation unchanged: with write-audit-publish the published relation is
    always the last version that passed its audit. Logs a warning while a quarantine exists. -#}
{% macro last_published(relation) -%}
  {{ return(adapter.dispatch('last_published', 'sutura')(relation)) }}
{%- endmacro %}

{% macro default__last_published(relation) -%}
  {%- if execute and relation.identifier is not none -%}
    {%- set quarantine = sutura.quarantine_relation(relation) -%}
    {%- set held = adapter.get_relation(quarantine.database, quarantine.schema, quarantine.identifier) -%}
    {%- if held is not none -%}
      {%- set marker = sutura._quarantine_marker(held) or {} -%}
      {{ exceptions.warn("Sutura: reading " ~ relation ~ ", the last published version; newer data is held in "
                         ~ quarantine ~ (" since " ~ marker.quarantined_at if marker.get('quarantined_at') else "")
                         ~ " (failed: " ~ (marker.get('failed_checks') or []) | join(', ') ~ ").") }}
    {%- endif -%}
  {%- endif -%}
  {{ return(relation) }}
{%- endmacro %}
