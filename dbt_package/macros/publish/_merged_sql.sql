{#- What `target` holds once `increment` is merged in: a select over both, in the
    target's column order. append keeps every row; delete+insert and merge replace the
    rows whose unique key the increment carries. -#}
{% macro _merged_sql(target, increment, settings) -%}
  {%- set columns = get_quoted_csv(adapter.get_columns_in_relation(target) | map(attribute='name')) -%}
  {%- set sql -%}
    select {{ columns }} from {{ target }} sutura_published
    {%- if settings.strategy != 'append' %}
    where not exists (
      select 1 from {{ increment }} sutura_new
      where {{ sutura._key_match_sql(settings.unique_key, 'sutura_new', 'sutura_published') }}
    )
    {%- endif %}
    union all
    select {{ columns }} from {{ increment }}
  {%- endset -%}
  {{ return(sql) }}
{%- endmacro %}
