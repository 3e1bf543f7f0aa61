{#- Publish an increment: delete the target rows it replaces (delete+insert, merge), then
    insert it. Call inside the node's transaction and commit after. `merge` is carried out
    as delete+insert: the same rows result for full-row upserts. -#}
{% macro _merge_into(increment, target, settings) -%}
  {%- set columns = get_quoted_csv(adapter.get_columns_in_relation(target) | map(attribute='name')) -%}
  {%- if settings.strategy != 'append' -%}
    {%- call statement('sutura_merge_delete') -%}
      delete from {{ target }}
      where exists (
        select 1 from {{ increment }} sutura_new
        where {{ sutura._key_match_sql(settings.unique_key, 'sutura_new', adapter.quote(target.identifier)) }}
      )
    {%- endcall -%}
  {%- endif -%}
  {%- call statement('sutura_merge_insert') -%}
    insert into {{ target }} ({{ columns }})
    select {{ columns }} from {{ increment }}
  {%- endcall -%}
{%- endmacro %}
